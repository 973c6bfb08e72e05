// Word helpers for the risk classifier: splitting tool names in any naming style into words,
// and pulling the lead sentence and verbs out of free-text descriptions.

/**
 * Splits an identifier into lower-case words, whatever its style: snake_case, camelCase,
 * PascalCase, kebab-case, dotted.names, path/like, or spaced words.
 * `getHTTPResponse` → get, http, response; `API-post-find` → api, post, find.
 */
export function splitIdentifier(identifier: string): string[] {
  return identifier
    .replace(/([a-z0-9])([A-Z])/g, '$1 $2')
    .replace(/([A-Z]+)([A-Z][a-z])/g, '$1 $2')
    .split(/[^A-Za-z0-9]+/)
    .filter((w) => w.length > 0)
    .map((w) => w.toLowerCase());
}

/** Lower-case words of a text (letters, digits and inner apostrophes or hyphens dropped). */
export function textWords(text: string): string[] {
  return text
    .toLowerCase()
    .split(/[^a-z0-9]+/)
    .filter((w) => w.length > 0);
}

/** The first paragraph of a description (up to the first blank line), whitespace collapsed. */
export function firstParagraph(description: string): string {
  const paragraph = description.trim().split(/\n\s*\n/)[0] ?? '';
  return paragraph.replace(/\s+/g, ' ').trim();
}

// Boilerplate that often opens a description before its verb: "This tool will create ...",
// "Tool to list ...", "Use this tool to ...", "Docs | Search by title".
const LEAD_BOILERPLATE = [
  /^[\w .-]{1,40}\s\|\s+/,
  /^(?:this|the) tool (?:will|can|is used to|lets you|allows you to|helps you|helps to|is for|is used for)\s+/i,
  /^(?:use this tool to|use this to|tool to|used to|allows you to|lets you|helps you|helps to|a tool to|a tool that|tool that)\s+/i,
];

/**
 * The opening sentence of a description with boilerplate removed, so its first word is
 * normally the verb: "This tool will create a customer in the shop." → "create a customer in the shop".
 */
export function leadSentence(description: string): string {
  let text = firstParagraph(description);
  for (const re of LEAD_BOILERPLATE) text = text.replace(re, '');
  const end = text.search(/[.!?](?:\s|$)|\n/);
  return (end >= 0 ? text.slice(0, end) : text).trim();
}

/**
 * Candidate base forms of an English verb form as used in descriptions: `deletes` → delete,
 * `lists` → list, `switches` → switch, `applies` → apply. The caller keeps the first that is
 * in its vocabulary.
 */
export function verbForms(word: string): string[] {
  const forms = [word];
  if (word.endsWith('ies') && word.length > 4) forms.push(`${word.slice(0, -3)}y`);
  if (word.endsWith('es') && word.length > 3) forms.push(word.slice(0, -2));
  if (word.endsWith('s') && !word.endsWith('ss') && word.length > 2) forms.push(word.slice(0, -1));
  return forms;
}
