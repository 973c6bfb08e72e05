// A small MCP server to put behind Gatehouse while trying it out (the quick start's default config
// runs `node dist/example-server/main.js`). It speaks MCP over stdio in both protocol eras — the
// SDK's serveStdio lets the client's opening message choose — and offers a mix of harmless and
// destructive tools, so that policies have something to allow, rate-limit and deny:
//
//   echo, add, get_time      read-only
//   write_note               writes (stores a note in memory)
//   delete_note              destructive (removes a note)
//   notes://list             resource: every note, as JSON
//   summarize                prompt: asks the model to summarise the notes
//
// Notes live in memory for the life of the process. Logs go to stderr; stdout carries only MCP.
import { McpServer } from '@modelcontextprotocol/server';
import { serveStdio } from '@modelcontextprotocol/server/stdio';
import * as z from 'zod';

interface Note {
  id: string;
  title: string;
  body: string;
  createdAt: string;
}

const notes = new Map<string, Note>();
let nextId = 1;

const text = (value: string): { content: Array<{ type: 'text'; text: string }> } => ({
  content: [{ type: 'text', text: value }],
});

function buildServer(): McpServer {
  const server = new McpServer(
    { name: 'gatehouse-example', version: '0.1.0' },
    {
      capabilities: { tools: {}, resources: {}, prompts: {} },
      instructions: 'An example notes server. Use write_note to save a note and notes://list to read them back.',
    },
  );

  server.registerTool(
    'echo',
    {
      title: 'Echo',
      description: 'Returns the given message unchanged. Useful to check that the connection works.',
      inputSchema: z.object({ message: z.string().describe('The text to send back') }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ message }) => text(message),
  );

  server.registerTool(
    'add',
    {
      title: 'Add numbers',
      description: 'Adds two numbers and returns the sum.',
      inputSchema: z.object({ a: z.number().describe('First addend'), b: z.number().describe('Second addend') }),
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    ({ a, b }) => text(String(a + b)),
  );

  server.registerTool(
    'get_time',
    {
      title: 'Current time',
      description: 'Returns the current date and time as an ISO 8601 string (UTC).',
      annotations: { readOnlyHint: true, openWorldHint: false },
    },
    () => text(new Date().toISOString()),
  );

  server.registerTool(
    'write_note',
    {
      title: 'Write a note',
      description: 'Stores a new note and returns its id. Notes are kept in memory until the server stops.',
      inputSchema: z.object({
        title: z.string().min(1).max(200).describe('A short title'),
        body: z.string().max(10_000).describe('The text of the note'),
      }),
      annotations: { readOnlyHint: false, destructiveHint: false, idempotentHint: false, openWorldHint: false },
    },
    ({ title, body }) => {
      const note: Note = { id: String(nextId++), title, body, createdAt: new Date().toISOString() };
      notes.set(note.id, note);
      process.stderr.write(`[example-server] note ${note.id} written\n`);
      return text(`Saved note ${note.id}: ${title}`);
    },
  );

  server.registerTool(
    'delete_note',
    {
      title: 'Delete a note',
      description: 'Permanently deletes the note with the given id. This cannot be undone.',
      inputSchema: z.object({ id: z.string().describe('The id returned by write_note') }),
      annotations: { readOnlyHint: false, destructiveHint: true, idempotentHint: true, openWorldHint: false },
    },
    ({ id }) => {
      if (!notes.delete(id)) return { ...text(`No note with id ${id}.`), isError: true };
      process.stderr.write(`[example-server] note ${id} deleted\n`);
      return text(`Deleted note ${id}.`);
    },
  );

  server.registerResource(
    'notes',
    'notes://list',
    { title: 'All notes', description: 'Every stored note, as a JSON array.', mimeType: 'application/json' },
    (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'application/json', text: JSON.stringify([...notes.values()], null, 2) }],
    }),
  );

  server.registerPrompt(
    'summarize',
    {
      title: 'Summarise notes',
      description: 'Asks the model for a short summary of every stored note.',
      argsSchema: z.object({ focus: z.string().optional().describe('What the summary should concentrate on') }),
    },
    ({ focus }) => {
      const listing =
        [...notes.values()].map((n) => `- ${n.title}: ${n.body}`).join('\n') || '(there are no notes yet)';
      const ask = focus
        ? `Summarise these notes, concentrating on ${focus}.`
        : 'Summarise these notes in a few sentences.';
      return { messages: [{ role: 'user', content: { type: 'text', text: `${ask}\n\n${listing}` } }] };
    },
  );

  return server;
}

serveStdio(() => buildServer(), {
  onerror: (error) => process.stderr.write(`[example-server] ${error.message}\n`),
});
process.stderr.write('[example-server] ready on stdio\n');
