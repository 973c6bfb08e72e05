// An approval as it is shown outside the gateway (admin API, its event stream, the CLI's JSON): the
// stored record without the hash of its link secret, which nobody outside needs.
import { subjectOf, type Approval } from './approval.js';

export type ApprovalView = Omit<Approval, 'link_hash'>;

export function approvalView(a: Approval): ApprovalView {
  const { link_hash: _hash, ...shown } = a;
  // One stored before its subject was recorded says it all the same (from its rule).
  return { ...shown, subject: subjectOf(a) };
}
