// MySQL/MariaDB backups and restores with mysqldump (mariadb-dump) and the mysql (mariadb) client,
// with no Pulumi inside: the DatabaseBackup dynamic provider calls these during `up`, and the
// integration tests call them against the local MariaDB. Plain functions and node builtins only.
//
// The password reaches the tools through an option file of mode 0600 in a private temporary folder,
// removed when the tool has ended: never an argument (visible in `ps`), the environment (visible in
// /proc to the same user), a log line, an error message or a returned value.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import type mysql from "mysql2/promise";
import {
  connectMysql,
  describeMysqlTarget,
  mysqlUserTables,
  quoteMysqlIdentifier,
  type MysqlClient,
  type MysqlConnection,
} from "../mysql";
import { withSecretFolder } from "../secretFolder";
import { formatBytes, whileRunning, type Progress } from "../progress";
import {
  cleanPartials,
  scratchDatabaseName,
  scratchDatabasePrefix,
  type LeftoverCleanup,
  type Leftover,
} from "./leftovers";
import type { BackupResult, RestoreResult } from "./postgres";
import { applyRetention, backupFileName, newestBackupOf, stackBackupDir } from "./retention";

const PROGRESS_INTERVAL_MS = 2000;
const STDERR_TAIL_CHARS = 4000;
const MAX_TABLES_IN_MESSAGE = 50;
/** The last line mysqldump and mariadb-dump write; a dump cut short has none. */
const COMPLETED_MARKER = /^-- Dump completed( on |$)/;
/** `CREATE TABLE `name` (` as both tools write it, one per table, at the start of a line. */
// A string, made into a Buffer inside dumpScanner: a Buffer held at module level would reach a
// dynamic provider as a serialized copy that Buffer methods refuse.
const CREATE_TABLE_TEXT = "\nCREATE TABLE `";
/** Bytes kept from one chunk to the next: more than the prefix and the longest quoted name. */
const SCAN_CARRY_BYTES = 1024;
/** Prefix of the GET_LOCK name a live run holds while its scratch database exists. */
/**
 * The named lock a restore test holds on its scratch database while it runs, so a sweep of crash
 * leftovers skips it: hashed, as MySQL 5.7+ refuses lock names over 64 characters and a scratch
 * name carries the stack's name.
 */
function scratchLockName(scratch: string): string {
  return `rollout_restore:${createHash("sha256").update(scratch).digest("hex").slice(0, 40)}`;
}

/** What {@link takeMysqlBackup} backs up, where, and how hard it checks the result. */
export interface MysqlBackupOptions {
  readonly connection: MysqlConnection;
  /** The backup root; backups go to `<dir>/<stack>/`, created with mode 0700. */
  readonly dir: string;
  readonly stack: string;
  readonly release: string;
  /** A smaller dump fails verification. */
  readonly minBytes: number;
  /**
   * Tables the dump must create, a bare name or `<database>.<name>`; compared as spelled in the
   * database.
   * @default none
   */
  readonly expectTables?: readonly string[];
  /**
   * Restore the dump into a scratch database and compare exact per-table row counts with the source.
   * Needs CREATE and DROP on `rollout_restore_%` databases.
   * @default false
   */
  readonly restoreTest?: boolean;
  /** How many of the newest backups of this stack to keep; 0 keeps all. */
  readonly keep: number;
  /** Releases whose newest backup retention must keep whatever its age. @default none */
  readonly protectReleases?: readonly string[];
  /** The time written into the file name. @default the current time */
  readonly now?: Date;
  /** Receives progress lines; they never contain the password. */
  readonly log?: Progress;
}

/** What {@link restoreMysqlBackup} restores into where. */
export interface MysqlRestoreOptions {
  /** The target; every table in the dump is dropped and recreated with its rows. */
  readonly connection: MysqlConnection;
  readonly path: string;
  /** The hex SHA-256 recorded when the backup was taken; a file that hashes otherwise is refused. */
  readonly expectedSha256: string;
  readonly log?: Progress;
}

/** What a dump file holds, as read from it. */
export interface MysqlDumpContents {
  readonly bytes: number;
  readonly sha256: string;
  /** Every table the dump creates, by bare name, sorted. */
  readonly tables: string[];
  /** True when the dump ends with the tool's completion line. */
  readonly complete: boolean;
}

/** The dump and client tools found on PATH. */
interface MysqlTools {
  readonly dump: string;
  readonly client: string;
  /** `mariadb-dump --version`, e.g. `mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB`. */
  readonly version: string;
}

/**
 * Dumps a MySQL/MariaDB database with `mysqldump --single-transaction --routines --triggers`
 * (mariadb-dump where installed), hashing the bytes with SHA-256 as they are written, verifies the
 * dump, and only then moves it into place as `<dir>/<stack>/<stack>_<release>_<time>.dump` with a
 * `.sha256` sidecar; then applies retention. The result has the shape of a PostgreSQL backup's
 * (`pgDumpVersion` holds the dump tool's version), so retention, copies, the report and
 * `--restore-backup` treat both alike.
 *
 * Verification: at least `minBytes`; the dump ends with the tool's completion line (a dump cut
 * short has none); the `CREATE TABLE` statements in it name every table of `expectTables`; with
 * `restoreTest`, a restore into a scratch database has the same exact row count per table as the
 * source, counted right after the dump. mysqldump reads in its own snapshot that cannot be shared,
 * so the counts match only when nothing writes meanwhile (maintenance mode is on before the backup).
 * A dump that fails verification stays as `<file>.failed`, and the error names it.
 */
export async function takeMysqlBackup(options: MysqlBackupOptions): Promise<BackupResult> {
  const started = performance.now();
  const { connection, log, minBytes, keep } = options;
  if (!Number.isInteger(minBytes) || minBytes < 0) {
    throw new Error(
      `backup.minBytes=${minBytes} is not a whole number of bytes; use a floor such as 1024, or 0 for none`,
    );
  }
  if (!Number.isInteger(keep) || keep < 0) {
    throw new Error(
      `backup.keep=${keep} is not a whole number of backups; use 0 to keep all or a positive count such as 10`,
    );
  }
  const expectTables = (options.expectTables ?? []).map((t) => bareTableName(t, connection.database));
  const now = options.now ?? new Date();
  const folder = stackBackupDir(options.dir, options.stack);
  const file = path.resolve(folder, backupFileName(options.stack, options.release, now));
  const partial = `${file}.partial`;
  const failed = `${file}.failed`;
  if (fs.existsSync(file)) {
    throw new Error(
      `backup ${file} already exists; a backup is never overwritten, so wait a second or use another release name`,
    );
  }
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });

  const client = await connectMysql(connection);
  try {
    const found = { removed: [] as string[], left: [] as Leftover[] };
    await cleanPartials(folder, options.stack, found);
    await cleanScratchDatabases(client, options.stack, found);
    for (const item of found.removed) log?.(`backup: removed ${item}, left by a run that was killed`);
    for (const l of found.left) log?.(`backup: left ${l.item}: ${l.reason}; remove it with: ${l.command}`);
    const crashLeftovers: LeftoverCleanup = found;

    const tools = await resolveMysqlTools();
    log?.(`backup: ${tools.version} dumping ${describeMysqlTarget(connection)} to ${file}`);
    const dumpStarted = performance.now();
    let written = 0;
    const dump = await whileRunning(
      withOptionFile(connection, (optionFile) =>
        dumpTo(
          tools.dump,
          [
            `--defaults-extra-file=${optionFile}`,
            ...connectionArgs(connection),
            "--single-transaction",
            "--routines",
            "--triggers",
            "--events",
            "--hex-blob",
            "--default-character-set=utf8mb4",
            ...mysqlDumpFlags(tools.version),
            // No CREATE DATABASE / USE: the dump restores into whichever database it is given.
            connection.database,
          ],
          partial,
          (bytes) => (written = bytes),
        ),
      ),
      PROGRESS_INTERVAL_MS,
      () =>
        log?.(
          `backup: ${formatBytes(written)} written (${Math.round((performance.now() - dumpStarted) / 1000)} s)`,
        ),
    );
    if (dump.code !== 0) {
      fs.rmSync(partial, { force: true });
      throw toolError(
        path.basename(tools.dump),
        dump,
        `backup of ${describeMysqlTarget(connection)} failed`,
        "check the connection settings and that the user may read every table (SELECT, SHOW VIEW, TRIGGER, EVENT, and LOCK TABLES for MyISAM tables)",
      );
    }
    log?.(`backup: ${path.basename(tools.dump)} finished, ${formatBytes(dump.contents.bytes)}, verifying`);

    let rowCounts: Record<string, number> | undefined;
    let contents: MysqlDumpContents;
    try {
      contents = await verifyMysqlDump({
        file: partial,
        shownAs: failed,
        minBytes,
        expectTables,
        written: dump.contents,
      });
      if (options.restoreTest) {
        const sourceCounts = await countRows(client);
        await restoreTest({
          client,
          connection,
          tools,
          stack: options.stack,
          partial,
          failed,
          sourceCounts,
          log,
        });
        rowCounts = Object.fromEntries(
          Object.entries(sourceCounts).map(([t, n]) => [`${connection.database}.${t}`, n]),
        );
      }
    } catch (error) {
      fs.renameSync(partial, failed);
      const message = (error as Error).message;
      if (message.includes(failed)) throw error;
      throw new Error(`${message}; the dump is kept as ${failed}`, { cause: error });
    }

    fs.renameSync(partial, file);
    fs.writeFileSync(`${file}.sha256`, `${contents.sha256}  ${path.basename(file)}\n`, { mode: 0o600 });
    const tables = contents.tables.map((t) => `${connection.database}.${t}`);
    log?.(
      `backup: ${file} verified, ${formatBytes(contents.bytes)}, ${tables.length} tables, sha256 ${contents.sha256}`,
    );
    const protect = (options.protectReleases ?? []).flatMap(
      (release) => newestBackupOf(options.dir, options.stack, release)?.path ?? [],
    );
    const removedByRetention = applyRetention(options.dir, options.stack, keep, [file, ...protect]);
    for (const removed of removedByRetention) log?.(`backup: retention (keep ${keep}) removed ${removed}`);
    return {
      path: file,
      bytes: contents.bytes,
      sha256: contents.sha256,
      tables,
      tableCount: tables.length,
      ...(rowCounts === undefined ? {} : { rowCounts }),
      durationMs: Math.round(performance.now() - started),
      createdAt: now.toISOString(),
      verified: true,
      restoreTested: rowCounts !== undefined,
      pgDumpVersion: tools.version,
      removedByRetention,
      crashLeftovers,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Reads a dump as it streams past, without splitting it into lines: its size, SHA-256, the tables
 * its `CREATE TABLE` statements name, and its last line. Used while the dump is written and to read
 * a dump file again.
 */
export function dumpScanner(): { update(chunk: Buffer): void; result(): MysqlDumpContents } {
  const hash = createHash("sha256");
  const createTable = Buffer.from(CREATE_TABLE_TEXT);
  const tables = new Set<string>();
  let bytes = 0;
  // The end of the data seen so far: a `CREATE TABLE` cut between two chunks is found in carry + chunk.
  let carry: Buffer = Buffer.alloc(0);
  return {
    update(chunk) {
      hash.update(chunk);
      bytes += chunk.length;
      const data = carry.length === 0 ? chunk : Buffer.concat([carry, chunk]);
      for (let at = data.indexOf(createTable); at !== -1; at = data.indexOf(createTable, at + 1)) {
        const nameStart = at + createTable.length;
        const end = data.indexOf("` (", nameStart);
        // Not complete in this data: the carry brings it round again with the next chunk.
        if (end === -1 || end - nameStart > SCAN_CARRY_BYTES / 2) continue;
        tables.add(data.subarray(nameStart, end).toString("utf8").replace(/``/g, "`"));
      }
      carry = data.subarray(Math.max(0, data.length - SCAN_CARRY_BYTES));
    },
    result() {
      const lines = carry.toString("utf8").split(/\r?\n/);
      const last = lines.filter((line) => line.trim() !== "").at(-1) ?? "";
      return {
        bytes,
        sha256: hash.digest("hex"),
        tables: [...tables].sort(),
        complete: COMPLETED_MARKER.test(last),
      };
    },
  };
}

/** Reads a dump file once, as {@link dumpScanner} reads it. */
export async function readMysqlDump(file: string): Promise<MysqlDumpContents> {
  const scanner = dumpScanner();
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    scanner.update(chunk as Buffer);
  }
  return scanner.result();
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file, { highWaterMark: 1024 * 1024 })) {
    hash.update(chunk as Buffer);
  }
  return hash.digest("hex");
}

/**
 * Checks a dump before anything after it may run; throws saying what is wrong with it. With
 * `written` (what was read while the dump was written) the file is only hashed again, and must still
 * hash as written; without, the file is read in full.
 */
export async function verifyMysqlDump(args: {
  readonly file: string;
  /** The name the dump is known by in messages (where it will be kept when it fails). @default file */
  readonly shownAs?: string;
  readonly minBytes: number;
  /** Bare table names the dump must create. */
  readonly expectTables: readonly string[];
  readonly written?: MysqlDumpContents;
}): Promise<MysqlDumpContents> {
  const shown = args.shownAs ?? args.file;
  const contents = args.written ?? (await readMysqlDump(args.file));
  if (contents.bytes < args.minBytes) {
    throw new Error(
      `backup ${shown} is ${contents.bytes} bytes, under the floor of ${args.minBytes} bytes (backup.minBytes); ` +
        "check that the dump reached the right database",
    );
  }
  if (args.written !== undefined) {
    const onDisk = await sha256File(args.file);
    if (onDisk !== args.written.sha256) {
      throw new Error(
        `backup ${shown} hashes to sha256 ${onDisk} on disk, but ${args.written.sha256} was written; ` +
          "the disk did not keep what was written, so check it and take the backup again",
      );
    }
  }
  if (!contents.complete) {
    throw new Error(
      `backup ${shown} is incomplete: it does not end with the "-- Dump completed" line the dump tool writes last ` +
        `(${contents.bytes} bytes, ${contents.tables.length} table${contents.tables.length === 1 ? "" : "s"} read before it ends); the dump was cut short ` +
        "(disk full, the tool or the connection was killed); take the backup again",
    );
  }
  const missing = args.expectTables.filter((t) => !contents.tables.includes(t));
  if (missing.length > 0) {
    const listed = contents.tables.slice(0, MAX_TABLES_IN_MESSAGE).join(", ");
    const more =
      contents.tables.length > MAX_TABLES_IN_MESSAGE
        ? ` and ${contents.tables.length - MAX_TABLES_IN_MESSAGE} more`
        : "";
    throw new Error(
      `backup ${shown} lacks the expected table${missing.length === 1 ? "" : "s"} ${missing.join(", ")} ` +
        `(backup.expectTables); it creates ${contents.tables.length === 0 ? "no tables" : listed + more}; ` +
        "check that the dump reached the right database and that the names are spelled as in it (case-sensitive)",
    );
  }
  return contents;
}

/**
 * Restores a backup taken by {@link takeMysqlBackup} into the target database, after checking that
 * the file still hashes to `expectedSha256`. Each table in the dump is dropped and recreated with its
 * rows; tables created after the backup are not in it and stay. MySQL cannot run DDL in a
 * transaction, so a restore that fails part way leaves the tables before the failure restored and
 * the rest as they were: the error says so, and running the restore again finishes it.
 */
export async function restoreMysqlBackup(options: MysqlRestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  const { connection, log } = options;
  const file = path.resolve(options.path);
  const expected = options.expectedSha256.trim().toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(expected)) {
    throw new Error(
      `expected sha256 ${JSON.stringify(options.expectedSha256)} is not 64 hex digits; ` +
        "pass the sha256 recorded with the backup (its .sha256 file or the rollout report)",
    );
  }
  if (!fs.existsSync(file)) {
    throw new Error(
      `backup ${file} does not exist; check the path, or fetch the backup from its offsite copy`,
    );
  }
  const contents = await readMysqlDump(file);
  if (contents.sha256 !== expected) {
    throw new Error(
      `refusing to restore ${file}: it hashes to sha256 ${contents.sha256}, but the backup was recorded as ${expected}; ` +
        "the file changed or was damaged after it was taken, so restore from another copy of this backup",
    );
  }
  if (!contents.complete) {
    throw new Error(
      `refusing to restore ${file}: it does not end with the "-- Dump completed" line, so it is incomplete`,
    );
  }
  const tools = await resolveMysqlTools();
  log?.(`restore: ${path.basename(tools.client)} restoring ${file} into ${describeMysqlTarget(connection)}`);
  const run = await withOptionFile(connection, (optionFile) =>
    runClientWithFile(tools.client, optionFile, connection, connection.database, file),
  );
  if (run.code !== 0) {
    throw toolError(
      path.basename(tools.client),
      run,
      `restore of ${file} into ${describeMysqlTarget(connection)} failed part way (MySQL cannot restore in one transaction: the tables before the failing statement are restored, the rest are as they were)`,
      "fix the cause shown above and run the restore again; it drops and recreates every table in the dump, so a second run finishes the job",
    );
  }
  log?.(`restore: ${contents.tables.length} tables restored into ${describeMysqlTarget(connection)}`);
  return { durationMs: Math.round(performance.now() - started), tablesRestored: contents.tables.length };
}

/** `users` or `<database>.users` as the bare table name the dump creates. */
function bareTableName(name: string, database: string): string {
  const trimmed = name.trim();
  const prefix = `${database}.`;
  const bare = trimmed.startsWith(prefix) ? trimmed.slice(prefix.length) : trimmed;
  if (bare === "" || bare.includes(".")) {
    throw new Error(
      `backup.expectTables entry ${JSON.stringify(name)} is not a table of database ${database}; use a bare table name or "${database}.<table>"`,
    );
  }
  return bare;
}

/** Exact `COUNT(*)` of every base table of the connected database, by bare name. */
async function countRows(client: MysqlClient): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const { name } of await mysqlUserTables(client)) {
    const [rows] = await client.query<mysql.RowDataPacket[]>(
      `SELECT COUNT(*) AS n FROM ${quoteMysqlIdentifier(name)}`,
    );
    counts[name] = Number(rows[0].n);
  }
  return counts;
}

/** Restores the dump into a scratch database and compares row counts; the scratch database is always dropped. */
async function restoreTest(args: {
  client: MysqlClient;
  connection: MysqlConnection;
  tools: MysqlTools;
  stack: string;
  partial: string;
  failed: string;
  sourceCounts: Record<string, number>;
  log: Progress | undefined;
}): Promise<void> {
  const { client, connection, tools, partial, failed, sourceCounts, log } = args;
  const scratch = scratchDatabaseName(args.stack);
  const lock = scratchLockName(scratch);
  // Held from before the scratch database exists until it is dropped: a later run that can take it
  // knows the database is a killed run's.
  await client.query("SELECT GET_LOCK(?, 0)", [lock]);
  let failure: Error | undefined;
  try {
    try {
      await client.query(`CREATE DATABASE ${quoteMysqlIdentifier(scratch)}`);
    } catch (error) {
      throw new Error(
        `restore test of backup ${failed} could not create the scratch database ${scratch}: ${(error as Error).message}; ` +
          `grant ${connection.user} CREATE and DROP on \`rollout\\_restore\\_%\`.*, or turn backup.restoreTest off`,
        { cause: error },
      );
    }
    log?.(`backup: restore test into scratch database ${scratch}`);
    try {
      const run = await withOptionFile(connection, (optionFile) =>
        runClientWithFile(tools.client, optionFile, connection, scratch, partial),
      );
      if (run.code !== 0) {
        throw toolError(
          path.basename(tools.client),
          run,
          `restore test of backup ${failed} into the scratch database ${scratch} failed`,
          "the dump cannot be restored as it is; fix the cause shown above before relying on it",
        );
      }
      const scratchClient = await connectMysql(connection, { database: scratch });
      let restored: Record<string, number>;
      try {
        restored = await countRows(scratchClient);
      } finally {
        await scratchClient.end().catch(() => undefined);
      }
      const differences: string[] = [];
      for (const [table, count] of Object.entries(sourceCounts)) {
        if (!(table in restored)) differences.push(`${table}: ${count}, restored: table missing`);
        else if (restored[table] !== count) differences.push(`${table}: ${count}, ${restored[table]}`);
      }
      for (const [table, count] of Object.entries(restored)) {
        if (!(table in sourceCounts)) differences.push(`${table}: not in the source, ${count}`);
      }
      if (differences.length > 0) {
        throw new Error(
          `restore test of backup ${failed} found different row counts (table: source, restored): ${differences.join("; ")}; ` +
            "the dump does not hold what the database held (was something writing during the backup? maintenance mode should be on); take the backup again",
        );
      }
      log?.(
        `backup: restore test passed, ${Object.keys(sourceCounts).length} tables with matching row counts`,
      );
    } catch (error) {
      failure = error as Error;
    }
    // Dropped whatever happened: the scratch copy holds production data.
    try {
      await client.query(`DROP DATABASE IF EXISTS ${quoteMysqlIdentifier(scratch)}`);
    } catch (error) {
      const problem = `could not drop the scratch database ${scratch}, which holds a copy of the data: ${(error as Error).message}; drop it by hand with DROP DATABASE ${quoteMysqlIdentifier(scratch)}`;
      if (failure === undefined)
        throw new Error(`restore test of backup ${failed} passed, but ${problem}`, { cause: error });
      failure = new Error(`${failure.message}; also ${problem}`, { cause: failure });
    }
    if (failure !== undefined) throw failure;
  } finally {
    await client.query("SELECT RELEASE_LOCK(?)", [lock]).catch(() => undefined);
  }
}

/** Drops the scratch databases of `stack` whose run is gone (its lock is free); reports the others. */
async function cleanScratchDatabases(
  client: MysqlClient,
  stack: string,
  found: { removed: string[]; left: Leftover[] },
): Promise<void> {
  const prefix = scratchDatabasePrefix(stack);
  const [rows] = await client.query<mysql.RowDataPacket[]>(
    "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE ? ORDER BY 1",
    [`${prefix.replace(/_/g, "\\_")}%`],
  );
  for (const { name } of rows as { name: string }[]) {
    const item = `database "${name}"`;
    const command = `mariadb -e ${shellQuote(`DROP DATABASE ${quoteMysqlIdentifier(name)}`)}`;
    const lock = scratchLockName(name);
    const [got] = await client.query<mysql.RowDataPacket[]>("SELECT GET_LOCK(?, 0) AS ok", [lock]);
    if (Number(got[0].ok) !== 1) {
      found.left.push({
        item,
        reason:
          "restore-test scratch database of a backup run that is still going (it holds the scratch lock)",
        command,
      });
      continue;
    }
    try {
      await client.query(`DROP DATABASE IF EXISTS ${quoteMysqlIdentifier(name)}`);
      found.removed.push(item);
    } catch (error) {
      found.left.push({
        item,
        reason: `restore-test scratch database (a copy of the data) that could not be dropped: ${(error as Error).message}`,
        command,
      });
    } finally {
      await client.query("SELECT RELEASE_LOCK(?)", [lock]).catch(() => undefined);
    }
  }
}

const shellQuote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

function connectionArgs(connection: MysqlConnection): string[] {
  return [
    `--host=${connection.host}`,
    `--port=${connection.port}`,
    `--user=${connection.user}`,
    // No connect timeout here (mariadb-dump has none): the connection made before the tool runs has
    // one, so an unreachable server fails there.
    "--protocol=tcp",
  ];
}

/**
 * Runs `work` with an option file holding the password (`[client] password=...`), mode 0600 in a
 * folder of mode 0700, removed afterwards whatever happens.
 */
async function withOptionFile<T>(
  connection: MysqlConnection,
  work: (file: string) => Promise<T>,
): Promise<T> {
  return withSecretFolder("rollout-mysql-", async (folder) => {
    const file = path.join(folder, "client.cnf");
    // Option files read a double-quoted value with backslash escapes.
    const quoted = connection.password.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
    fs.writeFileSync(file, `[client]\npassword="${quoted}"\n`, { mode: 0o600, flag: "wx" });
    return work(file);
  });
}

interface ToolRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stderr: string;
  readonly spawnError?: Error;
}

/**
 * Runs the dump tool with its output going to `file` (created 0600), hashed and scanned for its
 * tables and last line as it is written.
 */
function dumpTo(
  tool: string,
  args: string[],
  file: string,
  onBytes: (bytes: number) => void,
): Promise<ToolRun & { contents: MysqlDumpContents }> {
  return new Promise((resolve) => {
    fs.rmSync(file, { force: true });
    const out = fs.createWriteStream(file, { flags: "wx", mode: 0o600 });
    const scanner = dumpScanner();
    let bytes = 0;
    const stderr: Buffer[] = [];
    const child = spawn(tool, args, { stdio: ["ignore", "pipe", "pipe"] });
    let scanError: Error | undefined;
    child.stdout.on("data", (chunk: Buffer) => {
      if (scanError) return;
      try {
        scanner.update(chunk);
      } catch (error) {
        // A dump that cannot be read as it is written is not trusted: stop the tool, report it.
        scanError = error as Error;
        child.kill("SIGTERM");
      }
      bytes += chunk.length;
      onBytes(bytes);
    });
    child.stdout.pipe(out);
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      const done = () =>
        resolve({
          code,
          signal,
          stderr: Buffer.concat(stderr).toString("utf8"),
          contents: scanner.result(),
          ...(spawnError === undefined && scanError === undefined
            ? {}
            : {
                spawnError:
                  spawnError ?? new Error(`reading the dump as it was written failed: ${scanError!.message}`),
              }),
        });
      // The file is complete on disk only once the write stream has flushed and closed.
      if (out.closed) done();
      else out.once("close", done);
      if (spawnError) out.end();
    };
    child.on("error", (error) => finish(null, null, error));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

/** Feeds `file` to the mysql client connected to `database`; stops at the first error. */
function runClientWithFile(
  tool: string,
  optionFile: string,
  connection: MysqlConnection,
  database: string,
  file: string,
): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = spawn(
      tool,
      [
        `--defaults-extra-file=${optionFile}`,
        ...connectionArgs(connection),
        "--default-character-set=utf8mb4",
        "--batch",
        `--database=${database}`,
      ],
      { stdio: ["pipe", "ignore", "pipe"] },
    );
    const stderr: Buffer[] = [];
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const input = fs.createReadStream(file);
    input.pipe(child.stdin);
    // The client closing its input early (it stopped at an error) is reported by its exit status.
    child.stdin.on("error", () => undefined);
    let settled = false;
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      input.destroy();
      resolve({
        code,
        signal,
        stderr: Buffer.concat(stderr).toString("utf8"),
        ...(spawnError === undefined ? {} : { spawnError }),
      });
    };
    child.on("error", (error) => finish(null, null, error));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

/** The first of `names` found on PATH. */
function onPath(names: readonly string[]): string | undefined {
  const dirs = (process.env.PATH ?? "").split(path.delimiter).filter((d) => d !== "");
  for (const name of names) {
    for (const dir of dirs) {
      const candidate = path.join(dir, name);
      if (isExecutable(candidate)) return candidate;
    }
  }
  return undefined;
}

/** MariaDB's tools where installed (mysqldump is a link to them there), else MySQL's. */
/**
 * Flags for MySQL's own mysqldump that MariaDB's does not know: no GTID_PURGED or SQL_LOG_BIN
 * statements (a restore into the same server would refuse them, or keep the restore off the
 * replicas), and no tablespaces (which need PROCESS since MySQL 8.0.21).
 */
export function mysqlDumpFlags(version: string): string[] {
  return /mariadb/i.test(version) ? [] : ["--set-gtid-purged=OFF", "--no-tablespaces"];
}

async function resolveMysqlTools(): Promise<MysqlTools> {
  const dump = onPath(["mariadb-dump", "mysqldump"]);
  const client = onPath(["mariadb", "mysql"]);
  if (dump === undefined || client === undefined) {
    throw new Error(
      `no ${dump === undefined ? "mariadb-dump or mysqldump" : "mariadb or mysql client"} found on PATH; ` +
        "install the client tools (Debian: apt-get install mariadb-client, or mysql-client) where the rollout runs",
    );
  }
  const version = await new Promise<string>((resolve, reject) => {
    const child = spawn(dump, ["--version"], { stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => out.push(chunk));
    child.on("error", (error) =>
      reject(new Error(`${dump} --version could not be started: ${error.message}`)),
    );
    child.on("close", (code) =>
      code === 0
        ? resolve(
            Buffer.concat(out)
              .toString("utf8")
              .trim()
              .replace(/^\S*\//, ""),
          )
        : reject(new Error(`${dump} --version ended with exit code ${code}; reinstall the client tools`)),
    );
  });
  return { dump, client, version };
}

function toolError(tool: string, run: ToolRun, what: string, hint: string): Error {
  if (run.spawnError !== undefined) {
    return new Error(
      `${what}: ${tool} could not be started: ${run.spawnError.message}; install the MySQL/MariaDB client tools`,
    );
  }
  const status = run.signal === null ? `exit code ${run.code}` : `signal ${run.signal}`;
  let output = run.stderr.trim();
  if (output.length > STDERR_TAIL_CHARS) output = `...${output.slice(-STDERR_TAIL_CHARS)}`;
  return new Error(
    `${what}: ${tool} ended with ${status}: ${output === "" ? "(no error output)" : output}; ${hint}`,
  );
}
