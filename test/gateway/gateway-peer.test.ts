// Proves what Gatehouse presents when it talks to a server on its own account (reading tool lists,
// probing and discovering a server, holding listen streams): a peer that refuses server-to-client
// requests with "method not found", and the modern envelope that names Gatehouse as the client.
import { describe, expect, it } from 'vitest';
import { ErrorCode } from '../../src/mcp/jsonrpc.js';
import { envelopeOf, GATEWAY_CLIENT_INFO, gatewayEnvelope, MODERN_PROTOCOL_VERSION } from '../../src/mcp/era.js';
import { gatewayPeer } from '../../src/gateway/peer.js';

describe('the gateway as its own client', () => {
  it('is a peer of the given id and era, held by Gatehouse, that refuses server-to-client requests', async () => {
    const peer = gatewayPeer('gatehouse-listener', 'modern');
    expect(peer).toMatchObject({
      id: 'gatehouse-listener',
      era: 'modern',
      principal: 'gatehouse',
      capabilities: {},
      open: true,
    });
    expect(await peer.request('sampling/createMessage', {}, undefined)).toEqual({
      error: { code: ErrorCode.MethodNotFound, message: 'not supported' },
    });
    expect(() => peer.notify({ jsonrpc: '2.0', method: 'notifications/progress' }, undefined)).not.toThrow();
  });

  it('sends the modern envelope with no capabilities and its own client info', () => {
    expect(envelopeOf({ _meta: gatewayEnvelope() })).toEqual({
      protocolVersion: MODERN_PROTOCOL_VERSION,
      clientCapabilities: {},
      clientInfo: GATEWAY_CLIENT_INFO,
    });
  });

  it('gives each request an envelope of its own', () => {
    const a = gatewayEnvelope();
    const b = gatewayEnvelope();
    expect(a).toEqual(b);
    expect(a).not.toBe(b);
  });
});
