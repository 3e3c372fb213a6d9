// Reads the toolchain version set and checks package.json against it.
import fs from "node:fs";
import path from "node:path";

export interface VersionSet {
  pulumi: { version: string; commit: string };
  plugins: Record<string, { version: string; module: string; commit: string }>;
  npm: Record<string, string>;
}

export function readVersionSet(root: string): VersionSet {
  return JSON.parse(fs.readFileSync(path.join(root, "toolchain", "versions.json"), "utf8")) as VersionSet;
}

/** Every disagreement between package.json and toolchain/versions.json, as a sentence with the fix. */
export function versionMismatches(
  root: string,
  pkg: { dependencies?: Record<string, string> } = JSON.parse(
    fs.readFileSync(path.join(root, "package.json"), "utf8"),
  ) as { dependencies?: Record<string, string> },
): string[] {
  const versions = readVersionSet(root);
  const problems: string[] = [];
  const expectedNpm = { ...versions.npm };
  // The SDK and each plugin's npm package must also carry the toolchain's own versions.
  const fromToolchain: Record<string, string> = { "@pulumi/pulumi": versions.pulumi.version };
  for (const [name, plugin] of Object.entries(versions.plugins))
    fromToolchain[`@pulumi/${name}`] = plugin.version;
  for (const [name, version] of Object.entries(fromToolchain)) {
    if (expectedNpm[name] !== version) {
      problems.push(
        `toolchain/versions.json npm.${name} is ${expectedNpm[name]} but the toolchain builds ${version}; make them equal`,
      );
    }
  }
  for (const [name, version] of Object.entries(expectedNpm)) {
    const pinned = pkg.dependencies?.[name];
    if (pinned !== version) {
      problems.push(
        `package.json pins ${name} at ${pinned ?? "nothing"} but toolchain/versions.json says ${version}; ` +
          `pin it exactly: "${name}": "${version}"`,
      );
    }
  }
  return problems;
}
