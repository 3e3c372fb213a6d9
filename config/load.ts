// The one door for stack config: the program (through pulumi.Config) and the deploy commands
// (through the Automation API's config map) read raw values with their own reader and validate them
// here, so both see the same defaulted config. Pure: it throws a ConfigError that lists every
// problem at once, each naming the key, the value received and how to fix it.
import type { z } from "zod";
import {
  CONFIG_NAMESPACE,
  configSchema,
  REQUIRED_SECRET_KEYS,
  SECRET_KEYS,
  type RolloutConfig,
  type SecretKey,
} from "./schema";

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
  // A rule that knows its own fix (say, a setting that does not apply to the stack's engine) names it.
  const fix = issue.code === "custom" ? (issue.params as { fix?: unknown } | undefined)?.fix : undefined;
  if (typeof fix === "string") return fix;
  if (issue.code === "invalid_type" && issue.path.length === 1) {
    return `set it in Pulumi.<stack>.yaml or with \`pulumi config set --path '${key}' ...\` (see Pulumi.yaml for its shape)`;
  }
  return `set it with \`pulumi config set --path '${key}' <value>\``;
}

function missingSecret(key: string, why: string): string {
  return `${CONFIG_NAMESPACE}:${key} is missing (${why}). Fix: \`pulumi config set --secret ${CONFIG_NAMESPACE}:${key} <value>\`.`;
}

/** Problems that span keys: secrets that config refers to, the maintenance token. */
function referenceProblems(config: RolloutConfig, present: Partial<Record<SecretKey, boolean>>): string[] {
  const problems: string[] = [];
  const known = new Set<string>(SECRET_KEYS);
  const refer = (key: string, from: string) => {
    if (!known.has(key)) {
      problems.push(
        `${from} refers to secret \`${key}\`, which is not a secret key; use one of: ${SECRET_KEYS.join(", ")}.`,
      );
    } else if (!present[key as SecretKey]) {
      problems.push(missingSecret(key, `${from} refers to it`));
    }
  };
  for (const [env, key] of Object.entries(config.app.secretEnv)) refer(key, `rollout:app.secretEnv.${env}`);
  config.smokeTests.forEach((test, i) => {
    for (const [v, value] of Object.entries(test.vars)) {
      if (typeof value === "object") refer(value.secret, `rollout:smokeTests[${i}].vars.${v}`);
    }
  });
  if (config.maintenance) refer("maintenanceToken", "rollout:maintenance");
  if (config.notify) refer(config.notify.webhookSecret, "rollout:notify.webhookSecret");
  config.backup?.copies.forEach((copy, i) => {
    if (copy.kind !== "s3") return;
    refer(copy.accessKeySecret, `rollout:backup.copies[${i}].accessKeySecret`);
    refer(copy.secretKeySecret, `rollout:backup.copies[${i}].secretKeySecret`);
  });
  if (config.backup && !config.release.schemaTarget && config.migrations) {
    problems.push(
      `rollout:release.schemaTarget is missing while rollout:migrations is set. Fix: add schemaTarget (e.g. "0004") to the release.`,
    );
  }
  return problems;
}

/** Every key a stack may set, without the namespace: the schema's keys and the secret keys. */
export const KNOWN_KEYS: readonly string[] = [...Object.keys(configSchema.shape), ...SECRET_KEYS];

/** Known keys that look like `key` (same letters ignoring case, or one is a prefix of the other). */
function lookalikes(key: string): string[] {
  const lower = key.toLowerCase();
  return KNOWN_KEYS.filter((known) => {
    const k = known.toLowerCase();
    return k === lower || (lower.length >= 4 && (k.startsWith(lower) || lower.startsWith(k)));
  });
}

/**
 * A `rollout:*` key the program does not know is refused: a misspelt key (say `rollout:smokeTest`)
 * would otherwise leave its part out of the rollout without a word.
 */
function unknownKeyProblem(key: string): string {
  const like = lookalikes(key).map((k) => `${CONFIG_NAMESPACE}:${k}`);
  const hint = like.length > 0 ? ` (did you mean ${like.join(" or ")}?)` : "";
  return (
    `${CONFIG_NAMESPACE}:${key} is not a known setting. Fix: rename it${hint} or remove it ` +
    `(\`pulumi config rm ${CONFIG_NAMESPACE}:${key}\`); the keys are listed in the README's "Stack config" table.`
  );
}

/**
 * Validates raw stack config.
 * @param stack the stack name, for messages.
 * @param raw the non-secret keys as Pulumi parsed them (objects for structured keys); any other
 *   key set in the stack belongs here too, so that it is refused.
 * @param secretsPresent which secret keys have a value.
 */
export function loadConfig(
  stack: string,
  raw: Record<string, unknown>,
  secretsPresent: Partial<Record<SecretKey, boolean>>,
): RolloutConfig {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (value !== undefined && !KNOWN_KEYS.includes(key)) problems.push(unknownKeyProblem(key));
  }
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
  for (const key of REQUIRED_SECRET_KEYS) {
    if (!secretsPresent[key]) problems.push(missingSecret(key, "every stack needs it"));
  }
  if (parsed.success) problems.push(...referenceProblems(parsed.data, secretsPresent));
  if (problems.length > 0 || !parsed.success) throw new ConfigError(stack, problems);
  return parsed.data;
}

/** Reads one stack's raw config values; the program and the deploy commands each bring one. */
export interface ConfigReader<S> {
  /** A non-secret key (without the namespace) as a parsed value, or undefined when it is not set. */
  value(key: string): unknown;
  /** A secret key's value, or undefined when it is not set. */
  secret(key: SecretKey): S | undefined;
  /** Every key of the namespace the stack sets (without the namespace), known or not. */
  keys(): string[];
}

/** The secrets a stack has set; the required ones are always there once config is loaded. */
export type StackSecrets<S> = Partial<Record<SecretKey, S>> &
  Record<(typeof REQUIRED_SECRET_KEYS)[number], S>;

/** Validated config and the secrets that are set, read through `reader`. */
export function readConfig<S>(
  stack: string,
  reader: ConfigReader<S>,
): { config: RolloutConfig; secrets: StackSecrets<S> } {
  const secretKeys: readonly string[] = SECRET_KEYS;
  const keys = new Set([...Object.keys(configSchema.shape), ...reader.keys()]);
  // An unknown key's value is never read: it may be a secret, and only its name goes in the error.
  const schemaKeys: readonly string[] = Object.keys(configSchema.shape);
  const raw = Object.fromEntries(
    [...keys]
      .filter((key) => !secretKeys.includes(key))
      .map((key) => [key, schemaKeys.includes(key) ? reader.value(key) : true]),
  );
  const secrets: Partial<Record<SecretKey, S>> = {};
  for (const key of SECRET_KEYS) {
    const value = reader.secret(key);
    if (value !== undefined) secrets[key] = value;
  }
  const present = Object.fromEntries(SECRET_KEYS.map((key) => [key, key in secrets]));
  // loadConfig refuses a stack without every required secret, so `secrets` holds them from here on.
  return { config: loadConfig(stack, raw, present), secrets: secrets as StackSecrets<S> };
}

/** A stack's config as the Automation API lists it: `namespace:key` -> value text (JSON for structured keys). */
export type ConfigEntries = Readonly<Record<string, { readonly value: string; readonly secret?: boolean }>>;

/** Reads config entries the way pulumi.Config does: structured values parsed from JSON, secrets as text. */
export function entriesReader(entries: ConfigEntries): ConfigReader<string> {
  return {
    value: (key) => {
      const entry = entries[`${CONFIG_NAMESPACE}:${key}`];
      if (entry === undefined) return undefined;
      try {
        return JSON.parse(entry.value) as unknown;
      } catch {
        return entry.value;
      }
    },
    secret: (key) => entries[`${CONFIG_NAMESPACE}:${key}`]?.value,
    keys: () => namespaceKeys(Object.keys(entries)),
  };
}

/** The keys of the `rollout` namespace among full `namespace:key` names, without the namespace. */
export function namespaceKeys(fullKeys: Iterable<string>): string[] {
  const prefix = `${CONFIG_NAMESPACE}:`;
  return [...fullKeys].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
}
