// The edge reads each request's path and Host from a memo: the answers are the URL standard's and
// the loopback rule's, on the first request and every one after, whatever the target's length.
import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { isLoopbackHost } from '../../src/config/loopback.js';
import { hostIsLoopback, requestPath } from '../../src/http/edge-guard.js';

/** The URL standard's path of an origin-form target (a path); nothing for any other form. */
const standardPath = (target: string): string | undefined => {
  if (!target.startsWith('/') || target.startsWith('//')) return undefined;
  try {
    return new URL(target, 'http://gatehouse').pathname;
  } catch {
    return undefined;
  }
};

describe('edge memo', () => {
  it('gives every path target the path the URL standard gives it, and no other target a path, again and again', () => {
    const targets = [
      '/mcp/echo',
      '/mcp/./echo',
      '/mcp/%2e%2e/x',
      '//evil/x',
      'http://a/b?c',
      '*',
      '',
      `/${'a'.repeat(400)}`,
    ];
    for (let round = 0; round < 2; round++)
      for (const url of targets) expect(requestPath({ url } as IncomingMessage)).toBe(standardPath(url));
    expect(requestPath({} as IncomingMessage)).toBe('/');
  });

  it('judges Host headers the same on every request', () => {
    for (let round = 0; round < 2; round++) {
      expect(hostIsLoopback('localhost:8080')).toBe(true);
      expect(hostIsLoopback('127.4.5.6')).toBe(true);
      expect(hostIsLoopback('[::1]:80')).toBe(true);
      // Other spellings of IPv6 loopback, as a client may write the gateway's own address.
      expect(hostIsLoopback('[0:0:0:0:0:0:0:1]:80')).toBe(true);
      expect(hostIsLoopback('[::ffff:7f00:1]:80')).toBe(true);
      expect(hostIsLoopback('LOCALHOST:80')).toBe(true);
      expect(hostIsLoopback('[::2]:80')).toBe(false);
      expect(hostIsLoopback('[::ffff:8000:1]:80')).toBe(false);
      // An interface zone, as a Host writes it (%25) or as a listen address: judged without throwing.
      expect(hostIsLoopback('[::1%25lo]:80')).toBe(true);
      expect(hostIsLoopback('[fe80::1%25eth0]:80')).toBe(false);
      expect(isLoopbackHost('::1%lo')).toBe(true);
      expect(isLoopbackHost('fe80::1%eth0')).toBe(false);
      expect(hostIsLoopback('evil.example')).toBe(false);
      expect(hostIsLoopback(`${'a'.repeat(300)}.example`)).toBe(false);
      expect(hostIsLoopback(undefined)).toBe(false);
    }
  });
});
