// Reads every record of an audit sink (newest first) and closes it: what the end-to-end tests
// compare with the calls they made.
import { openAuditSink } from '../../src/audit/open-audit-log.js';
import { readAllRecords, type StoredAuditRecord } from '../../src/audit/query.js';

export async function readSink(url: string, dir: string): Promise<StoredAuditRecord[]> {
  const sink = openAuditSink(url, dir)!;
  try {
    return await readAllRecords(sink);
  } finally {
    await sink.close();
  }
}
