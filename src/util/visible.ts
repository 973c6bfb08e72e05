// What an approver reads must be what the call holds. An agent writes the arguments, and an
// upstream names its tools: either can carry characters that change how text reads without showing
// themselves — bidirectional overrides and isolates (`"to": "\u202e1234-5678"` reads as 8765-4321),
// zero-width and other invisible characters, Unicode tag characters (text a person cannot see but
// a model reads), line separators and control characters. Wherever an approval is shown (the
// approval page, webhook messages, the dashboard, `gatehouse audit --json`) they are written as
// `\uXXXX`: in JSON that is the same value, and in plain text it is visible. Free of Node's modules:
// the dashboard's bundle imports it too (web/src/visible.ts).

/** Controls, format characters (bidi, zero-width, tags), other invisible ones, line separators. */
export const HIDDEN_IN_TEXT = /[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;
/** The same, but C0 controls, which JSON.stringify escapes itself (a raw newline in its output is layout). */
const HIDDEN_IN_JSON = /(?![\u0000-\u001f])[\p{Cc}\p{Cf}\p{Zl}\p{Zp}\p{Default_Ignorable_Code_Point}]/gu;

/** `\uXXXX` for each UTF-16 unit of a character (a pair for one outside the BMP, as JSON writes it). */
export function escaped(char: string): string {
  let out = '';
  for (let i = 0; i < char.length; i++) out += `\\u${char.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** A text (a tool's name, an agent's, a reason) with every hidden character made visible. */
export function visibleText(text: string): string {
  return text.replace(HIDDEN_IN_TEXT, escaped);
}

/** JSON.stringify of `value` with every hidden character escaped: the same JSON, nothing hidden. */
export function visibleJson(value: unknown, space?: number): string {
  return (JSON.stringify(value, null, space) ?? 'null').replace(HIDDEN_IN_JSON, escaped);
}
