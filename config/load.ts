// The one door for stack config: the program (through pulumi.Config) and the deploy commands
// (through the Automation API's config map) read raw values with their own reader and validate them
// here, so both see the same defaulted config. Pure: it throws a ConfigError that lists every
// problem at once, each naming the key, the value received and how to fix it.
import type { z } from "zod";
import { secretNamesIn } from "../engines/checks/request";
import { serviceGraphProblems } from "./services";
import {
  CONFIG_NAMESPACE,
  configSchema,
  NAMED_SECRET_PREFIX,
  probeUrls,
  REQUIRED_SECRET_KEYS,
  SECRET_KEYS,
  SECRET_NAME,
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

/** The config key (without the namespace) a secret of this name is read from. */
export function secretKeyOf(name: string): string {
  return (SECRET_KEYS as readonly string[]).includes(name) ? name : `${NAMED_SECRET_PREFIX}${name}`;
}

function missingSecret(name: string, why: string): string {
  const key = `${CONFIG_NAMESPACE}:${secretKeyOf(name)}`;
  return `${key} is missing (${why}). Fix: \`pulumi config set --secret ${key} <value>\`.`;
}

/** `{secret: name}` and `{secret:NAME}` in strings, anywhere in a config value, with their keys. */
function secretMentions(value: unknown, key: string): { name: string; from: string }[] {
  if (typeof value === "string") return secretNamesIn(value).map((name) => ({ name, from: key }));
  if (Array.isArray(value)) return value.flatMap((v, i) => secretMentions(v, `${key}[${i}]`));
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>);
    if (entries.length === 1 && entries[0][0] === "secret" && typeof entries[0][1] === "string") {
      return [{ name: entries[0][1], from: key }];
    }
    return entries.flatMap(([k, v]) => secretMentions(v, `${key}.${k}`));
  }
  return [];
}

/** Problems that span keys: secrets that config refers to, the maintenance token. */
function referenceProblems(config: RolloutConfig, present: Partial<Record<SecretKey, boolean>>): string[] {
  const problems: string[] = [];
  const refer = (name: string, from: string) => {
    if (!present[name]) problems.push(missingSecret(name, `${from} refers to it`));
  };
  for (const [env, key] of Object.entries(config.app.secretEnv)) refer(key, `rollout:app.secretEnv.${env}`);
  config.services.forEach((service, i) => {
    for (const [env, key] of Object.entries(service.secretEnv))
      refer(key, `rollout:services[${i}].secretEnv.${env}`);
  });
  problems.push(...serviceGraphProblems(config));
  config.smokeTests.forEach((test, i) => {
    for (const [v, value] of Object.entries(test.vars)) {
      if (typeof value === "object") refer(value.secret, `rollout:smokeTests[${i}].vars.${v}`);
    }
    test.steps.forEach((step, j) => {
      const at = `rollout:smokeTests[${i}].steps[${j}]`;
      for (const m of secretMentions({ headers: step.headers, body: step.body, form: step.form }, at)) {
        refer(m.name, m.from);
      }
    });
  });
  config.checks.forEach((check, i) => {
    const at = `rollout:checks[${i}]`;
    for (const m of secretMentions({ headers: check.headers, json: check.json, form: check.form }, at)) {
      refer(m.name, m.from);
    }
  });
  config.wsChecks.forEach((check, i) => {
    for (const m of secretMentions({ headers: check.headers, send: check.send }, `rollout:wsChecks[${i}]`)) {
      refer(m.name, m.from);
    }
  });
  if (config.maintenance) refer(config.maintenance.tokenSecret, "rollout:maintenance.tokenSecret");
  if (config.notify) refer(config.notify.webhookSecret, "rollout:notify.webhookSecret");
  if (config.docker.ssh?.keySecret) refer(config.docker.ssh.keySecret, "rollout:docker.ssh.keySecret");
  config.backup?.archives.forEach((archive, i) => {
    if (archive.host?.keySecret)
      refer(archive.host.keySecret, `rollout:backup.archives[${i}].host.keySecret`);
  });
  config.backup?.copies.forEach((copy, i) => {
    if (copy.kind === "ssh" && copy.keySecret) refer(copy.keySecret, `rollout:backup.copies[${i}].keySecret`);
    if (copy.kind !== "s3") return;
    refer(copy.accessKeySecret, `rollout:backup.copies[${i}].accessKeySecret`);
    refer(copy.secretKeySecret, `rollout:backup.copies[${i}].secretKeySecret`);
  });
  config.commands.forEach((command, i) => {
    for (const [env, key] of Object.entries(command.secretEnv))
      refer(key, `rollout:commands[${i}].secretEnv.${env}`);
    if (command.ssh?.keySecret) refer(command.ssh.keySecret, `rollout:commands[${i}].ssh.keySecret`);
  });
  if (config.database.engine === "mysql" && config.migrations?.requireLintAllow) {
    problems.push(
      `rollout:migrations.requireLintAllow is true on a MySQL stack, whose migrations are not linted (the lint reads PostgreSQL's grammar and locks), so it would refuse nothing. Fix: remove it, and review MySQL migrations by their preview.`,
    );
  }
  if (config.soak && probeUrls(config).length === 0) {
    problems.push(
      `rollout:soak has no URL to probe: it probes the GET checks in rollout:checks that send no headers or body and expect a 2xx. Fix: add a health check such as {name: health, url: <service>/health}, or remove rollout:soak.`,
    );
  }
  if (config.soak?.logsEverySeconds !== undefined && !config.logCheck) {
    problems.push(
      `rollout:soak.logsEverySeconds is ${config.soak.logsEverySeconds} but there is no rollout:logCheck to judge the logs by. Fix: add rollout:logCheck (e.g. {forbid: ["ERROR|FATAL"]}), or remove logsEverySeconds.`,
    );
  }
  if (config.soak?.smokeEverySeconds !== undefined && config.smokeTests.length === 0) {
    problems.push(
      `rollout:soak.smokeEverySeconds is ${config.soak.smokeEverySeconds} but rollout:smokeTests is empty. Fix: add a smoke flow, or remove smokeEverySeconds.`,
    );
  }
  for (const key of ["smokeEverySeconds", "logsEverySeconds"] as const) {
    const every = config.soak?.[key];
    if (config.soak && every !== undefined && every >= config.soak.durationSeconds) {
      problems.push(
        `rollout:soak.${key} is ${every}, not less than soak.durationSeconds (${config.soak.durationSeconds}): it would never run. Fix: make it shorter than the soak, e.g. ${Math.max(1, Math.floor(config.soak.durationSeconds / 4))}.`,
      );
    }
  }
  if (config.backup && !config.release.schemaTarget && config.migrations) {
    problems.push(
      `rollout:release.schemaTarget is missing while rollout:migrations is set. Fix: add schemaTarget (e.g. "0004") to the release.`,
    );
  }
  return problems;
}

/** Every key a stack may set, without the namespace: the schema's keys and the secret keys. */
export const KNOWN_KEYS: readonly string[] = [...Object.keys(configSchema.shape), ...SECRET_KEYS];

/** Whether a key (without the namespace) names a secret: a legacy secret key or `secrets.<name>`. */
export function isSecretKey(key: string): boolean {
  return (SECRET_KEYS as readonly string[]).includes(key) || key.startsWith(NAMED_SECRET_PREFIX);
}

/**
 * Problems of the named secrets a stack sets: a bad name, a name set twice (as a legacy key and as
 * `secrets.<name>`), a value in plain text, or `rollout:secrets` set as one structured value.
 * Values are never read here and never named.
 */
export function namedSecretProblems(keys: readonly string[], plainText: (key: string) => boolean): string[] {
  const problems: string[] = [];
  const ns = CONFIG_NAMESPACE;
  for (const key of keys) {
    if (key === "secrets") {
      problems.push(
        `${ns}:secrets is set as one structured value. Fix: set each secret as its own key, without --path: ` +
          `\`pulumi config rm ${ns}:secrets\`, then \`pulumi config set --secret ${ns}:secrets.<name> <value>\`.`,
      );
      continue;
    }
    if (!key.startsWith(NAMED_SECRET_PREFIX)) continue;
    const name = key.slice(NAMED_SECRET_PREFIX.length);
    if (!SECRET_NAME.test(name)) {
      problems.push(
        `${ns}:${key} has an invalid secret name ${JSON.stringify(name)} (a letter, then up to 62 letters, digits, '_' or '-'). ` +
          `Fix: \`pulumi config rm ${ns}:${key}\` and set it under a valid name.`,
      );
    } else if ((SECRET_KEYS as readonly string[]).includes(name)) {
      problems.push(
        `${ns}:${key} names the secret \`${name}\`, which is the key ${ns}:${name} already. ` +
          `Fix: keep one of them: \`pulumi config rm ${ns}:${key}\`.`,
      );
    } else if (plainText(key)) {
      problems.push(
        `${ns}:${key} is set in plain text. Fix: \`pulumi config set --secret ${ns}:${key} <value>\` (the value stays encrypted in the stack file).`,
      );
    }
  }
  return problems;
}

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
 * @param secretsPresent which secrets (by name) have a value.
 * @param secretProblems problems of the secret keys themselves (namedSecretProblems).
 */
export function loadConfig(
  stack: string,
  raw: Record<string, unknown>,
  secretsPresent: Partial<Record<SecretKey, boolean>>,
  secretProblems: readonly string[] = [],
): RolloutConfig {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(raw)) {
    if (value !== undefined && !KNOWN_KEYS.includes(key) && key !== "secrets") {
      problems.push(unknownKeyProblem(key));
    }
  }
  problems.push(...secretProblems);
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
              ? issue.code === "custom"
                ? `is missing (${issue.message})`
                : "is missing"
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
  /** A secret key's value (`maintenanceToken`, `secrets.apiToken`), or undefined when it is not set. */
  secret(key: string): S | undefined;
  /** Every key of the namespace the stack sets (without the namespace), known or not. */
  keys(): string[];
  /** Whether a key that is set holds a plain (not secret) value. */
  plainText(key: string): boolean;
}

/** The secrets a stack has set, by name; the required ones are always there once config is loaded. */
export type StackSecrets<S> = Partial<Record<SecretKey, S>> &
  Record<(typeof REQUIRED_SECRET_KEYS)[number], S>;

/** Validated config and the secrets that are set, read through `reader`. */
export function readConfig<S>(
  stack: string,
  reader: ConfigReader<S>,
): { config: RolloutConfig; secrets: StackSecrets<S> } {
  const stackKeys = reader.keys();
  const keys = new Set([...Object.keys(configSchema.shape), ...stackKeys]);
  // An unknown key's value is never read: it may be a secret, and only its name goes in the error.
  const schemaKeys: readonly string[] = Object.keys(configSchema.shape);
  const raw = Object.fromEntries(
    [...keys]
      .filter((key) => !isSecretKey(key))
      .map((key) => [key, schemaKeys.includes(key) ? reader.value(key) : true]),
  );
  const secretProblems = namedSecretProblems(stackKeys, (key) => reader.plainText(key));
  const names = [
    ...SECRET_KEYS,
    ...stackKeys
      .filter((key) => key.startsWith(NAMED_SECRET_PREFIX))
      .map((key) => key.slice(NAMED_SECRET_PREFIX.length))
      .filter((name) => SECRET_NAME.test(name) && !(SECRET_KEYS as readonly string[]).includes(name)),
  ];
  const secrets: Partial<Record<SecretKey, S>> = {};
  for (const name of names) {
    const value = reader.secret(secretKeyOf(name));
    if (value !== undefined) secrets[name] = value;
  }
  const present = Object.fromEntries(names.map((name) => [name, name in secrets]));
  // loadConfig refuses a stack without every required secret, so `secrets` holds them from here on.
  return { config: loadConfig(stack, raw, present, secretProblems), secrets: secrets as StackSecrets<S> };
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
    plainText: (key) => entries[`${CONFIG_NAMESPACE}:${key}`]?.secret !== true,
  };
}

/** The keys of the `rollout` namespace among full `namespace:key` names, without the namespace. */
export function namespaceKeys(fullKeys: Iterable<string>): string[] {
  const prefix = `${CONFIG_NAMESPACE}:`;
  return [...fullKeys].filter((k) => k.startsWith(prefix)).map((k) => k.slice(prefix.length));
}
