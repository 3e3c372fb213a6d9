// The scan for secrets in plain text: every secret a stack declares (the legacy keys and each
// `rollout:secrets.<name>`), looked for in every text a rollout leaves behind.
import type { Stack } from "@pulumi/pulumi/automation";
import fs from "node:fs";
import path from "node:path";

/** Every file under `dir`, recursively; none when it does not exist. */
export const listFiles = (dir: string): string[] =>
  !fs.existsSync(dir)
    ? []
    : fs
        .readdirSync(dir, { withFileTypes: true })
        .flatMap((e) => (e.isDirectory() ? listFiles(path.join(dir, e.name)) : [path.join(dir, e.name)]));

/** The decrypted values of every secret the stack declares, by config key. */
export async function declaredSecrets(stack: Stack): Promise<Record<string, string>> {
  const config = await stack.getAllConfig();
  return Object.fromEntries(
    Object.entries(config)
      .filter(([, v]) => v.secret)
      .map(([key, v]) => [key, v.value]),
  );
}

/** `where: key` for each secret value found in a text; empty when none is there. */
export function secretLeaks(
  secrets: Record<string, string>,
  texts: readonly (readonly [where: string, text: string])[],
): string[] {
  const leaks: string[] = [];
  for (const [where, text] of texts) {
    for (const [key, value] of Object.entries(secrets)) {
      if (text.includes(value)) leaks.push(`${where}: ${key}`);
    }
  }
  return leaks;
}
