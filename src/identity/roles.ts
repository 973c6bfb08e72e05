// Roles of admin tokens. Each role includes the ones before it: a viewer reads everything the
// admin API serves; a policy manager also changes what governs calls (approvals, pins); an admin
// also manages credentials (grants). The admin API's route table names the least role of every
// route (src/http/admin-routes.ts), and roles will apply to the dashboard through that same API.

export const ADMIN_ROLES = ['viewer', 'policy_manager', 'admin'] as const;
export type AdminRole = (typeof ADMIN_ROLES)[number];

/** Whether a token of role `held` may use a route that needs role `needed`. */
export function roleAllows(held: AdminRole, needed: AdminRole): boolean {
  return ADMIN_ROLES.indexOf(held) >= ADMIN_ROLES.indexOf(needed);
}
