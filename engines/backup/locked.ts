// Restoring a backup as part of a rollback: verified first, then restored under the migration
// lock, so no rollout migrates the database while it is replaced. No Pulumi inside.
import { isMysql, type DatabaseConnection } from "../database";
import { acquireMysqlLock, mysqlLockName } from "../migrations/mysqlRunner";
import { acquireLock, advisoryLockKey } from "../migrations/runner";
import { connectMysql, type MysqlConnection } from "../mysql";
import { connect, type PgConnection } from "../postgres";
import { quiet, type Progress } from "../progress";
import { restoreMysqlBackup } from "./mysql";
import { restorePostgresBackup, type RestoreResult } from "./postgres";

export interface LockedRestoreOptions {
  readonly connection: DatabaseConnection;
  /** The `.dump` file and the SHA-256 recorded when it was taken. */
  readonly path: string;
  readonly sha256: string;
  /** The migrations record table, whose lock keeps migrations out; none when the stack has no migrations. */
  readonly table?: string;
  readonly lockTimeoutSeconds: number;
  /** Receives progress lines (lock waits, the restore's steps). */
  readonly log?: Progress;
}

/**
 * Restores the backup while holding the migration lock; the checksum is verified before anything
 * is touched. PostgreSQL: pg_restore in one transaction, so a failure leaves the database as it was.
 * MySQL: the dump through the client, table by table (see restoreMysqlBackup).
 */
export async function restoreUnderMigrationLock(options: LockedRestoreOptions): Promise<RestoreResult> {
  const { connection } = options;
  if (isMysql(connection)) return restoreMysqlLocked({ ...options, connection });
  return restorePostgresLocked({ ...options, connection });
}

async function restoreMysqlLocked(
  options: LockedRestoreOptions & { connection: MysqlConnection },
): Promise<RestoreResult> {
  const restore = () =>
    restoreMysqlBackup({
      connection: options.connection,
      path: options.path,
      expectedSha256: options.sha256,
      log: options.log,
    });
  if (options.table === undefined) return restore();
  const client = await connectMysql(options.connection);
  const lock = mysqlLockName(options.connection.database, options.table);
  try {
    await acquireMysqlLock(
      client,
      lock,
      options.connection.database,
      options.table,
      options.lockTimeoutSeconds,
      options.log ?? quiet,
    );
    try {
      return await restore();
    } finally {
      await client.query("SELECT RELEASE_LOCK(?)", [lock]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function restorePostgresLocked(
  options: LockedRestoreOptions & { connection: PgConnection },
): Promise<RestoreResult> {
  const restore = () =>
    restorePostgresBackup({
      connection: options.connection,
      path: options.path,
      expectedSha256: options.sha256,
      log: options.log,
    });
  if (options.table === undefined) return restore();
  const client = await connect(options.connection, { applicationName: "rollout restore" });
  const key = advisoryLockKey(options.table);
  try {
    await acquireLock(client, key, options.table, options.lockTimeoutSeconds, options.log ?? quiet);
    try {
      return await restore();
    } finally {
      await client.query("SELECT pg_advisory_unlock($1, $2)", key).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
