// The rehearsal before the real run: restore the release's verified backup into a scratch database,
// apply the pending migrations there with their verify queries, revert them, and apply them again.
// An off-by-one down script (one that drops the next migration's table) fails here, before the real
// database changes. Plain functions only: dynamic providers are serialized by value.
import { randomBytes } from "node:crypto";
import { escapeIdentifier } from "pg";
import { restoreMysqlBackup, restorePostgresBackup } from "../backup";
import { isMysql, type DatabaseConnection } from "../database";
import { quoteMysqlIdentifier, withMysql } from "../mysql";
import { withClient } from "../postgres";
import { currentVersion } from "./plan";
import { migrate, MigrationError, readApplied, type MigrateOptions, type MigrateResult } from "./runner";

/** What `rehearseMigrations` needs besides the options of the real run. */
export interface RehearsalOptions extends MigrateOptions {
  /** The verified backup of the database, taken just before; restored into the scratch database. */
  readonly backup: { readonly backupPath: string; readonly backupSha256: string };
}

/** What each pass of the rehearsal did. */
export interface RehearsalResult {
  readonly scratchDatabase: string;
  readonly passes: { readonly label: string; readonly result: MigrateResult }[];
}

/**
 * Rehearses the move to `options.target` on a scratch copy; the scratch database is dropped
 * whatever happens.
 *
 * @throws MigrationError naming the pass (apply, revert, apply again), the migration and the
 *   direction; nothing on the real database has changed then.
 */
export async function rehearseMigrations(options: RehearsalOptions): Promise<RehearsalResult> {
  const { connection } = options;
  const log = options.log ?? (() => undefined);
  const start = currentVersion(await readApplied(connection, options.table));
  const scratchDatabase = `rollout_rehearse_${randomBytes(6).toString("hex")}`;
  const scratch: DatabaseConnection = { ...connection, database: scratchDatabase };
  await scratchDatabaseDdl(connection, "create", scratchDatabase);
  const passes: RehearsalResult["passes"][number][] = [];
  try {
    const restore = { path: options.backup.backupPath, expectedSha256: options.backup.backupSha256 };
    if (isMysql(scratch)) await restoreMysqlBackup({ ...restore, connection: scratch });
    else await restorePostgresBackup({ ...restore, connection: scratch });
    log(`rehearsal: backup restored into scratch database ${scratchDatabase} (at version ${start})`);
    for (const [label, target] of [
      ["apply", options.target],
      ["revert", start],
      ["apply again", options.target],
    ] as const) {
      try {
        const result = await migrate({
          ...options,
          connection: scratch,
          target,
          log: (l) => log(`rehearsal ${label}: ${l}`),
        });
        passes.push({ label, result });
      } catch (err) {
        // Read the message as a field: in a dynamic provider the classes are serialized copies, so
        // the error thrown by `migrate` need not be an instance of this module's Error.
        const message = (err as { message?: unknown } | null)?.message;
        const why = typeof message === "string" ? message : String(err);
        throw new MigrationError(
          `the rehearsal on a scratch copy of the backup failed in its "${label}" pass (${label === "revert" ? "down" : "up"}): ${why.replace(/ Fix .*$|; (?:undo|check) .*$/, "")}. Nothing ran on database \`${connection.database}\`: fix the migration's ${label === "revert" ? "down script" : "files"} and run \`pulumi up\` again`,
          (err as Partial<MigrationError>).migration,
          start,
          (err as Partial<MigrationError>).sqlState,
        );
      }
    }
    log(`rehearsal passed: apply, revert and apply again on ${scratchDatabase}`);
    return { scratchDatabase, passes };
  } finally {
    await scratchDatabaseDdl(connection, "drop", scratchDatabase).catch(() => undefined);
  }
}

/** Creates or drops the scratch database on the connection's server, in its engine's words. */
async function scratchDatabaseDdl(
  connection: DatabaseConnection,
  what: "create" | "drop",
  name: string,
): Promise<void> {
  if (isMysql(connection)) {
    const sql =
      what === "create"
        ? `CREATE DATABASE ${quoteMysqlIdentifier(name)}`
        : `DROP DATABASE IF EXISTS ${quoteMysqlIdentifier(name)}`;
    await withMysql(connection, (c) => c.query(sql));
    return;
  }
  const sql =
    what === "create"
      ? `CREATE DATABASE ${escapeIdentifier(name)} TEMPLATE template0`
      : `DROP DATABASE IF EXISTS ${escapeIdentifier(name)} WITH (FORCE)`;
  await withClient(connection, (c) => c.query(sql));
}
