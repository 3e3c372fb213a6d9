// The one typed, validated view of stack config, and the single home for defaults. Pure: it takes
// the raw values Pulumi read and returns a typed value or throws a ConfigError that lists every
// problem at once, each naming the key, the value received and how to fix it.
import { z } from "zod";

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

const releaseSchema = z
  .object({
    /** Label of the release; appears in history, notifications and the report. */
    id: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, "must be 1-64 letters, digits, '.', '_' or '-'"),
    /** The image to run: `name:tag` built from `app.build`, or a registry reference / digest. */
    image: z
      .string()
      .regex(/^[a-z0-9][a-z0-9._\-/:@]*$/, "must be an image reference such as sample-app:1.1.0"),
  })
  .strict();

const databaseSchema = z
  .object({
    host: loopbackOrName.default("127.0.0.1"),
    port: port.default(5432),
    database: sqlIdentifier,
    adminUser: sqlIdentifier.default("postgres"),
    sslMode: z.enum(["disable", "require", "verify-ca", "verify-full"]).default("require"),
  })
  .strict();

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
    env: z
      .record(z.string().regex(/^[A-Z_][A-Z0-9_]*$/, "must be an upper-case env name"), z.string())
      .default({}),
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

const dockerSchema = z
  .object({
    /** Docker host: `unix:///var/run/docker.sock`, `ssh://user@host`, `tcp://127.0.0.1:2376`. */
    host: z.string().regex(/^(unix|ssh|tcp):\/\//, "must start with unix://, ssh:// or tcp://"),
  })
  .strict();

/** Schema of every non-secret config key, by key name without the namespace. */
export const configSchema = z.object({
  release: releaseSchema,
  database: databaseSchema,
  app: appSchema,
  docker: dockerSchema.default({ host: "unix:///var/run/docker.sock" }),
  checks: z.array(httpCheckSchema).default([]),
});

/** Secret keys: their values never pass through validation, only their presence does. */
export const SECRET_KEYS = ["databasePassword", "appDatabasePassword"] as const;
export type SecretKey = (typeof SECRET_KEYS)[number];

export type RolloutConfig = z.output<typeof configSchema>;
export type ReleaseConfig = RolloutConfig["release"];
export type DatabaseConfig = RolloutConfig["database"];
export type AppConfig = RolloutConfig["app"];
export type HttpCheckConfig = RolloutConfig["checks"][number];

/** Raised when stack config is invalid; `problems` holds one line per problem. */
export class ConfigError extends Error {
  constructor(
    readonly stack: string,
    readonly problems: string[],
  ) {
    super(
      `stack config for \`${stack}\` is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
        problems.map((p) => `  - ${p}`).join("\n"),
    );
    this.name = "ConfigError";
  }
}

function keyOf(path: readonly PropertyKey[]): string {
  const [top, ...rest] = path.map(String);
  let key = `${CONFIG_NAMESPACE}:${top}`;
  for (const part of rest) key += /^\d+$/.test(part) ? `[${part}]` : `.${part}`;
  return key;
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  const text = JSON.stringify(value);
  const shown = text.length > 60 ? `${text.slice(0, 57)}...` : text;
  return shown;
}

function valueAt(raw: unknown, path: readonly PropertyKey[]): unknown {
  let value = raw;
  for (const part of path) {
    if (value === null || typeof value !== "object") return undefined;
    value = (value as Record<PropertyKey, unknown>)[part];
  }
  return value;
}

function fixFor(key: string, issue: z.core.$ZodIssue): string {
  if (issue.code === "unrecognized_keys") return `remove it (check the spelling against Pulumi.yaml)`;
  if (issue.code === "invalid_type" && issue.path.length === 1) {
    return `set it in Pulumi.<stack>.yaml or with \`pulumi config set --path '${key}' ...\` (see Pulumi.yaml for its shape)`;
  }
  return `set it with \`pulumi config set --path '${key}' <value>\``;
}

/**
 * Validates raw stack config.
 * @param stack the stack name, for messages.
 * @param raw the non-secret keys as Pulumi parsed them (objects for structured keys).
 * @param secretsPresent which secret keys have a value.
 */
export function loadConfig(
  stack: string,
  raw: Record<string, unknown>,
  secretsPresent: Partial<Record<SecretKey, boolean>>,
): RolloutConfig {
  const problems: string[] = [];
  const parsed = configSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of parsed.error.issues) {
      const keys =
        issue.code === "unrecognized_keys" ? issue.keys.map((k) => [...issue.path, k]) : [issue.path];
      for (const path of keys) {
        const key = keyOf(path);
        const value = valueAt(raw, path);
        const what =
          issue.code === "unrecognized_keys"
            ? "is not a known setting"
            : value === undefined
              ? "is missing"
              : `is invalid (${issue.message.replace(/^Invalid (input|option): /, "")}): got ${describe(value)}`;
        problems.push(`${key} ${what}. Fix: ${fixFor(key, issue)}.`);
      }
    }
  }
  for (const key of SECRET_KEYS) {
    if (!secretsPresent[key]) {
      problems.push(
        `${CONFIG_NAMESPACE}:${key} is missing. Fix: \`pulumi config set --secret ${CONFIG_NAMESPACE}:${key} <value>\`.`,
      );
    }
  }
  if (problems.length > 0 || !parsed.success) throw new ConfigError(stack, problems);
  return parsed.data;
}

/** The version part of an image reference (`sample-app:1.1.0` -> `1.1.0`), if it has a tag. */
export function imageTag(image: string): string | undefined {
  if (image.includes("@")) return undefined;
  const lastSlash = image.lastIndexOf("/");
  const colon = image.indexOf(":", lastSlash + 1);
  return colon === -1 ? undefined : image.slice(colon + 1);
}
