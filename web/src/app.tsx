// The dashboard shell: sign-in until a token works, then the navigation and the current page.
import { createContext } from 'preact';
import { useContext, useEffect, useState } from 'preact/hooks';
import { forgetToken, get, savedToken, whenUnauthorized } from './api.js';
import { href, useRoute } from './router.js';
import type { Role } from './types.js';
import { ApprovalsPage } from './pages/approvals.js';
import { AuditPage } from './pages/audit.js';
import { CatalogPage } from './pages/catalog.js';
import { GrantsPage } from './pages/grants.js';
import { OverviewPage } from './pages/overview.js';
import { PolicyPage } from './pages/policy.js';
import { SignIn } from './pages/signin.js';

export const RoleContext = createContext<Role>('viewer');

/** Whether the signed-in role may do what needs `least`. */
export function useCan(least: Role): boolean {
  const role = useContext(RoleContext);
  const rank: Record<Role, number> = { viewer: 0, policy_manager: 1, admin: 2 };
  return rank[role] >= rank[least];
}

const PAGES = [
  ['overview', 'Overview'],
  ['catalog', 'Catalog'],
  ['policy', 'Policy'],
  ['approvals', 'Approvals'],
  ['audit', 'Audit log'],
  ['grants', 'Grants'],
] as const;

export function App() {
  const [role, setRole] = useState<Role | null>(null);
  const [checking, setChecking] = useState(savedToken() !== null);
  const route = useRoute();

  useEffect(() => {
    whenUnauthorized(() => {
      forgetToken();
      setRole(null);
    });
    if (!savedToken()) return;
    get<{ role: Role }>('whoami')
      .then((w) => setRole(w.role))
      .catch(() => setRole(null))
      .finally(() => setChecking(false));
  }, []);

  if (checking) return <p class="muted center">Checking the saved token…</p>;
  if (!role) return <SignIn onSignedIn={setRole} />;

  const page = route.page;
  return (
    <RoleContext.Provider value={role}>
      <a class="skip" href="#main">
        Skip to content
      </a>
      <header class="top">
        <a class="brand" href={href('overview')}>
          Gatehouse
        </a>
        <nav aria-label="Dashboard">
          <ul>
            {PAGES.map(([id, label]) => (
              <li key={id}>
                <a href={href(id)} aria-current={page === id ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <div class="who">
          <span class="role" data-role={role} title="The role of the admin token you signed in with">
            {role.replace('_', ' ')}
          </span>
          <button
            type="button"
            class="secondary"
            onClick={() => {
              forgetToken();
              setRole(null);
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      <main id="main" tabIndex={-1}>
        {page === 'overview' && <OverviewPage />}
        {page === 'catalog' && <CatalogPage params={route.params} />}
        {page === 'policy' && <PolicyPage params={route.params} />}
        {page === 'approvals' && <ApprovalsPage />}
        {page === 'audit' && <AuditPage params={route.params} />}
        {page === 'grants' && <GrantsPage />}
        {!PAGES.some(([id]) => id === page) && (
          <p>
            No page “{page}”. <a href={href('overview')}>Back to the overview</a>.
          </p>
        )}
      </main>
    </RoleContext.Provider>
  );
}
