// Proves that the example server of the quick start (src/example-server/main.ts) serves both eras
// over stdio with its five tools (annotated read-only or destructive), the notes://list resource
// and the summarize prompt, and that a note written by one tool is seen by the others.
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { TSX_LOADER, connectClient, type ConnectedClient, type Era } from '../helpers/index.js';

const MAIN = fileURLToPath(new URL('../../src/example-server/main.ts', import.meta.url));

describe.each<Era>(['legacy', 'modern'])('example server, %s client over stdio', (era) => {
  let c: ConnectedClient;
  afterAll(() => c?.close());

  it('lists its tools with read-only and destructive annotations', async () => {
    c = await connectClient({
      era,
      downstream: { kind: 'stdio', command: process.execPath, args: ['--import', TSX_LOADER, MAIN] },
    });
    const { tools } = await c.client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['add', 'delete_note', 'echo', 'get_time', 'write_note']);
    const byName = Object.fromEntries(tools.map((t) => [t.name, t.annotations]));
    expect(byName['echo']?.readOnlyHint).toBe(true);
    expect(byName['get_time']?.readOnlyHint).toBe(true);
    expect(byName['write_note']).toMatchObject({ readOnlyHint: false, destructiveHint: false });
    expect(byName['delete_note']).toMatchObject({ readOnlyHint: false, destructiveHint: true });
  });

  it('echoes, adds and tells the time', async () => {
    expect(await c.callText('echo', { message: 'ping' })).toBe('ping');
    expect(await c.callText('add', { a: 1.5, b: 2 })).toBe('3.5');
    expect(Date.parse(await c.callText('get_time'))).not.toBeNaN();
  });

  it('writes a note that notes://list and the summarize prompt show, then deletes it', async () => {
    const saved = await c.callText('write_note', { title: 'groceries', body: 'milk and eggs' });
    const id = /^Saved note (\d+): groceries$/.exec(saved)?.[1];
    expect(id).toBeDefined();
    const listed = await c.client.readResource({ uri: 'notes://list' });
    const first = listed.contents[0] as { text?: string };
    expect(JSON.parse(first.text ?? '[]')).toEqual([
      expect.objectContaining({ id, title: 'groceries', body: 'milk and eggs' }),
    ]);
    const prompt = await c.client.getPrompt({ name: 'summarize', arguments: { focus: 'food' } });
    expect(prompt.messages[0]?.content).toMatchObject({
      type: 'text',
      text: expect.stringContaining('- groceries: milk and eggs'),
    });
    expect(await c.callText('delete_note', { id: id! })).toBe(`Deleted note ${id}.`);
    const again = await c.client.callTool({ name: 'delete_note', arguments: { id: id! } });
    expect(again.isError).toBe(true);
  });
});
