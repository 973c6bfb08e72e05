// Colour for people, plain text for everything else: escape codes only when the stream is a
// terminal and NO_COLOR (https://no-color.org) is unset.
export interface Colours {
  enabled: boolean;
  green(text: string): string;
  red(text: string): string;
  yellow(text: string): string;
  bold(text: string): string;
  dim(text: string): string;
}

export function coloursFor(stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Colours {
  const enabled = stream.isTTY === true && !env.NO_COLOR;
  const paint = (open: number, close: number) => (text: string) =>
    enabled ? `\x1b[${open}m${text}\x1b[${close}m` : text;
  return {
    enabled,
    green: paint(32, 39),
    red: paint(31, 39),
    yellow: paint(33, 39),
    bold: paint(1, 22),
    dim: paint(2, 22),
  };
}
