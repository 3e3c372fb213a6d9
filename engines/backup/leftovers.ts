// What a killed backup run leaves behind, and its removal by the next run of the same stack: partial
// dumps (`<backup>.dump.partial`, a copy of production data) and restore-test scratch databases
// (`rollout_restore_<stack>_...`). Only what is clearly stale is removed; the rest is reported with
// the command that removes it. No Pulumi inside: the DatabaseBackup provider calls this, serialized
// by value, so plain functions and constants only.
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { escapeIdentifier, type Client } from "pg";
import type { PgConnection } from "../postgres";
import { parseBackupFileName, sanitizeStackName } from "./retention";

/** Something a killed run left that this run did not remove. */
export interface Leftover {
  /** The file path, or `database "<name>"`. */
  readonly item: string;
  /** Why it was left. */
  readonly reason: string;
  /** The command that removes it, once the reason no longer holds. */
  readonly command: string;
}

/** The crash leftovers a backup run found: removed, and left with the command that removes them. */
export interface LeftoverCleanup {
  /** Removed partial dump paths and `database "<name>"` entries. */
  readonly removed: string[];
  readonly left: Leftover[];
}

const SCRATCH_PREFIX = "rollout_restore_";
/** Longest stack part of a scratch database name: names have at most 63 bytes. */
const MAX_STACK_CHARS = 20;
/** Scratch names from before they carried the stack: `rollout_restore_<12 hex>`. */
const UNATTRIBUTED_SCRATCH = /^rollout_restore_[0-9a-f]{12}$/;
/**
 * First half of the two-int advisory lock a run holds on its scratch database from before it creates
 * it until it is dropped (the second half comes from the name). The migration lock's halves come
 * from a hash, so they are told apart by this fixed class.
 */
const SCRATCH_LOCK_CLASS = 0x52535452; // "RSTR"

/**
 * The start of every scratch database name of `stack`: its sanitized name in lower case (cut to 20
 * characters) and 8 hex of a hash of the full name, so two stacks never share a prefix.
 */
export function scratchDatabasePrefix(stack: string): string {
  const slug = sanitizeStackName(stack)
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .slice(0, MAX_STACK_CHARS)
    .replace(/_+$/, "");
  const hash = createHash("sha256").update(stack).digest("hex").slice(0, 8);
  return `${SCRATCH_PREFIX}${slug}_${hash}_`;
}

/** A fresh scratch database name for a restore test of `stack`. */
export function scratchDatabaseName(stack: string): string {
  return `${scratchDatabasePrefix(stack)}${randomBytes(6).toString("hex")}`;
}

/** The advisory lock key that marks a scratch database as in use by a live run. */
export function scratchLockKey(name: string): [number, number] {
  return [SCRATCH_LOCK_CLASS, createHash("sha256").update(name).digest().readUInt32BE(0) & 0x7fffffff];
}

/** `<dir>` entries that are partial dumps of `stack`, as absolute paths. */
function partialDumps(folder: string, stack: string): string[] {
  if (!fs.existsSync(folder)) return [];
  const stackName = sanitizeStackName(stack);
  return fs
    .readdirSync(folder, { withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith(".dump.partial"))
    .filter((e) => parseBackupFileName(e.name.slice(0, -".partial".length))?.stack === stackName)
    .map((e) => path.resolve(folder, e.name))
    .sort();
}

/**
 * The processes on this machine that have `file` open, or undefined when that cannot be known
 * (no /proc). Processes of other users are skipped where /proc hides them: the backup folder is
 * mode 0700, so only its owner (or root) can have its files open.
 */
export function processesHolding(file: string): number[] | undefined {
  let pids: string[];
  try {
    pids = fs.readdirSync("/proc").filter((name) => /^\d+$/.test(name));
  } catch {
    return undefined;
  }
  const target = fs.statSync(file);
  const holders: number[] = [];
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = fs.readdirSync(`/proc/${pid}/fd`);
    } catch {
      continue; // gone, or another user's
    }
    for (const fd of fds) {
      try {
        // stat follows the fd link to the open file; same device and inode is the same file,
        // whatever path it was opened by.
        const open = fs.statSync(`/proc/${pid}/fd/${fd}`);
        if (open.ino === target.ino && open.dev === target.dev) {
          holders.push(Number(pid));
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return holders;
}

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

/** The psql command that drops `database`, connecting as the backup does (password from PGPASSWORD). */
function dropCommand(connection: PgConnection, database: string): string {
  const target = `host=${connection.host} port=${connection.port} user=${connection.user} dbname=${connection.database} sslmode=${connection.sslMode}`;
  return `psql ${shellQuote(target)} -c ${shellQuote(`DROP DATABASE ${escapeIdentifier(database)}`)}`;
}

/** Removes the partial dumps of `stack` in `folder` that no process has open; reports the others in `found`. */
export async function cleanPartials(
  folder: string,
  stack: string,
  found: { removed: string[]; left: Leftover[] },
): Promise<void> {
  for (const file of partialDumps(folder, stack)) {
    const command = `rm -f -- ${shellQuote(file)}`;
    let holders: number[] | undefined;
    try {
      holders = processesHolding(file);
    } catch {
      continue; // removed meanwhile
    }
    if (holders === undefined) {
      found.left.push({
        item: file,
        reason:
          "partial dump (a copy of the data); whether a process still writes it cannot be told here (no /proc)",
        command,
      });
    } else if (holders.length > 0) {
      found.left.push({
        item: file,
        reason: `partial dump still open in process ${holders.join(", ")}; remove it once that process has ended`,
        command,
      });
    } else {
      try {
        fs.rmSync(file, { force: true });
        found.removed.push(file);
      } catch (error) {
        found.left.push({
          item: file,
          reason: `partial dump (a copy of the data) that could not be removed: ${(error as Error).message}`,
          command,
        });
      }
    }
  }
}

async function cleanScratchDatabases(
  client: Client,
  connection: PgConnection,
  stack: string,
  found: { removed: string[]; left: Leftover[] },
) {
  const prefix = scratchDatabasePrefix(stack);
  const rows = (
    await client.query<{ name: string; sessions: number }>(
      `SELECT d.datname AS name,
              (SELECT count(*)::int FROM pg_catalog.pg_stat_activity a WHERE a.datname = d.datname) AS sessions
       FROM pg_catalog.pg_database d
       WHERE d.datname LIKE $1
       ORDER BY 1`,
      // LIKE rather than starts_with (PostgreSQL 11+); `_` is escaped, it matches any character.
      [`${SCRATCH_PREFIX.replace(/_/g, "\\_")}%`],
    )
  ).rows;
  for (const { name, sessions } of rows) {
    const item = `database "${name}"`;
    const command = dropCommand(connection, name);
    if (!name.startsWith(prefix)) {
      // Another stack's, or from before names carried the stack: not ours to judge.
      if (UNATTRIBUTED_SCRATCH.test(name) && sessions === 0) {
        found.left.push({
          item,
          reason:
            "restore-test scratch database (a copy of the data) from before scratch names carried the stack; which stack made it cannot be told, so it is not dropped",
          command,
        });
      }
      continue;
    }
    if (sessions > 0) {
      found.left.push({
        item,
        reason: `restore-test scratch database with ${sessions} connected session${sessions === 1 ? "" : "s"}; drop it once they have ended`,
        command,
      });
      continue;
    }
    // The run that made it holds this lock until it drops it; free, it is a killed run's.
    const key = scratchLockKey(name);
    const locked = (await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", key))
      .rows[0].ok;
    if (!locked) {
      found.left.push({
        item,
        reason:
          "restore-test scratch database of a backup run that is still going (it holds the scratch lock)",
        command,
      });
      continue;
    }
    try {
      // Without FORCE: a session that connected meanwhile makes the drop fail, and the database stays.
      await client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(name)}`);
      found.removed.push(item);
    } catch (error) {
      found.left.push({
        item,
        reason: `restore-test scratch database (a copy of the data) that could not be dropped: ${(error as Error).message}`,
        command,
      });
    } finally {
      await client.query("SELECT pg_advisory_unlock($1, $2)", key).catch(() => undefined);
    }
  }
}

/**
 * Removes the stale crash leftovers of `stack`: partial dumps in its backup folder that no process
 * has open, and its restore-test scratch databases with no connected session whose run no longer
 * holds their lock. Another stack's leftovers are never touched. Everything found but not removed
 * is returned with the reason and the command that removes it; each is also logged.
 *
 * @param client a connection to the stack's own database (the scratch lock lives there)
 * @param folder the stack's backup folder
 */
export async function cleanCrashLeftovers(args: {
  readonly client: Client;
  readonly connection: PgConnection;
  readonly folder: string;
  readonly stack: string;
  readonly log?: (line: string) => void;
}): Promise<LeftoverCleanup> {
  const found = { removed: [] as string[], left: [] as Leftover[] };
  await cleanPartials(args.folder, args.stack, found);
  await cleanScratchDatabases(args.client, args.connection, args.stack, found);
  for (const item of found.removed) args.log?.(`backup: removed ${item}, left by a run that was killed`);
  for (const l of found.left) args.log?.(`backup: left ${l.item}: ${l.reason}; remove it with: ${l.command}`);
  return found;
}
