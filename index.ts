// Composition root: read and validate config, build the rollout, export its report.
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigError, configSchema, loadConfig, Rollout, SECRET_KEYS } from "./components";

const stack = pulumi.getStack();
const cfg = new pulumi.Config(CONFIG_NAMESPACE);
const raw = Object.fromEntries(
  Object.keys(configSchema.shape).map((key) => [key, cfg.getObject<unknown>(key)]),
);
const secrets = Object.fromEntries(
  SECRET_KEYS.flatMap((key) => {
    const value = cfg.getSecret(key);
    return value === undefined ? [] : [[key, value]];
  }),
);
let config;
try {
  config = loadConfig(stack, raw, Object.fromEntries(SECRET_KEYS.map((key) => [key, key in secrets])));
} catch (err) {
  // A RunError is shown as its message alone: the operator needs the list of problems, not a trace.
  throw err instanceof ConfigError ? new pulumi.RunError(err.message) : err;
}

const rollout = new Rollout("rollout", { config, stack, secrets, projectDir: __dirname });

export const report = rollout.report;
