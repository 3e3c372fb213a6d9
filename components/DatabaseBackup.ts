import type * as awsTypes from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import {
  copyBackup,
  requireCopies,
  takeDirectoryArchive,
  takeMysqlBackup,
  takePostgresBackup,
  type ArchiveResult,
  type BackupResult,
  type CopyResult,
  type CopyTarget,
} from "../engines/backup";
import { isMysql, withSession, type DatabaseConnection } from "../engines/database";
import type { SshTarget } from "../engines/ssh";
import { ranResult, RunOnce, runOnceProvider } from "./runOnce";
import type { DatabaseConnectionInput } from "./steps";
import { STEPS } from "./tokens";

/** Where to copy each backup off the machine. */
export interface OffsiteCopyArgs {
  readonly bucket: string;
  /** Key prefix; the stack name and file name follow. */
  readonly prefix: string;
  readonly region: string;
}

/** An SSH host as a component takes it: the private key (from secret config) may be an output. */
export type SshTargetArgs = Omit<SshTarget, "privateKey"> & { readonly privateKey?: pulumi.Input<string> };

/** A place each backup is copied to; the S3 keys and an SSH key come from secret config. */
export type BackupCopyArgs =
  | (Omit<Extract<CopyTarget, { kind: "s3" }>, "accessKeyId" | "secretAccessKey"> & {
      readonly accessKeyId: pulumi.Input<string>;
      readonly secretAccessKey: pulumi.Input<string>;
    })
  | Extract<CopyTarget, { kind: "dir" }>
  | (Omit<Extract<CopyTarget, { kind: "ssh" }>, "privateKey"> & SshTargetArgs);

/** A directory archived with the backup; a host's key comes from secret config. */
export interface DirectoryArchiveArgs {
  readonly name: string;
  /** Absolute path of the directory. */
  readonly path: string;
  /** The host it is on. @default this machine */
  readonly host?: SshTargetArgs;
  readonly excludes: readonly string[];
  /** Fewer regular files fails the archive. */
  readonly minFiles: number;
}

/** One archive's result with the copies made of it. */
export type ArchiveWithCopies = ArchiveResult & { readonly copies?: CopyResult[] };

/** The backup's result with the copies made of it, when the stack copies, and its archives. */
export type BackupWithCopies = BackupResult & {
  readonly copies?: CopyResult[];
  readonly archives?: ArchiveWithCopies[];
};

export interface DatabaseBackupArgs {
  /** PostgreSQL: pg_dump custom format; MySQL: mysqldump --single-transaction. */
  readonly connection: DatabaseConnectionInput;
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
  /** Copy each backup to S3 as a `@pulumi/aws` object. @default no offsite copy */
  readonly offsite?: OffsiteCopyArgs;
  /**
   * Places each verified backup is copied to and read back from during the backup step.
   * @default no copies (the inputs are then the same as before copies existed)
   */
  readonly copies?: readonly BackupCopyArgs[];
  /** Verified copies needed, the local file counting as one. @default every copy and the local file */
  readonly requiredCopies?: number;
  /**
   * Directories archived after the dump, each verified, kept (`keep`) and copied like the dump.
   * @default none (the inputs are then the same as before archives existed)
   */
  readonly archives?: readonly DirectoryArchiveArgs[];
}

type BackupInputs = Omit<
  DatabaseBackupArgs,
  "connection" | "offsite" | "digest" | "protectReleases" | "copies" | "requiredCopies" | "archives"
> & {
  connection: DatabaseConnection;
  copies?: CopyTarget[];
  archives?: (Omit<DirectoryArchiveArgs, "host"> & { host?: SshTarget })[];
  requiredCopies?: number;
  /** Steers retention without being a reason to take the backup again. */
  policy: { protectReleases: string[] };
};

const provider = runOnceProvider(async (inputs: BackupInputs, progress) => {
  // A dump must hold every user table the database has when it starts, besides the expected ones.
  const present = await withSession(inputs.connection, "rollout-backup", (session) => session.tables());
  const { copies, requiredCopies, archives, connection, ...backupInputs } = inputs;
  const options = {
    ...backupInputs,
    expectTables: [...new Set([...present, ...inputs.expectTables])],
    protectReleases: inputs.policy.protectReleases,
    log: progress,
  };
  const backup = isMysql(connection)
    ? await takeMysqlBackup({ ...options, connection })
    : await takePostgresBackup({ ...options, connection });
  // The copies run after each local file is verified; too few verified ones fail the step, so the
  // schema never moves on a backup that exists in fewer places than the stack asks for.
  const copied = async (file: string, sha256: string, group?: string) => {
    if (!copies || copies.length === 0) return undefined;
    const results = await copyBackup({
      file,
      sha256,
      stack: inputs.stack,
      targets: copies,
      ...(group ? { group } : {}),
      protectReleases: inputs.policy.protectReleases,
    });
    requireCopies(file, results, requiredCopies ?? copies.length + 1);
    return results;
  };
  const dumpCopies = await copied(backup.path, backup.sha256);
  const result: BackupWithCopies = dumpCopies ? { ...backup, copies: dumpCopies } : backup;
  if (!archives || archives.length === 0) return result;
  const archived: ArchiveWithCopies[] = [];
  for (const archive of archives) {
    const taken = await takeDirectoryArchive({
      ...archive,
      dir: inputs.dir,
      stack: inputs.stack,
      release: inputs.release,
      keep: inputs.keep,
      protectReleases: inputs.policy.protectReleases,
      log: progress,
    });
    const archiveCopies = await copied(taken.path, taken.sha256, `archives/${archive.name}`);
    archived.push(archiveCopies ? { ...taken, copies: archiveCopies } : taken);
  }
  return { ...result, archives: archived };
});

/**
 * A verified database backup taken once per release before the schema changes. PostgreSQL:
 * custom-format dump, size floor, `pg_restore --list` showing every table. MySQL: mysqldump with
 * its completion line and a `CREATE TABLE` for every table. Both: SHA-256, optionally a restore test.
 * The file is never deleted by a replace or a destroy; retention keeps the newest N per stack.
 */
export class DatabaseBackup extends pulumi.ComponentResource {
  readonly result: pulumi.Output<BackupWithCopies>;
  readonly startedAt: pulumi.Output<string>;
  readonly finishedAt: pulumi.Output<string>;

  constructor(name: string, args: DatabaseBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super(STEPS.backup.token, name, {}, opts);
    const { offsite, protectReleases, copies, requiredCopies, archives, ...inputs } = args;
    const run = new RunOnce<BackupWithCopies>(
      STEPS.backup,
      provider,
      `${name}-${STEPS.backup.suffix}`,
      {
        ...inputs,
        dir: path.resolve(args.dir),
        expectTables: [...args.expectTables],
        policy: { protectReleases: [...protectReleases] },
        // Only a stack with copies has these inputs: a stack without them keeps its recorded inputs.
        ...(copies && copies.length > 0
          ? {
              copies: copies.map((c) => {
                switch (c.kind) {
                  case "dir":
                    return { ...c, path: path.resolve(c.path) };
                  case "ssh":
                    return c.privateKey === undefined ? c : { ...c, privateKey: pulumi.secret(c.privateKey) };
                  case "s3":
                    return {
                      ...c,
                      accessKeyId: pulumi.secret(c.accessKeyId),
                      secretAccessKey: pulumi.secret(c.secretAccessKey),
                    };
                }
              }),
              requiredCopies: requiredCopies ?? copies.length + 1,
            }
          : {}),
        ...(archives && archives.length > 0
          ? {
              archives: archives.map((a) => ({
                ...a,
                excludes: [...a.excludes],
                ...(a.host?.privateKey !== undefined
                  ? { host: { ...a.host, privateKey: pulumi.secret(a.host.privateKey) } }
                  : {}),
              })),
            }
          : {}),
      },
      { parent: this },
    );
    this.result = ranResult(run);
    // Crash leftovers are named where the operator looks: removed ones as info, the rest as warnings
    // with the command that removes them.
    this.result.apply((r) => {
      for (const item of r?.crashLeftovers?.removed ?? []) {
        pulumi.log.info(`backup: removed ${item}, left by a run that was killed`, this);
      }
      for (const l of r?.crashLeftovers?.left ?? []) {
        pulumi.log.warn(`backup: left ${l.item}: ${l.reason}; remove it with: ${l.command}`, this);
      }
      for (const c of [...(r?.copies ?? []), ...(r?.archives ?? []).flatMap((a) => a.copies ?? [])]) {
        if (c.verified) pulumi.log.info(`backup: copy ${c.key} in ${c.location} verified`, this);
        else pulumi.log.warn(`backup: copy ${c.key} in ${c.location} failed: ${c.error}`, this);
      }
      for (const a of r?.archives ?? []) {
        pulumi.log.info(
          `backup: archive ${a.name} of ${a.source} verified (${a.files} files, ${a.fileBytes} bytes) at ${a.path}`,
          this,
        );
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
