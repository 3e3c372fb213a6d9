// Progress while a step runs and the plain-words review: the engine-side pieces, without Pulumi.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { dynamicTypeToken, STEPS } from "../../components/tokens";
import { plannedSteps, reviewSummary } from "../../deploy/summary";
import { runSoak } from "../../engines/checks/soak";
import { formatBytes, throttled } from "../../engines/progress";

describe("progress lines", () => {
  it("formats bytes the way operators read them", () => {
    assert.equal(formatBytes(512), "512 B");
    assert.equal(formatBytes(3 * 1024 * 1024 + 200 * 1024), "3.20 MiB");
    assert.equal(formatBytes(949 * 1024 * 1024), "949.0 MiB");
    assert.equal(formatBytes(1.04 * 1024 ** 3), "1.04 GiB");
  });

  it("passes on at most one line per interval, the first at once", async () => {
    const seen: string[] = [];
    const say = throttled((l) => seen.push(l), 200);
    say("one");
    say("two");
    await new Promise((r) => setTimeout(r, 250));
    say("three");
    assert.deepEqual(seen, ["one", "three"]);
  });

  it("a soak says how many probes, errors and the p95 so far while it runs", async () => {
    let calls = 0;
    const server = http.createServer((_req, res) => {
      calls++;
      res.writeHead(calls % 4 === 0 ? 500 : 200).end("ok");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/health`;
    const lines: string[] = [];
    try {
      await runSoak(
        {
          urls: [url],
          durationSeconds: 1,
          intervalMs: 50,
          maxErrorRate: 0.5,
          maxP95Ms: 1000,
          requestTimeoutMs: 1000,
        },
        (l) => lines.push(l),
      );
    } finally {
      server.close();
    }
    assert.ok(lines.length >= 1, "at least one line while soaking");
    assert.match(lines[0], /^soak: \d+ s of 1 s, 1 probes, 0 errors \(0\.0 %\), p95 \d+ ms so far$/);
  });
});

const event = (op: string, type: string, name: string, inputs: Record<string, unknown> = {}): EngineEvent =>
  ({
    sequence: 0,
    timestamp: 0,
    resourcePreEvent: {
      metadata: {
        op,
        type,
        urn: `urn:pulumi:s::rollout::rollout:index:Rollout$${type}::${name}`,
        provider: "",
        new: { type, urn: "", id: "", parent: "", provider: "", inputs, outputs: {} },
      },
    },
  }) as unknown as EngineEvent;

describe("the review in plain words", () => {
  const next = { release: "1.2.0", image: "sample-app:1.2.0" };
  const running = { release: "1.1.0", image: "sample-app:1.1.0" };

  it("names the release, what changes, the backup, each migration and the image", () => {
    const steps = plannedSteps([
      event("same", dynamicTypeToken(STEPS.preflight), "r-preflight-run"),
      event("update", dynamicTypeToken(STEPS.backup), "r-backup-dump", {
        dir: "/var/backups/rollout",
        stack: "prod",
        restoreTest: true,
      }),
      event("update", dynamicTypeToken(STEPS.schema), "r-schema-state", {
        target: "0005",
        plan: { "1.2.0 #001 apply 0004_add_priority": ["ALTER ..."], "1.2.0 #002 apply 0005_index": [] },
      }),
      event("replace", "docker:index/container:Container", "r-release-app", { name: "sample-app-prod-app" }),
      event("update", dynamicTypeToken(STEPS.healthCheck), "r-health-run"),
    ]);
    const lines = reviewSummary(steps, next, running);
    assert.deepEqual(lines, [
      "release 1.1.0 -> 1.2.0",
      "what changes (4 of 5 resources): r-backup-dump (runs again), r-schema-state (runs again), r-release-app (replaced), r-health-run (runs again)",
      "backup: a new one is taken and verified before the schema moves, into /var/backups/rollout/prod, with a restore test",
      "migrations (2): apply 0004_add_priority, apply 0005_index",
      "image sample-app:1.1.0 -> sample-app:1.2.0",
      "containers recreated (stop old, start new): sample-app-prod-app",
      "checks that run after the release: 1",
    ]);
  });

  it("says a no-op is a no-op, and a first install has nothing running", () => {
    assert.deepEqual(reviewSummary(plannedSteps([event("same", "x", "a")]), next, running), [
      "nothing changes: the stack already runs this release (the update would be a no-op)",
    ]);
    const first = reviewSummary(
      plannedSteps([event("create", dynamicTypeToken(STEPS.schema), "s", {})]),
      next,
      undefined,
    );
    assert.equal(first[0], "release 1.2.0 (first install: no release is running)");
    assert.ok(first.includes("backup: none configured"));
    assert.ok(first.includes("image sample-app:1.2.0"));
  });
});
