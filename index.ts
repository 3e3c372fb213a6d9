// Composition root: read and validate config, build the rollout, export its report.
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, configSchema, loadConfig, Rollout, SECRET_KEYS } from "./components";

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
const config = loadConfig(stack, raw, Object.fromEntries(SECRET_KEYS.map((key) => [key, key in secrets])));

const rollout = new Rollout("rollout", { config, stack, secrets, projectDir: __dirname });

export const report = rollout.report;
