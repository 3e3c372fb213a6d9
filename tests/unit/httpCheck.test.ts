import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { judgeResponse, runHttpCheck, type HttpCheckSpec } from "../../engines/checks/http";

const base: Omit<HttpCheckSpec, "url"> = {
  name: "health",
  method: "GET",
  expectStatus: 200,
  expectJson: {},
  latencyBudgetMs: 1000,
  retries: 0,
  retryIntervalMs: 10,
  deadlineSeconds: 5,
};

describe("judgeResponse", () => {
  const cases: [string, Partial<HttpCheckSpec>, number, string, number, string | undefined][] = [
    ["passes on expected status", {}, 200, "", 5, undefined],
    ["wrong status", {}, 503, "", 5, "status 503 (expected 200)"],
    ["json field matches", { expectJson: { version: "1.0.0" } }, 200, '{"version":"1.0.0"}', 5, undefined],
    [
      "json field differs",
      { expectJson: { version: "1.1.0" } },
      200,
      '{"version":"1.0.0"}',
      5,
      'version="1.0.0" (expected "1.1.0")',
    ],
    ["json field absent", { expectJson: { ok: true } }, 200, "{}", 5, "ok=absent (expected true)"],
    ["body not json", { expectJson: { ok: true } }, 200, "<html>", 5, 'a body that is not JSON: "<html>"'],
    ["body text missing", { expectBodyContains: "ready" }, 200, "starting", 5, 'a body without "ready"'],
    ["over latency budget", { latencyBudgetMs: 100 }, 200, "", 250, "latency 250 ms (budget 100 ms)"],
    [
      "several problems together",
      { expectJson: { v: 1 }, latencyBudgetMs: 1 },
      500,
      '{"v":2}',
      2,
      "status 500 (expected 200), v=2 (expected 1), latency 2 ms (budget 1 ms)",
    ],
  ];
  for (const [name, spec, status, body, latency, expected] of cases) {
    it(name, () =>
      assert.equal(judgeResponse({ ...base, url: "http://x", ...spec }, status, body, latency), expected),
    );
  }
});

describe("runHttpCheck against a local server", () => {
  let server: http.Server;
  let url: string;
  let calls = 0;

  before(async () => {
    server = http.createServer((req, res) => {
      calls++;
      if (req.url === "/flaky" && calls % 3 !== 0) {
        res.writeHead(503).end("starting");
        return;
      }
      res.writeHead(200, { "content-type": "application/json" }).end('{"status":"ok","version":"1.0.0"}');
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  it("passes and records status, latency and attempts", async () => {
    const result = await runHttpCheck({ ...base, url: `${url}/health`, expectJson: { version: "1.0.0" } });
    assert.equal(result.passed, true);
    assert.equal(result.status, 200);
    assert.equal(result.attempts, 1);
    assert.ok(result.latencyMs >= 0 && result.latencyMs < 1000);
  });

  it("retries until the service answers as expected", async () => {
    calls = 0;
    const result = await runHttpCheck({ ...base, url: `${url}/flaky`, retries: 5 });
    assert.equal(result.attempts, 3);
  });

  it("fails naming the check, the expectation, what came back and the attempts", async () => {
    await assert.rejects(
      runHttpCheck({ ...base, url: `${url}/health`, expectJson: { version: "1.1.0" }, retries: 2 }),
      (err: Error) => {
        assert.match(
          err.message,
          new RegExp(
            `^health check \`health\` failed: GET ${url}/health expected status 200, version="1.1.0", within 1000 ms; ` +
              `got version="1.0.0" \\(expected "1.1.0"\\) on attempt 3 after \\d+\\.\\d s\\. Next: `,
          ),
        );
        return true;
      },
    );
  });

  it("fails with the connection error when nothing listens", async () => {
    const closed = http.createServer();
    await new Promise<void>((resolve) => closed.listen(0, "127.0.0.1", resolve));
    const port = (closed.address() as AddressInfo).port;
    await new Promise<void>((resolve) => closed.close(() => resolve()));
    await assert.rejects(
      runHttpCheck({ ...base, url: `http://127.0.0.1:${port}/health` }),
      /got no response \(ECONNREFUSED\) on attempt 1/,
    );
  });

  it("stops at the deadline even with retries left", async () => {
    const started = Date.now();
    await assert.rejects(
      runHttpCheck({
        ...base,
        url: `${url}/health`,
        expectStatus: 204,
        retries: 1000,
        retryIntervalMs: 200,
        deadlineSeconds: 1,
      }),
      /status 200 \(expected 204\) on attempt [1-9] /,
    );
    assert.ok(Date.now() - started < 3000);
  });
});
