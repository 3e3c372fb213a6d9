// Restoring a backup as part of a rollback: verified first, then restored under the migration
// lock, so no rollout migrates the database while it is replaced. No Pulumi inside.
import { isMysql, type DatabaseConnection } from "../database";
import { acquireMysqlLock, mysqlLockName } from "../migrations/mysqlRunner";
import { acquireLock, advisoryLockKey } from "../migrations/runner";
import { connectMysql, type MysqlConnection } from "../mysql";
import { connect, type PgConnection } from "../postgres";
import { quiet, type Progress } from "../progress";
import { restoreDirectoryArchive, type ArchiveRestoreOptions, type ArchiveRestoreResult } from "./archive";
import { restoreMysqlBackup } from "./mysql";
import { restorePostgresBackup, type RestoreResult } from "./postgres";

export interface LockedRestoreOptions {
  readonly connection: DatabaseConnection;
  /** The dump file and the SHA-256 recorded when it was taken. */
  readonly path: string;
  readonly sha256: string;
  /** The migrations record table, whose lock keeps migrations out; none when the stack has no migrations. */
  readonly table?: string;
  readonly lockTimeoutSeconds: number;
  /** Directory archives taken with the backup, restored after the database, one after the other. */
  readonly archives?: readonly Omit<ArchiveRestoreOptions, "log">[];
  /** Receives progress lines (lock waits, the restore's steps). */
  readonly log?: Progress;
}

/** The database restore and, when the backup had them, its directory archives. */
export type LockedRestoreResult = RestoreResult & { readonly archives?: ArchiveRestoreResult[] };

/**
 * Restores the backup while holding the migration lock, then its directory archives; each
 * checksum is verified before anything is touched. PostgreSQL: pg_restore in one transaction, so a
 * failure leaves the database as it was. MySQL: the dump through the client, table by table (see
 * restoreMysqlBackup).
 */
export async function restoreUnderMigrationLock(options: LockedRestoreOptions): Promise<LockedRestoreResult> {
  const { connection } = options;
  const restore = async (): Promise<LockedRestoreResult> => {
    const restoreOptions = { path: options.path, expectedSha256: options.sha256, log: options.log };
    const restored = isMysql(connection)
      ? await restoreMysqlBackup({ ...restoreOptions, connection })
      : await restorePostgresBackup({ ...restoreOptions, connection });
    if (!options.archives || options.archives.length === 0) return restored;
    const archives: ArchiveRestoreResult[] = [];
    for (const archive of options.archives)
      archives.push(await restoreDirectoryArchive({ ...archive, log: options.log }));
    return { ...restored, archives };
  };
  if (options.table === undefined) return restore();
  const log = options.log ?? quiet;
  return isMysql(connection)
    ? underMysqlLock(connection, options.table, options.lockTimeoutSeconds, log, restore)
    : underPostgresLock(connection, options.table, options.lockTimeoutSeconds, log, restore);
}

async function underMysqlLock<T>(
  connection: MysqlConnection,
  table: string,
  lockTimeoutSeconds: number,
  log: Progress,
  work: () => Promise<T>,
): Promise<T> {
  const client = await connectMysql(connection);
  const lock = mysqlLockName(connection.database, table);
  try {
    await acquireMysqlLock(client, lock, connection.database, table, lockTimeoutSeconds, log);
    try {
      return await work();
    } finally {
      await client.query("SELECT RELEASE_LOCK(?)", [lock]).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function underPostgresLock<T>(
  connection: PgConnection,
  table: string,
  lockTimeoutSeconds: number,
  log: Progress,
  work: () => Promise<T>,
): Promise<T> {
  const client = await connect(connection, { applicationName: "rollout restore" });
  const key = advisoryLockKey(table);
  try {
    await acquireLock(client, key, table, lockTimeoutSeconds, log);
    try {
      return await work();
    } finally {
      await client.query("SELECT pg_advisory_unlock($1, $2)", key).catch(() => undefined);
    }
  } finally {
    await client.end().catch(() => undefined);
  }
}
