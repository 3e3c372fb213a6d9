// Private temporary folders for files that hold a secret (an SSH private key, a MySQL option file
// with the admin password): mode 0700, removed when the work ends, and swept by the next use when
// a killed run could not remove its own. No Pulumi inside.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";

/**
 * A folder left this long is a killed run's: the tools read these files when they start, and no
 * rollout step holds one this long.
 */
const STALE_MS = 6 * 60 * 60 * 1000;

/** Removes this user's `<prefix>*` folders in the temp dir that are older than {@link STALE_MS}. */
export function sweepStaleSecretFolders(prefix: string, now = Date.now()): string[] {
  const removed: string[] = [];
  const tmp = os.tmpdir();
  for (const entry of fs.readdirSync(tmp)) {
    if (!entry.startsWith(prefix)) continue;
    const full = path.join(tmp, entry);
    try {
      const stat = fs.lstatSync(full);
      if (!stat.isDirectory() || stat.uid !== process.getuid?.() || now - stat.mtimeMs < STALE_MS) continue;
      fs.rmSync(full, { recursive: true, force: true });
      removed.push(full);
    } catch {
      // Gone meanwhile, or not ours to read: nothing to sweep.
    }
  }
  return removed;
}

/** Runs `work` with a new private folder `<tmp>/<prefix>XXXXXX`, removed afterwards whatever happens. */
export async function withSecretFolder<T>(prefix: string, work: (folder: string) => Promise<T>): Promise<T> {
  sweepStaleSecretFolders(prefix);
  const folder = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  fs.chmodSync(folder, 0o700);
  try {
    return await work(folder);
  } finally {
    fs.rmSync(folder, { recursive: true, force: true });
  }
}
