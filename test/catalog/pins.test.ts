// Proves what a pin holds: a tool's title and output schema are pinned with its name, description,
// input schema and annotations (the risk category is read from the title, so "Delete all records"
// renamed "Read records" is a changed tool), and so are its icons, its `execution` and its `_meta`
// (where a client finds the interface it shows for the tool); a pin stored before any of these were
// pinned is brought up to date for a tool unchanged in what it held, instead of blocking every tool
// at upgrade.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { canonicalJson, checkPin, pinnedDefinition, type Pin } from '../../src/catalog/pins.js';

const TOOL = {
  name: 'records',
  title: 'Delete all records',
  description: 'Works on the records.',
  inputSchema: { type: 'object', properties: { id: { type: 'string', title: 'Record id' } } },
};

const pinOf = (tool: Record<string, unknown>): Pin => ({
  server: 'db',
  tool: String(tool.name),
  ...pinnedDefinition(tool),
  pinnedAt: 1,
});

/** A pin as it was stored before titles were pinned: name, description, input schema, annotations. */
function earlierPin(tool: Record<string, unknown>): Pin {
  return pinHolding({
    name: tool.name,
    description: tool.description ?? null,
    inputSchema: tool.inputSchema ?? null,
    annotations: tool.annotations ?? null,
  });
}

/** A pin as it was stored before icons, execution and _meta were pinned. */
function titledPin(tool: Record<string, unknown>): Pin {
  return pinHolding({
    name: tool.name,
    title: tool.title ?? null,
    description: tool.description ?? null,
    inputSchema: tool.inputSchema ?? null,
    outputSchema: tool.outputSchema ?? null,
    annotations: tool.annotations ?? null,
  });
}

/** A pin holding exactly `held`, as a Gatehouse of that format stored it. */
function pinHolding(held: Record<string, unknown>): Pin {
  const definition = canonicalJson(held);
  return {
    server: 'db',
    tool: String(held.name),
    hash: createHash('sha256').update(definition).digest('hex'),
    definition,
    pinnedAt: 1,
  };
}

describe('pins', () => {
  it('a changed title, a changed output schema, or a title a tool did not have is a changed tool', () => {
    const pinned = pinOf(TOOL);
    expect(checkPin(pinned, 'db', { ...TOOL, title: 'Read records' }, 2).verdict).toBe('changed');
    expect(checkPin(pinned, 'db', { ...TOOL, outputSchema: { type: 'object' } }, 2).verdict).toBe('changed');
    const untitled = { ...TOOL, title: undefined };
    expect(checkPin(pinOf(untitled), 'db', TOOL, 2).verdict).toBe('changed');
    expect(checkPin(pinned, 'db', { ...TOOL }, 2)).toEqual({ verdict: 'same' });
  });

  it('a pin stored before titles were pinned is brought up to date for an unchanged tool, and still blocks a changed one', () => {
    const earlier = earlierPin(TOOL);
    const same = checkPin(earlier, 'db', TOOL, 2);
    expect(same.verdict).toBe('same');
    expect(same.store).toMatchObject({ hash: pinnedDefinition(TOOL).hash, pinnedAt: 1 });
    // Once brought up to date, the title is held: changing it now blocks.
    expect(checkPin(same.store, 'db', { ...TOOL, title: 'Read records' }, 3).verdict).toBe('changed');
    expect(checkPin(earlier, 'db', { ...TOOL, description: 'Deletes every record.' }, 2).verdict).toBe('changed');
  });

  it('changed icons, a changed execution or changed _meta is a changed tool', () => {
    const tool = { ...TOOL, icons: [{ src: 'https://a.example/i.png' }], _meta: { ui: { resourceUri: 'ui://a' } } };
    const pinned = pinOf(tool);
    expect(checkPin(pinned, 'db', { ...tool, icons: [{ src: 'https://b.example/i.png' }] }, 2).verdict).toBe('changed');
    expect(checkPin(pinned, 'db', { ...tool, execution: { taskSupport: 'required' } }, 2).verdict).toBe('changed');
    expect(checkPin(pinned, 'db', { ...tool, _meta: { ui: { resourceUri: 'ui://b' } } }, 2).verdict).toBe('changed');
    expect(checkPin(pinned, 'db', { ...tool }, 2)).toEqual({ verdict: 'same' });
  });

  it('a pin stored before icons, execution and _meta were pinned is brought up to date, then holds them', () => {
    const tool = { ...TOOL, _meta: { ui: { resourceUri: 'ui://a' } } };
    const same = checkPin(titledPin(tool), 'db', tool, 2);
    expect(same.verdict).toBe('same');
    expect(same.store).toMatchObject({ hash: pinnedDefinition(tool).hash, pinnedAt: 1 });
    expect(checkPin(same.store, 'db', { ...tool, _meta: { ui: { resourceUri: 'ui://b' } } }, 3).verdict).toBe(
      'changed',
    );
    expect(checkPin(titledPin(tool), 'db', { ...tool, title: 'Read records' }, 2).verdict).toBe('changed');
  });
});
