// Watching after the release, on a stack configured like prod: the soak runs the smoke flows and
// reads the logs again as it goes, and judges error rate and p95 against a baseline measured on the
// release before, ahead of maintenance on. Beside the sample service runs a job (tests/support/
// services, ROLE=job) that a smoke step ticks. A first install has no baseline; the next release is
// judged against the first, through `npm run deploy --watch`; a release whose job answers 0.7 s
// slower fails on its baseline, which its absolute limit would let through; a job that starts
// logging errors after the checks fails at the soak's next look at the logs.
import assert from "node:assert/strict";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, matchOut, tail, webhookListener } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { approved, prodLike } from "../support/prodLike";
import { createTestStack, freePort, sampleConfig, type Release, type TestStack } from "../support/stack";

/** The soak of every release here: re-runs each second, a baseline of 10 probes, a generous absolute p95. */
const SOAK = {
  durationSeconds: 4,
  intervalMs: 200,
  maxErrorRate: 0.05,
  maxP95Ms: 5000,
  smokeEverySeconds: 1,
  logsEverySeconds: 1,
  baseline: { probes: 10, maxErrorRateIncrease: 0.05, maxP95Increase: 0.5, p95FloorMs: 300 },
};

describe("watching after the release: smoke flows and logs again, limits from a baseline", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  let jobPort: number;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const report = async () => (await t.stack.outputs()).report.value as Record<string, any>;
  const ticks = async () =>
    ((await (await fetch(`http://127.0.0.1:${jobPort}/ticks`)).json()) as { ticks: number }).ticks;

  /** Release `app` of the sample service beside the job at `jobTag`, with the job's own env. */
  function release(app: Release, jobTag: string, jobEnv: Record<string, string> = {}, first = false) {
    const id = `${t.name}-${app}-${jobTag}`;
    const config = first ? sampleConfig(t, app, id) : prodLike(t, app, id);
    const job = `http://127.0.0.1:${jobPort}`;
    return {
      ...config,
      "rollout:backup": { ...(config["rollout:backup"] as object), restoreTest: false },
      "rollout:services": [
        {
          name: "job",
          image: `rollout-itest-watch-${t.name}:${jobTag}`,
          build: {
            context: path.join(ROOT, "tests", "support", "services"),
            baseImage: "rollout/node-base:local",
          },
          env: { ROLE: "job", PORT: String(jobPort), ...jobEnv },
        },
      ],
      "rollout:checks": [
        ...(config["rollout:checks"] as object[]),
        { name: "job", url: `${job}/`, latencyBudgetMs: 3000, retries: 20, retryIntervalMs: 500 },
      ],
      "rollout:smokeTests": [
        ...(config["rollout:smokeTests"] as object[]),
        { name: "job", baseUrl: job, steps: [{ name: "tick", path: "/tick", expectStatus: 200 }] },
      ],
      "rollout:logCheck": { forbid: ["ERROR|FATAL"] },
      "rollout:soak": SOAK,
      ...(first ? { "rollout:approvals": { required: [], given: [] } } : {}),
    };
  }

  before(async () => {
    hook = await webhookListener();
    t = await createTestStack("itest-watch");
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    jobPort = await freePort();
    await t.setConfig(release("1.0.0", "job-1", {}, true));
    await t.stack.up({ message: "first install" });
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await hook?.close();
    }
  });

  it("1. a first install soaks on the absolute limits, running the smoke flows and reading the logs again", async () => {
    const soak = (await report()).soak;
    assert.equal(soak.limits.baseline, null, "nothing ran before: no baseline");
    assert.deepEqual([soak.limits.maxErrorRate, soak.limits.maxP95Ms], [0.05, 5000]);
    assert.ok(soak.smokeRuns >= 2 && soak.logRuns >= 2, JSON.stringify(soak));
    // The job's own count: the smoke test's tick during `up`, and one per run of the flows while soaking.
    assert.equal(await ticks(), 1 + soak.smokeRuns);
  });

  it("2. the next release, through npm run deploy --watch, is judged against the first one's baseline", async () => {
    await approved(t, release("1.1.0", "job-1"));
    const run = await cli(t, ["deploy", "--yes", "--watch", "4s", "--watch-window", "2s"]);
    assert.equal(run.code, 0, tail(run.output));
    const soak = (await report()).soak;
    assert.equal(soak.limits.baseline.probes, 10);
    assert.equal(soak.limits.baseline.errorRate, 0);
    assert.equal(soak.limits.maxErrorRate, 0.05);
    assert.equal(soak.limits.maxP95Ms, Math.max(300, Math.round(soak.limits.baseline.p95Ms * 1.5)));
    matchOut(
      run.output,
      /limits from the baseline of the release before \(error rate 0\.0 %, p95 \d+ ms\): error rate up to 5\.0 %, p95 up to \d+ ms/,
    );
    matchOut(run.output, /watch ended without a breach/);
  });

  it("3. a release whose job answers 0.7 s slower fails on the baseline, though its absolute limit is 5 s", async () => {
    await approved(t, release("1.1.0", "job-2", { DELAY_MS: "700" }));
    await assert.rejects(
      t.stack.up({ message: "slow job" }),
      /soak failed after 4 s: p95 latency \d+ ms is over 300 ms \(the release before: p95 \d+ ms\)\. The release is live/,
    );
  });

  it("4. a job that starts logging errors after the checks fails at the soak's next look at the logs", async () => {
    await approved(t, release("1.1.0", "job-3", { TICK_ERROR_FROM: "2" }));
    await assert.rejects(
      t.stack.up({ message: "job breaks after the checks" }),
      /soak failed after \d+ s: log check `logs` failed: the logs since [^]*job: "ERROR job tick 2 failed: the nightly reset did not finish" matches \/ERROR\|FATAL\/[^]*roll back\. The release is live/,
    );
  });
});
