// Tool names reach metric labels from outside: upstream servers choose them, and a client may call
// any name it likes (a denied or hidden call still counts). Every label value is one time series
// held in memory for the life of the process, so names are cleaned and capped per server before
// they become labels. Resource URIs never do: they are unbounded and often carry identifiers.
//
// A call answered as if the tool did not exist (`decision: hidden`: a name the server does not have,
// or one the policy hides) never takes a label of its own. Such names are the client's guesses: as
// labels, a client could fill the room before the server's real tools are first called and push
// them all into `(other)`. And one label for both keeps them alike on /metrics too, as they are on
// the wire: a scrape must not tell a hidden tool from a missing one. Prompts have a room of their
// own: the gateway cannot tell a guessed prompt name from a real one.

/** The label of every call beyond a server's cap. */
export const OTHER_TOOLS = '(other)';
/** The label of every resources/read call. */
export const RESOURCE_LABEL = '(resource)';
/** The label of every call answered as if its tool, prompt or resource did not exist. */
export const HIDDEN_LABEL = '(hidden)';

const MAX_LABEL_CHARS = 64;
export const DEFAULT_TOOLS_PER_SERVER = 100;

export class ToolLabels {
  /** Label values kept, by subject and server. */
  private readonly seen = new Map<string, Set<string>>();

  constructor(private readonly perServer = DEFAULT_TOOLS_PER_SERVER) {}

  /**
   * The label value for a call's tool: the cleaned name, or a shared bucket past the cap. `hidden`:
   * the call was answered as if the name did not exist.
   */
  label(server: string, subject: 'tool' | 'resource' | 'prompt', name: string, hidden = false): string {
    if (subject === 'resource') return RESOURCE_LABEL;
    if (hidden) return HIDDEN_LABEL;
    const clean = cleanName(name);
    const room = `${subject}\0${server}`;
    let names = this.seen.get(room);
    if (!names) this.seen.set(room, (names = new Set()));
    if (names.has(clean)) return clean;
    // First come, first kept: the names a server really has are called early and often, while a
    // client guessing names cannot push them out, only fill the remaining room.
    if (names.size >= this.perServer) return OTHER_TOOLS;
    names.add(clean);
    return clean;
  }
}

/**
 * Printable ASCII without quotes or backslashes, cut to a length a dashboard can show. Built one
 * character at a time into a new string: a slice of the client's text would be a view that keeps
 * the whole text (megabytes, as sent) alive for as long as the label lives.
 */
function cleanName(name: string): string {
  const codes: number[] = [];
  for (let i = 0; i < Math.min(name.length, MAX_LABEL_CHARS); i++) codes.push(labelChar(name.charCodeAt(i)));
  return String.fromCharCode(...codes) || '_';
}

const UNDERSCORE = 0x5f;
const QUOTE = 0x22;
const BACKSLASH = 0x5c;

function labelChar(code: number): number {
  return code >= 0x21 && code <= 0x7e && code !== QUOTE && code !== BACKSLASH ? code : UNDERSCORE;
}
