// Which approvals a filter selects; every store applies the same rule.
import type { Approval, ApprovalFilter } from './approval.js';

export function matchesApproval(a: Approval, f: ApprovalFilter): boolean {
  return (
    (f.status === undefined || f.status.includes(a.status)) &&
    (f.grant === undefined || a.grant === f.grant) &&
    (f.server === undefined || a.server === f.server) &&
    (f.tool === undefined || a.tool === f.tool) &&
    (f.args_hash === undefined || a.args_hash === f.args_hash)
  );
}
