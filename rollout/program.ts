// The program's door to stack config: pulumi.Config as the reader of config/'s one loader. A config
// error is shown as its message alone: the operator needs the list of problems, not a trace.
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, ConfigError, namespaceKeys, readConfig } from "../config";

// Which config keys the engine handed over as secrets; in the SDK's runtime, not in its typings.
const runtime = pulumi.runtime as unknown as { isConfigSecret?: (key: string) => boolean };

/** The stack's validated config and its secrets as outputs. */
export function programConfig(stack: string) {
  const cfg = new pulumi.Config(CONFIG_NAMESPACE);
  try {
    return readConfig(stack, {
      value: (key) => cfg.getObject<unknown>(key),
      secret: (key) => cfg.getSecret(key),
      keys: () => namespaceKeys(Object.keys(pulumi.runtime.allConfig())),
      plainText: (key) => runtime.isConfigSecret?.(`${CONFIG_NAMESPACE}:${key}`) === false,
    });
  } catch (err) {
    throw err instanceof ConfigError ? new pulumi.RunError(err.message) : err;
  }
}
