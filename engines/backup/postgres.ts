// PostgreSQL backups and restores with pg_dump and pg_restore, with no Pulumi inside: the DatabaseBackup
// dynamic provider calls these during `up`, and the integration tests call them against the local
// server. Dynamic providers are serialized by value, so this module holds plain functions, constants and
// node builtins only, and no mutable module state.
//
// The password reaches pg_dump and pg_restore through PGPASSWORD in their environment only: never an
// argument (visible in `ps`), a log line, an error message or a returned value.
import { spawn } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { escapeIdentifier, escapeLiteral, type Client } from "pg";
import { formatBytes, whileRunning, type Progress } from "../progress";
import {
  CONNECT_TIMEOUT_SECONDS,
  connect as connectTo,
  describeTarget,
  SSL_MODES,
  userTables,
  type PgConnection,
} from "../postgres";
import { cleanCrashLeftovers, scratchDatabaseName, scratchLockKey, type LeftoverCleanup } from "./leftovers";
import { applyRetention, backupFileName, newestBackupOf, stackBackupDir } from "./retention";

/** How often a running dump says how far it is. */
const PROGRESS_INTERVAL_MS = 2000;

/** What {@link takePostgresBackup} backs up, where, and how hard it checks the result. */
export interface PostgresBackupOptions {
  readonly connection: PgConnection;
  /** The backup root; backups go to `<dir>/<stack>/`, created with mode 0700. */
  readonly dir: string;
  /** The Pulumi stack; names the folder and starts the file name. */
  readonly stack: string;
  /** The release being rolled out; part of the file name. */
  readonly release: string;
  /** A smaller dump fails verification: an empty or wrong database still gives a valid archive. */
  readonly minBytes: number;
  /**
   * Tables the archive's table of contents must list, `schema.table` or a bare name meaning
   * `public.<name>`; compared as spelled in the database (case-sensitive).
   * @default none
   */
  readonly expectTables?: readonly string[];
  /**
   * Restore the dump into a scratch database and compare exact per-table row counts with the source.
   * Needs CREATEDB and time and space for a full copy.
   * @default false
   */
  readonly restoreTest?: boolean;
  /** How many of the newest backups of this stack to keep; older ones are deleted. 0 keeps all. */
  readonly keep: number;
  /**
   * Releases whose newest backup retention must keep whatever its age: a rollback protects the
   * dump taken before the release it undoes, which `--restore-backup` may still need.
   * @default none
   */
  readonly protectReleases?: readonly string[];
  /**
   * Folder holding pg_dump and pg_restore.
   * @default the client under /usr/lib/postgresql/<server major>/bin when installed, else the one on
   * PATH when it is as new as the server, else the oldest installed client newer than the server
   */
  readonly pgBinDir?: string;
  /** The time written into the file name. @default the current time */
  readonly now?: Date;
  /** Receives progress lines; they never contain the password. */
  readonly log?: (line: string) => void;
}

/** A verified backup, as recorded in state and the rollout report. */
export interface BackupResult {
  /** Absolute path of the `.dump` file. */
  readonly path: string;
  readonly bytes: number;
  /** Hex SHA-256 of the file, also written to `<path>.sha256` in `sha256sum` format. */
  readonly sha256: string;
  /** `schema.table` of every table in the archive's table of contents, sorted. */
  readonly tables: string[];
  readonly tableCount: number;
  /** Exact row count per `schema.table` in the source, present when the restore test ran. */
  readonly rowCounts?: Record<string, number>;
  readonly durationMs: number;
  /** ISO time the backup is named after. */
  readonly createdAt: string;
  readonly verified: true;
  readonly restoreTested: boolean;
  /** `pg_dump --version` of the client that took the dump. */
  readonly pgDumpVersion: string;
  /** Older backups deleted by retention after this one was verified. */
  readonly removedByRetention: string[];
  /**
   * What killed runs of this stack had left (partial dumps, scratch databases), found before this
   * backup started: removed, or left with the command that removes it.
   */
  readonly crashLeftovers: LeftoverCleanup;
}

/** What {@link restorePostgresBackup} restores into where. */
export interface PostgresRestoreOptions {
  /** The target; its objects that are in the backup are dropped and recreated. */
  readonly connection: PgConnection;
  /** The `.dump` file. */
  readonly path: string;
  /** The hex SHA-256 recorded when the backup was taken; a file that hashes otherwise is refused. */
  readonly expectedSha256: string;
  /** Folder holding pg_restore. @default chosen as for {@link PostgresBackupOptions.pgBinDir} */
  readonly pgBinDir?: string;
  /** Receives progress lines; they never contain the password. */
  readonly log?: (line: string) => void;
}

/** The outcome of a restore. */
export interface RestoreResult {
  readonly durationMs: number;
  /** How many tables the archive holds, each one dropped and recreated with its rows. */
  readonly tablesRestored: number;
}

/** Where Debian and Ubuntu install one folder per PostgreSQL major version. */
const PG_INSTALL_ROOT = "/usr/lib/postgresql";
/** `pg_class`'s own oid: TABLE entries in a table of contents carry it, TABLE DATA entries carry 0. */
const PG_CLASS_OID = "1259";
/** The end of a tool's error output kept in error messages; the last lines say what went wrong. */
const STDERR_TAIL_CHARS = 4000;
/** Found tables listed in an error before the list is cut short. */
const MAX_TABLES_IN_MESSAGE = 50;
const APPLICATION_NAME = "rollout-backup";

/**
 * Dumps a PostgreSQL database with `pg_dump --format=custom`, verifies the archive, and only then moves
 * it into place as `<dir>/<stack>/<stack>_<release>_<YYYYMMDDTHHMMSSZ>.dump` with a `.sha256` sidecar;
 * then applies retention.
 *
 * Verification: the size is at least `minBytes`; `pg_restore --list` reads the archive and its table
 * of contents lists every table in `expectTables`; with `restoreTest`, a restore into a scratch
 * database `rollout_restore_<stack>_<hash>_<random>` has the same exact row count per table as the
 * source had in the dump's own snapshot. A dump that fails verification stays beside the others as
 * `<file>.failed`, and the error names it.
 *
 * First, what a killed run of this stack left is removed when clearly stale (see
 * {@link cleanCrashLeftovers}) and reported in `crashLeftovers`. While this run writes its partial
 * dump it keeps the file open, and while its scratch database exists it holds the scratch lock, so
 * that a later run can tell it is alive.
 */
export async function takePostgresBackup(options: PostgresBackupOptions): Promise<BackupResult> {
  const started = performance.now();
  const { connection, log } = options;
  validateConnection(connection);
  const { minBytes, keep } = options;
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
  const expectTables = (options.expectTables ?? []).map(qualifyTableName);
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

  const client = await connect(connection);
  let partialFd: number | undefined;
  const closePartial = () => {
    if (partialFd !== undefined) fs.closeSync(partialFd);
    partialFd = undefined;
  };
  try {
    const crashLeftovers = await cleanCrashLeftovers({
      client,
      connection,
      folder,
      stack: options.stack,
      log,
    });
    const serverVersionNum = await serverVersion(client);
    const tools = await resolvePgTools(serverVersionNum, options.pgBinDir);
    const env = toolEnv(connection);
    log?.(
      `backup: ${tools.version} dumping ${describeTarget(connection)} (${expectTables.length} tables) to ${file}`,
    );

    // With a restore test, the source row counts must describe exactly what the dump holds. pg_dump
    // reads in one repeatable-read snapshot; exporting ours and handing it to pg_dump makes the counts
    // below (same transaction, after the dump) see the same rows, whatever else writes meanwhile.
    let snapshot: string | undefined;
    if (options.restoreTest) {
      await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      snapshot = (await client.query<{ id: string }>("SELECT pg_catalog.pg_export_snapshot() AS id")).rows[0]
        .id;
    }

    // Created empty with mode 0600 first: pg_dump then truncates and fills it, so the data is never
    // readable by others, whatever the umask. Held open until it is moved into place: an open
    // partial dump is a live run's (see cleanCrashLeftovers).
    fs.rmSync(partial, { force: true });
    partialFd = fs.openSync(partial, "wx", 0o600);
    const dumpArgs = [
      "--format=custom",
      `--file=${partial}`,
      ...(snapshot === undefined ? [] : [`--snapshot=${snapshot}`]),
      ...connectionArgs(connection, connection.database),
    ];
    const dumpStarted = performance.now();
    const dump = await whileRunning(runTool(tools.pgDump, dumpArgs, env), PROGRESS_INTERVAL_MS, () => {
      const written = fs.statSync(partial, { throwIfNoEntry: false })?.size ?? 0;
      const seconds = Math.round((performance.now() - dumpStarted) / 1000);
      log?.(`backup: ${formatBytes(written)} written (${seconds} s)`);
    });
    if (dump.code !== 0) {
      closePartial();
      fs.rmSync(partial, { force: true });
      throw toolError(
        "pg_dump",
        dump,
        `backup of ${describeTarget(connection)} failed`,
        "check the connection settings, that the user may read every table, and that no lock blocks the dump",
      );
    }
    log?.(`backup: pg_dump finished${snapshot === undefined ? "" : ` in snapshot ${snapshot}`}, verifying`);

    let verified: Verified;
    try {
      const sourceCounts = snapshot === undefined ? undefined : await countRows(client);
      if (snapshot !== undefined) await client.query("COMMIT");
      verified = await verifyArchive({ partial, failed, minBytes, expectTables, tools, env, log });
      if (sourceCounts !== undefined) {
        await restoreTest({
          client,
          connection,
          stack: options.stack,
          tools,
          env,
          partial,
          failed,
          sourceCounts,
          serverVersionNum,
          log,
        });
        verified = { ...verified, rowCounts: sourceCounts };
      }
    } catch (error) {
      closePartial();
      fs.renameSync(partial, failed);
      const message = (error as Error).message;
      if (message.includes(failed)) throw error;
      throw new Error(`${message}; the dump is kept as ${failed}`, { cause: error });
    }

    closePartial();
    fs.renameSync(partial, file);
    try {
      fs.writeFileSync(`${file}.sha256`, `${verified.sha256}  ${path.basename(file)}\n`, { mode: 0o600 });
    } catch (error) {
      throw new Error(
        `backup ${file} is verified (sha256 ${verified.sha256}) but ${file}.sha256 could not be written: ` +
          `${(error as Error).message}; fix the permissions of ${folder}`,
        { cause: error },
      );
    }
    log?.(
      `backup: ${file} verified, ${formatBytes(verified.bytes)}, ${verified.tables.length} tables, sha256 ${verified.sha256}`,
    );

    const protect = (options.protectReleases ?? []).flatMap(
      (release) => newestBackupOf(options.dir, options.stack, release)?.path ?? [],
    );
    const removedByRetention = applyRetention(options.dir, options.stack, keep, [file, ...protect]);
    for (const removed of removedByRetention) log?.(`backup: retention (keep ${keep}) removed ${removed}`);

    return {
      path: file,
      bytes: verified.bytes,
      sha256: verified.sha256,
      tables: verified.tables,
      tableCount: verified.tables.length,
      ...(verified.rowCounts === undefined ? {} : { rowCounts: verified.rowCounts }),
      durationMs: Math.round(performance.now() - started),
      createdAt: now.toISOString(),
      verified: true,
      restoreTested: verified.rowCounts !== undefined,
      pgDumpVersion: tools.version,
      removedByRetention,
      crashLeftovers,
    };
  } finally {
    closePartial();
    await client.end();
  }
}

/**
 * Restores a backup taken by {@link takePostgresBackup} into the target database, after checking that
 * the file still hashes to `expectedSha256`.
 *
 * Runs `pg_restore --clean --if-exists --no-owner --single-transaction`: every object in the archive is
 * dropped and recreated in one transaction, so a failure changes nothing. Objects created after the
 * backup (say, a table added by a later migration) are not in the archive and stay. The restore waits
 * for locks held by other sessions, so stop the application (maintenance mode) first.
 */
export async function restorePostgresBackup(options: PostgresRestoreOptions): Promise<RestoreResult> {
  const started = performance.now();
  const { connection, log } = options;
  validateConnection(connection);
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
  const actual = await sha256File(file);
  if (actual !== expected) {
    throw new Error(
      `refusing to restore ${file}: it hashes to sha256 ${actual}, but the backup was recorded as ${expected}; ` +
        "the file changed or was damaged after it was taken, so restore from another copy of this backup",
    );
  }

  const client = await connect(connection);
  let serverVersionNum: number;
  try {
    serverVersionNum = await serverVersion(client);
  } finally {
    await client.end();
  }
  const tools = await resolvePgTools(serverVersionNum, options.pgBinDir);
  const env = toolEnv(connection);
  const tables = await listTables(tools, env, file, `backup ${file}`);
  log?.(`restore: ${tools.pgRestore} restoring ${file} into ${describeTarget(connection)}`);
  const restore = await runTool(
    tools.pgRestore,
    [
      "--clean",
      "--if-exists",
      "--no-owner",
      "--single-transaction",
      ...connectionArgs(connection, connection.database),
      file,
    ],
    env,
  );
  if (restore.code !== 0) {
    throw toolError(
      "pg_restore",
      restore,
      `restore of ${file} into ${describeTarget(connection)} failed and was rolled back`,
      "fix the cause shown above (often a role or extension the archive needs, or a connection setting) and run the restore again",
    );
  }
  log?.(`restore: ${tables.length} tables restored into ${describeTarget(connection)}`);
  return { durationMs: Math.round(performance.now() - started), tablesRestored: tables.length };
}

/**
 * The `schema.table` of every TABLE entry in a `pg_restore --list` listing, sorted.
 *
 * Hand-written because pg_restore has no machine-readable listing. Entry lines read
 * `<dumpId>; <catalog oid> <object oid> <type> <schema> <name> <owner>` with names unquoted, so a name
 * holding a space is ambiguous: schemas are matched against the archive's own SCHEMA entries (plus
 * `public`, which has none), and the owner is taken to be the last word. Table entries are told from
 * TABLE DATA and TABLE ATTACH entries by their catalog, pg_class, rather than by the words that follow.
 */
export function parseTocTables(listing: string): string[] {
  const entries: { catalog: string; rest: string }[] = [];
  for (const line of listing.split(/\r?\n/)) {
    const match = /^\d+; (\d+) \d+ (.*)$/.exec(line);
    if (match) entries.push({ catalog: match[1], rest: match[2] });
  }
  const schemas = new Set(["public"]);
  for (const { rest } of entries) {
    if (rest.startsWith("SCHEMA - ")) schemas.add(withoutLastWord(rest.slice("SCHEMA - ".length)));
  }
  const longestFirst = [...schemas].sort((a, b) => b.length - a.length);
  const tables = new Set<string>();
  for (const { catalog, rest } of entries) {
    if (catalog !== PG_CLASS_OID || !rest.startsWith("TABLE ")) continue;
    const schemaAndName = withoutLastWord(rest.slice("TABLE ".length));
    const schema =
      longestFirst.find((s) => schemaAndName.startsWith(`${s} `)) ?? schemaAndName.split(" ", 1)[0];
    tables.add(`${schema}.${schemaAndName.slice(schema.length + 1)}`);
  }
  return [...tables].sort();
}

function withoutLastWord(text: string): string {
  const space = text.lastIndexOf(" ");
  return space < 0 ? text : text.slice(0, space);
}

/** `users` as `public.users`, as the default search_path would resolve it; `app.users` as is. */
function qualifyTableName(name: string): string {
  const trimmed = name.trim();
  if (trimmed === "" || trimmed.startsWith(".") || trimmed.endsWith(".")) {
    throw new Error(
      `backup.expectTables entry ${JSON.stringify(name)} is not a table name; use "schema.table" or a bare "table" for public.table`,
    );
  }
  return trimmed.includes(".") ? trimmed : `public.${trimmed}`;
}

interface Verified {
  readonly bytes: number;
  readonly sha256: string;
  readonly tables: string[];
  readonly rowCounts?: Record<string, number>;
}

async function verifyArchive(args: {
  partial: string;
  failed: string;
  minBytes: number;
  expectTables: string[];
  tools: PgTools;
  env: NodeJS.ProcessEnv;
  log: ((line: string) => void) | undefined;
}): Promise<Verified> {
  const { partial, failed, minBytes, expectTables, tools, env } = args;
  const bytes = fs.statSync(partial).size;
  if (bytes < minBytes) {
    throw new Error(
      `backup ${failed} is ${bytes} bytes, under the floor of ${minBytes} bytes (backup.minBytes); ` +
        "check that pg_dump reached the right database",
    );
  }
  const tables = await listTables(tools, env, partial, `backup ${failed}`);
  const missing = expectTables.filter((t) => !tables.includes(t));
  if (missing.length > 0) {
    const shown = tables.slice(0, MAX_TABLES_IN_MESSAGE).join(", ");
    const more =
      tables.length > MAX_TABLES_IN_MESSAGE ? ` and ${tables.length - MAX_TABLES_IN_MESSAGE} more` : "";
    throw new Error(
      `backup ${failed} lacks the expected table${missing.length === 1 ? "" : "s"} ${missing.join(", ")} ` +
        `(backup.expectTables); its table of contents lists ${tables.length === 0 ? "no tables" : shown + more}; ` +
        "check that pg_dump reached the right database and that the names are spelled as in it " +
        "(schema.table, case-sensitive; a bare name means public.<name>)",
    );
  }
  const sha256 = await sha256File(partial);
  args.log?.(`backup: archive lists ${tables.length} tables, sha256 ${sha256}`);
  return { bytes, sha256, tables };
}

async function listTables(
  tools: PgTools,
  env: NodeJS.ProcessEnv,
  file: string,
  what: string,
): Promise<string[]> {
  const list = await runTool(tools.pgRestore, ["--list", file], env);
  if (list.code !== 0) {
    throw toolError(
      "pg_restore --list",
      list,
      `${what} cannot be read as a custom-format archive`,
      "the file is truncated or not a pg_dump custom-format archive; take the backup again",
    );
  }
  return parseTocTables(list.stdout);
}

/** What a restore test works with: the source's session, the dump and the counts it must match. */
interface RestoreTestArgs {
  client: Client;
  connection: PgConnection;
  tools: PgTools;
  env: NodeJS.ProcessEnv;
  partial: string;
  failed: string;
  sourceCounts: Record<string, number>;
  serverVersionNum: number;
  log: Progress | undefined;
}

/** Restores the dump into a scratch database and compares row counts; the scratch database is always dropped. */
async function restoreTest(args: RestoreTestArgs & { stack: string }): Promise<void> {
  const { client } = args;
  const scratch = scratchDatabaseName(args.stack);
  // Held from before the scratch database exists until it is dropped, on this run's own session:
  // a later run that finds the lock free knows the database is a killed run's.
  const lockKey = scratchLockKey(scratch);
  await client.query("SELECT pg_advisory_lock($1, $2)", lockKey);
  try {
    await scratchRestore({ ...args, scratch });
  } finally {
    await client.query("SELECT pg_advisory_unlock($1, $2)", lockKey).catch(() => undefined);
  }
}

/** The restore test's work in its scratch database, which is dropped whatever happens. */
async function scratchRestore(args: RestoreTestArgs & { scratch: string }): Promise<void> {
  const { client, connection, tools, env, partial, failed, sourceCounts, log, scratch } = args;
  // Same encoding and locale as the source, so text restores byte for byte; template0 so nothing
  // added to template1 collides with the archive's objects.
  const source = (
    await client.query<{ encoding: string; collate: string; ctype: string }>(
      `SELECT pg_catalog.pg_encoding_to_char(encoding) AS encoding, datcollate AS collate, datctype AS ctype
       FROM pg_catalog.pg_database WHERE datname = pg_catalog.current_database()`,
    )
  ).rows[0];
  try {
    await client.query(
      `CREATE DATABASE ${escapeIdentifier(scratch)} TEMPLATE template0 ENCODING ${escapeLiteral(source.encoding)} ` +
        `LC_COLLATE ${escapeLiteral(source.collate)} LC_CTYPE ${escapeLiteral(source.ctype)}`,
    );
  } catch (error) {
    throw new Error(
      `restore test of backup ${failed} could not create the scratch database ${scratch}: ${(error as Error).message}; ` +
        `grant CREATEDB to ${connection.user}, or turn backup.restoreTest off`,
      { cause: error },
    );
  }
  log?.(`backup: restore test into scratch database ${scratch}`);

  let failure: Error | undefined;
  try {
    const restore = await runTool(
      tools.pgRestore,
      ["--no-owner", "--exit-on-error", ...connectionArgs(connection, scratch), partial],
      env,
    );
    if (restore.code !== 0) {
      throw toolError(
        "pg_restore",
        restore,
        `restore test of backup ${failed} into the scratch database ${scratch} failed`,
        "the archive cannot be restored as it is; fix the cause shown above (often a role or extension it needs) before relying on it",
      );
    }
    const scratchClient = await connect(connection, scratch);
    let restoredCounts: Record<string, number>;
    try {
      restoredCounts = await countRows(scratchClient);
    } finally {
      await scratchClient.end();
    }
    const differences = compareRowCounts(sourceCounts, restoredCounts);
    if (differences.length > 0) {
      throw new Error(
        `restore test of backup ${failed} found different row counts (table: source, restored): ${differences.join("; ")}; ` +
          "the dump does not hold what the database held; take the backup again, and if the counts differ again, restore the named tables by hand (pg_restore --table) to see why",
      );
    }
    log?.(`backup: restore test passed, ${Object.keys(sourceCounts).length} tables with matching row counts`);
  } catch (error) {
    failure = error as Error;
  }

  // Dropped whatever happened: the scratch copy holds production data. WITH (FORCE) (PostgreSQL 13+)
  // ends sessions left behind by a failed pg_restore.
  let dropProblem: string | undefined;
  try {
    const force = args.serverVersionNum >= 130000 ? " WITH (FORCE)" : "";
    await client.query(`DROP DATABASE IF EXISTS ${escapeIdentifier(scratch)}${force}`);
  } catch (error) {
    dropProblem =
      `could not drop the scratch database ${scratch}, which holds a copy of the data: ${(error as Error).message}; ` +
      `drop it by hand with DROP DATABASE ${escapeIdentifier(scratch)}`;
  }
  if (failure !== undefined) {
    if (dropProblem === undefined) throw failure;
    throw new Error(`${failure.message}; also ${dropProblem}`, { cause: failure });
  }
  if (dropProblem !== undefined)
    throw new Error(`restore test of backup ${failed} passed, but ${dropProblem}`);
}

function compareRowCounts(source: Record<string, number>, restored: Record<string, number>): string[] {
  const differences: string[] = [];
  for (const [table, count] of Object.entries(source)) {
    if (!(table in restored)) differences.push(`${table}: ${count}, restored: table missing`);
    else if (restored[table] !== count) differences.push(`${table}: ${count}, ${restored[table]}`);
  }
  for (const [table, count] of Object.entries(restored)) {
    if (!(table in source)) differences.push(`${table}: not in the source, ${count}`);
  }
  return differences;
}

/** Exact `count(*)` of every user table, as `schema.table` -> rows. */
async function countRows(client: Client): Promise<Record<string, number>> {
  const tables = await userTables(client);
  const counts: Record<string, number> = {};
  for (const { schema, name } of tables) {
    const result = await client.query<{ n: string }>(
      `SELECT count(*) AS n FROM ${escapeIdentifier(schema)}.${escapeIdentifier(name)}`,
    );
    counts[`${schema}.${name}`] = Number(result.rows[0].n);
  }
  return counts;
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

function validateConnection(connection: PgConnection): void {
  const { host, port, database, user, sslMode } = connection;
  if (typeof host !== "string" || host.trim() === "") {
    throw new Error(`database host ${JSON.stringify(host)} is empty; set the database host (e.g. 127.0.0.1)`);
  }
  if (!Number.isInteger(port) || port < 1 || port > 65535) {
    throw new Error(
      `database port ${JSON.stringify(port)} is not a TCP port; use a number from 1 to 65535, e.g. 5432`,
    );
  }
  if (typeof user !== "string" || user === "") {
    throw new Error("database user is empty; set the user to connect as");
  }
  // libpq reads a --dbname holding `=` or a URI as a whole connection string, which could carry a
  // password onto the command line. The value is not echoed for the same reason.
  if (
    typeof database !== "string" ||
    database === "" ||
    database.includes("=") ||
    /^postgres(ql)?:/i.test(database)
  ) {
    throw new Error(
      "database name is empty or looks like a connection string (it is not shown, as it may hold a password); " +
        "give the bare database name, and host, port, user and password as their own settings",
    );
  }
  if (!(SSL_MODES as readonly string[]).includes(sslMode)) {
    throw new Error(`database sslMode ${JSON.stringify(sslMode)} is not one of ${SSL_MODES.join(", ")}`);
  }
}

function connectionArgs(connection: PgConnection, database: string): string[] {
  return [
    "--no-password",
    `--host=${connection.host}`,
    `--port=${connection.port}`,
    `--username=${connection.user}`,
    `--dbname=${database}`,
  ];
}

function toolEnv(connection: PgConnection): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PGPASSWORD: connection.password,
    PGSSLMODE: connection.sslMode,
    PGAPPNAME: APPLICATION_NAME,
    // An unreachable server should fail the rollout, not hang it.
    PGCONNECT_TIMEOUT: process.env.PGCONNECT_TIMEOUT ?? String(CONNECT_TIMEOUT_SECONDS),
  };
}

/** A connection named after the backup, so an operator can tell its session in pg_stat_activity. */
function connect(connection: PgConnection, database?: string): Promise<Client> {
  return connectTo(connection, { database, applicationName: APPLICATION_NAME });
}

async function serverVersion(client: Client): Promise<number> {
  const result = await client.query<{ n: string }>(
    "SELECT pg_catalog.current_setting('server_version_num') AS n",
  );
  return Number(result.rows[0].n);
}

interface PgTools {
  readonly pgDump: string;
  readonly pgRestore: string;
  /** `pg_dump --version`, e.g. `pg_dump (PostgreSQL) 15.18`. */
  readonly version: string;
  readonly major: number;
}

/** 150018 -> 15, 90624 -> 9.6 (before 10 the major version had two parts). */
function majorOfVersionNum(versionNum: number): number {
  return versionNum >= 100000
    ? Math.floor(versionNum / 10000)
    : Math.floor(versionNum / 10000) + (Math.floor(versionNum / 100) % 100) / 10;
}

function majorOfVersionText(text: string): number | undefined {
  const match = /(\d+)(?:\.(\d+))?/.exec(text.replace(/^[^)]*\)/, ""));
  if (!match) return undefined;
  const first = Number(match[1]);
  return first >= 10 ? first : first + Number(match[2] ?? 0) / 10;
}

function isExecutable(file: string): boolean {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
}

async function probeTools(dir: string, source: string): Promise<PgTools> {
  const pgDump = path.join(dir, "pg_dump");
  const pgRestore = path.join(dir, "pg_restore");
  const absent = [pgDump, pgRestore].filter((f) => !isExecutable(f));
  if (absent.length > 0) {
    throw new Error(
      `${source} ${dir} has no executable ${absent.map((f) => path.basename(f)).join(" or ")}; ` +
        `point backup.pgBinDir at the bin folder of the PostgreSQL client tools, e.g. ${PG_INSTALL_ROOT}/15/bin`,
    );
  }
  const run = await runTool(pgDump, ["--version"], process.env);
  const version = run.stdout.trim();
  const major = majorOfVersionText(version);
  if (run.code !== 0 || major === undefined) {
    throw toolError(
      "pg_dump --version",
      run,
      `${pgDump} did not report its version`,
      "reinstall the PostgreSQL client tools",
    );
  }
  return { pgDump, pgRestore, version, major };
}

async function resolvePgTools(serverVersionNum: number, pgBinDir: string | undefined): Promise<PgTools> {
  const serverMajor = majorOfVersionNum(serverVersionNum);
  // pg_dump refuses servers newer than itself; an older server is fine.
  const tooOld = (tools: PgTools, source: string) =>
    new Error(
      `${tools.pgDump} (${source}) is ${tools.version}, older than the PostgreSQL ${serverMajor} server, which it cannot dump; ` +
        `install the PostgreSQL ${serverMajor} client tools (e.g. postgresql-client-${serverMajor}) and point backup.pgBinDir at them`,
    );
  if (pgBinDir !== undefined) {
    const tools = await probeTools(path.resolve(pgBinDir), "backup.pgBinDir");
    if (tools.major < serverMajor) throw tooOld(tools, "backup.pgBinDir");
    return tools;
  }

  let installed: { dir: string; major: number }[] = [];
  try {
    installed = fs
      .readdirSync(PG_INSTALL_ROOT)
      .filter((name) => /^\d+(\.\d+)?$/.test(name))
      .map((name) => ({ dir: path.join(PG_INSTALL_ROOT, name, "bin"), major: Number(name) }))
      .filter((c) => isExecutable(path.join(c.dir, "pg_dump")))
      .sort((a, b) => a.major - b.major);
  } catch {
    // No per-version folders on this system (not Debian or Ubuntu): PATH is all there is.
  }
  const exact = installed.find((c) => c.major === serverMajor);
  if (exact) return probeTools(exact.dir, `the PostgreSQL ${serverMajor} client folder`);

  const onPath = (process.env.PATH ?? "")
    .split(path.delimiter)
    .find((dir) => dir !== "" && isExecutable(path.join(dir, "pg_dump")));
  if (onPath !== undefined) {
    const tools = await probeTools(onPath, "PATH folder");
    if (tools.major >= serverMajor) return tools;
  }
  const newer = installed.find((c) => c.major > serverMajor);
  if (newer) return probeTools(newer.dir, `the PostgreSQL ${newer.major} client folder`);

  const seen = [
    ...(onPath === undefined ? [] : [`${path.join(onPath, "pg_dump")} on PATH`]),
    ...installed.map((c) => `${path.join(c.dir, "pg_dump")} (${c.major})`),
  ];
  throw new Error(
    `no pg_dump of PostgreSQL ${serverMajor} or newer found for the PostgreSQL ${serverMajor} server ` +
      `(found: ${seen.length === 0 ? "none" : seen.join(", ")}); install the PostgreSQL ${serverMajor} client tools ` +
      `(e.g. postgresql-client-${serverMajor}) or point backup.pgBinDir at their bin folder`,
  );
}

interface ToolRun {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly spawnError?: Error;
}

/** Runs a client tool without a shell; resolves with its exit status and output, never rejects. */
function runTool(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<ToolRun> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) =>
      resolve({
        code,
        signal,
        stdout: Buffer.concat(stdout).toString("utf8"),
        stderr: Buffer.concat(stderr).toString("utf8"),
        ...(spawnError === undefined ? {} : { spawnError }),
      });
    // A tool that cannot start (missing, not executable) reports "error" and may never "close";
    // the first of the two settles the promise.
    child.on("error", (error) => finish(null, null, error));
    child.on("close", (code, signal) => finish(code, signal));
  });
}

function toolError(tool: string, run: ToolRun, what: string, hint: string): Error {
  if (run.spawnError !== undefined) {
    return new Error(
      `${what}: ${tool} could not be started: ${run.spawnError.message}; ` +
        "install the PostgreSQL client tools or point backup.pgBinDir at them",
    );
  }
  const status = run.signal === null ? `exit code ${run.code}` : `signal ${run.signal}`;
  let output = run.stderr.trim();
  if (output.length > STDERR_TAIL_CHARS) output = `...${output.slice(-STDERR_TAIL_CHARS)}`;
  return new Error(
    `${what}: ${tool} ended with ${status}: ${output === "" ? "(no error output)" : output}; ${hint}`,
  );
}
