import type * as awsTypes from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import { takePostgresBackup, type BackupResult } from "../engines/backup";
import { userTables, withClient, type PgConnection } from "../engines/postgres";
import { RunOnce, runOnceProvider } from "./runOnce";
import type { PgConnectionInput } from "./steps";
import { STEPS } from "./tokens";

/** Where to copy each backup off the machine. */
export interface OffsiteCopyArgs {
  readonly bucket: string;
  /** Key prefix; the stack name and file name follow. */
  readonly prefix: string;
  readonly region: string;
}

export interface DatabaseBackupArgs {
  readonly connection: PgConnectionInput;
  /** Backup root folder; files go to `<dir>/<stack>/`. */
  readonly dir: string;
  readonly stack: string;
  /** The release id, in the file name. */
  readonly release: string;
  /** The release digest: one backup per release content, taken again only when it changes. */
  readonly digest: string;
  /** A smaller dump fails verification. */
  readonly minBytes: number;
  /** Tables the dump must list besides every table the database has when the dump starts. */
  readonly expectTables: readonly string[];
  /** Restore into a scratch database and compare row counts. */
  readonly restoreTest: boolean;
  /** Newest backups of this stack to keep; 0 keeps all. */
  readonly keep: number;
  /** Releases whose newest backup retention keeps whatever its age (a rollback's undone release). */
  readonly protectReleases: readonly string[];
  /** Copy each backup to S3. @default no offsite copy */
  readonly offsite?: OffsiteCopyArgs;
}

type BackupInputs = Omit<DatabaseBackupArgs, "connection" | "offsite" | "digest" | "protectReleases"> & {
  connection: PgConnection;
  /** Steers retention without being a reason to take the backup again. */
  policy: { protectReleases: string[] };
};

const provider = runOnceProvider(async (inputs: BackupInputs, progress) => {
  // A dump must hold every user table the database has when it starts, besides the expected ones.
  const present = await withClient(inputs.connection, async (client) =>
    (await userTables(client)).map((t) => `${t.schema}.${t.name}`),
  );
  return takePostgresBackup({
    ...inputs,
    expectTables: [...new Set([...present, ...inputs.expectTables])],
    protectReleases: inputs.policy.protectReleases,
    log: progress,
  });
});

/**
 * A verified PostgreSQL backup taken once per release before the schema changes: custom-format
 * dump, size floor, `pg_restore --list` showing every table, SHA-256, optionally a restore test.
 * The file is never deleted by a replace or a destroy; retention keeps the newest N per stack.
 */
export class DatabaseBackup extends pulumi.ComponentResource {
  readonly result: pulumi.Output<BackupResult>;
  readonly startedAt: pulumi.Output<string>;
  readonly finishedAt: pulumi.Output<string>;

  constructor(name: string, args: DatabaseBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super(STEPS.backup.token, name, {}, opts);
    const { offsite, protectReleases, ...inputs } = args;
    const run = new RunOnce<BackupResult>(
      STEPS.backup,
      provider,
      `${name}-${STEPS.backup.suffix}`,
      {
        ...inputs,
        dir: path.resolve(args.dir),
        expectTables: [...args.expectTables],
        policy: { protectReleases: [...protectReleases] },
      },
      { parent: this },
    );
    this.result = run.result;
    // Crash leftovers are named where the operator looks: removed ones as info, the rest as warnings
    // with the command that removes them.
    this.result.apply((r) => {
      for (const item of r?.crashLeftovers?.removed ?? []) {
        pulumi.log.info(`backup: removed ${item}, left by a run that was killed`, this);
      }
      for (const l of r?.crashLeftovers?.left ?? []) {
        pulumi.log.warn(`backup: left ${l.item}: ${l.reason}; remove it with: ${l.command}`, this);
      }
    });
    this.startedAt = run.startedAt;
    this.finishedAt = run.finishedAt;

    if (offsite) {
      // Loaded only when a stack copies offsite: the aws package is large and its plugin is only
      // needed where it is used.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const aws = require("@pulumi/aws") as typeof awsTypes;
      const awsProvider = new aws.Provider(`${name}-aws`, { region: offsite.region }, { parent: this });
      new aws.s3.BucketObjectv2(
        `${name}-offsite`,
        {
          bucket: offsite.bucket,
          key: this.result.apply((r) => `${offsite.prefix}${args.stack}/${path.basename(r.path)}`),
          source: this.result.apply((r) => new pulumi.asset.FileAsset(r.path)),
          serverSideEncryption: "AES256",
          metadata: { sha256: this.result.apply((r) => r.sha256), release: args.release },
        },
        // A copy outlives the release that made it: a replace adds a new object, never removes one.
        { parent: this, provider: awsProvider, retainOnDelete: true },
      );
    }
    this.registerOutputs({ result: this.result });
  }
}
