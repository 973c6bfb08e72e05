// Sign in: the operator pastes an admin token; it is checked with /api/v1/whoami and kept in this
// tab's sessionStorage only.
import { useState } from 'preact/hooks';
import { api, ApiError, saveToken } from '../api.js';
import type { Role } from '../types.js';

export function SignIn({ onSignedIn }: { onSignedIn: (role: Role) => void }) {
  const [token, setToken] = useState('');
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const submit = async (e: Event) => {
    e.preventDefault();
    const value = token.trim();
    if (!value) return setError('Paste the admin token first.');
    setBusy(true);
    setError(null);
    try {
      const who = await api<{ role: Role }>('GET', 'whoami', undefined, value);
      saveToken(value);
      onSignedIn(who.role);
    } catch (err) {
      setError(
        err instanceof ApiError && err.status === 401
          ? 'The gateway does not know this token.'
          : err instanceof Error
            ? err.message
            : String(err),
      );
    } finally {
      setBusy(false);
    }
  };
  return (
    <main class="signin">
      <form onSubmit={submit} aria-labelledby="signin-title">
        <h1 id="signin-title">Gatehouse</h1>
        <p class="muted">Sign in with an admin token (auth.admin_token in gatehouse.yaml, or a token with a role).</p>
        <label for="token">Admin token</label>
        <input
          id="token"
          type="password"
          autoComplete="off"
          spellcheck={false}
          value={token}
          onInput={(e) => setToken((e.target as HTMLInputElement).value)}
          aria-describedby={error ? 'signin-error' : undefined}
          autoFocus
        />
        {error && (
          <p id="signin-error" class="error" role="alert">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy}>
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
        <p class="muted small">
          The token stays in this browser tab (sessionStorage) and is sent only to this gateway.
        </p>
      </form>
    </main>
  );
}
