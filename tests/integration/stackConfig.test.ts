// Stack config as the real CLI and program see it, through the Automation API: the secret keys
// declared in Pulumi.yaml must be encrypted, and an unknown rollout:* key stops the program with
// the loader's message, no trace, before anything is created.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestStack, sampleConfig, targetDatabase, type TestStack } from "../support/stack";

/** The error text of a preview that must fail. */
async function failedPreview(t: TestStack): Promise<string> {
  try {
    await t.stack.preview({ onOutput: () => undefined });
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail("expected the preview to fail");
}

describe("stack config through the real CLI", () => {
  let t: TestStack;

  before(async () => {
    t = await createTestStack("itest-config");
  });
  after(async () => {
    await t?.cleanup();
  });

  it("previews the sample config with the passwords set as secrets (Pulumi.yaml's `secret: true` is accepted)", async () => {
    const preview = await t.stack.preview({ onOutput: () => undefined });
    assert.ok((preview.changeSummary.create ?? 0) > 0, JSON.stringify(preview.changeSummary));
  });

  it("refuses a password that Pulumi.yaml declares secret when it is set in plain text", async () => {
    const password = targetDatabase().password;
    await t.stack.setConfig("rollout:databasePassword", { value: password, secret: false });
    try {
      const message = await failedPreview(t);
      assert.match(
        message,
        new RegExp(
          `Stack '${t.name}' with configuration key 'rollout:databasePassword' must be encrypted as it's secret`,
        ),
      );
    } finally {
      await t.stack.setConfig("rollout:databasePassword", { value: password, secret: true });
    }
  });

  it("stops at a misspelt rollout:* key with the loader's message and no stack trace", async () => {
    const config = sampleConfig(t) as Record<string, unknown>;
    const { "rollout:smokeTests": smokeTests, ...rest } = config;
    await t.setConfig({ ...rest, "rollout:smokeTest": smokeTests });
    const message = await failedPreview(t);
    assert.match(
      message,
      /rollout:smokeTest is not a known setting\. Fix: rename it \(did you mean rollout:smokeTests\?\) or remove it \(`pulumi config rm rollout:smokeTest`\)/,
    );
    assert.doesNotMatch(message, /\n\s+at .*\.ts:\d+/, "a stack trace was printed");
    const resources = (await t.stack.exportStack()).deployment.resources ?? [];
    assert.equal(resources.length, 0, "nothing may be created");
  });
});
