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
  if (config.backup && !config.release.schemaTarget && config.migrations) {
    problems.push(
      `rollout:release.schemaTarget is missing while rollout:migrations is set. Fix: add schemaTarget (e.g. "0004") to the release.`,
    );
  }
  return problems;
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
}

/** The secrets a stack has set; the required ones are always there once config is loaded. */
export type StackSecrets<S> = Partial<Record<SecretKey, S>> &
  Record<(typeof REQUIRED_SECRET_KEYS)[number], S>;

/** Validated config and the secrets that are set, read through `reader`. */
export function readConfig<S>(
  stack: string,
  reader: ConfigReader<S>,
): { config: RolloutConfig; secrets: StackSecrets<S> } {
  const raw = Object.fromEntries(Object.keys(configSchema.shape).map((key) => [key, reader.value(key)]));
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
  };
}
