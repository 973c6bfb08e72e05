// Tool names reach metric labels from outside: upstream servers choose them, and a client may call
// any name it likes (a denied or hidden call still counts). Every label value is one time series
// held in memory for the life of the process, so names are cleaned and capped per server before
// they become labels. Resource URIs never do: they are unbounded and often carry identifiers.

/** The label of every call beyond a server's cap. */
export const OTHER_TOOLS = '(other)';
/** The label of every resources/read call. */
export const RESOURCE_LABEL = '(resource)';

const MAX_LABEL_CHARS = 64;
export const DEFAULT_TOOLS_PER_SERVER = 100;

export class ToolLabels {
  private readonly seen = new Map<string, Set<string>>();

  constructor(private readonly perServer = DEFAULT_TOOLS_PER_SERVER) {}

  /** The label value for a call's tool: the cleaned name, or a shared bucket past the cap. */
  label(server: string, subject: 'tool' | 'resource' | 'prompt', name: string): string {
    if (subject === 'resource') return RESOURCE_LABEL;
    const clean = cleanName(name);
    let names = this.seen.get(server);
    if (!names) this.seen.set(server, (names = new Set()));
    if (names.has(clean)) return clean;
    // First come, first kept: the names a server really has are called early and often, while a
    // client guessing names cannot push them out, only fill the remaining room.
    if (names.size >= this.perServer) return OTHER_TOOLS;
    names.add(clean);
    return clean;
  }
}

/** Printable ASCII without quotes or backslashes, cut to a length a dashboard can show. */
function cleanName(name: string): string {
  const printable = name.replace(/[^\x21-\x7e]|["\\]/g, '_').slice(0, MAX_LABEL_CHARS);
  return printable || '_';
}
