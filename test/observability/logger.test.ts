// Proves the gateway log: JSON lines with a level name, an ISO time and the message; entries below
// the configured level are not written; terminals get short readable lines; a line callback gets
// the `level: message` form it always had; and a real gateway honours `log.level` from its config.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, lineLogger, logTo } from '../../src/observability/logger.js';
import { EPHEMERAL, featureEntry, startParsedGateway } from '../helpers/index.js';

function capture(): { out: PassThrough; lines: () => string[] } {
  const out = new PassThrough();
  let text = '';
  out.on('data', (chunk: Buffer) => (text += chunk.toString()));
  return { out, lines: () => text.split('\n').filter(Boolean) };
}

describe('createLogger', () => {
  it('writes one JSON object per line with level, time and message', () => {
    const { out, lines } = capture();
    const logger = createLogger({ destination: out, format: 'json' });
    logger.warn('upstream "memory" exited; restarting in 100 ms');
    logger.info({ server: 'memory' }, 'upstream ready');
    const [first, second] = lines().map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ level: 'warn', msg: 'upstream "memory" exited; restarting in 100 ms' });
    expect(Date.parse(String(first?.time))).not.toBeNaN();
    expect(second).toMatchObject({ level: 'info', msg: 'upstream ready', server: 'memory' });
  });

  it('honours the level: entries below it are not written', () => {
    const { out, lines } = capture();
    const log = logTo(createLogger({ destination: out, format: 'json', level: 'warn' }));
    log('debug', 'details');
    log('info', 'started');
    log('warn', 'slow upstream');
    log('error', 'upstream failed');
    expect(lines().map((l) => (JSON.parse(l) as { level: string }).level)).toEqual(['warn', 'error']);
  });

  it('writes trace and debug entries when asked to', () => {
    const { out, lines } = capture();
    const log = logTo(createLogger({ destination: out, format: 'json', level: 'trace' }));
    log('trace', 'a');
    log('debug', 'b');
    expect(lines()).toHaveLength(2);
  });

  it('writes readable lines, not JSON, for a terminal', () => {
    const { out, lines } = capture();
    Object.assign(out, { isTTY: true });
    createLogger({ destination: out }).warn({ server: 'memory' }, 'restarting');
    const [line] = lines();
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.\d{3} \S*WARN\S* +restarting server=memory$/);
  });
});

describe('lineLogger', () => {
  it('hands each entry over as "level: message", filtered by level', () => {
    const lines: string[] = [];
    const log = logTo(lineLogger((l) => lines.push(l), 'info'));
    log('debug', 'hidden');
    log('info', 'upstream "a" ready');
    log('error', 'boom');
    expect(lines).toEqual(['info: upstream "a" ready', 'error: boom']);
  });
});

describe('a gateway with log.level in its config', () => {
  it('writes warnings and leaves out info lines when log.level is warn', async () => {
    const lines: string[] = [];
    const gateway = await startParsedGateway(
      { ...EPHEMERAL, log: { level: 'warn' }, servers: { leg: featureEntry() } },
      { log: (l) => lines.push(l) },
    );
    await gateway.close();
    // A server without a policy is a warning at start-up; "upstream ready" is info.
    expect(lines).toContain(
      'warn: server "leg" has no policy: every call to it is allowed. Add "policy:" to its entry to control it.',
    );
    expect(lines.filter((l) => l.startsWith('info:'))).toEqual([]);
  }, 30_000);
});
