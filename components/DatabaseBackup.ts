import type * as awsTypes from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import { Client } from "pg";
import { takePostgresBackup, type BackupResult } from "./backup";
import { RunOnce, runOnceProvider } from "./dynamic/runOnce";
import { clientConfig, type PgConnection, type PgConnectionInput } from "./pg";

/** Where to copy each backup off the machine. */
export interface OffsiteCopyArgs {
  readonly bucket: string;
  /** Key prefix; the stack name and file name follow. @default "" */
  readonly prefix?: string;
  readonly region: string;
}

export interface DatabaseBackupArgs {
  readonly connection: PgConnectionInput;
  /** Backup root folder; files go to `<dir>/<stack>/`. */
  readonly dir: string;
  readonly stack: string;
  /** The release id: one backup per release, taken again only when it changes. */
  readonly release: string;
  /** A smaller dump fails verification. @default 1024 */
  readonly minBytes?: number;
  /** Tables the dump must list besides every table the database has when the dump starts. @default none */
  readonly expectTables?: readonly string[];
  /** Restore into a scratch database and compare row counts. @default false */
  readonly restoreTest?: boolean;
  /** Newest backups of this stack to keep; 0 keeps all. @default 10 */
  readonly keep?: number;
  /** Copy each backup to S3. @default no offsite copy */
  readonly offsite?: OffsiteCopyArgs;
}

interface BackupInputs extends Record<string, unknown> {
  connection: PgConnection;
  dir: string;
  stack: string;
  release: string;
  minBytes: number;
  expectTables: string[];
  restoreTest: boolean;
  keep: number;
}

/** Every user table of the database, as `schema.table`: a dump must hold all of them. */
async function listTables(connection: PgConnection): Promise<string[]> {
  const client = new Client({ ...clientConfig(connection), connectionTimeoutMillis: 10_000 });
  await client.connect();
  try {
    // Tables of extensions and other sessions' temporary tables are not dumped, so not expected.
    const { rows } = await client.query<{ t: string }>(
      `SELECT n.nspname || '.' || c.relname AS t
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE c.relkind IN ('r', 'p')
          AND n.nspname NOT IN ('pg_catalog', 'information_schema')
          AND n.nspname NOT LIKE 'pg\\_temp\\_%' AND n.nspname NOT LIKE 'pg\\_toast%'
          AND NOT EXISTS (SELECT 1 FROM pg_depend d
                           WHERE d.classid = 'pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e')
        ORDER BY 1`,
    );
    return rows.map((r) => r.t);
  } finally {
    await client.end();
  }
}

const provider = runOnceProvider(async (inputs: BackupInputs) => {
  const present = await listTables(inputs.connection);
  return takePostgresBackup({
    connection: inputs.connection,
    dir: inputs.dir,
    stack: inputs.stack,
    release: inputs.release,
    minBytes: inputs.minBytes,
    expectTables: [...new Set([...present, ...inputs.expectTables])],
    restoreTest: inputs.restoreTest,
    keep: inputs.keep,
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
  /** S3 key of the offsite copy, when configured. */
  readonly offsiteKey: pulumi.Output<string> | undefined;

  constructor(name: string, args: DatabaseBackupArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollout:backup:DatabaseBackup", name, {}, opts);
    const inputs: Record<string, pulumi.Input<unknown>> = {
      connection: args.connection,
      dir: path.resolve(args.dir),
      stack: args.stack,
      release: args.release,
      minBytes: args.minBytes ?? 1024,
      expectTables: [...(args.expectTables ?? [])],
      restoreTest: args.restoreTest ?? false,
      keep: args.keep ?? 10,
    };
    const run = new RunOnce<BackupResult>("DatabaseBackup", provider, `${name}-dump`, inputs, {
      parent: this,
    });
    this.result = run.result;
    this.startedAt = run.startedAt;
    this.finishedAt = run.finishedAt;

    if (args.offsite) {
      // Loaded only when a stack copies offsite: the aws package is large and its plugin is only
      // needed where it is used.
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      const aws = require("@pulumi/aws") as typeof awsTypes;
      const { bucket, region } = args.offsite;
      const prefix = args.offsite.prefix ?? "";
      const awsProvider = new aws.Provider(`${name}-aws`, { region }, { parent: this });
      const key = this.result.apply((r) => `${prefix}${args.stack}/${path.basename(r.path)}`);
      const copy = new aws.s3.BucketObjectv2(
        `${name}-offsite`,
        {
          bucket,
          key,
          source: this.result.apply((r) => new pulumi.asset.FileAsset(r.path)),
          serverSideEncryption: "AES256",
          metadata: { sha256: this.result.apply((r) => r.sha256), release: args.release },
        },
        // A copy outlives the release that made it: a replace adds a new object, never removes one.
        { parent: this, provider: awsProvider, retainOnDelete: true },
      );
      this.offsiteKey = copy.key;
    }
    this.registerOutputs({ result: this.result, offsiteKey: this.offsiteKey });
  }
}
