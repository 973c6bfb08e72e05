// A retry forwarded to the replica holding its call goes to that replica's origin with the path
// and query the client asked for: a request target that names another host never chooses it.
import { describe, expect, it } from 'vitest';
import { targetAt } from '../../src/cluster/forward.js';

describe('the replica forward target', () => {
  it('keeps the replica origin for every request target form, with the target path and query', () => {
    const base = 'http://10.0.0.7:8080';
    expect(targetAt(base, '/mcp/feat?x=1').href).toBe('http://10.0.0.7:8080/mcp/feat?x=1');
    expect(targetAt(base, 'http://127.0.0.1:19340/mcp/feat?via=abs').href).toBe(
      'http://10.0.0.7:8080/mcp/feat?via=abs',
    );
    expect(targetAt(base, '//127.0.0.1:19340/mcp/feat').href).toBe('http://10.0.0.7:8080/mcp/feat');
    expect(targetAt(base, 'http://evil.example//x/mcp').host).toBe('10.0.0.7:8080');
    expect(targetAt(`${base}/`, undefined).href).toBe('http://10.0.0.7:8080/');
  });
});
