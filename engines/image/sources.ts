// Content hashing of local source folders, so that a rebuild happens exactly when a file changes.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

const SKIPPED = new Set(["node_modules", "dist", ".git"]);

function listFiles(root: string, relative = ""): string[] {
  const here = path.join(root, relative);
  const stat = fs.statSync(here);
  if (!stat.isDirectory()) return [relative];
  return fs
    .readdirSync(here)
    .filter((entry) => !SKIPPED.has(entry))
    .sort()
    .flatMap((entry) => listFiles(root, path.join(relative, entry)));
}

/**
 * SHA-256 over the relative paths and contents of every file under `paths` (files or folders,
 * relative to `base`), skipping node_modules, dist and .git. Throws naming the path when one is missing.
 */
export function hashSources(base: string, paths: readonly string[]): string {
  const hash = createHash("sha256");
  for (const entry of [...paths].sort()) {
    const full = path.resolve(base, entry);
    if (!fs.existsSync(full)) {
      throw new Error(`source path \`${entry}\` does not exist under ${base}; fix the path or create it`);
    }
    for (const file of listFiles(full)) {
      hash
        .update(path.join(entry, file))
        .update("\0")
        .update(fs.readFileSync(path.join(full, file)))
        .update("\0");
    }
  }
  return hash.digest("hex");
}
