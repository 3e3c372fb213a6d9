// Crash hygiene of backups, for real: a backup run in a process of its own is killed with SIGKILL,
// with its whole process tree (node, pg_dump or pg_restore), during pg_dump and during the restore
// test. The next run of the same stack removes what the killed run left and says so; what is still
// in use, or another stack's, is left alone, and what is left is reported with the command that
// removes it.
import assert from "node:assert/strict";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { Client } from "pg";
import {
  cleanCrashLeftovers,
  processesHolding,
  scratchDatabaseName,
  scratchDatabasePrefix,
  scratchLockKey,
  takePostgresBackup,
  type PostgresBackupOptions,
} from "../../engines/backup";
import type { PgConnection } from "../../engines/postgres";
import { ROOT } from "../support/fixtures";
import { query, targetDatabase } from "../support/stack";

// Enough rows that a restore takes a moment, so the kill lands while the scratch database is in use.
const SEED_SQL = `
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 300000) g;
`;

async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined> | T | undefined,
  ms = 30_000,
  intervalMs = 50,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) assert.fail(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, intervalMs));
  }
}

/** The processes of a process group, by command name, from /proc. */
function processGroup(pgid: number): { pid: number; comm: string }[] {
  const members: { pid: number; comm: string }[] = [];
  for (const pid of fs.readdirSync("/proc").filter((n) => /^\d+$/.test(n))) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      const [state, , pgrp] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      if (Number(pgrp) === pgid && state !== "Z") members.push({ pid: Number(pid), comm });
    } catch {
      // ended meanwhile
    }
  }
  return members;
}

const databaseExists = async (name: string) =>
  (await query("SELECT 1 FROM pg_database WHERE datname = $1", [name])).length === 1;
const sessionsIn = async (name: string) =>
  (
    await query<{ n: number }>("SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1", [name])
  )[0].n;

describe("backup crash leftovers after kill -9", () => {
  const stack = "crash-itest";
  let database: string;
  let connection: PgConnection;
  let dir: string;
  let child: ChildProcess | undefined;
  const extraDatabases: string[] = [];
  const clients: Client[] = [];

  beforeEach(async () => {
    database = `bk_crash_${randomBytes(4).toString("hex")}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-crash-"));
    await query(`CREATE DATABASE ${database}`);
    const seed = new Client({ ...targetDatabase(), database });
    await seed.connect();
    await seed.query(SEED_SQL);
    await seed.end();
    connection = { ...targetDatabase(), database, sslMode: "disable" };
  });

  afterEach(async () => {
    if (child?.pid !== undefined && processGroup(child.pid).length > 0) process.kill(-child.pid, "SIGKILL");
    child = undefined;
    for (const c of clients.splice(0)) await c.end().catch(() => undefined);
    for (const name of [database, ...extraDatabases.splice(0)]) {
      await query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });

  const options = (now: string, extra: Partial<PostgresBackupOptions> = {}) => ({
    connection,
    dir,
    stack,
    release: "1.2.0",
    minBytes: 1024,
    keep: 10,
    now: new Date(now),
    ...extra,
  });

  /** Starts a backup in a process group of its own; resolves its log lines as they come. */
  function startBackup(restoreTest: boolean, onLine: (line: string) => void): ChildProcess {
    const { now, ...rest } = options("2025-01-31T14:03:09Z", { restoreTest });
    const proc = spawn(
      process.execPath,
      ["--import", "tsx", path.join(ROOT, "tests/support/backupChild.ts")],
      {
        cwd: ROOT,
        detached: true,
        stdio: ["ignore", "pipe", "pipe"],
        env: { ...process.env, ROLLOUT_BACKUP_OPTIONS: JSON.stringify({ ...rest, now: now.toISOString() }) },
      },
    );
    let buffered = "";
    proc.stdout!.on("data", (chunk: Buffer) => {
      buffered += chunk.toString("utf8");
      const lines = buffered.split("\n");
      buffered = lines.pop()!;
      lines.forEach(onLine);
    });
    proc.stderr!.resume();
    return proc;
  }

  async function killTree(proc: ChildProcess): Promise<void> {
    try {
      process.kill(-proc.pid!, "SIGKILL");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "ESRCH") throw error; // already killed
    }
    await waitFor("the killed process tree to be gone", () => processGroup(proc.pid!).length === 0);
  }

  const partialPath = () => path.join(dir, stack, `${stack}_1.2.0_20250131T140309Z.dump.partial`);

  it("during pg_dump: the partial dump is left while the run lives, and removed by the next run", async () => {
    // A transaction holding the table makes pg_dump wait for it, so the kill lands inside pg_dump.
    const blocker = new Client({ ...targetDatabase(), database });
    clients.push(blocker);
    await blocker.connect();
    await blocker.query("BEGIN; LOCK TABLE items IN ACCESS EXCLUSIVE MODE");

    const lines: string[] = [];
    child = startBackup(false, (line) => lines.push(line));
    const group = child.pid!;
    await waitFor("pg_dump's session to wait for the lock", async () => {
      const rows = await query(
        "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'rollout-backup' AND wait_event_type = 'Lock'",
        [database],
      );
      return rows.length > 0;
    });
    // Found once its session waits: the pg_dump --version the run starts with is not the dump.
    const dumping = processGroup(group).find((p) => p.comm === "pg_dump");
    assert.ok(dumping, `pg_dump runs in the backup's process tree: ${JSON.stringify(processGroup(group))}`);
    const partial = partialPath();
    assert.ok(fs.existsSync(partial), `${partial} exists while pg_dump runs`);

    // While the run lives, its partial dump is not stale: another look leaves it, naming the writers.
    const holders = processesHolding(partial)!;
    assert.ok(holders.includes(dumping.pid), `pg_dump (${dumping.pid}) holds it: ${holders.join(",")}`);
    assert.ok(holders.includes(group), `the backup process (${group}) holds it: ${holders.join(",")}`);
    const probe = new Client({ ...targetDatabase(), database });
    clients.push(probe);
    await probe.connect();
    const live = await cleanCrashLeftovers({
      client: probe,
      connection,
      folder: path.dirname(partial),
      stack,
    });
    assert.deepEqual(live.removed, []);
    assert.deepEqual(
      live.left.map((l) => [l.item, l.command]),
      [[partial, `rm -f -- '${partial}'`]],
    );
    assert.match(live.left[0].reason, /^partial dump still open in process \d+/);
    assert.ok(fs.existsSync(partial));

    await killTree(child);
    await blocker.query("COMMIT");
    await waitFor(
      "the killed pg_dump's session to end",
      async () =>
        (
          await query(
            "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND application_name = 'rollout-backup'",
            [database],
          )
        ).length === 0,
    );
    assert.ok(fs.existsSync(partial), "the killed run left its partial dump");

    const next: string[] = [];
    const result = await takePostgresBackup({
      ...options("2025-01-31T15:00:00Z"),
      log: (line) => next.push(line),
    });
    assert.deepEqual(result.crashLeftovers.removed, [partial]);
    assert.deepEqual(
      result.crashLeftovers.left.filter((l) => !/before scratch names carried the stack/.test(l.reason)),
      [],
    );
    assert.ok(!fs.existsSync(partial), "the partial dump is gone");
    assert.ok(
      next.includes(`backup: removed ${partial}, left by a run that was killed`),
      JSON.stringify(next),
    );
    assert.deepEqual(fs.readdirSync(path.dirname(partial)).sort(), [
      path.basename(result.path),
      `${path.basename(result.path)}.sha256`,
    ]);
  });

  it("during the restore test: the scratch database and partial dump go, in-use and other stacks' stay", async () => {
    const lines: string[] = [];
    let scratch: string | undefined;
    child = startBackup(true, (line) => {
      lines.push(line);
      const match = /^backup: restore test into scratch database (\S+)$/.exec(line);
      if (match) scratch = match[1];
    });
    const group = child.pid!;
    await waitFor("the restore test to start", () => scratch);
    // Killed while pg_restore fills the scratch database.
    const restoring = await waitFor(
      "pg_restore to run",
      () => processGroup(group).find((p) => p.comm === "pg_restore"),
      30_000,
      5,
    );
    await killTree(child);
    assert.ok(restoring.pid > 0);
    const killed = scratch!;
    extraDatabases.push(killed);
    assert.ok(killed.startsWith(scratchDatabasePrefix(stack)), `${killed} is named by its stack`);
    assert.ok(await databaseExists(killed), "the killed run left its scratch database");
    assert.ok(fs.existsSync(partialPath()), "the killed run left its partial dump");
    // The server ends the killed run's sessions (pg_restore's, and the one holding the scratch lock)
    // once it notices their clients are gone.
    await waitFor("the scratch database's sessions to end", async () => (await sessionsIn(killed)) === 0);
    await waitFor("the killed run's own session to end", async () => (await sessionsIn(database)) === 0);

    // Beside it: another stack's scratch database nobody uses, this stack's with a session, and
    // this stack's whose run still holds the scratch lock (between create and connect).
    const others = scratchDatabaseName("another-stack");
    const inUse = scratchDatabaseName(stack);
    const locked = scratchDatabaseName(stack);
    for (const name of [others, inUse, locked]) {
      extraDatabases.push(name);
      await query(`CREATE DATABASE "${name}"`);
    }
    const session = new Client({ ...targetDatabase(), database: inUse });
    const lockHolder = new Client({ ...targetDatabase(), database });
    clients.push(session, lockHolder);
    await session.connect();
    await lockHolder.connect();
    await lockHolder.query("SELECT pg_advisory_lock($1, $2)", scratchLockKey(locked));

    const next: string[] = [];
    const result = await takePostgresBackup({
      ...options("2025-01-31T15:00:00Z", { restoreTest: true }),
      log: (line) => next.push(line),
    });
    assert.equal(result.restoreTested, true);
    assert.deepEqual(result.crashLeftovers.removed, [partialPath(), `database "${killed}"`].sort());
    assert.ok(!(await databaseExists(killed)), "the killed run's scratch database is dropped");
    assert.ok(!fs.existsSync(partialPath()), "the killed run's partial dump is removed");
    for (const item of result.crashLeftovers.removed) {
      assert.ok(
        next.includes(`backup: removed ${item}, left by a run that was killed`),
        JSON.stringify(next),
      );
    }

    const target = `host=${connection.host} port=${connection.port} user=${connection.user} dbname=${database} sslmode=disable`;
    const left = result.crashLeftovers.left.filter(
      (l) => !/before scratch names carried the stack/.test(l.reason),
    );
    assert.deepEqual(
      left.map((l) => [l.item, l.command]).sort(),
      [
        [`database "${inUse}"`, `psql '${target}' -c 'DROP DATABASE "${inUse}"'`],
        [`database "${locked}"`, `psql '${target}' -c 'DROP DATABASE "${locked}"'`],
      ].sort(),
    );
    assert.match(left.find((l) => l.item.includes(inUse))!.reason, /with 1 connected session; drop it once/);
    assert.match(
      left.find((l) => l.item.includes(locked))!.reason,
      /still going \(it holds the scratch lock\)/,
    );
    for (const l of left) assert.ok(next.some((line) => line.startsWith(`backup: left ${l.item}: `)));
    assert.ok(await databaseExists(others), "another stack's scratch database is never touched");
    assert.ok(await databaseExists(inUse));
    assert.ok(await databaseExists(locked));
    assert.ok(!JSON.stringify(result).includes(connection.password), "the result holds the password");

    // The reported command removes it once its session has ended.
    await session.end();
    await waitFor("the session to end", async () => (await sessionsIn(inUse)) === 0);
    execFileSync("sh", ["-c", left.find((l) => l.item.includes(inUse))!.command], { stdio: "ignore" });
    assert.ok(!(await databaseExists(inUse)), "the reported command drops it");
  });
});
