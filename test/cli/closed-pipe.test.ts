// Proves that a reader closing its end of the pipe early (`gatehouse schema config | head -1`) ends
// the command quietly with exit 0, instead of an unhandled EPIPE with a stack trace.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../../bin/gatehouse.js', import.meta.url));

describe('gatehouse writing into a closed pipe', () => {
  it('exits 0 without an error when the reader is gone before it writes', async () => {
    const child = spawn(process.execPath, [BIN, 'schema', 'config'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.stdout.destroy(); // the reader is gone before the first write
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    expect(stderr).not.toMatch(/EPIPE|Error/);
    expect(code).toBe(0);
  }, 60_000);
});
