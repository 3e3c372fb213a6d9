// The shape of stack config and the single home of its defaults: every optional setting's default
// is written here and nowhere else (engines take their values as required arguments). Pure.
import { z } from "zod";
import { COMMAND_POINTS, patternProblem } from "../engines/commands";
import { JSON_TYPES } from "../engines/checks/match";
import { WEEKDAYS, windowIssues } from "../engines/gates/maintenanceWindow";
import { DATABASE_ENGINES } from "../engines/database";
import { dockerHostProblems } from "../engines/dockerHost";
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

/** A secret's name: the `<name>` of `rollout:secrets.<name>`, or one of SECRET_KEYS. */
export const SECRET_NAME = /^[A-Za-z][A-Za-z0-9_-]{0,62}$/;
const secretName = z
  .string()
  .regex(SECRET_NAME, "must be a secret name: a letter, then up to 62 letters, digits, '_' or '-'");
/** `{secret: name}`: the value of a secret, which stays secret wherever it goes. */
const secretRef = z.object({ secret: secretName }).strict();
/** A plain value, in which `{secret:NAME}` stands for a secret's value, or a `{secret: name}` reference. */
const stringOrSecret = z.union([z.string(), secretRef]);
const httpMethod = z.enum(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"]);

function validRegex(pattern: string): boolean {
  try {
    new RegExp(pattern);
    return true;
  } catch {
    return false;
  }
}

/** What a JSON field must be: a plain value (equality) or a matcher whose conditions must all hold. */
const fieldExpectation = z.union(
  [
    z.string(),
    z.number(),
    z.boolean(),
    z.null(),
    z
      .object({
        type: z.enum(JSON_TYPES).optional(),
        regex: z.string().min(1).refine(validRegex, "must be a valid regular expression").optional(),
        minLength: z.number().int().min(0).optional(),
        exists: z.boolean().optional(),
        equals: z.unknown().optional(),
      })
      .strict()
      .refine(
        (m) => Object.keys(m).length > 0,
        "name at least one of type, regex, minLength, exists, equals",
      ),
  ],
  {
    error:
      'must be a value to equal, or a matcher: {type: string|number|boolean|array|object|null}, {regex: "..."}, {minLength: N}, {exists: true|false} or {equals: <any JSON>}',
  },
);
/** JSON fields by dotted path (`data.items`, `items.0.id`) and what each must be. */
const expectJsonSchema = z.record(z.string().min(1), fieldExpectation);
/** Text the body must contain: one string or several. */
const bodyContains = z.union([
  z
    .string()
    .min(1)
    .transform((t) => [t]),
  z.array(z.string().min(1)),
]);

/** An image reference that names its content: a tag other than `latest`, or a digest. */
const pinnedImage = z
  .string()
  .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/, "must be an image reference such as sample-app:1.1.0")
  .superRefine((image, ctx) => {
    const problem = imagePinProblem(image);
    if (problem) ctx.addIssue({ code: "custom", message: problem, input: image });
  });

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
    image: pinnedImage,
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

/** The names of this machine, where a connection without TLS stays off the network. */
const LOOPBACK_HOSTS = ["127.0.0.1", "localhost", "::1"];

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
    if (d.engine === "mysql" && !LOOPBACK_HOSTS.includes(d.host)) {
      ctx.addIssue({
        code: "custom",
        path: ["host"],
        input: d.host,
        message:
          "is not this machine, and MySQL connections do not use TLS yet: the admin and app passwords and every dumped row would cross the network in plain text",
        params: {
          fix: "run the rollout on the database's machine (host 127.0.0.1), or reach it through an SSH tunnel (ssh -L 3306:127.0.0.1:3306 ...) and set host to 127.0.0.1",
        },
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

/** Building an image from a local context instead of pulling it. */
const imageBuildSchema = z
  .object({
    context: z.string().min(1),
    dockerfile: z.string().min(1).default("Dockerfile"),
    /** Command that prepares the context before the image build (runs in the context folder). */
    prepareCommand: z.string().min(1).optional(),
    /** Files (globs relative to the context) whose content decides when `prepareCommand` reruns. */
    prepareInputs: z.array(z.string().min(1)).default([]),
    baseImage: z.string().min(1).optional(),
  })
  .strict();

/** A duration as Docker writes it in a health check: whole seconds here. */
const seconds = z.number().int().min(1).max(3600);

/** The container health check Docker runs; a service with one starts its dependants only once healthy. */
const healthcheckSchema = z
  .object({
    /** Run in the container: a shell line (`CMD-SHELL`) or an argument list (`CMD`). */
    command: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]),
    intervalSeconds: seconds.default(2),
    timeoutSeconds: seconds.default(5),
    retries: z.number().int().min(1).max(100).default(3),
    /** Failures in this time after the start do not count. */
    startPeriodSeconds: z.number().int().min(0).max(3600).default(0),
    /** How long the release waits for the service to turn healthy before it fails. */
    waitSeconds: z.number().int().min(1).max(3600).default(120),
  })
  .strict();

/** Other services this one needs started (and healthy, when they have a health check) first. */
const dependsOnSchema = z.array(name).default([]);

const appSchema = z
  .object({
    /** Container and resource name prefix. */
    name,
    /** Build the image from a local context instead of pulling `release.image`. */
    build: imageBuildSchema.optional(),
    /** Port the service listens on (host networking). */
    port,
    /** The database role the service logs in as; created and granted by the rollout. */
    databaseRole: sqlIdentifier,
    restart: z.enum(["no", "on-failure", "always", "unless-stopped"]).default("unless-stopped"),
    env: z.record(envName, z.string()).default({}),
    /** Env variables filled from secrets: env name -> secret name. */
    secretEnv: z.record(envName, secretName).default({}),
    /** Named volume mounted into the service (e.g. for the maintenance flag), created once and kept. */
    stateVolume: z
      .object({ containerPath: z.string().startsWith("/") })
      .strict()
      .optional(),
    /** A container health check; the app's dependants start once it is healthy. */
    healthcheck: healthcheckSchema.optional(),
    /** Services in rollout:services that start (and turn healthy) before the app. */
    dependsOn: dependsOnSchema,
  })
  .strict();

/** The name the release's own service has among the services. */
export const APP_SERVICE = "app";

/**
 * A service beside the app, on the same Docker host and host networking: a datastore, a cache, a
 * frontend, a proxy, a log shipper. Its image is pulled (and kept locally) or built here.
 */
const serviceSchema = z
  .object({
    /** Unique among the services and not `app`; the container is `<app.name>-<name>`. */
    name,
    /** The image: pulled and kept locally, or with `build` the tag given to the built image. */
    image: pinnedImage,
    build: imageBuildSchema.optional(),
    /** The container's command, replacing the image's CMD. */
    command: z.array(z.string()).min(1).optional(),
    /** The container's entrypoint, replacing the image's ENTRYPOINT. */
    entrypoint: z.array(z.string()).min(1).optional(),
    env: z.record(envName, z.string()).default({}),
    /** Env variables filled from secrets: env name -> secret name. */
    secretEnv: z.record(envName, secretName).default({}),
    restart: z.enum(["no", "on-failure", "always", "unless-stopped"]).default("unless-stopped"),
    /** Named volumes (`<app.name>-<name>`), created once and kept across releases. */
    volumes: z
      .array(
        z
          .object({
            name,
            containerPath: z.string().startsWith("/"),
            readOnly: z.boolean().default(false),
          })
          .strict(),
      )
      .default([]),
    healthcheck: healthcheckSchema.optional(),
    dependsOn: dependsOnSchema,
    /**
     * Long-lived (a datastore, a cache): kept running across releases, recreated only when its own
     * settings change, never because the release id did.
     */
    keep: z.boolean().default(false),
  })
  .strict();

/** Service names, the app's among them, that a service's dependsOn may name. */
const servicesSchema = z
  .array(serviceSchema)
  .default([])
  .superRefine((services, ctx) => {
    const seen = new Set<string>([APP_SERVICE]);
    services.forEach((s, i) => {
      if (seen.has(s.name))
        ctx.addIssue({
          code: "custom",
          path: [i, "name"],
          input: s.name,
          message:
            s.name === APP_SERVICE
              ? "is the release's own service (rollout:app); give this one another name"
              : "is used by another service; each service needs its own name",
        });
      seen.add(s.name);
    });
  });

const httpCheckSchema = z
  .object({
    name,
    url: z.url({ protocol: /^https?$/ }),
    method: httpMethod.default("GET"),
    /** Request headers; a value may be `{secret: name}` or hold `{secret:NAME}` (e.g. `Bearer {secret:apiToken}`). */
    headers: z.record(z.string().min(1), stringOrSecret).default({}),
    /** A JSON body; `{secret:NAME}` in its strings stands for a secret. */
    json: z.unknown().optional(),
    /** A form body (`application/x-www-form-urlencoded`); values as in headers. */
    form: z.record(z.string().min(1), stringOrSecret).optional(),
    expectStatus: z.number().int().min(100).max(599).default(200),
    /** JSON fields and what they must be; `{version}` in a plain string expands to the release's version. */
    expectJson: expectJsonSchema.default({}),
    expectBodyContains: bodyContains.optional(),
    latencyBudgetMs: z.number().int().positive().default(1000),
    retries: z.number().int().min(0).max(100).default(10),
    retryIntervalMs: z.number().int().min(0).default(1000),
    deadlineSeconds: z.number().positive().max(3600).default(60),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (c.json !== undefined && c.form !== undefined) {
      ctx.addIssue({ code: "custom", path: ["form"], input: c.form, message: "give json or form, not both" });
    }
  });

/** A WebSocket check: connect, optionally send one message, judge the first reply. */
const wsCheckSchema = z
  .object({
    name,
    url: z.url({ protocol: /^wss?$/, error: "must be a ws:// or wss:// URL" }),
    /** Handshake headers; values as in HTTP checks. */
    headers: z.record(z.string().min(1), stringOrSecret).default({}),
    /** A message sent once connected (an object is sent as JSON); without it, the server's first message is judged. */
    send: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
    expectContains: bodyContains.default([]),
    expectJson: expectJsonSchema.default({}),
    latencyBudgetMs: z.number().int().positive().default(1000),
    timeoutMs: z.number().int().positive().max(600_000).default(5000),
    retries: z.number().int().min(0).max(100).default(5),
    retryIntervalMs: z.number().int().min(0).default(1000),
  })
  .strict();

const sqlValue = z.union([z.string(), z.number(), z.boolean()]).transform(String);
const sqlCheckFields = {
  name,
  sql: z.string().min(1),
  /** Expected first value of the first row, as text. */
  expect: sqlValue,
  timeoutSeconds: z.number().min(0).max(3600).default(0),
  intervalMs: z.number().int().min(10).default(1000),
  /** Each query runs in a read-only transaction with this `statement_timeout`. */
  statementTimeoutMs: z.number().int().min(1).max(3_600_000).default(10_000),
};
const sqlCheckSchema = z.object(sqlCheckFields).strict();
/** A SQL check after the release: one expected value, or the whole expected row set. */
const sqlAfterCheckSchema = z
  .object({
    ...sqlCheckFields,
    expect: sqlValue.optional(),
    /**
     * Every row the query returns, in order: arrays of column values, or objects of column name ->
     * value. Values compare as text (`null` for NULL).
     */
    expectRows: z
      .union([
        z.array(z.array(z.union([sqlValue, z.null()]))),
        z.array(z.record(z.string(), z.union([sqlValue, z.null()]))),
      ])
      .optional(),
  })
  .strict()
  .superRefine((c, ctx) => {
    if ((c.expect === undefined) === (c.expectRows === undefined)) {
      ctx.addIssue({
        code: "custom",
        path: ["expect"],
        input: c.expect,
        message: "give either expect (the first value) or expectRows (every row), one of them",
      });
    }
  });

/** The log check: the release's container logs since the release started. */
const logCheckSchema = z
  .object({
    /** Regular expressions no log line may match. */
    forbid: z
      .array(z.string().min(1).refine(validRegex, "must be a valid regular expression"))
      .default(["ERROR|FATAL"]),
    /** Lines (regular expressions) the logs must contain, each at least once. */
    require: z.array(z.string().min(1).refine(validRegex, "must be a valid regular expression")).default([]),
    /** Seconds to wait for the required lines to appear. */
    timeoutSeconds: z.number().min(0).max(600).default(10),
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

/**
 * A host reached over SSH with the system OpenSSH client: key login only, the host's key checked
 * against a pinned key or a known_hosts file (never trust-on-first-use). Shared by everything that
 * runs on another host.
 */
export const sshTargetSchema = z
  .object({
    /** `user@host`, e.g. `deploy@10.0.0.5`. */
    host: z
      .string()
      .regex(
        /^[a-z_][a-z0-9_.-]{0,31}@[A-Za-z0-9][A-Za-z0-9.-]*$/,
        'must be user@host, e.g. "deploy@10.0.0.5" or "root@backup.example.com"',
      ),
    port: port.default(22),
    /** Name of the secret config key that holds the private key (OpenSSH or PEM text). */
    keySecret: z.string().min(1).optional(),
    /** Path of a private key file on the machine that runs the rollout, instead of `keySecret`. */
    keyFile: z.string().min(1).optional(),
    /** The host's public key, pinned: `ssh-ed25519 AAAA...` (from `ssh-keyscan` or the host's .pub). */
    hostKey: z
      .string()
      .regex(
        /^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-[a-z0-9@.-]+) [A-Za-z0-9+/]+={0,3}$/,
        'must be a public key line such as "ssh-ed25519 AAAAC3Nza..." (type and base64, no host name)',
      )
      .optional(),
    /** A known_hosts file that lists the host, instead of `hostKey`. */
    knownHostsFile: z.string().min(1).optional(),
  })
  .strict();

/** The problems of an SSH target that span its fields: one key source, one host key source. */
function sshTargetIssues(t: z.output<typeof sshTargetSchema>, ctx: z.RefinementCtx): void {
  if ((t.keySecret === undefined) === (t.keyFile === undefined)) {
    ctx.addIssue({
      code: "custom",
      input: t,
      message:
        "give exactly one of keySecret (the name of a secret config key holding the private key, e.g. sshPrivateKey) or keyFile (a key file's path)",
    });
  }
  if ((t.hostKey === undefined) === (t.knownHostsFile === undefined)) {
    ctx.addIssue({
      code: "custom",
      input: t,
      message:
        "give exactly one of hostKey (the host's public key line, from `ssh-keyscan -p PORT HOST`) or knownHostsFile (a known_hosts file listing the host); the host's key is always checked",
    });
  }
}

const dockerSchema = z
  .object({
    /** Docker host: `unix:///var/run/docker.sock`, `ssh://user@host[:port]`, `tcp://host:2376` (with TLS). */
    host: z.string().regex(/^(unix|ssh|tcp):\/\//, "must start with unix://, ssh:// or tcp://"),
    /** The login to an `ssh://` host: a key (secret or file) and the host's key, pinned. */
    ssh: z
      .object({
        /** Name of the secret that holds the private key. */
        keySecret: z.string().min(1).optional(),
        /** Path of a private key file on the machine that runs the rollout, instead of `keySecret`. */
        keyFile: z.string().min(1).optional(),
        /** The host's public key line (`ssh-ed25519 AAAA...`). */
        hostKey: sshTargetSchema.shape.hostKey,
        /** A known_hosts file that lists the host, instead of `hostKey`. */
        knownHostsFile: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
    /** For a `tcp://` host: a folder with ca.pem, cert.pem and key.pem. */
    tlsCertPath: z.string().min(1).optional(),
  })
  .strict()
  .superRefine((d, ctx) => {
    for (const message of dockerHostProblems(d)) ctx.addIssue({ code: "custom", input: d, message });
  });

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
        /** Names of the secrets holding the access key id and the secret access key. */
        accessKeySecret: secretName.default("s3AccessKey"),
        secretKeySecret: secretName.default("s3SecretKey"),
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
    sshTargetSchema
      .safeExtend({
        kind: z.literal("ssh"),
        /** An absolute folder on the host; one subfolder per stack. */
        path: z.string().startsWith("/", "must be an absolute path on the host, e.g. /srv/backups"),
        keep: keepBackups,
      })
      .superRefine(sshTargetIssues),
  ],
  { error: 'kind must be "s3" (a bucket), "dir" (a folder) or "ssh" (a folder on a host over SSH)' },
);

/** A directory archived with each backup: on this machine, or on a host over SSH. */
const archiveSchema = z
  .object({
    /** Names the archive in file paths, the report and copies. */
    name,
    /** Absolute path of the directory. */
    path: z
      .string()
      .startsWith("/", "must be the directory's absolute path, e.g. /srv/app/uploads")
      .refine(
        (p) => p.replace(/\/+$/, "") !== "" && !p.split("/").includes(".."),
        "must name one directory, not / and without `..` (a restore replaces everything in it)",
      ),
    /** The host the directory is on. @default this machine */
    host: sshTargetSchema.superRefine(sshTargetIssues).optional(),
    /** Left out: a pattern without `/` matches a name anywhere, one with `/` a path from the directory. */
    excludes: z
      .array(z.string().min(1).regex(/^[^/]/, "must be relative to the directory (no leading /)"))
      .default([]),
    /** Fewer regular files than this fails the archive (an empty or wrong directory). */
    minFiles: z.number().int().min(0).default(1),
  })
  .strict();

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
     * Directories archived (tar, gzip) after the dump, each verified against the directory and
     * copied like the dump; `--restore-backup` restores them too.
     */
    archives: z.array(archiveSchema).default([]),
    /**
     * Verified copies a backup needs to count, the local file being one; fewer fails the backup
     * before the schema moves. Default: all of them (the local file and every copy).
     */
    requiredCopies: z.number().int().min(1).optional(),
  })
  .strict()
  .superRefine((b, ctx) => {
    b.archives.forEach((a, i) => {
      if (b.archives.findIndex((other) => other.name === a.name) !== i) {
        ctx.addIssue({
          code: "custom",
          path: ["archives", i, "name"],
          input: a.name,
          message: "is the name of an earlier archive too; give each archive its own name",
        });
      }
    });
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
    /** One URL switched on and off by method (PUT on, DELETE off by default)... */
    url: z.url({ protocol: /^https?$/ }).optional(),
    /** ...or separate URLs to switch it on and off (POST to both by default). */
    enableUrl: z.url({ protocol: /^https?$/ }).optional(),
    disableUrl: z.url({ protocol: /^https?$/ }).optional(),
    onMethod: z.enum(["PUT", "POST", "PATCH"]).optional(),
    offMethod: z.enum(["DELETE", "POST", "PUT", "PATCH"]).optional(),
    /** The secret holding the bearer token. */
    tokenSecret: secretName.default("maintenanceToken"),
    /** Header that lets the rollout's own checks through while maintenance is on; sent with the token. */
    bypassHeader: z.string().min(1).optional(),
    /** A first install has no service to put in maintenance: go on when nothing answers. */
    allowUnreachable: z.boolean().default(false),
    timeoutMs: z.number().int().positive().default(5000),
  })
  .strict()
  .superRefine((m, ctx) => {
    const separate = m.enableUrl !== undefined || m.disableUrl !== undefined;
    if (m.url !== undefined && separate) {
      ctx.addIssue({
        code: "custom",
        path: ["url"],
        input: m.url,
        message: "give url (one endpoint) or enableUrl and disableUrl, not both",
      });
    } else if (m.url === undefined && (m.enableUrl === undefined || m.disableUrl === undefined)) {
      const missing = m.enableUrl === undefined ? "enableUrl" : "disableUrl";
      ctx.addIssue({
        code: "custom",
        path: [separate ? missing : "url"],
        input: undefined,
        message: separate
          ? "is needed with the other one: give both enableUrl and disableUrl"
          : "give url (one endpoint switched by method) or enableUrl and disableUrl",
      });
    }
  })
  .transform(({ url, enableUrl, disableUrl, onMethod, offMethod, ...rest }) => ({
    ...rest,
    enableUrl: (enableUrl ?? url) as string,
    disableUrl: (disableUrl ?? url) as string,
    onMethod: onMethod ?? (url ? "PUT" : "POST"),
    offMethod: offMethod ?? (url ? "DELETE" : "POST"),
  }));

const smokeStepSchema = z
  .object({
    name: z.string().min(1),
    method: httpMethod.default("GET"),
    path: z.string().startsWith("/"),
    /** `${var}` expands to a variable; a value may be `{secret: name}` or hold `{secret:NAME}`. */
    headers: z.record(z.string(), stringOrSecret).optional(),
    /** A JSON body. */
    body: z.unknown().optional(),
    /** A form body (`application/x-www-form-urlencoded`), e.g. a form login. */
    form: z.record(z.string().min(1), stringOrSecret).optional(),
    expectStatus: z.number().int().min(100).max(599),
    expectJson: expectJsonSchema.optional(),
    expectBodyContains: bodyContains.optional(),
    /** A slower answer fails the step (e.g. list < 100 ms). */
    latencyBudgetMs: z.number().int().positive().optional(),
    /** Variables to capture: name -> dotted path. Distinct names keep several logins' tokens apart. */
    capture: z.record(z.string(), z.string()).optional(),
  })
  .strict()
  .superRefine((step, ctx) => {
    if (step.body !== undefined && step.form !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: ["form"],
        input: step.form,
        message: "give body or form, not both",
      });
    }
  });
const smokeTestSchema = z
  .object({
    name,
    baseUrl: z.url({ protocol: /^https?$/ }),
    /** Starting variables; `{secret: name}` takes the value of a secret. */
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
    /** Run the smoke flows again every this many seconds while soaking; a failed step ends the soak. */
    smokeEverySeconds: z.number().int().min(1).max(3600).optional(),
    /** Judge rollout:logCheck's forbidden patterns again every this many seconds, and at the end, on every line since the release started. */
    logsEverySeconds: z.number().int().min(1).max(3600).optional(),
    /**
     * Limits relative to the release before, measured on it before maintenance on: its error rate
     * plus `maxErrorRateIncrease`, its p95 times 1 + `maxP95Increase` (not below `p95FloorMs`). Without
     * a running release (a first install), `maxErrorRate` and `maxP95Ms` apply; they also cap the
     * relative limits, so a failing or slow release before never loosens them.
     */
    baseline: z
      .object({
        probes: z.number().int().min(3).max(1000).default(20),
        maxErrorRateIncrease: z.number().min(0).max(1).default(0.05),
        maxP95Increase: z.number().min(0).max(100).default(0.5),
        p95FloorMs: z.number().int().positive().default(100),
      })
      .strict()
      .optional(),
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
    /** Name of the secret holding the webhook URL. */
    webhookSecret: secretName.default("webhookUrl"),
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
const imageId = z.string().regex(/^sha256:[0-9a-f]{64}$/, "must be an image id (sha256:<64 hex>)");

const rollbackSchema = z
  .object({
    /** The release being rolled back. */
    undoes: z.string().min(1),
    /** The history number of the update whose config this is. */
    toUpdate: z.number().int().positive(),
    /** Why; required outside the maintenance window, lands in the report and the notices. */
    reason: z.string().min(3).optional(),
    /** The image id the target update ran, run again exactly. */
    imageId: imageId.optional(),
    /** The image ids the target update's other services ran, by service name, run again exactly. */
    imageIds: z.record(name, imageId).optional(),
    /** Restore this backup (verified first) before the schema moves, under the migration lock. */
    restoreBackup: z
      .object({
        path: z.string().startsWith("/"),
        sha256: z.string().regex(/^[0-9a-f]{64}$/),
        /** The directory archives taken with that backup, restored after the database. */
        archives: z
          .array(
            z
              .object({ name, path: z.string().startsWith("/"), sha256: z.string().regex(/^[0-9a-f]{64}$/) })
              .strict(),
          )
          .optional(),
      })
      .strict()
      .optional(),
  })
  .strict();

/** A command line: a string run with `/bin/sh -c`, or an argv array run without a shell. */
const commandLine = z.union(
  [
    z.string().min(1),
    z
      .array(z.string())
      .min(1, 'an argv array needs at least the program, e.g. ["npx", "prisma", "generate"]'),
  ],
  {
    error:
      'must be a command string (run with /bin/sh -c) or an argv array such as ["npx", "prisma", "generate"]',
  },
);
/** A regular expression, tested against each line of a command's output. */
const linePattern = z.string().superRefine((pattern, ctx) => {
  const problem = patternProblem(pattern);
  if (problem)
    ctx.addIssue({ code: "custom", message: `is not a regular expression (${problem})`, input: pattern });
});

/**
 * A command run at a named point of the rollout, here or over SSH (pm2, systemd, prisma, alembic,
 * a frontend build). A failure stops the phases after it, like any failed step.
 */
const commandSchema = z
  .object({
    name,
    /** Where in the rollout: after maintenance on and before the backup, after the schema, after the containers, after the checks and smoke tests. */
    at: z.enum(COMMAND_POINTS),
    run: commandLine,
    /** Folder to run in, on the host it runs on (relative paths here resolve against the project). */
    cwd: z.string().min(1).optional(),
    env: z.record(envName, z.string()).default({}),
    /** Env variables filled from secret config keys: env name -> secret key name. */
    secretEnv: z.record(envName, z.string().min(1)).default({}),
    /** Run it on this host over SSH (the shared SSH target shape); without it, it runs here. */
    ssh: sshTargetSchema.superRefine(sshTargetIssues).optional(),
    timeoutSeconds: z.number().positive().max(86_400).default(300),
    expectExit: z.number().int().min(0).max(255).default(0),
    /** Regular expressions that must each match some line of the output. */
    outputMustContain: z.array(linePattern).default([]),
    /** Regular expressions that no line of the output may match. */
    outputMustNotContain: z.array(linePattern).default([]),
    /** Run when the step leaves the stack's config (a rollback to a release without it, or removed). */
    revert: commandLine.optional(),
    /** `everyRelease`: each new release (and rollback) runs it; `onChange`: only a change of the step itself. */
    runsWhen: z.enum(["everyRelease", "onChange"]).default("everyRelease"),
  })
  .strict();

const commandsSchema = z
  .array(commandSchema)
  .default([])
  .superRefine((commands, ctx) => {
    const seen = new Set<string>();
    commands.forEach((c, i) => {
      if (seen.has(c.name))
        ctx.addIssue({
          code: "custom",
          path: [i, "name"],
          input: c.name,
          message: "is used by another command; each command needs its own name",
        });
      seen.add(c.name);
    });
  });

/** Schema of every non-secret config key, by key name without the namespace. */
export const configSchema = z.object({
  release: releaseSchema,
  database: databaseSchema,
  app: appSchema,
  /** Services beside the app, started in dependency order. */
  services: servicesSchema,
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
  sqlChecks: z.array(sqlAfterCheckSchema).default([]),
  logCheck: logCheckSchema.optional(),
  wsChecks: z.array(wsCheckSchema).default([]),
  smokeTests: z.array(smokeTestSchema).default([]),
  soak: soakSchema.optional(),
  /** Commands run at named points of the rollout, here or over SSH. */
  commands: commandsSchema,
  report: reportSchema.default({ dir: "reports/{stack}" }),
  rollback: rollbackSchema.optional(),
});

/** Secret keys every stack needs; their values never pass through validation, only their presence. */
export const REQUIRED_SECRET_KEYS = ["databasePassword", "appDatabasePassword"] as const;
/**
 * Secret keys of their own name that a stack may set, kept from before named secrets: each is also
 * a secret name (`{secret: maintenanceToken}`). New secrets are `rollout:secrets.<name>`.
 */
export const OPTIONAL_SECRET_KEYS = [
  "maintenanceToken",
  "webhookUrl",
  "smokePassword",
  "s3AccessKey",
  "s3SecretKey",
  "sshPrivateKey",
] as const;
/** The secret keys of their own name; any `rollout:secrets.<name>` is a secret too. */
export const SECRET_KEYS = [...REQUIRED_SECRET_KEYS, ...OPTIONAL_SECRET_KEYS] as const;
/** The config key prefix of named secrets: `rollout:secrets.<name>`. */
export const NAMED_SECRET_PREFIX = "secrets.";
/** A secret's name: a legacy key or the `<name>` of `rollout:secrets.<name>`. */
export type SecretKey = string;

export type RolloutConfig = z.output<typeof configSchema>;
export type ReleaseConfig = RolloutConfig["release"];
export type AppConfig = RolloutConfig["app"];
export type ServiceConfig = RolloutConfig["services"][number];
export type HealthcheckConfig = NonNullable<ServiceConfig["healthcheck"]>;
export type HttpCheckConfig = RolloutConfig["checks"][number];
export type SqlCheckConfig = RolloutConfig["sqlChecks"][number];
export type LogCheckConfig = NonNullable<RolloutConfig["logCheck"]>;
export type SmokeTestConfig = RolloutConfig["smokeTests"][number];
export type RollbackConfig = NonNullable<RolloutConfig["rollback"]>;
export type CommandConfig = RolloutConfig["commands"][number];
export type SshTargetConfig = z.output<typeof sshTargetSchema>;
export type BackupCopyConfig = NonNullable<RolloutConfig["backup"]>["copies"][number];
export type ArchiveConfig = NonNullable<RolloutConfig["backup"]>["archives"][number];

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
 * The URLs the soak and `deploy --watch` probe with a bare GET, counting any answer but 2xx as an
 * error: the GET checks that send no headers and no body and expect a 2xx. A check that needs a
 * header (a token) or expects another status would make every probe of a healthy release an error.
 */
export function probeUrls(config: Pick<RolloutConfig, "checks">): string[] {
  return config.checks
    .filter(
      (c) =>
        c.method === "GET" &&
        Object.keys(c.headers).length === 0 &&
        c.json === undefined &&
        c.form === undefined &&
        c.expectStatus >= 200 &&
        c.expectStatus < 300,
    )
    .map((c) => c.url);
}

/**
 * The thresholds `deploy --watch` judges by: the stack's soak settings, or the soak's defaults when
 * the stack does not soak (taken from the schema, so they are defined once).
 */
export function watchThresholds(
  config: RolloutConfig,
): Pick<NonNullable<RolloutConfig["soak"]>, "intervalMs" | "maxErrorRate" | "maxP95Ms" | "requestTimeoutMs"> {
  const soak = config.soak ?? soakSchema.parse({ durationSeconds: 1 });
  return {
    intervalMs: soak.intervalMs,
    maxErrorRate: soak.maxErrorRate,
    maxP95Ms: soak.maxP95Ms,
    requestTimeoutMs: soak.requestTimeoutMs,
  };
}
