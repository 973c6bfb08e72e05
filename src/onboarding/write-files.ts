// How `gatehouse init` and `gatehouse import` put their files on disk. Each file is written whole
// to a new temporary file beside it and renamed into place: a symbolic link at the path is
// replaced, never followed, so a link someone left in a shared folder cannot send a config (and
// the secrets an import copies into it) to a file of their choosing, or overwrite another file.
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** Readable and writable by its owner only: for a file holding secrets. */
export const PRIVATE_FILE_MODE = 0o600;
/** The usual mode of a file anyone may read, less the process's umask. */
export const SHARED_FILE_MODE = 0o666;

/** Whether anything is at `path`: a file, a folder, or a link (even one pointing nowhere). */
export function pathTaken(path: string): boolean {
  try {
    lstatSync(path);
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
    // Something is there that cannot be looked at: treat it as taken rather than write over it.
    return true;
  }
}

/** Writes `text` to `path` with `mode`, whatever was at `path` before (a file or a link). */
export function replaceFile(path: string, text: string, mode: number): void {
  mkdirSync(dirname(path), { recursive: true });
  const temp = join(dirname(path), `.${basename(path)}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    // `wx` creates the temporary file or fails: it never opens one a link points at.
    writeFileSync(temp, text, { flag: 'wx', mode });
    renameSync(temp, path);
  } catch (error) {
    rmSync(temp, { force: true });
    throw error;
  }
}
