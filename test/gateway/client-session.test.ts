// Proves what a legacy client session promises the code that holds resources for it: every cleanup
// runs once, when the session closes, even one registered after it closed (an initialize that was
// still starting the session's own upstream when the client went away).
import { describe, expect, it } from 'vitest';
import { ClientSession } from '../../src/gateway/client-session.js';
import { ANONYMOUS } from '../../src/identity/grants.js';

describe('ClientSession.onClose', () => {
  it('runs a cleanup when the session closes, once', () => {
    const s = new ClientSession(ANONYMOUS);
    let ran = 0;
    s.onClose(() => ran++);
    expect(ran).toBe(0);
    s.close();
    s.close();
    expect(ran).toBe(1);
  });

  it('runs a cleanup registered after the session closed at once', () => {
    const s = new ClientSession(ANONYMOUS);
    s.close();
    let ran = 0;
    s.onClose(() => ran++);
    expect(ran).toBe(1);
  });
});
