// Running a migration plan against PostgreSQL with one `pg` client, with no Pulumi inside: the schema
// resource's dynamic provider calls it during `up`, and dynamic providers are serialized by value, so
// this module holds only plain functions, plain data and constants.
import { createHash } from "node:crypto";
import { escapeIdentifier, type Client } from "pg";
import { isMysql, type DatabaseConnection } from "../database";
import { connect as connectTo, type PgConnection } from "../postgres";
import { hasMarker, isEmptySql, NO_MIGRATIONS, type Migration, type VerifyQuery } from "./files";
import { MigrationError } from "./errors";
import { migrateMysql, readAppliedMysql } from "./mysqlRunner";
import { splitStatements } from "./statements";
import { currentVersion, planMigrations, type AppliedMigration, type PlannedStep } from "./plan";

export { MigrationError } from "./errors";

/** What `migrate` needs. */
export interface MigrateOptions {
  /** Where to connect (PostgreSQL or MySQL); the password is used, never printed. */
  readonly connection: DatabaseConnection;
  /** Every migration in the folder, as `loadMigrations` returns them. */
  readonly migrations: readonly Migration[];
  /** The id to end at, or `none`/`0000` for no migrations. */
  readonly target: string;
  /** Recorded with each applied migration, e.g. `1.2.0`. */
  readonly release: string;
  /**
   * Down SQL kept in state per applied id. Used in preference to the copy in the migrations table,
   * so reverting works after the files are gone. A migration is irreversible when either says so.
   * @default the copy in the migrations table
   */
  readonly downFor?: Readonly<Record<string, { readonly down?: string; readonly irreversible: boolean }>>;
  /** How long to wait for another rollout migrating the same database to finish. */
  readonly lockTimeoutSeconds: number;
  /**
   * `lock_timeout` of each migration, in ms (0: none): a migration waiting longer for a table lock
   * held by another session fails instead of queueing every query behind it. A file's
   * `-- rollout:lock-timeout-ms=<n>` wins.
   */
  readonly migrationLockTimeoutMs: number;
  /** `statement_timeout` of each migration, in seconds (0: none); `-- rollout:statement-timeout-seconds=<n>` wins. */
  readonly statementTimeoutSeconds: number;
  /**
   * Record the migrations up to this version as applied without running them (an existing database
   * that another tool migrated), with who and why.
   * @default none
   */
  readonly baseline?: { readonly to: string; readonly by: string; readonly reason: string };
  /** Run the verify queries of `<name>.down.verify.sql` after each down. @default true */
  readonly verifyDown?: boolean;
  /** The table recording applied migrations (`name` or `schema.name`); its name also keys the lock. */
  readonly table: string;
  /**
   * Receives one line per event (lock, each step and its duration).
   * @default discard
   */
  readonly log?: (line: string) => void;
}

/** One migration applied or reverted. */
export interface MigrationStepResult {
  readonly id: string;
  readonly name: string;
  readonly durationMs: number;
}

/** What `migrate` did. */
export interface MigrateResult {
  readonly direction: "up" | "down" | "none";
  readonly applied: MigrationStepResult[];
  readonly reverted: MigrationStepResult[];
  /** Recorded as applied by a baseline, without running. @default none */
  readonly baselined?: string[];
  /** The highest applied id afterwards, `0000` when none is applied. */
  readonly version: string;
  readonly durationMs: number;
}

/** A row of the migrations table. */
export interface AppliedRecord extends AppliedMigration {
  /** ISO 8601. */
  readonly appliedAt: string;
  readonly release: string;
  readonly durationMs: number;
  /** Recorded by a baseline, never run by this tool. @default false */
  readonly baselined?: boolean;
  /** Who baselined it, and why. */
  readonly note?: string;
  /** Repairs recorded since it was applied, oldest first. @default none */
  readonly repairs?: RepairRecord[];
}

/** One repair of an applied migration's record (`npm run migrations -- repair-down|accept-checksum`). */
export interface RepairRecord {
  /** `down`: the stored down SQL was replaced from the file; `checksum`: an edited up file was accepted. */
  readonly kind: "down" | "checksum";
  readonly by: string;
  /** ISO 8601. */
  readonly at: string;
  readonly reason: string;
  /** sha256 (hex) of the stored down SQL, or the recorded checksum, before the repair ("" for none). */
  readonly from: string;
  /** The same after the repair. */
  readonly to: string;
}

const TABLE_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;
const LOCK_POLL_MS = 250;

/** The two-int advisory lock key `migrate` takes for a migrations table, stable across runs. */
export function advisoryLockKey(table: string): [number, number] {
  const digest = createHash("sha256").update(`rollout-migrations:${table}`).digest();
  // Non-negative so the halves equal pg_locks.classid/objid (oids) as they are.
  return [digest.readUInt32BE(0) & 0x7fffffff, digest.readUInt32BE(4) & 0x7fffffff];
}

/**
 * Moves the database to `options.target`, one migration per transaction, under an advisory lock.
 * Each up runs with its verify queries and its record row in one transaction; each down deletes its
 * record row in the same transaction. Migrations marked `-- rollout:no-transaction` (in the up file,
 * or in the down SQL for reverting) run alone outside a transaction, so such a file must hold exactly
 * one statement; PostgreSQL refuses to run `CREATE INDEX CONCURRENTLY` among others in one query.
 *
 * @throws MigrationPlanError when the plan cannot be made (nothing is changed).
 * @throws MigrationError when connecting, locking or a step fails; the failed step is rolled back
 *   (unless it ran outside a transaction) and earlier steps stay applied and recorded.
 */
export async function migrate(options: MigrateOptions): Promise<MigrateResult> {
  const { connection } = options;
  if (isMysql(connection)) return migrateMysql({ ...options, connection });
  return migratePostgres({ ...options, connection });
}

async function migratePostgres(
  options: MigrateOptions & { connection: PgConnection },
): Promise<MigrateResult> {
  const started = performance.now();
  const { table } = options;
  const quoted = quoteTable(table);
  const log = options.log ?? (() => undefined);
  const client = await connectMigrationClient(options.connection, `rollout ${options.release}`, log);
  const key = advisoryLockKey(table);
  let locked = false;
  try {
    await acquireLock(client, key, table, options.lockTimeoutSeconds, log);
    locked = true;
    await client.query(
      `CREATE TABLE IF NOT EXISTS ${quoted} (
        id text PRIMARY KEY,
        name text NOT NULL,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now(),
        release text NOT NULL,
        down_sql text,
        irreversible boolean NOT NULL DEFAULT false,
        duration_ms integer NOT NULL
      )`,
    );
    await addLaterColumns(client, quoted);
    const baselined = options.baseline ? await recordBaseline(client, quoted, options, log) : [];
    const applied = (await selectApplied(client, quoted)).map((r): AppliedMigration => {
      const kept = options.downFor?.[r.id];
      // A down repaired in the record table (`npm run migrations -- repair-down`) wins over state's copy.
      const repaired = r.repairs?.some((x) => x.kind === "down") ?? false;
      const down = repaired ? r.down : (kept?.down ?? r.down);
      return {
        id: r.id,
        name: r.name,
        checksum: r.checksum,
        ...(down !== undefined ? { down } : {}),
        irreversible: r.irreversible || (kept?.irreversible ?? false),
      };
    });
    const plan = planMigrations(options.migrations, applied, options.target);
    // What is applied as the steps go, for the version named in messages and the result.
    let appliedIds = applied.map((a) => ({ id: a.id }));
    log(
      `at version ${currentVersion(applied)}, target ${options.target}: ${plan.steps.length === 0 ? "nothing to do" : `${plan.steps.length} step(s) ${plan.direction}`}`,
    );

    const done: MigrationStepResult[] = [];
    for (const step of plan.steps) {
      const durationMs = await runStep(client, step, quoted, options, currentVersion(appliedIds), log);
      appliedIds =
        step.direction === "up"
          ? [...appliedIds, { id: step.id }]
          : appliedIds.filter((a) => a.id !== step.id);
      done.push({ id: step.id, name: step.name, durationMs });
    }
    return {
      direction: plan.direction,
      applied: plan.direction === "up" ? done : [],
      reverted: plan.direction === "down" ? done : [],
      ...(baselined.length > 0 ? { baselined } : {}),
      version: currentVersion(appliedIds),
      durationMs: Math.round(performance.now() - started),
    };
  } finally {
    // The lock is session-level and ends with the session anyway, so a failed unlock or end (e.g. the
    // server went away) must not hide the error that brought us here.
    if (locked) await client.query("SELECT pg_advisory_unlock($1, $2)", key).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * The rows of the migrations table, by id, or `[]` when the table does not exist yet. For refresh:
 * the table is the truth, and drift from state is reported by the caller.
 */
export async function readApplied(connection: DatabaseConnection, table: string): Promise<AppliedRecord[]> {
  if (isMysql(connection)) return readAppliedMysql(connection, table);
  const quoted = quoteTable(table);
  const client = await connectMigrationClient(connection, "rollout", () => undefined);
  try {
    const { rows } = await client.query<{ present: boolean }>(
      "SELECT to_regclass($1) IS NOT NULL AS present",
      [quoted],
    );
    return rows[0].present ? await selectApplied(client, quoted) : [];
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function runStep(
  client: Client,
  step: PlannedStep,
  quoted: string,
  options: MigrateOptions,
  versionBefore: string,
  log: (line: string) => void,
): Promise<number> {
  const up = step.direction === "up";
  const sql = up ? step.migration.up : step.down;
  const inTransaction = up ? !step.migration.noTransaction : !hasMarker(step.down, "no-transaction");
  const verb = up ? "applying" : "reverting";
  const source = up ? `\`${step.migration.upFile ?? `${step.name}.up.sql`}\`` : "its down SQL";
  const lockTimeoutMs = (up ? step.migration.lockTimeoutMs : undefined) ?? options.migrationLockTimeoutMs;
  const statementTimeoutSeconds =
    (up ? step.migration.statementTimeoutSeconds : undefined) ?? options.statementTimeoutSeconds;
  const empty = isEmptySql(sql);
  log(`${verb} ${step.name}${empty ? " (empty: a no-op)" : inTransaction ? "" : " (outside a transaction)"}`);
  const started = performance.now();
  let failure: { text: string; sqlState?: string } | undefined;
  try {
    if (inTransaction) {
      await client.query("BEGIN");
      await client.query(`SET LOCAL lock_timeout = '${lockTimeoutMs}ms'`);
      await client.query(`SET LOCAL statement_timeout = '${statementTimeoutSeconds}s'`);
    } else {
      await client.query(`SET lock_timeout = '${lockTimeoutMs}ms'`);
      await client.query(`SET statement_timeout = '${statementTimeoutSeconds}s'`);
    }
    // Outside a transaction each statement runs on its own (PostgreSQL would otherwise run a
    // multi-statement text as one implicit transaction), and an error names the statement.
    const pieces = empty ? [] : inTransaction ? [{ sql, line: 1 }] : await splitStatements(sql);
    for (const [index, piece] of pieces.entries()) {
      try {
        await client.query(piece.sql);
      } catch (err) {
        const which =
          pieces.length > 1
            ? ` at statement ${index + 1} of ${pieces.length} (line ${piece.line}: \`${oneLine(piece.sql)}\`${index > 0 ? `; statements 1-${index} ran and stay` : ""})`
            : "";
        failure = {
          text: `failed${which}: ${describeDbError(err, piece.sql, source, piece.line)}${timeoutAdvice(err, lockTimeoutMs, statementTimeoutSeconds)}`,
          sqlState: sqlStateOf(err),
        };
        throw err;
      }
    }
    const checks = up ? step.migration.verify : options.verifyDown === false ? [] : (step.verifyDown ?? []);
    for (const check of checks) {
      const problem = await verifyProblem(client, check);
      if (problem) {
        failure = { text: `failed verification${up ? "" : " after the revert"}: ${problem}` };
        throw new Error(problem);
      }
    }
    if (up && step.migration.verifyScript !== undefined) {
      try {
        await client.query(step.migration.verifyScript);
      } catch (err) {
        failure = { text: `failed verification: its verify script failed: ${describeDbError(err)}` };
        throw err;
      }
    }
    const durationMs = Math.round(performance.now() - started);
    if (up) {
      const m = step.migration;
      await client.query(
        `INSERT INTO ${quoted} (id, name, checksum, release, down_sql, irreversible, duration_ms)
         VALUES ($1, $2, $3, $4, $5, $6, $7)`,
        [m.id, m.name, m.checksum, options.release, m.down ?? null, m.irreversible, durationMs],
      );
    } else {
      await client.query(`DELETE FROM ${quoted} WHERE id = $1`, [step.id]);
    }
    if (inTransaction) await client.query("COMMIT");
    else await client.query("RESET lock_timeout; RESET statement_timeout");
    log(`${up ? "applied" : "reverted"} ${step.name} in ${durationMs} ms`);
    return durationMs;
  } catch (err) {
    failure ??= { text: `failed: ${describeDbError(err)}`, sqlState: sqlStateOf(err) };
    const shownVersion = versionBefore === NO_MIGRATIONS ? `${NO_MIGRATIONS}, none applied` : versionBefore;
    let outcome: string;
    if (inTransaction) {
      const rollback = await client.query("ROLLBACK").then(
        () => undefined,
        (rollbackErr: unknown) => describeDbError(rollbackErr),
      );
      outcome =
        rollback === undefined
          ? up
            ? `it was rolled back and earlier migrations stay applied (version ${shownVersion}). Fix the migration file and run \`pulumi up\` again.`
            : `it was rolled back, so it and the migrations before it stay applied (version ${shownVersion}). Fix the cause (the down SQL is the one kept when it was applied) or restore the backup taken before it, then run \`pulumi up\` again.`
          : `rolling it back failed too (${rollback}); PostgreSQL discards an open transaction when the session ends, so check the database (expected version ${shownVersion}) before running \`pulumi up\` again.`;
    } else {
      await client.query("RESET lock_timeout; RESET statement_timeout").catch(() => undefined);
      outcome = up
        ? `it ran outside a transaction, so it was not rolled back and is not recorded as applied (version ${shownVersion}); undo what it changed by hand (e.g. drop an INVALID index left by CREATE INDEX CONCURRENTLY), fix the migration file and run \`pulumi up\` again.`
        : `it ran outside a transaction, so it was not rolled back and stays recorded as applied (version ${shownVersion}); check what it changed, fix the cause and run \`pulumi up\` again.`;
    }
    log(`${verb} ${step.name} ${failure.text}`);
    throw new MigrationError(
      `${verb} migration \`${step.name}\` ${failure.text}; ${outcome}`,
      step.name,
      versionBefore,
      failure.sqlState,
    );
  }
}

/** What to do when a migration hit its lock or statement timeout; empty for any other error. */
function timeoutAdvice(err: unknown, lockTimeoutMs: number, statementTimeoutSeconds: number): string {
  const code = sqlStateOf(err);
  if (code === "55P03") {
    return ` (it waited longer than its lock_timeout of ${lockTimeoutMs} ms for a lock another session holds: find that session with \`SELECT pid, state, query FROM pg_stat_activity WHERE pid = ANY (SELECT pid FROM pg_locks WHERE NOT granted OR granted)\` and let it finish or end it with pg_terminate_backend(pid), then run \`pulumi up\` again; raise rollout:migrations.lockTimeoutMs or add \`-- rollout:lock-timeout-ms=<n>\` to the file only if waiting is safe)`;
  }
  if (code === "57014") {
    return ` (it ran longer than its statement_timeout of ${statementTimeoutSeconds} s: make the statement faster (batch the backfill) or raise rollout:migrations.statementTimeoutSeconds, or add \`-- rollout:statement-timeout-seconds=<n>\` to the file, then run \`pulumi up\` again)`;
  }
  return "";
}

/** Records migrations up to `baseline.to` as applied without running them; returns their ids. */
async function recordBaseline(
  client: Client,
  quoted: string,
  options: MigrateOptions,
  log: (line: string) => void,
): Promise<string[]> {
  const { baseline } = options;
  if (!baseline) return [];
  const plan = planMigrations(options.migrations, await selectApplied(client, quoted), baseline.to);
  if (plan.direction === "down") {
    throw new MigrationError(
      `cannot baseline to ${baseline.to}: the database already records later migrations (up to ${currentVersion(await selectApplied(client, quoted))}); remove rollout:migrations.baseline or set it to the recorded version`,
    );
  }
  const ids: string[] = [];
  await client.query("BEGIN");
  try {
    for (const step of plan.steps) {
      if (step.direction !== "up") continue;
      const m = step.migration;
      await client.query(
        `INSERT INTO ${quoted} (id, name, checksum, release, down_sql, irreversible, duration_ms, baselined, note)
         VALUES ($1, $2, $3, $4, $5, $6, 0, true, $7)`,
        [
          m.id,
          m.name,
          m.checksum,
          options.release,
          m.down ?? null,
          m.irreversible,
          `baselined by ${baseline.by}: ${baseline.reason}`,
        ],
      );
      ids.push(m.id);
    }
    await client.query("COMMIT");
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw new MigrationError(
      `baselining to ${baseline.to} failed and was rolled back: ${describeDbError(err)}`,
    );
  }
  if (ids.length > 0)
    log(
      `baselined ${ids.length} migration(s) up to ${baseline.to} without running them (${baseline.by}: ${baseline.reason})`,
    );
  return ids;
}

/** Why a verify query does not hold, or undefined when it does. */
async function verifyProblem(client: Client, check: VerifyQuery): Promise<string | undefined> {
  const shown = `\`${oneLine(check.query)}\``;
  let result: unknown;
  try {
    result = await client.query({ text: check.query, rowMode: "array" });
  } catch (err) {
    return `${shown} failed: ${describeDbError(err, check.query, "the query")}`;
  }
  // A query text holding several statements comes back as one result per statement.
  if (Array.isArray(result)) {
    return `${shown} holds ${result.length} statements; a verify query must be one statement`;
  }
  const row = (result as { rows: unknown[][] }).rows[0];
  if (row === undefined) return `${shown} returned no rows, expected ${check.expect}`;
  const actual = row[0] === null ? "null" : String(row[0]);
  return actual === check.expect ? undefined : `${shown} returned ${actual}, expected ${check.expect}`;
}

/** A connection whose drop is logged; a failure to connect is a MigrationError (nothing was changed). */
/** A client for migrating, its connection errors logged; a failure to connect is a MigrationError. */
export async function connectMigrationClient(
  connection: PgConnection,
  applicationName: string,
  log: (line: string) => void,
): Promise<Client> {
  let client: Client;
  try {
    client = await connectTo(connection, { applicationName });
  } catch (err) {
    throw new MigrationError((err as Error).message);
  }
  // The pending query rejects with the same error, which is what gets reported.
  client.on("error", (err) => log(`connection error: ${err.message}`));
  return client;
}

/**
 * Takes the migration lock of `table` on `client`'s session, waiting up to `timeoutSeconds`; throws a
 * MigrationError naming the session that holds it. Other work that must not overlap a migration
 * (a restore) takes it too.
 */
export async function acquireLock(
  client: Client,
  key: [number, number],
  table: string,
  timeoutSeconds: number,
  log: (line: string) => void,
): Promise<void> {
  const deadline = Date.now() + timeoutSeconds * 1000;
  let waiting = false;
  for (;;) {
    const { rows } = await client.query<{ locked: boolean }>(
      "SELECT pg_try_advisory_lock($1, $2) AS locked",
      key,
    );
    if (rows[0].locked) {
      log(`took the migration lock (advisory lock ${key.join(",")})`);
      return;
    }
    const left = deadline - Date.now();
    if (left <= 0) break;
    if (!waiting) log(`waiting up to ${timeoutSeconds} s for the migration lock held by another session`);
    waiting = true;
    await new Promise((resolve) => setTimeout(resolve, Math.min(LOCK_POLL_MS, left)));
  }
  // Two-int advisory locks show in pg_locks as classid/objid with objsubid 2.
  const { rows } = await client.query<{
    pid: number;
    usename: string | null;
    application_name: string | null;
    client_addr: string | null;
    backend_start: Date | null;
    state: string | null;
  }>(
    `SELECT l.pid, a.usename, a.application_name, host(a.client_addr) AS client_addr, a.backend_start, a.state
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1::oid AND l.objid = $2::oid`,
    key,
  );
  const holder = rows[0];
  const database = `\`${client.database ?? "(default)"}\``;
  if (!holder) {
    throw new MigrationError(
      `cannot migrate database ${database}: another rollout held the migration lock (advisory lock ${key.join(",")} for table \`${table}\`) for ${timeoutSeconds} s and has just released it; run \`pulumi up\` again`,
    );
  }
  const facts = [
    holder.usename && `user ${holder.usename}`,
    holder.application_name && `application "${holder.application_name}"`,
    holder.client_addr && `from ${holder.client_addr}`,
    holder.backend_start && `connected since ${holder.backend_start.toISOString()}`,
    holder.state && `state ${holder.state}`,
  ].filter(Boolean);
  throw new MigrationError(
    `cannot migrate database ${database}: another rollout is migrating this database; pid ${holder.pid}${facts.length > 0 ? ` (${facts.join(", ")})` : ""} holds the migration lock (advisory lock ${key.join(",")} for table \`${table}\`) and did not release it within ${timeoutSeconds} s. Wait for it to finish and run \`pulumi up\` again; if that session is stuck, end it with \`SELECT pg_terminate_backend(${holder.pid})\` first.`,
  );
}

/** Columns added after the first release, so record tables created by it gain them in place. */
export async function addLaterColumns(client: Client, quoted: string): Promise<void> {
  await client.query(
    `ALTER TABLE ${quoted} ADD COLUMN IF NOT EXISTS baselined boolean NOT NULL DEFAULT false,
       ADD COLUMN IF NOT EXISTS note text,
       ADD COLUMN IF NOT EXISTS repairs jsonb NOT NULL DEFAULT '[]'::jsonb`,
  );
}

/** The record table's rows, by id; the later columns may be missing in a table nobody migrated since. */
export async function selectApplied(client: Client, quoted: string): Promise<AppliedRecord[]> {
  const { rows } = await client.query<{
    id: string;
    name: string;
    checksum: string;
    applied_at: Date;
    release: string;
    down_sql: string | null;
    irreversible: boolean;
    duration_ms: number;
    baselined: boolean | null;
    note: string | null;
    repairs?: RepairRecord[] | null;
  }>(`SELECT * FROM ${quoted} ORDER BY id`);
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    checksum: r.checksum,
    ...(r.down_sql !== null ? { down: r.down_sql } : {}),
    irreversible: r.irreversible,
    appliedAt: r.applied_at.toISOString(),
    release: r.release,
    durationMs: r.duration_ms,
    ...(r.baselined ? { baselined: true } : {}),
    ...(r.note ? { note: r.note } : {}),
    ...(r.repairs && r.repairs.length > 0 ? { repairs: r.repairs } : {}),
  }));
}

/** The record table's name quoted for SQL; throws a MigrationError for a name that is not one. */
export function quoteTable(table: string): string {
  if (!TABLE_NAME.test(table)) {
    throw new MigrationError(
      `migrations table \`${table}\` is not a valid table name; use lowercase letters, digits and _ (optionally \`schema.table\`)`,
    );
  }
  return table.split(".").map(escapeIdentifier).join(".");
}

function sqlStateOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** A database error as one clause: message, SQLSTATE, the line it points at, detail and hint. */
function describeDbError(err: unknown, sql?: string, source?: string, firstLine = 1): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { code?: string; position?: string; detail?: string; hint?: string };
  let text = e.message;
  if (typeof e.code === "string") text += ` (SQLSTATE ${e.code})`;
  if (sql !== undefined && e.position) {
    // PostgreSQL counts characters from 1 in the whole query text.
    const before = Array.from(sql)
      .slice(0, Number(e.position) - 1)
      .join("");
    text += ` at line ${before.split("\n").length + firstLine - 1}${source ? ` of ${source}` : ""}`;
  }
  if (e.detail) text += `; detail: ${e.detail}`;
  if (e.hint) text += `; hint: ${e.hint}`;
  return text;
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
