// Restoring a backup as part of a rollback: verified first, then restored under the migration
// lock, so no rollout migrates the database while it is replaced. No Pulumi inside.
import { acquireLock, advisoryLockKey } from "../migrations/runner";
import { connect, type PgConnection } from "../postgres";
import { quiet, type Progress } from "../progress";
import { restoreDirectoryArchive, type ArchiveRestoreOptions, type ArchiveRestoreResult } from "./archive";
import { restorePostgresBackup, type RestoreResult } from "./postgres";

export interface LockedRestoreOptions {
  readonly connection: PgConnection;
  /** The `.dump` file and the SHA-256 recorded when it was taken. */
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
 * Restores the backup (pg_restore in one transaction: a failure leaves the database as it was)
 * while holding the migration lock; the checksum is verified before anything is touched.
 */
export async function restoreUnderMigrationLock(options: LockedRestoreOptions): Promise<LockedRestoreResult> {
  const restore = async (): Promise<LockedRestoreResult> => {
    const restored = await restorePostgresBackup({
      connection: options.connection,
      path: options.path,
      expectedSha256: options.sha256,
      log: options.log,
    });
    if (!options.archives || options.archives.length === 0) return restored;
    const archives: ArchiveRestoreResult[] = [];
    for (const archive of options.archives)
      archives.push(await restoreDirectoryArchive({ ...archive, log: options.log }));
    return { ...restored, archives };
  };
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
