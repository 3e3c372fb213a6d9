// The shape of stack config and the single home of its defaults: every optional setting's default
// is written here and nowhere else (engines take their values as required arguments). Pure.
import { z } from "zod";
import { WEEKDAYS, windowIssues } from "../engines/gates/maintenanceWindow";
import { DATABASE_ENGINES } from "../engines/database";
import { SSL_MODES, type PgSslMode } from "../engines/postgres";

/** The config namespace (the project name in Pulumi.yaml). */
export const CONFIG_NAMESPACE = "rollout";

const name = z
  .string()
  .regex(/^[a-z][a-z0-9_-]{0,62}$/, "must start with a letter and use only a-z, 0-9, '-' and '_'");
const sqlIdentifier = z
  .string()
  .regex(/^[a-z_][a-z0-9_]{0,62}$/, "must be a lower-case SQL identifier (a-z, 0-9, '_')");
const port = z.number().int().min(1).max(65535);
const loopbackOrName = z.string().min(1);
const envName = z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an upper-case env name");

const releaseSchema = z
  .object({
    /** Label of the release; appears in history, notifications and the report. */
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 letters, digits, '.', '_' or '-'"),
    /**
     * The image to run: `name:tag` built from `app.build`, or a registry reference / digest. A tag or
     * a digest is required and `latest` is refused: a release must name the content it deploys, so
     * that rollback and approvals mean one image.
     */
    image: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/, "must be an image reference such as sample-app:1.1.0")
      .superRefine((image, ctx) => {
        const problem = imagePinProblem(image);
        if (problem) ctx.addIssue({ code: "custom", message: problem, input: image });
      }),
    /**
     * Apply migrations up to and including this version (or revert down to it): a version of any
     * width (`"0004"`, `"20240101120000"`, `"1.2"`), a migration's name (a Sqitch change), or
     * `"none"` (also `"0000"`) for no migrations applied.
     */
    schemaTarget: z
      .string()
      .regex(
        /^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/,
        'must be a migration version such as "0004" or "20240101120000", a migration name, or "none" for no migrations',
      )
      .optional(),
  })
  .strict();

/** Port and admin user when a stack does not set them, by engine. */
const ENGINE_DEFAULTS = {
  postgresql: { port: 5432, adminUser: "postgres" },
  mysql: { port: 3306, adminUser: "root" },
} as const;

/** The target database as the program uses it: PostgreSQL's with its TLS mode, or MySQL's. */
export type DatabaseConfig =
  | {
      readonly engine: "postgresql";
      readonly host: string;
      readonly port: number;
      readonly database: string;
      readonly adminUser: string;
      readonly sslMode: PgSslMode;
    }
  | {
      readonly engine: "mysql";
      readonly host: string;
      readonly port: number;
      readonly database: string;
      readonly adminUser: string;
    };

const databaseSchema = z
  .object({
    /** `postgresql` (default) or `mysql` (MySQL and MariaDB). */
    engine: z.enum(DATABASE_ENGINES).default("postgresql"),
    host: loopbackOrName.default("127.0.0.1"),
    /** Default: 5432 for postgresql, 3306 for mysql. */
    port: port.optional(),
    database: sqlIdentifier,
    /** Default: postgres for postgresql, root for mysql. */
    adminUser: sqlIdentifier.optional(),
    /** libpq's sslmode; PostgreSQL only. Default: require. */
    sslMode: z.enum(SSL_MODES).optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    if (d.engine === "mysql" && d.sslMode !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["sslMode"],
        input: d.sslMode,
        message:
          'is a PostgreSQL setting (libpq sslmode) and means nothing for database.engine "mysql", whose connections do not use TLS here',
        params: { fix: "remove it, or set rollout:database.engine to postgresql if that is the target" },
      });
    }
  })
  .transform((d): DatabaseConfig => {
    const defaults = ENGINE_DEFAULTS[d.engine];
    const common = {
      host: d.host,
      port: d.port ?? defaults.port,
      database: d.database,
      adminUser: d.adminUser ?? defaults.adminUser,
    };
    return d.engine === "mysql"
      ? { engine: "mysql", ...common }
      : { engine: "postgresql", ...common, sslMode: d.sslMode ?? "require" };
  });

const appSchema = z
  .object({
    /** Container and resource name prefix. */
    name,
    /** Build the image from a local context instead of pulling `release.image`. */
    build: z
      .object({
        context: z.string().min(1),
        dockerfile: z.string().min(1).default("Dockerfile"),
        /** Command that prepares the context before the image build (runs in the context folder). */
        prepareCommand: z.string().min(1).optional(),
        /** Files (globs relative to the context) whose content decides when `prepareCommand` reruns. */
        prepareInputs: z.array(z.string().min(1)).default([]),
        baseImage: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** Port the service listens on (host networking). */
    port,
    /** The database role the service logs in as; created and granted by the rollout. */
    databaseRole: sqlIdentifier,
    restart: z.enum(["no", "on-failure", "always", "unless-stopped"]).default("unless-stopped"),
    env: z.record(envName, z.string()).default({}),
    /** Env variables filled from secret config keys: env name -> secret key name. */
    secretEnv: z.record(envName, z.string().min(1)).default({}),
    /** Named volume mounted into the service (e.g. for the maintenance flag), created once and kept. */
    stateVolume: z
      .object({ containerPath: z.string().startsWith("/") })
      .strict()
      .optional(),
  })
  .strict();

const httpCheckSchema = z
  .object({
    name,
    url: z.url({ protocol: /^https?$/ }),
    method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]).default("GET"),
    expectStatus: z.number().int().min(100).max(599).default(200),
    /** JSON fields that must be present with these values; `{version}` expands to the release's version. */
    expectJson: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
    expectBodyContains: z.string().optional(),
    latencyBudgetMs: z.number().int().positive().default(1000),
    retries: z.number().int().min(0).max(100).default(10),
    retryIntervalMs: z.number().int().min(0).default(1000),
    deadlineSeconds: z.number().positive().max(3600).default(60),
  })
  .strict();

const sqlCheckSchema = z
  .object({
    name,
    sql: z.string().min(1),
    /** Expected first value of the first row, as text. */
    expect: z.union([z.string(), z.number(), z.boolean()]).transform(String),
    timeoutSeconds: z.number().min(0).max(3600).default(0),
    intervalMs: z.number().int().min(10).default(1000),
  })
  .strict();

const dockerSchema = z
  .object({
    /** Docker host: `unix:///var/run/docker.sock`, `ssh://user@host`, `tcp://127.0.0.1:2376`. */
    host: z.string().regex(/^(unix|ssh|tcp):\/\//, "must start with unix://, ssh:// or tcp://"),
  })
  .strict();

const weekday = z.enum(WEEKDAYS);
const windowSchema = z
  .object({
    /** Refuse `up` outside the window (preview only warns). */
    enforce: z.boolean().default(true),
    days: z.array(weekday).min(1),
    start: z.string(),
    end: z.string(),
    timeZone: z.string(),
  })
  .strict()
  .superRefine((w, ctx) => {
    for (const issue of windowIssues(w)) {
      ctx.addIssue({ code: "custom", message: issue.message, path: [issue.field], input: w[issue.field] });
    }
  });

const approvalsSchema = z
  .object({
    required: z.array(name).default([]),
    /**
     * Approvals name the release and its digest (printed by preview): an approval of other
     * content under the same id does not count.
     */
    given: z
      .array(
        z
          .object({
            role: name,
            by: z.string().min(1),
            release: z.string().min(1),
            digest: z
              .string()
              .regex(/^[0-9a-f]{12,64}$/, "must be the release digest preview prints (12-64 hex digits)"),
          })
          .strict(),
      )
      .default([]),
  })
  .strict();

/**
 * Newest backups of a stack to keep in one place; 0 keeps all. At least 2, so the backup taken
 * before the release being rolled back survives the rollback's own backup.
 */
const keepBackups = z
  .number()
  .int()
  .min(0)
  .refine(
    (keep) => keep === 0 || keep >= 2,
    "must be 0 (keep all) or at least 2, so the backup taken before the current release outlives the next one",
  )
  .default(10);

/** Another place each verified backup is copied to, read back and verified there. */
const backupCopySchema = z.discriminatedUnion(
  "kind",
  [
    z
      .object({
        kind: z.literal("s3"),
        /** An S3-compatible server's URL (path-style requests); leave out for AWS. */
        endpoint: z.url({ protocol: /^https?$/ }).optional(),
        region: z.string().min(1),
        bucket: z.string().min(3),
        /** Key prefix; the stack name and the file name follow. */
        prefix: z.string().default(""),
        /** Names of the secret config keys holding the access key id and the secret access key. */
        accessKeySecret: z.string().min(1).default("s3AccessKey"),
        secretKeySecret: z.string().min(1).default("s3SecretKey"),
        keep: keepBackups,
      })
      .strict(),
    z
      .object({
        kind: z.literal("dir"),
        /** A folder (another disk, a mounted share), relative to the project; one subfolder per stack. */
        path: z.string().min(1),
        keep: keepBackups,
      })
      .strict(),
  ],
  { error: 'kind must be "s3" (a bucket) or "dir" (a folder)' },
);

const backupSchema = z
  .object({
    /** Folder for backup files (relative to the project), one subfolder per stack. */
    dir: z.string().min(1),
    minBytes: z.number().int().min(0).default(1024),
    /** Tables that must be in the dump besides every table the database has at dump time. */
    expectTables: z.array(z.string().min(1)).default([]),
    /** Restore into a scratch database and compare row counts. */
    restoreTest: z.boolean().default(false),
    /** Newest backups of this stack to keep in the local folder; 0 keeps all. */
    keep: keepBackups,
    /** Optional offsite copy to AWS S3 as a Pulumi resource (`@pulumi/aws`). */
    offsite: z
      .object({ bucket: z.string().min(3), prefix: z.string().default(""), region: z.string().min(1) })
      .strict()
      .optional(),
    /** Places each backup is copied to and verified in during the backup step. */
    copies: z.array(backupCopySchema).default([]),
    /**
     * Verified copies a backup needs to count, the local file being one; fewer fails the backup
     * before the schema moves. Default: all of them (the local file and every copy).
     */
    requiredCopies: z.number().int().min(1).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    if (b.requiredCopies !== undefined && b.requiredCopies > b.copies.length + 1) {
      ctx.addIssue({
        code: "custom",
        path: ["requiredCopies"],
        input: b.requiredCopies,
        message: `is more than the ${b.copies.length + 1} copies there are (the local file and ${b.copies.length} in backup.copies)`,
      });
    }
  })
  .transform((b) => ({ ...b, requiredCopies: b.requiredCopies ?? b.copies.length + 1 }));

const migrationsSchema = z
  .object({
    /** Folder of migrations (golang-migrate, Flyway, dbmate or Sqitch layout), relative to the project. */
    dir: z.string().min(1),
    /** How long to wait for another rollout's migration lock (the advisory lock). */
    lockTimeoutSeconds: z.number().int().min(0).max(3600).default(30),
    table: sqlIdentifier.default("rollout_migrations"),
    /**
     * `lock_timeout` of each migration: waiting longer for a table lock (say, behind a long
     * transaction) fails the migration instead of stalling every query queued behind it. 0: none.
     */
    lockTimeoutMs: z.number().int().min(0).max(3_600_000).default(10_000),
    /** `statement_timeout` of each migration's statements. 0: none. */
    statementTimeoutSeconds: z.number().int().min(0).max(86_400).default(900),
    /**
     * Before the real run, apply the pending migrations on a scratch copy of the release's verified
     * backup with their verify queries, revert them, and apply them again. Needs rollout:backup.
     */
    rehearse: z.boolean().default(false),
    /** Refuse a migration with a lint finding unless its file says `-- rollout:allow=<rule>`. */
    requireLintAllow: z.boolean().default(false),
    /** A plain CREATE INDEX is flagged on tables with at least this many rows (estimated). */
    largeTableRows: z.number().int().min(0).default(10_000),
    /** Record migrations up to `to` as applied without running them (a database another tool migrated). */
    baseline: z
      .object({
        to: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.@-]{0,127}$/, "must be a migration version or name"),
        by: z.string().min(1),
        reason: z.string().min(10, "write a reason of at least 10 characters"),
      })
      .strict()
      .optional(),
  })
  .strict();

const maintenanceSchema = z
  .object({
    url: z.url({ protocol: /^https?$/ }),
    onMethod: z.enum(["PUT", "POST", "PATCH"]).default("PUT"),
    offMethod: z.enum(["DELETE", "POST", "PUT", "PATCH"]).default("DELETE"),
    /** Header that lets the rollout's own checks through while maintenance is on; sent with the token. */
    bypassHeader: z.string().min(1).optional(),
    /** A first install has no service to put in maintenance: go on when nothing answers. */
    allowUnreachable: z.boolean().default(false),
    timeoutMs: z.number().int().positive().default(5000),
  })
  .strict();

const secretRef = z.object({ secret: z.string().min(1) }).strict();
const stringOrSecret = z.union([z.string(), secretRef]);
const smokeStepSchema = z
  .object({
    name: z.string().min(1),
    method: z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]).default("GET"),
    path: z.string().startsWith("/"),
    headers: z.record(z.string(), z.string()).optional(),
    body: z.unknown().optional(),
    expectStatus: z.number().int().min(100).max(599),
    expectJson: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).optional(),
    capture: z.record(z.string(), z.string()).optional(),
  })
  .strict();
const smokeTestSchema = z
  .object({
    name,
    baseUrl: z.url({ protocol: /^https?$/ }),
    /** Starting variables; `{secret: key}` takes the value of a secret config key. */
    vars: z.record(z.string(), stringOrSecret).default({}),
    steps: z.array(smokeStepSchema).min(1),
    stepTimeoutMs: z.number().int().positive().default(5000),
  })
  .strict();

const soakSchema = z
  .object({
    durationSeconds: z.number().min(1).max(3600),
    intervalMs: z.number().int().min(50).default(1000),
    maxErrorRate: z.number().min(0).max(1).default(0.05),
    maxP95Ms: z.number().int().positive().default(1000),
    requestTimeoutMs: z.number().int().positive().default(5000),
  })
  .strict();

const preflightSchema = z
  .object({
    /** Health URL of the release running now; checked before anything changes. */
    currentHealthUrl: z.url({ protocol: /^https?$/ }).optional(),
    /** Go on when nothing answers at currentHealthUrl (a first install). */
    allowNoCurrentService: z.boolean().default(false),
    /**
     * SQL that must hold before starting, polled until its timeout. A gate applies to forward
     * releases only unless `appliesTo` is "always": a rollback is an emergency path, and a gate such
     * as "no active sessions" would hold it up while users wait.
     */
    gates: z
      .array(sqlCheckSchema.safeExtend({ appliesTo: z.enum(["forward", "always"]).default("forward") }))
      .default([]),
  })
  .strict();

const notifySchema = z
  .object({
    /** Name of the secret config key holding the webhook URL. */
    webhookSecret: z.string().min(1).default("webhookUrl"),
    timeoutMs: z.number().int().positive().default(5000),
  })
  .strict();

const reportSchema = z
  .object({
    /**
     * Folder of the report files (`<release>-<time>.md` and `.html`, `latest.md`, `latest.html`),
     * relative to the project; `{stack}` expands to the stack name.
     */
    dir: z.string().min(1).default("reports/{stack}"),
  })
  .strict();

/**
 * Set by `npm run rollback` for the update that rolls back (and removed once it succeeded), so the
 * history records the rollback as such: which release it undid and which update it went back to.
 */
const rollbackSchema = z
  .object({
    /** The release being rolled back. */
    undoes: z.string().min(1),
    /** The history number of the update whose config this is. */
    toUpdate: z.number().int().positive(),
    /** Why; required outside the maintenance window, lands in the report and the notices. */
    reason: z.string().min(3).optional(),
    /** The image id the target update ran, run again exactly. */
    imageId: z
      .string()
      .regex(/^sha256:[0-9a-f]{64}$/)
      .optional(),
    /** Restore this backup (verified first) before the schema moves, under the migration lock. */
    restoreBackup: z
      .object({ path: z.string().startsWith("/"), sha256: z.string().regex(/^[0-9a-f]{64}$/) })
      .strict()
      .optional(),
  })
  .strict();

/** Schema of every non-secret config key, by key name without the namespace. */
export const configSchema = z.object({
  release: releaseSchema,
  database: databaseSchema,
  app: appSchema,
  docker: dockerSchema.default({ host: "unix:///var/run/docker.sock" }),
  migrations: migrationsSchema.optional(),
  backup: backupSchema.optional(),
  window: windowSchema.optional(),
  /** Lets `up` run outside the window, for one release and until it expires (judged in rollout/gates.ts). */
  override: z
    .object({
      reason: z.string().min(10, "write a reason of at least 10 characters"),
      /** The release id the override is for; any other release is refused. */
      release: z.string().min(1),
      /** ISO time with a zone (`2026-11-24T06:00:00Z`, `...-05:00`) after which it no longer counts. */
      expires: z.iso.datetime({
        offset: true,
        message:
          'must be an ISO time with a zone, e.g. "2026-11-24T06:00:00Z" or "2026-11-24T01:00:00-05:00"',
      }),
    })
    .strict()
    .optional(),
  approvals: approvalsSchema.default({ required: [], given: [] }),
  preflight: preflightSchema.default({ allowNoCurrentService: false, gates: [] }),
  notify: notifySchema.optional(),
  maintenance: maintenanceSchema.optional(),
  checks: z.array(httpCheckSchema).default([]),
  sqlChecks: z.array(sqlCheckSchema).default([]),
  smokeTests: z.array(smokeTestSchema).default([]),
  soak: soakSchema.optional(),
  report: reportSchema.default({ dir: "reports/{stack}" }),
  rollback: rollbackSchema.optional(),
});

/** Secret keys every stack needs; their values never pass through validation, only their presence. */
export const REQUIRED_SECRET_KEYS = ["databasePassword", "appDatabasePassword"] as const;
/** Secret keys a stack may set, referenced from config (`app.secretEnv`, `{secret: key}`, notify). */
export const OPTIONAL_SECRET_KEYS = [
  "maintenanceToken",
  "webhookUrl",
  "smokePassword",
  "s3AccessKey",
  "s3SecretKey",
] as const;
export const SECRET_KEYS = [...REQUIRED_SECRET_KEYS, ...OPTIONAL_SECRET_KEYS] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

export type RolloutConfig = z.output<typeof configSchema>;
export type ReleaseConfig = RolloutConfig["release"];
export type AppConfig = RolloutConfig["app"];
export type HttpCheckConfig = RolloutConfig["checks"][number];
export type SqlCheckConfig = RolloutConfig["sqlChecks"][number];
export type SmokeTestConfig = RolloutConfig["smokeTests"][number];
export type RollbackConfig = NonNullable<RolloutConfig["rollback"]>;
export type BackupCopyConfig = NonNullable<RolloutConfig["backup"]>["copies"][number];

/** A 64-hex sha256 digest at the end of an image reference. */
const IMAGE_DIGEST = /@sha256:[0-9a-f]{64}$/;

/**
 * Why an image reference does not pin its content, or undefined when it does: it needs a tag
 * (`name:1.1.0`) or a digest (`name@sha256:<64 hex>`), and `latest` names no release.
 */
export function imagePinProblem(image: string): string | undefined {
  if (image.includes("@")) {
    return IMAGE_DIGEST.test(image)
      ? undefined
      : "has a digest that is not sha256:<64 hex digits>; copy the digest from `docker inspect` or the registry";
  }
  const tag = imageTag(image);
  if (tag === undefined || tag === "") {
    return `has no tag or digest; name the version, e.g. ${image}:1.1.0, or pin a digest (${image}@sha256:<64 hex>)`;
  }
  if (tag === "latest") {
    return "uses the moving tag `latest`, which names no release; tag the image with its version, or pin a digest";
  }
  return undefined;
}

/** The version part of an image reference (`sample-app:1.1.0` -> `1.1.0`), if it has a tag. */
export function imageTag(image: string): string | undefined {
  if (image.includes("@")) return undefined;
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  return colon === -1 ? undefined : image.slice(colon + 1);
}

/**
 * The thresholds `deploy --watch` judges by: the stack's soak settings, or the soak's defaults when
 * the stack does not soak (taken from the schema, so they are defined once).
 */
export function watchThresholds(
  config: RolloutConfig,
): Omit<NonNullable<RolloutConfig["soak"]>, "durationSeconds"> {
  const soak = config.soak ?? soakSchema.parse({ durationSeconds: 1 });
  return {
    intervalMs: soak.intervalMs,
    maxErrorRate: soak.maxErrorRate,
    maxP95Ms: soak.maxP95Ms,
    requestTimeoutMs: soak.requestTimeoutMs,
  };
}
