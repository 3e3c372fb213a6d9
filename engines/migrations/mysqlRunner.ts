// Running a migration plan against MySQL/MariaDB, with no Pulumi inside (the schema resource's
// dynamic provider calls it; plain functions, data and constants only). The same file layout, plan
// and record table as on PostgreSQL, with what MySQL cannot do said plainly: DDL is not
// transactional (every CREATE, ALTER or DROP commits on its own), so a migration runs statement by
// statement, and a failure names the statement, which earlier ones stay applied, and what to run.
import { createHash } from "node:crypto";
import { splitQuery, mysqlSplitterOptions } from "dbgate-query-splitter";
import type mysql from "mysql2/promise";
import { connectMysql, mysqlServerVersion, type MysqlClient, type MysqlConnection } from "../mysql";
import { MigrationError } from "./errors";
import { isEmptySql, NO_MIGRATIONS, type VerifyQuery } from "./files";
import { currentVersion, planMigrations, type AppliedMigration, type PlannedStep } from "./plan";
import type { AppliedRecord, MigrateOptions, MigrateResult, MigrationStepResult } from "./runner";
import type { SqlStatement } from "./statements";

const TABLE_NAME = /^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)?$/;
/** What preview and messages say of every migration on MySQL. */
export const MYSQL_NOT_TRANSACTIONAL =
  "not transactional on MySQL: each statement commits on its own, so a failure leaves the statements before it applied";

/** `MigrateOptions` with a MySQL connection. */
export type MysqlMigrateOptions = Omit<MigrateOptions, "connection"> & {
  readonly connection: MysqlConnection;
};

/**
 * The statements of a MySQL migration, split as the mysql client splits them (strings, backquoted
 * names, `--`, `#` and block comments, and `DELIMITER` for routines and triggers), each with the
 * line it starts on. Pieces holding only comments are dropped.
 */
export function splitMysqlStatements(sql: string): SqlStatement[] {
  const pieces = splitQuery(sql, { ...mysqlSplitterOptions, returnRichInfo: true }) as {
    text: string;
    trimStart?: { line: number };
    start: { line: number };
  }[];
  return pieces
    .map((p) => ({ sql: p.text.trim(), line: (p.trimStart ?? p.start).line + 1 }))
    .filter((p) => !isEmptySql(p.sql.replace(/^\s*#.*$/gm, "")));
}

/** The GET_LOCK name of a record table: server-wide, so it carries the database; at most 64 characters. */
export function mysqlLockName(database: string, table: string): string {
  const qualified = table.includes(".") ? table : `${database}.${table}`;
  return `rollout-migrations:${createHash("sha256").update(qualified).digest("hex").slice(0, 40)}`;
}

/** The record table quoted for MySQL (`db`.`table` or `table`); throws a MigrationError for a bad name. */
export function quoteMysqlTable(table: string): string {
  if (!TABLE_NAME.test(table)) {
    throw new MigrationError(
      `migrations table \`${table}\` is not a valid table name; use lowercase letters, digits and _ (optionally \`database.table\`)`,
    );
  }
  return table
    .split(".")
    .map((part) => `\`${part}\``)
    .join(".");
}

/**
 * Moves a MySQL database to `options.target` under a `GET_LOCK` advisory lock. Each migration's
 * statements run one by one with autocommit, then its verify queries, then its record row is
 * written (a down deletes it). A failed statement is not undone and neither are the ones before it:
 * the error names the statement (its number, line and text), lists the ones that ran and stay, and
 * says what to do; the migration is not recorded, so the version stays the one before it.
 *
 * @throws MigrationPlanError when the plan cannot be made (nothing is changed).
 * @throws MigrationError when connecting, locking or a step fails.
 */
export async function migrateMysql(options: MysqlMigrateOptions): Promise<MigrateResult> {
  const started = performance.now();
  const { table, connection } = options;
  const quoted = quoteMysqlTable(table);
  const log = options.log ?? (() => undefined);
  const client = await connectMigrationMysql(connection);
  const lock = mysqlLockName(connection.database, table);
  let locked = false;
  try {
    await acquireMysqlLock(client, lock, connection.database, table, options.lockTimeoutSeconds, log);
    locked = true;
    await ensureRecordTable(client, quoted);
    const baselined = options.baseline ? await recordBaseline(client, quoted, options, log) : [];
    const applied = (await selectAppliedMysql(client, quoted)).map((r): AppliedMigration => {
      const kept = options.downFor?.[r.id];
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
    let appliedIds = applied.map((a) => ({ id: a.id }));
    log(
      `at version ${currentVersion(applied)}, target ${options.target}: ${plan.steps.length === 0 ? "nothing to do" : `${plan.steps.length} step(s) ${plan.direction}, ${MYSQL_NOT_TRANSACTIONAL}`}`,
    );
    const mariadb = /mariadb/i.test(await mysqlServerVersion(client));
    const done: MigrationStepResult[] = [];
    for (const step of plan.steps) {
      const durationMs = await runStep(
        client,
        step,
        quoted,
        options,
        currentVersion(appliedIds),
        mariadb,
        log,
      );
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
    // The lock ends with the session anyway; a failed release must not hide the error that brought us here.
    if (locked) await client.query("SELECT RELEASE_LOCK(?)", [lock]).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/** The rows of the MySQL record table, by id, or `[]` when the table does not exist yet. */
export async function readAppliedMysql(connection: MysqlConnection, table: string): Promise<AppliedRecord[]> {
  const quoted = quoteMysqlTable(table);
  const client = await connectMigrationMysql(connection);
  try {
    const [schema, name] = table.includes(".") ? table.split(".") : [connection.database, table];
    const [rows] = await client.query<mysql.RowDataPacket[]>(
      "SELECT COUNT(*) AS n FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
      [schema, name],
    );
    return Number(rows[0].n) > 0 ? await selectAppliedMysql(client, quoted) : [];
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Takes the migration lock with `GET_LOCK`, waiting up to `timeoutSeconds`; throws a MigrationError
 * naming the session that holds it. A restore takes it too.
 */
export async function acquireMysqlLock(
  client: MysqlClient,
  lock: string,
  database: string,
  table: string,
  timeoutSeconds: number,
  log: (line: string) => void,
): Promise<void> {
  log(`taking the migration lock (GET_LOCK '${lock}', waiting up to ${timeoutSeconds} s)`);
  const [rows] = await client.query<mysql.RowDataPacket[]>("SELECT GET_LOCK(?, ?) AS ok", [
    lock,
    timeoutSeconds,
  ]);
  if (Number(rows[0].ok) === 1) {
    log("took the migration lock");
    return;
  }
  const [holders] = await client.query<mysql.RowDataPacket[]>(
    `SELECT p.ID AS id, p.USER AS user, p.HOST AS host, p.TIME AS seconds, p.COMMAND AS command
       FROM information_schema.PROCESSLIST p WHERE p.ID = IS_USED_LOCK(?)`,
    [lock],
  );
  const holder = holders[0] as
    { id: number; user: string; host: string; seconds: number; command: string } | undefined;
  const what = `the migration lock (GET_LOCK '${lock}' for table \`${table}\`)`;
  if (!holder) {
    throw new MigrationError(
      `cannot migrate MySQL database \`${database}\`: another rollout held ${what} for ${timeoutSeconds} s and has just released it; run \`pulumi up\` again`,
    );
  }
  throw new MigrationError(
    `cannot migrate MySQL database \`${database}\`: another rollout is migrating this database; connection ${holder.id} (user ${holder.user} from ${holder.host}, ${holder.command} for ${holder.seconds} s) holds ${what} and did not release it within ${timeoutSeconds} s. Wait for it to finish and run \`pulumi up\` again; if that session is stuck, end it with \`KILL ${holder.id}\` first.`,
  );
}

async function connectMigrationMysql(connection: MysqlConnection): Promise<MysqlClient> {
  try {
    return await connectMysql(connection);
  } catch (err) {
    throw new MigrationError((err as Error).message);
  }
}

async function ensureRecordTable(client: MysqlClient, quoted: string): Promise<void> {
  // `release` is a reserved word in MySQL, hence the backquotes.
  await client.query(
    `CREATE TABLE IF NOT EXISTS ${quoted} (
      id VARCHAR(255) NOT NULL PRIMARY KEY,
      name VARCHAR(255) NOT NULL,
      checksum VARCHAR(128) NOT NULL,
      applied_at TIMESTAMP(3) NOT NULL DEFAULT CURRENT_TIMESTAMP(3),
      \`release\` VARCHAR(255) NOT NULL,
      down_sql LONGTEXT NULL,
      irreversible BOOLEAN NOT NULL DEFAULT FALSE,
      duration_ms INT NOT NULL,
      baselined BOOLEAN NOT NULL DEFAULT FALSE,
      note TEXT NULL,
      repairs LONGTEXT NULL
    ) DEFAULT CHARSET=utf8mb4`,
  );
}

async function selectAppliedMysql(client: MysqlClient, quoted: string): Promise<AppliedRecord[]> {
  const [rows] = await client.query<mysql.RowDataPacket[]>(
    `SELECT id, name, checksum, DATE_FORMAT(CONVERT_TZ(applied_at, @@session.time_zone, '+00:00'), '%Y-%m-%dT%H:%i:%s.%fZ') AS applied_at,
            \`release\`, down_sql, irreversible, duration_ms, baselined, note, repairs
       FROM ${quoted} ORDER BY id`,
  );
  return rows.map((r) => {
    const repairs = r.repairs ? (JSON.parse(String(r.repairs)) as AppliedRecord["repairs"]) : [];
    return {
      id: String(r.id),
      name: String(r.name),
      checksum: String(r.checksum),
      ...(r.down_sql !== null ? { down: String(r.down_sql) } : {}),
      irreversible: Number(r.irreversible) === 1,
      // Microseconds from DATE_FORMAT's %f, kept to milliseconds as PostgreSQL's record shows them.
      appliedAt: String(r.applied_at).replace(/\.(\d{3})\d*Z$/, ".$1Z"),
      release: String(r.release),
      durationMs: Number(r.duration_ms),
      ...(Number(r.baselined) === 1 ? { baselined: true } : {}),
      ...(r.note ? { note: String(r.note) } : {}),
      ...(repairs && repairs.length > 0 ? { repairs } : {}),
    };
  });
}

async function recordBaseline(
  client: MysqlClient,
  quoted: string,
  options: MysqlMigrateOptions,
  log: (line: string) => void,
): Promise<string[]> {
  const baseline = options.baseline!;
  const recorded = await selectAppliedMysql(client, quoted);
  const plan = planMigrations(options.migrations, recorded, baseline.to);
  if (plan.direction === "down") {
    throw new MigrationError(
      `cannot baseline to ${baseline.to}: the database already records later migrations (up to ${currentVersion(recorded)}); remove rollout:migrations.baseline or set it to the recorded version`,
    );
  }
  const ids: string[] = [];
  // Only record rows are written, so this much is one transaction even on MySQL.
  await client.query("START TRANSACTION");
  try {
    for (const step of plan.steps) {
      if (step.direction !== "up") continue;
      const m = step.migration;
      await client.query(
        `INSERT INTO ${quoted} (id, name, checksum, \`release\`, down_sql, irreversible, duration_ms, baselined, note)
         VALUES (?, ?, ?, ?, ?, ?, 0, TRUE, ?)`,
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
      `baselining to ${baseline.to} failed and was rolled back: ${describeMysqlError(err)}`,
    );
  }
  if (ids.length > 0) log(`baselined ${ids.length} migration(s) up to ${baseline.to} without running them`);
  return ids;
}

/** Session settings for one migration's timeouts; MariaDB and MySQL name the statement timeout differently. */
async function setTimeouts(
  client: MysqlClient,
  lockTimeoutMs: number,
  statementTimeoutSeconds: number,
  mariadb: boolean,
): Promise<void> {
  // lock_wait_timeout (metadata locks, what DDL waits for) and innodb_lock_wait_timeout (row locks)
  // count whole seconds; 0 means none, so the server's (long) defaults stay.
  if (lockTimeoutMs > 0) {
    const seconds = Math.max(1, Math.ceil(lockTimeoutMs / 1000));
    await client.query(`SET SESSION lock_wait_timeout = ${seconds}, innodb_lock_wait_timeout = ${seconds}`);
  }
  if (mariadb) await client.query(`SET SESSION max_statement_time = ${statementTimeoutSeconds}`);
  else await client.query(`SET SESSION max_execution_time = ${statementTimeoutSeconds * 1000}`);
}

async function runStep(
  client: MysqlClient,
  step: PlannedStep,
  quoted: string,
  options: MysqlMigrateOptions,
  versionBefore: string,
  mariadb: boolean,
  log: (line: string) => void,
): Promise<number> {
  const up = step.direction === "up";
  const sql = up ? step.migration.up : step.down;
  const verb = up ? "applying" : "reverting";
  const source = up ? `\`${step.migration.upFile ?? `${step.name}.up.sql`}\`` : "its down SQL";
  const lockTimeoutMs = (up ? step.migration.lockTimeoutMs : undefined) ?? options.migrationLockTimeoutMs;
  const statementTimeoutSeconds =
    (up ? step.migration.statementTimeoutSeconds : undefined) ?? options.statementTimeoutSeconds;
  const statements = isEmptySql(sql) ? [] : splitMysqlStatements(sql);
  const shownVersion = versionBefore === NO_MIGRATIONS ? `${NO_MIGRATIONS}, none applied` : versionBefore;
  log(
    `${verb} ${step.name}${statements.length === 0 ? " (empty: a no-op)" : ` (${statements.length} statement(s), not transactional on MySQL)`}`,
  );
  const started = performance.now();
  await setTimeouts(client, lockTimeoutMs, statementTimeoutSeconds, mariadb);
  const ran: string[] = [];
  for (const [index, statement] of statements.entries()) {
    try {
      await client.query(statement.sql);
      ran.push(`${index + 1} (line ${statement.line}: \`${oneLine(statement.sql)}\`)`);
    } catch (err) {
      const at = `statement ${index + 1} of ${statements.length} (line ${statement.line} of ${source}: \`${oneLine(statement.sql)}\`)`;
      const state =
        ran.length === 0
          ? `nothing of it ran before: the database is as it was (version ${shownVersion})`
          : `MySQL commits each statement on its own, so statement${ran.length === 1 ? "" : "s"} ${ran.join(", ")} ran and stay${ran.length === 1 ? "s" : ""} applied (not rolled back); the migration is not recorded as ${up ? "applied" : "reverted"} (version ${shownVersion})`;
      const next = up
        ? `undo what ${ran.length === 1 ? "that statement" : "those statements"} changed by hand (the matching statements of the down SQL), or restore the backup taken before this release; then fix the migration file and run \`pulumi up\` again`
        : "check what the statements before it changed, fix the cause, and run `pulumi up` again (the migration is still recorded as applied, so its down SQL runs again from the start)";
      const message =
        `${verb} migration \`${step.name}\` failed at ${at}: ${describeMysqlError(err)}${timeoutAdvice(err, lockTimeoutMs, statementTimeoutSeconds)}; ` +
        (ran.length === 0
          ? `${state}. Fix the migration file and run \`pulumi up\` again.`
          : `${state}. To go on: ${next}.`);
      log(`${verb} ${step.name} failed at statement ${index + 1} of ${statements.length}`);
      throw new MigrationError(message, step.name, versionBefore, sqlStateOf(err));
    }
  }
  const checks = up ? step.migration.verify : options.verifyDown === false ? [] : (step.verifyDown ?? []);
  for (const check of checks) {
    const problem = await verifyProblem(client, check);
    if (problem) {
      throw new MigrationError(
        `${verb} migration \`${step.name}\` failed verification${up ? "" : " after the revert"}: ${problem}; all ${statements.length} of its statement(s) ran and stay (MySQL cannot roll DDL back) and it is not recorded as ${up ? "applied" : "reverted"} (version ${shownVersion}). Fix the database or the migration by hand, or restore the backup taken before this release, then run \`pulumi up\` again.`,
        step.name,
        versionBefore,
      );
    }
  }
  const durationMs = Math.round(performance.now() - started);
  if (up) {
    const m = step.migration;
    await client.query(
      `INSERT INTO ${quoted} (id, name, checksum, \`release\`, down_sql, irreversible, duration_ms)
       VALUES (?, ?, ?, ?, ?, ?, ?)`,
      [m.id, m.name, m.checksum, options.release, m.down ?? null, m.irreversible, durationMs],
    );
  } else {
    await client.query(`DELETE FROM ${quoted} WHERE id = ?`, [step.id]);
  }
  log(`${up ? "applied" : "reverted"} ${step.name} in ${durationMs} ms`);
  return durationMs;
}

/** Why a verify query does not hold, or undefined when it does. */
async function verifyProblem(client: MysqlClient, check: VerifyQuery): Promise<string | undefined> {
  const shown = `\`${oneLine(check.query)}\``;
  if (splitMysqlStatements(check.query).length > 1) {
    return `${shown} holds several statements; a verify query must be one statement`;
  }
  let rows: unknown[][];
  try {
    [rows] = (await client.query({ sql: check.query, rowsAsArray: true })) as unknown as [unknown[][]];
  } catch (err) {
    return `${shown} failed: ${describeMysqlError(err)}`;
  }
  const row = Array.isArray(rows) ? rows[0] : undefined;
  if (row === undefined) return `${shown} returned no rows, expected ${check.expect}`;
  const actual = row[0] === null ? "null" : String(row[0]);
  return actual === check.expect ? undefined : `${shown} returned ${actual}, expected ${check.expect}`;
}

/** What to do when a migration hit its lock wait or statement timeout; empty for any other error. */
function timeoutAdvice(err: unknown, lockTimeoutMs: number, statementTimeoutSeconds: number): string {
  const errno = (err as { errno?: number } | null)?.errno;
  if (errno === 1205) {
    return ` (it waited longer than its lock wait timeout of ${lockTimeoutMs} ms for a lock another session holds: find it with \`SELECT ID, USER, TIME, STATE, INFO FROM information_schema.PROCESSLIST\`, let it finish or end it with KILL <id>, then run \`pulumi up\` again)`;
  }
  if (errno === 1969 || errno === 3024) {
    return ` (it ran longer than its statement timeout of ${statementTimeoutSeconds} s: make the statement faster or raise rollout:migrations.statementTimeoutSeconds)`;
  }
  return "";
}

function sqlStateOf(err: unknown): string | undefined {
  const state = (err as { sqlState?: unknown } | null)?.sqlState;
  return typeof state === "string" ? state : undefined;
}

/** A MySQL error as one clause: the server's message, its error number and SQLSTATE. */
function describeMysqlError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const e = err as Error & { errno?: number; sqlState?: string; sqlMessage?: string };
  let text = e.sqlMessage ?? e.message;
  if (e.errno !== undefined) text += ` (error ${e.errno}${e.sqlState ? `, SQLSTATE ${e.sqlState}` : ""})`;
  return text;
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
