// Scratch database names carry their stack, so the next run of a stack can find its own leftovers
// and never another stack's; partial dumps are told live by the processes that hold them.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { processesHolding, scratchDatabaseName, scratchDatabasePrefix } from "../../engines/backup";

describe("scratch database names", () => {
  const stacks = [
    "prod",
    "prod-eu",
    "prod_eu",
    "org/proj/prod",
    "Prod",
    "a-very-long-stack-name-for-the-staging-cluster-eu-west-1",
    "a-very-long-stack-name-for-the-staging-cluster-eu-west-2",
  ];

  it("start with the stack's name and fit PostgreSQL's 63-byte limit", () => {
    for (const stack of stacks) {
      const name = scratchDatabaseName(stack);
      assert.ok(name.startsWith(scratchDatabasePrefix(stack)), name);
      assert.match(name, /^rollout_restore_[a-z0-9_]+_[0-9a-f]{8}_[0-9a-f]{12}$/);
      assert.ok(Buffer.byteLength(name) <= 63, `${name} is ${name.length} bytes`);
    }
    assert.match(scratchDatabasePrefix("org/proj/prod"), /^rollout_restore_org_proj_prod_[0-9a-f]{8}_$/);
  });

  it("never give two stacks the same prefix, nor one a prefix of another's", () => {
    const prefixes = stacks.map(scratchDatabasePrefix);
    for (const [i, a] of prefixes.entries()) {
      for (const [j, b] of prefixes.entries()) {
        if (i !== j)
          assert.ok(!b.startsWith(a), `${stacks[j]} (${b}) starts with ${stacks[i]}'s prefix ${a}`);
      }
    }
  });
});

describe("processesHolding", () => {
  it("names a live process that has the file open, and none once it has ended", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "holders-"));
    const file = path.join(dir, "x.dump.partial");
    fs.writeFileSync(file, "");
    const holder = spawn("sh", ["-c", `exec 3>>'${file}'; echo ready; exec sleep 30`], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    try {
      await new Promise((resolve) => holder.stdout.once("data", resolve));
      assert.deepEqual(processesHolding(file), [holder.pid]);
    } finally {
      holder.kill("SIGKILL");
      await new Promise((resolve) => holder.once("exit", resolve));
    }
    assert.deepEqual(processesHolding(file), []);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
