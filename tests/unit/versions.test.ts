// The toolchain (toolchain/versions.json) and the npm packages (package.json) must agree: a provider
// plugin built at one version and an SDK at another fail at run time with confusing errors.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../support/fixtures";
import { readVersionSet, versionMismatches } from "../../scripts/versions";

describe("version set", () => {
  const versions = readVersionSet(ROOT);

  it("package.json pins exactly the npm versions of toolchain/versions.json, and they match the plugins", () => {
    assert.deepEqual(versionMismatches(ROOT), []);
  });

  it("detects a disagreement", () => {
    const pkg = { dependencies: { ...versions.npm, "@pulumi/docker": "^5.0.0" } };
    assert.deepEqual(versionMismatches(ROOT, pkg), [
      'package.json pins @pulumi/docker at ^5.0.0 but toolchain/versions.json says 5.0.0; pin it exactly: "@pulumi/docker": "5.0.0"',
    ]);
    const pkg2 = { dependencies: { ...versions.npm, "@pulumi/postgresql": "3.17.0" } };
    assert.equal(versionMismatches(ROOT, pkg2).length, 1);
  });

  it("the installed npm packages declare the plugin versions the toolchain builds", () => {
    const installed = (name: string) =>
      JSON.parse(fs.readFileSync(path.join(ROOT, "node_modules", name, "package.json"), "utf8")) as {
        version: string;
        pulumi?: { version?: string };
      };
    for (const [name, plugin] of Object.entries(versions.plugins)) {
      const declared = installed(`@pulumi/${name}`).pulumi?.version;
      assert.equal(declared, plugin.version, `@pulumi/${name} declares plugin ${declared}`);
    }
    assert.equal(installed("@pulumi/pulumi").version, versions.pulumi.version);
  });
});
