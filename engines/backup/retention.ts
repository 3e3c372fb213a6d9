// Backup file naming and retention, with no Pulumi inside: the backup functions call these during
// `up` and the unit tests call them on temporary folders. Plain functions over node:fs only, because
// the dynamic provider that calls them is serialized by value.
import fs from "node:fs";
import path from "node:path";

/**
 * A backup file name: `<stack>_<release>_<YYYYMMDDTHHMMSSZ>.dump` (a directory archive: `.tar.gz`,
 * in a folder of its own, so a folder never holds both kinds). The stack part never holds an
 * underscore (see {@link sanitizeStackName}), so the first `_` ends it and the timestamp is anchored at
 * the end; the release part may hold underscores.
 */
const BACKUP_FILE = /^([A-Za-z0-9.-]+)_([A-Za-z0-9._-]+)_(\d{8}T\d{6}Z)\.(?:dump|tar\.gz)$/;

/** Longest release part kept in a file name; longer ones are cut, the timestamp keeps names unique. */
const MAX_RELEASE_CHARS = 64;

/** What a backup file name says about the backup. */
export interface BackupFileName {
  /** The sanitized stack name. */
  readonly stack: string;
  /** The sanitized release. */
  readonly release: string;
  /** The UTC timestamp as written in the name, `YYYYMMDDTHHMMSSZ`; sorts in time order. */
  readonly timestamp: string;
}

function sanitize(value: string, allowed: RegExp, what: string, example: string): string {
  const cleaned = value
    .replace(allowed, "-")
    .replace(/-{2,}/g, "-")
    .replace(/^[-.]+|[-.]+$/g, "");
  if (cleaned === "") {
    throw new Error(
      `${what} ${JSON.stringify(value)} has no letters or digits to put in a backup file name; use a value like ${JSON.stringify(example)}`,
    );
  }
  return cleaned;
}

/**
 * The stack name as used for its backup folder and file names: characters other than letters, digits,
 * `.` and `-` become `-` (so `org/proj/prod_eu` becomes `org-proj-prod-eu`), and leading or trailing dots
 * and dashes are dropped, so the result can never be `..` or a hidden name.
 */
export function sanitizeStackName(stack: string): string {
  return sanitize(stack, /[^A-Za-z0-9.-]/g, "stack name", "prod");
}

/** The release as used in a backup file name: like {@link sanitizeStackName} but `_` is kept. */
export function sanitizeReleaseName(release: string): string {
  return sanitize(release, /[^A-Za-z0-9._-]/g, "release", "1.4.0").slice(0, MAX_RELEASE_CHARS);
}

/** `2025-01-31T14:03:09.123Z` as `20250131T140309Z` (UTC, to the second). */
export function formatBackupTimestamp(when: Date): string {
  if (Number.isNaN(when.getTime())) {
    throw new Error(`backup time ${String(when)} is not a valid date; pass a valid Date as \`now\``);
  }
  return when
    .toISOString()
    .replace(/\.\d{3}Z$/, "Z")
    .replace(/[-:]/g, "");
}

/** The file name of a backup of `stack` at `release` taken at `when`: a dump, or a directory archive. */
export function backupFileName(
  stack: string,
  release: string,
  when: Date,
  extension: ".dump" | ".tar.gz" = ".dump",
): string {
  return `${sanitizeStackName(stack)}_${sanitizeReleaseName(release)}_${formatBackupTimestamp(when)}${extension}`;
}

/** The parts of a backup file name, or undefined when the name does not follow the pattern. */
export function parseBackupFileName(fileName: string): BackupFileName | undefined {
  const match = BACKUP_FILE.exec(fileName);
  return match ? { stack: match[1], release: match[2], timestamp: match[3] } : undefined;
}

/** The folder that holds the backups of `stack` under the backup root `dir`. */
export function stackBackupDir(dir: string, stack: string): string {
  return path.join(dir, sanitizeStackName(stack));
}

/**
 * Deletes the oldest backups of `stack` beyond the newest `keep`, each with its `.sha256` sidecar.
 *
 * Looks only in `stackBackupDir(dir, stack)` and only at `.dump` files whose name follows the backup
 * pattern for this stack; other files (failed backups, other stacks' files, notes) are never touched.
 * Age comes from the timestamp in the name, not the file's mtime, which copies and restores reset.
 * A path in `protect` (the backup just taken) is never deleted, even when it is among the oldest.
 *
 * @param dir - the backup root, the same `dir` the backups were taken with
 * @param keep - how many of the newest backups to keep; 0 keeps all
 * @param protect - paths that must survive whatever their age
 * @returns the removed `.dump` paths, oldest first
 */
export function applyRetention(dir: string, stack: string, keep: number, protect: string[]): string[] {
  if (!Number.isInteger(keep) || keep < 0) {
    throw new Error(
      `backup retention keep=${keep} is not a whole number of backups; use 0 to keep all or a positive count such as 10 (backup.keep)`,
    );
  }
  const folder = stackBackupDir(dir, stack);
  if (keep === 0 || !fs.existsSync(folder)) return [];
  const stackName = sanitizeStackName(stack);
  const protectedPaths = new Set(protect.map((p) => path.resolve(p)));

  const backups = fs
    .readdirSync(folder, { withFileTypes: true })
    .filter((entry) => entry.isFile())
    .map((entry) => ({ name: entry.name, parsed: parseBackupFileName(entry.name) }))
    .filter((b): b is { name: string; parsed: BackupFileName } => b.parsed?.stack === stackName)
    // Newest first; the name breaks ties so the order never depends on readdir.
    .sort((a, b) => b.parsed.timestamp.localeCompare(a.parsed.timestamp) || b.name.localeCompare(a.name));

  const removed: string[] = [];
  for (const backup of backups.slice(keep).reverse()) {
    const file = path.resolve(folder, backup.name);
    if (protectedPaths.has(file)) continue;
    // The dump goes first: a leftover sidecar is harmless, a dump without its checksum is not.
    for (const doomed of [file, `${file}.sha256`]) {
      try {
        fs.rmSync(doomed, { force: true });
      } catch (error) {
        throw new Error(
          `backup retention could not delete ${doomed}: ${(error as Error).message}; ` +
            `fix the permissions of ${folder}, or set backup.keep to 0 to keep all backups`,
          { cause: error },
        );
      }
    }
    removed.push(file);
  }
  return removed;
}

/** A backup file on disk and the SHA-256 its sidecar recorded. */
export interface BackupFile {
  readonly path: string;
  readonly sha256: string;
  /** `YYYYMMDDTHHMMSSZ`, from the file name. */
  readonly timestamp: string;
}

/**
 * The newest verified backup taken for `release` on `stack` under the backup root `dir`: for a
 * forward release, the dump its rollout took before it changed anything (a rollback's own backup is
 * named after the release it goes back to, so it is never this one). Undefined when there is none.
 */
export function newestBackupOf(dir: string, stack: string, release: string): BackupFile | undefined {
  const folder = stackBackupDir(dir, stack);
  if (!fs.existsSync(folder)) return undefined;
  const wanted = { stack: sanitizeStackName(stack), release: sanitizeReleaseName(release) };
  return fs
    .readdirSync(folder)
    .flatMap((name) => {
      const parsed = parseBackupFileName(name);
      const sidecar = path.join(folder, `${name}.sha256`);
      if (parsed?.stack !== wanted.stack || parsed.release !== wanted.release || !fs.existsSync(sidecar))
        return [];
      const sha256 = fs.readFileSync(sidecar, "utf8").trim().split(/\s+/)[0];
      return /^[0-9a-f]{64}$/.test(sha256)
        ? [{ path: path.join(folder, name), sha256, timestamp: parsed.timestamp }]
        : [];
    })
    .sort((a, b) => b.timestamp.localeCompare(a.timestamp))[0];
}
