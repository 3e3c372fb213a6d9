// `pulumi destroy --run-program` (what a stack on an ssh:// Docker host needs, its key being written
// by the program) after a first install that failed at its backup: the program registers steps that
// never ran, whose results come back empty. The destroy ends, and leaves nothing behind.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createTestStack, sampleConfig, type TestStack } from "../support/stack";

describe("destroy running the program after a failed first install", () => {
  let t: TestStack;
  before(async () => {
    t = await createTestStack("itest-destroy");
    // No dump of the new database is this large: the backup fails before the schema and the containers.
    await t.setConfig({
      ...sampleConfig(t, "1.0.0"),
      "rollout:backup": { dir: t.backupDir, minBytes: 1 << 30 },
    });
    await assert.rejects(t.stack.up({ onOutput: () => undefined }), /under the floor of 1073741824 bytes/);
  });
  after(async () => {
    await t?.cleanup();
  });

  it("ends, and removes every resource the failed update made", async () => {
    // Before the fix the program never ended (it spun on the empty results); five minutes is ample.
    let timer: NodeJS.Timeout | undefined;
    const hung = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error("pulumi destroy --run-program did not end in 5 min")),
        300_000,
      );
    });
    const run = await Promise.race([
      t.stack.destroy({ runProgram: true, onOutput: () => undefined }),
      hung,
    ]).finally(() => clearTimeout(timer));
    assert.equal(run.summary.result, "succeeded");
    const state = await t.stack.exportStack();
    assert.deepEqual(
      (state.deployment.resources ?? []).map((r: { type: string }) => r.type),
      [],
      "no resource is left in the state",
    );
  });
});
