// The program and the deploy commands read stack config through different doors (pulumi.Config and
// the Automation API's config entries) into the one loader: for the same stack file they must see
// the same defaulted config and the same secrets.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { CONFIG_NAMESPACE, SECRET_KEYS } from "../../config";
import { stackConfigFrom } from "../../deploy/stackConfig";
import { programConfig } from "../../rollout";
import { readStackFile } from "../support/fixtures";
import { recordRegistrations, valueOf } from "../support/mocks";

recordRegistrations();

/** A stack file's config as the engine hands it to a program, and as `pulumi config --json` lists it. */
function stackFile(stack: string) {
  const { plain, secure } = readStackFile(stack);
  const values: Record<string, string> = Object.fromEntries(
    Object.entries(plain).map(([key, value]) => [
      key,
      typeof value === "string" ? value : JSON.stringify(value),
    ]),
  );
  // Decrypted secrets are plain text; the values here only need to be distinct. Secrets of staging
  // and prod are set on their machines, not committed: give each a value.
  const secretKeys = stack === "dev" ? secure : SECRET_KEYS.map((key) => `${CONFIG_NAMESPACE}:${key}`);
  for (const key of secretKeys) values[key] = `secret of ${key}`;
  const entries = Object.fromEntries(
    Object.entries(values).map(([key, value]) => [key, { value, secret: secretKeys.includes(key) }]),
  );
  return { values, secretKeys, entries };
}

describe("the program and deploy/ read the same config", () => {
  for (const stack of ["dev", "staging", "prod"]) {
    it(`${stack}: the same defaulted config and secrets through pulumi.Config and the Automation API`, async () => {
      const { values, secretKeys, entries } = stackFile(stack);
      pulumi.runtime.setAllConfig(values, secretKeys);
      const program = programConfig(stack);
      const deploy = stackConfigFrom(stack, entries);

      assert.deepEqual(program.config, deploy.config);
      // Defaults were applied, not just copied: keys the dev file leaves out have their schema default.
      if (stack === "dev") {
        assert.equal(program.config.docker.host, "unix:///var/run/docker.sock");
        assert.equal(program.config.migrations?.table, "rollout_migrations");
        assert.equal(program.config.backup?.expectTables.length, 0);
      }
      const programSecrets = Object.fromEntries(
        await Promise.all(
          Object.entries(program.secrets).map(async ([k, v]) => [
            k,
            await valueOf(v as pulumi.Output<string>),
          ]),
        ),
      );
      assert.deepEqual(programSecrets, deploy.secrets);
      assert.ok(Object.keys(deploy.secrets).length >= 2, "the required secrets are there");
    });
  }

  it("both refuse an unknown rollout:* key with the same message, and ignore other namespaces", () => {
    const { values, secretKeys, entries } = stackFile("dev");
    // A misspelt smokeTests would leave the stack without smoke tests; aws:region belongs to another package.
    const typo: Record<string, string> = {
      ...values,
      "rollout:smokeTest": values["rollout:smokeTests"],
      "aws:region": "eu-west-1",
    };
    delete typo["rollout:smokeTests"];
    const typoEntries: Record<string, { value: string; secret: boolean }> = {
      ...Object.fromEntries(Object.entries(entries).filter(([k]) => k !== "rollout:smokeTests")),
      "rollout:smokeTest": entries["rollout:smokeTests"],
      "aws:region": { value: "eu-west-1", secret: false },
    };
    pulumi.runtime.setAllConfig(typo, secretKeys);
    const expected =
      "stack config for `dev` is invalid (1 problem):\n" +
      '  - rollout:smokeTest is not a known setting. Fix: rename it (did you mean rollout:smokeTests?) or remove it (`pulumi config rm rollout:smokeTest`); the keys are listed in the README\'s "Stack config" table.';
    assert.throws(
      () => programConfig("dev"),
      (err: Error) => {
        assert.ok(err instanceof pulumi.RunError, `the program shows the message only, got ${err.name}`);
        assert.equal(err.message, expected);
        return true;
      },
    );
    assert.throws(() => stackConfigFrom("dev", typoEntries), { message: expected });
  });

  it("both refuse an unknown key set as a secret without showing its value", () => {
    const { values, secretKeys, entries } = stackFile("dev");
    const secretValue = "hunter2-do-not-show";
    pulumi.runtime.setAllConfig({ ...values, "rollout:apiKey": secretValue }, [
      ...secretKeys,
      "rollout:apiKey",
    ]);
    const deployEntries = { ...entries, "rollout:apiKey": { value: secretValue, secret: true } };
    for (const door of [() => programConfig("dev"), () => stackConfigFrom("dev", deployEntries)]) {
      assert.throws(door, (err: Error) => {
        assert.match(err.message, /rollout:apiKey is not a known setting\./);
        assert.ok(!err.message.includes(secretValue), err.message);
        return true;
      });
    }
  });
});
