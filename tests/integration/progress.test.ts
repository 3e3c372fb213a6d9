// Watching a rollout, for real: the progress lines of the long steps arrive through the engine's
// log while each step runs (the Automation API's events, as `deploy` streams them), and `deploy`
// reviews a release in plain words before it asks.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { cli, matchOut, tail } from "../support/cli";
import { Client } from "pg";
import { createTestStack, sampleConfig, targetDatabase, TEST_IMAGE, type TestStack } from "../support/stack";

/** Info lines the engine logged under a resource whose URN ends with `suffix`, in order. */
const linesUnder = (events: EngineEvent[], suffix: string) =>
  events
    .filter((e) => e.diagnosticEvent?.severity === "info" && e.diagnosticEvent.urn?.endsWith(suffix))
    .map((e) => e.diagnosticEvent!.message.trim());

/** Position of the first event matching `test`; -1 when none does. */
const indexOf = (events: EngineEvent[], test: (e: EngineEvent) => boolean) => events.findIndex(test);

describe("progress while a rollout runs, and the review in plain words", () => {
  let t: TestStack;
  const events: EngineEvent[] = [];

  before(async () => {
    t = await createTestStack("itest-progress");
    const config = sampleConfig(t, "1.0.0");
    // A gate that holds once this session is gone; it goes when the gate has said it waits.
    const holder = new Client({ ...targetDatabase(), application_name: `${t.name}-hold` });
    await holder.connect();
    await t.setConfig({
      ...config,
      "rollout:preflight": {
        ...config["rollout:preflight"],
        gates: [
          {
            name: "quiet-hour",
            sql: `SELECT count(*) FROM pg_stat_activity WHERE application_name = '${t.name}-hold'`,
            expect: "0",
            timeoutSeconds: 120,
            intervalMs: 300,
          },
        ],
      },
    });
    try {
      await t.stack.up({
        message: "release 1.0.0",
        onEvent: (e) => {
          events.push(e);
          if (/`quiet-hour`: attempt/.test(e.diagnosticEvent?.message ?? "")) void holder.end();
        },
      });
    } finally {
      await holder.end().catch(() => undefined);
    }
  });
  after(async () => {
    await t?.cleanup();
  });

  it("the backup says what it dumps and, verified, its size, tables and sha256, before the step ends", () => {
    const lines = linesUnder(events, "::rollout-backup");
    assert.ok(lines.length > 0, "the backup logged progress");
    assert.match(
      lines[0],
      /^backup: pg_dump .*\d+\.\d+.* dumping database ".*" at .* \(\d+ tables\) to .*\.dump$/,
    );
    const verified = lines.find((l) => / verified, /.test(l));
    assert.match(verified ?? "", /verified, [\d.]+ (B|KiB|MiB), \d+ tables, sha256 [0-9a-f]{64}$/);
    // Live, not after the fact: the line comes before the engine records the step's outputs.
    const said = indexOf(events, (e) => / verified, /.test(e.diagnosticEvent?.message ?? ""));
    const done = indexOf(
      events,
      (e) => e.resOutputsEvent?.metadata.urn.endsWith("::rollout-backup-dump") === true,
    );
    assert.ok(said >= 0 && done > said, `progress (event ${said}) before the step's outputs (event ${done})`);
  });

  it("each migration says when it starts and ends", () => {
    const lines = linesUnder(events, "::rollout-schema");
    assert.ok(
      lines.some((l) => /^applying 0001_\w+/.test(l)),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => /^applied 0001_\w+ in \d+ ms/.test(l)),
      lines.join("\n"),
    );
    assert.ok(
      lines.some((l) => /^took the migration lock/.test(l)),
      lines.join("\n"),
    );
  });

  it("a polled gate says its attempt and the value it saw; the soak its probes", () => {
    const gate = linesUnder(events, "::rollout-preflight");
    assert.ok(
      gate.some((l) =>
        /^preflight gate `quiet-hour`: attempt 1 of at most \d+, value "1", waiting for "0"$/.test(l),
      ),
      gate.join("\n"),
    );
    assert.ok(gate.includes("preflight gate `quiet-hour` holds (0)"), gate.join("\n"));
    const soak = linesUnder(events, "::rollout-soak");
    assert.ok(
      soak.some((l) => /^soak: \d+ s of 2 s, \d+ probes, 0 errors \(0\.0 %\), p95 \d+ ms so far$/.test(l)),
      soak.join("\n"),
    );
    // The image build's own lines: tests/integration/imageBuild.test.ts (here the image is reused).
  });

  it("no progress line holds a secret", async () => {
    const secrets = Object.values(await t.stack.getAllConfig())
      .filter((v) => v.secret)
      .map((v) => v.value)
      .filter((v) => v.length >= 6);
    assert.ok(secrets.length >= 3, "the stack has secrets to look for");
    const all = events.map((e) => e.diagnosticEvent?.message ?? "").join("\n");
    for (const s of secrets) assert.ok(!all.includes(s), "a secret value is in a progress line");
  });

  it("deploy shows the preview, then the release in plain words, then streams the progress", async () => {
    await t.setConfig(sampleConfig(t, "1.1.0"));
    const run = await cli(t, ["deploy", "--yes"]);
    assert.equal(run.code, 0, tail(run.output));
    matchOut(run.output, /in plain words:/);
    matchOut(run.output, new RegExp(`release ${t.name}-1\\.0\\.0 -> ${t.name}-1\\.1\\.0`));
    matchOut(
      run.output,
      /backup: a new one is taken and verified before the schema moves, .*, with a restore test/,
    );
    matchOut(run.output, /migrations \(1\): apply 0003_\w+/);
    matchOut(run.output, new RegExp(`image ${TEST_IMAGE}:1\\.0\\.0 -> ${TEST_IMAGE}:1\\.1\\.0`));
    // The up's progress, streamed by the Automation API into deploy's output.
    matchOut(run.output, /applied 0003_\w+ in \d+ ms/);
    matchOut(run.output, /backup: .* verified, /);
  });
});
