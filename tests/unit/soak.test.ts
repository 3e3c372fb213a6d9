// The soak's limits (absolute, or relative to the release before's baseline), its baseline probes,
// and the smoke flows it runs again while it soaks, against a small local HTTP server.
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { loadConfig } from "../../config";
import {
  measureBaseline,
  runSoak,
  soakBreaches,
  soakLimits,
  type BaselineLimits,
  type SoakSpec,
} from "../../engines/checks/soak";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const required = { databasePassword: true, appDatabasePassword: true };
const absolute = { maxErrorRate: 0.05, maxP95Ms: 1000 };
const relative = (errorRate: number, p95Ms: number): BaselineLimits => ({
  result: { probes: 20, errors: Math.round(errorRate * 20), errorRate, p50Ms: p95Ms, p95Ms },
  maxErrorRateIncrease: 0.05,
  maxP95Increase: 0.5,
  p95FloorMs: 100,
});

describe("soak limits", () => {
  it("are the stack's absolute ones without a baseline, or when none was measured (a first install)", () => {
    assert.deepEqual(soakLimits(absolute), { ...absolute, baseline: null });
    assert.deepEqual(soakLimits({ ...absolute, baseline: { ...relative(0, 200), result: null } }), {
      ...absolute,
      baseline: null,
    });
  });

  it("are the baseline's error rate plus 5 points and its p95 plus 50 %, as TERP's rollback criteria say", () => {
    const limits = soakLimits({ maxErrorRate: 0.2, maxP95Ms: 5000, baseline: relative(0.02, 200) });
    assert.equal(limits.maxErrorRate, 0.07);
    assert.equal(limits.maxP95Ms, 300);
    assert.equal(limits.baseline?.p95Ms, 200);
  });

  it("are never looser than the absolute ones: a failing or slow release before does not let the next one off", () => {
    const limits = soakLimits({ ...absolute, baseline: relative(1, 3000) });
    assert.deepEqual([limits.maxErrorRate, limits.maxP95Ms], [0.05, 1000]);
  });

  it("never put the p95 limit under its floor, so a few milliseconds of baseline do not make noise a breach", () => {
    assert.equal(soakLimits({ ...absolute, baseline: relative(0, 4) }).maxP95Ms, 100);
  });

  it("name the baseline in a breach, so the operator sees what the release is compared with", () => {
    const limits = soakLimits({ ...absolute, baseline: relative(0, 200) });
    assert.deepEqual(soakBreaches(limits, [250, 260, 280, 400], 0), [
      "p95 latency 400 ms is over 300 ms (the release before: p95 200 ms)",
    ]);
    assert.deepEqual(soakBreaches(limits, [10, 10, 10, 10], 1), [
      "error rate 25.0 % (1 of 4 probes) is over 5.0 % (the release before: error rate 0.0 %)",
    ]);
    assert.deepEqual(soakBreaches(soakLimits(absolute), [10, 1200], 0), [
      "p95 latency 1200 ms is over 1000 ms",
    ]);
  });
});

describe("soak config", () => {
  const problems = (soak: Record<string, unknown>, more: Record<string, unknown> = {}) =>
    configProblems({ ...minimalRawConfig(), soak, ...more }, required);

  it("refuses logs judged again without a log check, and smoke flows run again without any", () => {
    assert.deepEqual(problems({ durationSeconds: 60, logsEverySeconds: 10 }), [
      'rollout:soak.logsEverySeconds is 10 but there is no rollout:logCheck to judge the logs by. Fix: add rollout:logCheck (e.g. {forbid: ["ERROR|FATAL"]}), or remove logsEverySeconds.',
    ]);
    assert.deepEqual(problems({ durationSeconds: 60, smokeEverySeconds: 30 }), [
      "rollout:soak.smokeEverySeconds is 30 but rollout:smokeTests is empty. Fix: add a smoke flow, or remove smokeEverySeconds.",
    ]);
  });

  it("refuses a re-run interval no shorter than the soak, which would never run", () => {
    assert.deepEqual(problems({ durationSeconds: 30, smokeEverySeconds: 30 }, { smokeTests: [] }).slice(-1), [
      "rollout:soak.smokeEverySeconds is 30, not less than soak.durationSeconds (30): it would never run. Fix: make it shorter than the soak, e.g. 7.",
    ]);
  });

  it("fills the baseline's defaults: 20 probes, +5 points of errors, +50 % p95, a 100 ms floor", () => {
    const config = loadConfig(
      "dev",
      { ...minimalRawConfig(), soak: { durationSeconds: 60, baseline: {} } },
      required,
    );
    assert.deepEqual(config.soak?.baseline, {
      probes: 20,
      maxErrorRateIncrease: 0.05,
      maxP95Increase: 0.5,
      p95FloorMs: 100,
    });
  });
});

describe("soak against a service", () => {
  let server: http.Server;
  let base: string;
  let slowMs = 0;
  let ordersFailAfter = Infinity;
  let orders = 0;
  before(async () => {
    server = http.createServer((req, res) => {
      if (req.url === "/orders") {
        orders++;
        res.writeHead(orders > ordersFailAfter ? 500 : 200, { "content-type": "application/json" });
        res.end(JSON.stringify({ orders }));
        return;
      }
      setTimeout(() => res.writeHead(200).end("ok"), slowMs);
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const soak = (more: Partial<SoakSpec>): SoakSpec => ({
    urls: [`${base}/health`],
    durationSeconds: 1.2,
    intervalMs: 50,
    requestTimeoutMs: 2000,
    ...absolute,
    ...more,
  });

  it("measures the baseline of the release running now, and none where nothing answers on a first install", async () => {
    slowMs = 0;
    const b = await measureBaseline({ ...soak({}), probes: 5, allowNoCurrentService: false });
    assert.deepEqual([b?.probes, b?.errors, b?.errorRate], [5, 0, 0]);
    assert.equal(
      await measureBaseline({
        urls: ["http://127.0.0.1:9/health"],
        probes: 3,
        intervalMs: 10,
        requestTimeoutMs: 500,
        allowNoCurrentService: true,
      }),
      null,
    );
  });

  it("fails a release twice as slow as its baseline, which the absolute limit alone would let through", async () => {
    slowMs = 250;
    await assert.rejects(
      runSoak(soak({ baseline: relative(0, 100) })),
      /^Error: soak failed after 1\.2 s: p95 latency 2\d\d ms is over 150 ms \(the release before: p95 100 ms\)\. The release is live/,
    );
    slowMs = 0;
  });

  it("runs the smoke flows again as it soaks, and ends at the first run that fails, naming the step", async () => {
    orders = 0;
    ordersFailAfter = 3;
    const flow = {
      name: "orders",
      baseUrl: base,
      headers: {},
      vars: {},
      steps: [{ name: "list orders", method: "GET", path: "/orders", expectStatus: 200 }],
      stepTimeoutMs: 2000,
    };
    await assert.rejects(
      runSoak(soak({ durationSeconds: 3, smoke: { everySeconds: 0.2, tests: [flow] } })),
      /soak failed after \d s: run 4 of the smoke tests: smoke test `orders` step `list orders` failed: GET \/orders expected status 200[^]*got status 500/,
    );
    ordersFailAfter = Infinity;
    const passed = await runSoak(soak({ smoke: { everySeconds: 0.3, tests: [flow] } }));
    assert.ok(passed.smokeRuns! >= 2, `smoke runs: ${passed.smokeRuns}`);
  });
});
