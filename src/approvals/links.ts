// Where a person answers an approval: a page whose link carries the approval's secret key, so it
// works from a webhook message or a client's browser without an admin token.

/** The page showing one approval, with Approve and Deny buttons. */
export function approvalPageUrl(base: string, id: string, key: string): string {
  return `${base.replace(/\/+$/, '')}/ui/approvals/${encodeURIComponent(id)}?key=${encodeURIComponent(key)}`;
}

/** The links that ask to approve or deny (a confirmation page: only its form's POST answers). */
export function approvalActionUrl(base: string, id: string, key: string, action: 'approve' | 'deny'): string {
  return `${base.replace(/\/+$/, '')}/ui/approvals/${encodeURIComponent(id)}/${action}?key=${encodeURIComponent(key)}`;
}
