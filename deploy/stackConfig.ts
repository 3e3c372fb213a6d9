// A stack's config as the commands see it: validated by the program's own loader, and rewritten as
// a whole when a rollback brings an earlier update's config back.
import type { Stack, StackSettings } from "@pulumi/pulumi/automation";
import {
  CONFIG_NAMESPACE,
  ConfigError,
  entriesReader,
  readConfig,
  type ConfigEntries,
  type RolloutConfig,
  type StackSecrets,
} from "../config";

/** Raised when a command refuses before anything changed (exit code 2). */
export class Refusal extends Error {}

/** The config, validated and defaulted by the same loader as the program, with its secrets. */
export interface StackConfig {
  readonly config: RolloutConfig;
  readonly secrets: StackSecrets<string>;
}

/** The commands' view of a stack's config: the program's loader over the Automation API's entries. */
export function stackConfigFrom(stackName: string, entries: ConfigEntries): StackConfig {
  try {
    return readConfig(stackName, entriesReader(entries));
  } catch (err) {
    throw err instanceof ConfigError ? new Refusal(err.message) : err;
  }
}

/** The stack's current config, secrets decrypted. */
export async function readStackConfig(stack: Stack): Promise<StackConfig> {
  return stackConfigFrom(stack.name, await stack.getAllConfig());
}

/** The key where a rollback update records what it undoes. */
export const ROLLBACK_KEY = `${CONFIG_NAMESPACE}:rollback`;

/** One line per key whose value differs between two configs (secret values never shown). */
export function configChanges(before: ConfigEntries, after: ConfigEntries): string[] {
  const shown = (e: ConfigEntries[string]) => {
    if (e.secret) return "[secret]";
    return e.value.length > 100 ? `${e.value.slice(0, 97)}...` : e.value;
  };
  const keys = [...new Set([...Object.keys(before), ...Object.keys(after)])].sort();
  return keys.flatMap((key) => {
    const [a, b] = [before[key], after[key]];
    if (a && b)
      return a.secret || b.secret || a.value === b.value ? [] : [`~ ${key}: ${shown(a)} -> ${shown(b)}`];
    if (b) return [`+ ${key}: ${shown(b)}`];
    return [`- ${key}: ${shown(a!)}`];
  });
}

/** What writing a config did, so a refusal can put the stack file back exactly. */
export interface ConfigUndo {
  restore(): Promise<void>;
}

/**
 * Makes the stack's non-secret config equal `target` (an earlier update's, as history recorded
 * it) plus `extra`; secrets keep their current values, since history does not hold them and a
 * rotated password must stay rotated. Returns how to undo it.
 */
export async function writeConfig(
  stack: Stack,
  target: ConfigEntries,
  extra: Record<string, unknown>,
): Promise<ConfigUndo> {
  const settings: StackSettings = await stack.workspace.stackSettings(stack.name);
  const undo = { restore: () => stack.workspace.saveStackSettings(stack.name, settings) };
  const current = await stack.getAllConfig();
  const plain = Object.entries(target).filter(([, e]) => !e.secret);
  const entries: Record<string, { value: string; objectValue?: unknown; secret: false }> = {};
  for (const [key, entry] of plain) entries[key] = { ...parsed(entry.value), secret: false };
  for (const [key, value] of Object.entries(extra)) {
    entries[key] = { value: JSON.stringify(value), objectValue: value, secret: false };
  }
  const stale = Object.keys(current).filter((key) => !current[key].secret && !(key in entries));
  try {
    if (stale.length > 0) await stack.removeAllConfig(stale);
    await stack.setAllConfigJson(JSON.stringify(entries));
  } catch (err) {
    await undo.restore();
    throw err;
  }
  return undo;
}

/** A config value as `pulumi config --json` lists it: structured values carry their object. */
function parsed(value: string): { value: string; objectValue?: unknown } {
  try {
    const object = JSON.parse(value) as unknown;
    return object !== null && typeof object === "object" ? { value, objectValue: object } : { value };
  } catch {
    return { value };
  }
}
