// Checks that can say what the runbooks say: field matchers, secrets in headers and bodies, form
// bodies, latency budgets, several logins in one flow, expected row sets, log patterns, and the
// config that names them (named secrets, maintenance with separate URLs).
import assert from "node:assert/strict";
import http from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { entriesReader, loadConfig, readConfig } from "../../config";
import { runHttpCheck, type HttpCheckSpec } from "../../engines/checks/http";
import { judgeLogs } from "../../engines/checks/logs";
import { describeField, judgeField, judgeFields } from "../../engines/checks/match";
import { encodeBody, fillSecrets, hide, secretForms } from "../../engines/checks/request";
import { runSmokeTest } from "../../engines/checks/smoke";
import { expectedText, rowsSeen } from "../../engines/checks/sql";
import { runWebSocketCheck, type WebSocketCheckSpec } from "../../engines/checks/websocket";
import { WebSocketServer } from "ws";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const required = { databasePassword: true, appDatabasePassword: true };

describe("field matchers", () => {
  const body = { items: [{ id: 1 }, { id: 2 }], total: 2, name: "Employee", token: null };
  const cases: [string, string, Parameters<typeof judgeField>[2], string | undefined][] = [
    ["equality holds", "total", 2, undefined],
    ["equality fails", "total", 3, "total=2 (expected 3)"],
    ["type array", "items", { type: "array" }, undefined],
    [
      "type number fails on a string",
      "name",
      { type: "number" },
      'name is a string "Employee" (expected a number)',
    ],
    ["regex", "name", { regex: "^Emp" }, undefined],
    ["regex fails", "name", { regex: "^Dept" }, 'name is "Employee" (expected to match /^Dept/)'],
    ["minLength holds", "items", { minLength: 2 }, undefined],
    ["minLength fails", "items", { type: "array", minLength: 3 }, "items is length 2 (expected at least 3)"],
    [
      "minLength on a number",
      "total",
      { minLength: 1 },
      "total is 2, which has no length (expected at least 1)",
    ],
    ["exists on null", "token", { exists: true }, undefined],
    ["exists fails", "missing", { exists: true }, "missing is absent (expected it to exist)"],
    ["absent holds", "missing", { exists: false }, undefined],
    ["dotted path", "items.1.id", 2, undefined],
    ["deep equals", "items.0", { equals: { id: 1 } }, undefined],
  ];
  for (const [name, field, expected, problem] of cases) {
    it(name, () => {
      const got = judgeFields(body, { [field]: expected });
      assert.deepEqual(got, problem === undefined ? [] : [problem]);
    });
  }

  it("describes what a matcher asks for", () => {
    assert.equal(
      describeField("items", { type: "array", minLength: 1 }),
      "items an array, of length at least 1",
    );
    assert.equal(describeField("status", "ok"), 'status="ok"');
  });
});

describe("secrets and bodies of a request", () => {
  it("fills {secret:NAME} and refuses a name it was not given", () => {
    assert.equal(fillSecrets("Bearer {secret:api}", { api: "t0ken" }, "check `x`"), "Bearer t0ken");
    assert.throws(() => fillSecrets("{secret:other}", {}, "check `x`"), /check `x` uses \{secret:other\}/);
  });

  it("encodes a form body with filled values", () => {
    const body = encodeBody({ form: { username: "ann", password: "{secret:pw}" } }, (t) =>
      fillSecrets(t, { pw: "a&b=c" }, "x"),
    );
    assert.deepEqual(body, {
      text: "username=ann&password=a%26b%3Dc",
      contentType: "application/x-www-form-urlencoded",
    });
  });
});

describe("HTTP checks and smoke flows against a local server", () => {
  let server: http.Server;
  let base: string;
  const seen: { path: string; headers: http.IncomingHttpHeaders; body: string }[] = [];
  before(async () => {
    server = http.createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const body = Buffer.concat(chunks).toString();
        seen.push({ path: req.url ?? "", headers: req.headers, body });
        const send = (status: number, value: unknown, delayMs = 0) =>
          setTimeout(
            () => res.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(value)),
            delayMs,
          );
        if (req.url === "/login") {
          const form = new URLSearchParams(body);
          const user = form.get("username");
          if (form.get("password") !== `pw-of-${user}`) return send(401, { error: "wrong password" });
          return send(200, { token: `token-of-${user}` });
        }
        if (req.url === "/approve") {
          return req.headers.authorization === "Bearer token-of-approver"
            ? send(200, { approved: true })
            : send(403, { error: "only approvers" });
        }
        if (req.url === "/employees") return send(200, { items: [{ id: 1 }], total: 1 });
        if (req.url === "/slow") return send(200, {}, 120);
        if (req.url === "/secure") {
          return req.headers["x-api-key"] === "the-api-key" ? send(200, { ok: true }) : send(401, {});
        }
        return send(404, {});
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const check = (overrides: Partial<HttpCheckSpec>): HttpCheckSpec => ({
    name: "employees",
    url: `${base}/employees`,
    method: "GET",
    expectStatus: 200,
    expectJson: {},
    // Generous: these tests are about requests and matchers, not speed (the budget test sets its own).
    latencyBudgetMs: 30_000,
    retries: 0,
    retryIntervalMs: 10,
    deadlineSeconds: 5,
    ...overrides,
  });

  it("sends a header filled from a secret and passes a matcher", async () => {
    const result = await runHttpCheck(
      check({
        url: `${base}/secure`,
        headers: { "x-api-key": "{secret:apiKey}" },
        secrets: { apiKey: "the-api-key" },
        expectJson: { ok: { type: "boolean", equals: true } },
      }),
    );
    assert.equal(result.status, 200);
    assert.equal(seen.at(-1)?.headers["x-api-key"], "the-api-key");
    assert.ok(!result.expected.includes("the-api-key"));
  });

  it("fails a matcher naming the field, what it expected and what came back", async () => {
    await assert.rejects(
      runHttpCheck(check({ expectJson: { items: { type: "array", minLength: 2 } } })),
      /health check `employees` failed: GET .*\/employees expected status 200, items an array, of length at least 2, within 30000 ms; got items is length 1 \(expected at least 2\)/,
    );
  });

  it("fails a blown latency budget with the measured time and the budget", async () => {
    await assert.rejects(
      runHttpCheck(check({ name: "list", url: `${base}/slow`, latencyBudgetMs: 50 })),
      /health check `list` failed: .*got latency \d{3} ms \(budget 50 ms\)/,
    );
  });

  it("keeps two logins' tokens apart in one flow, with form bodies and a per-step budget", async () => {
    const result = await runSmokeTest({
      name: "approval",
      baseUrl: base,
      vars: { approverPassword: "pw-of-approver", requesterPassword: "pw-of-requester" },
      stepTimeoutMs: 2000,
      steps: [
        {
          name: "login approver",
          method: "POST",
          path: "/login",
          form: { username: "approver", password: "${approverPassword}" },
          expectStatus: 200,
          capture: { approverToken: "token" },
        },
        {
          name: "login requester",
          method: "POST",
          path: "/login",
          form: { username: "requester", password: "${requesterPassword}" },
          expectStatus: 200,
          capture: { requesterToken: "token" },
        },
        {
          name: "requester may not approve",
          method: "POST",
          path: "/approve",
          headers: { authorization: "Bearer ${requesterToken}" },
          expectStatus: 403,
        },
        {
          name: "approver approves",
          method: "POST",
          path: "/approve",
          headers: { authorization: "Bearer ${approverToken}" },
          expectStatus: 200,
          expectJson: { approved: true },
          latencyBudgetMs: 500,
        },
      ],
    });
    assert.deepEqual(
      result.steps.map((s) => [s.name, s.status]),
      [
        ["login approver", 200],
        ["login requester", 200],
        ["requester may not approve", 403],
        ["approver approves", 200],
      ],
    );
    assert.equal(result.steps[3].latencyBudgetMs, 500);
    assert.equal(
      seen.find((s) => s.path === "/login")?.headers["content-type"],
      "application/x-www-form-urlencoded",
    );
  });

  it("fails a smoke step over its budget, and never shows a secret in the message", async () => {
    await assert.rejects(
      runSmokeTest({
        name: "budget",
        baseUrl: base,
        secrets: { apiKey: "the-api-key" },
        stepTimeoutMs: 2000,
        steps: [
          {
            name: "slow list",
            method: "GET",
            path: "/slow",
            headers: { "x-api-key": "{secret:apiKey}" },
            expectStatus: 200,
            latencyBudgetMs: 20,
          },
        ],
      }),
      (err: Error) => {
        assert.match(
          err.message,
          /smoke test `budget` step `slow list` failed: .*latency \d+ ms \(budget 20 ms\)/,
        );
        assert.ok(!err.message.includes("the-api-key"), err.message);
        return true;
      },
    );
  });
});

describe("expected row sets", () => {
  it("compares arrays of values as text, NULL as null", () => {
    const rows = [
      { id: 1, name: "a", gone: null },
      { id: 2, name: "b", gone: true },
    ];
    assert.equal(
      JSON.stringify(rowsSeen(rows, false)),
      expectedText({
        expectRows: [
          ["1", "a", null],
          ["2", "b", "true"],
        ],
      }),
    );
  });

  it("compares objects whatever the order of their keys", () => {
    assert.equal(
      JSON.stringify(rowsSeen([{ b: 2, a: 1 }], true)),
      expectedText({ expectRows: [{ a: "1", b: "2" }] }),
    );
  });
});

describe("log patterns", () => {
  const lines = [
    { service: "app", line: "sample-app 1.1.0 listening on http://127.0.0.1:8080" },
    { service: "app", line: "ERROR could not reach the cache" },
  ];
  it("names each forbidden line and each missing required line", () => {
    assert.deepEqual(judgeLogs(lines, ["ERROR|FATAL"], ["listening on", "ready"]), {
      forbidden: ['app: "ERROR could not reach the cache" matches /ERROR|FATAL/'],
      missing: ["ready"],
    });
    assert.deepEqual(judgeLogs(lines.slice(0, 1), ["ERROR|FATAL"], ["listening on"]), {
      forbidden: [],
      missing: [],
    });
  });
});

describe("named secrets in config", () => {
  const withCheck = (check: Record<string, unknown>) =>
    minimalRawConfig({ checks: [{ name: "api", url: "http://127.0.0.1:18181/api", ...check }] });

  it("accepts a header naming a declared secret, as a template or a reference", () => {
    const config = loadConfig(
      "dev",
      withCheck({ headers: { authorization: "Bearer {secret:terpToken}", "x-key": { secret: "apiKey" } } }),
      { ...required, terpToken: true, apiKey: true },
    );
    assert.deepEqual(config.checks[0].headers, {
      authorization: "Bearer {secret:terpToken}",
      "x-key": { secret: "apiKey" },
    });
  });

  it("refuses an undeclared secret naming the key that refers to it and how to set it", () => {
    assert.deepEqual(
      configProblems(withCheck({ headers: { authorization: "Bearer {secret:terpToken}" } }), required),
      [
        "rollout:secrets.terpToken is missing (rollout:checks[0].headers.authorization refers to it). Fix: `pulumi config set --secret rollout:secrets.terpToken <value>`.",
      ],
    );
  });

  it("reads rollout:secrets.<name> through the stack's entries, and refuses one in plain text or set twice", () => {
    const entries = (extra: Record<string, { value: string; secret?: boolean }>) => ({
      "rollout:release": { value: JSON.stringify({ id: "r1", image: "sample-app:1.0.0" }) },
      "rollout:database": { value: JSON.stringify({ database: "rollout_dev" }) },
      "rollout:app": { value: JSON.stringify({ name: "app", port: 18181, databaseRole: "app" }) },
      "rollout:checks": {
        value: JSON.stringify([
          { name: "api", url: "http://127.0.0.1:1/x", headers: { a: "{secret:terpToken}" } },
        ]),
      },
      "rollout:databasePassword": { value: "db-pw", secret: true },
      "rollout:appDatabasePassword": { value: "app-pw", secret: true },
      ...extra,
    });
    const ok = readConfig(
      "s",
      entriesReader(entries({ "rollout:secrets.terpToken": { value: "tok", secret: true } })),
    );
    assert.equal(ok.secrets.terpToken, "tok");
    assert.throws(
      () => readConfig("s", entriesReader(entries({ "rollout:secrets.terpToken": { value: "tok-plain" } }))),
      (err: Error) => {
        assert.match(
          err.message,
          /rollout:secrets\.terpToken is set in plain text\. Fix: `pulumi config set --secret rollout:secrets\.terpToken <value>`/,
        );
        assert.ok(!err.message.includes("tok-plain"), "the value is never shown");
        return true;
      },
    );
    assert.throws(
      () =>
        readConfig(
          "s",
          entriesReader(
            entries({
              "rollout:secrets.terpToken": { value: "tok", secret: true },
              "rollout:secrets.maintenanceToken": { value: "m", secret: true },
              "rollout:secrets.9bad": { value: "x", secret: true },
            }),
          ),
        ),
      (err: Error) => {
        assert.match(
          err.message,
          /rollout:secrets\.maintenanceToken names the secret `maintenanceToken`, which is the key rollout:maintenanceToken already/,
        );
        assert.match(err.message, /rollout:secrets\.9bad has an invalid secret name "9bad"/);
        return true;
      },
    );
  });
});

describe("maintenance and SQL checks in config", () => {
  it("takes separate enable and disable URLs, POST by default, and keeps the one-URL form", () => {
    const separate = loadConfig(
      "dev",
      minimalRawConfig({
        maintenance: {
          enableUrl: "http://127.0.0.1:18181/admin/maintenance/enable",
          disableUrl: "http://127.0.0.1:18181/admin/maintenance/disable",
          tokenSecret: "terpToken",
        },
      }),
      { ...required, terpToken: true },
    ).maintenance;
    assert.equal(separate?.onMethod, "POST");
    assert.equal(separate?.offMethod, "POST");
    assert.equal(separate?.disableUrl, "http://127.0.0.1:18181/admin/maintenance/disable");
    const single = loadConfig(
      "dev",
      minimalRawConfig({ maintenance: { url: "http://127.0.0.1:18181/admin/maintenance" } }),
      { ...required, maintenanceToken: true },
    ).maintenance;
    assert.deepEqual(
      [single?.enableUrl, single?.onMethod, single?.offMethod],
      ["http://127.0.0.1:18181/admin/maintenance", "PUT", "DELETE"],
    );
  });

  it("refuses an enable URL without a disable URL, and a token secret not declared", () => {
    assert.deepEqual(
      configProblems(
        minimalRawConfig({
          maintenance: { enableUrl: "http://127.0.0.1:18181/on", tokenSecret: "terpToken" },
        }),
        required,
      ),
      [
        "rollout:maintenance.disableUrl is missing (is needed with the other one: give both enableUrl and disableUrl). Fix: set it with `pulumi config set --path 'rollout:maintenance.disableUrl' <value>`.",
      ],
    );
    assert.deepEqual(
      configProblems(
        minimalRawConfig({
          maintenance: {
            enableUrl: "http://127.0.0.1:18181/on",
            disableUrl: "http://127.0.0.1:18181/off",
            tokenSecret: "terpToken",
          },
        }),
        required,
      ),
      [
        "rollout:secrets.terpToken is missing (rollout:maintenance.tokenSecret refers to it). Fix: `pulumi config set --secret rollout:secrets.terpToken <value>`.",
      ],
    );
  });

  it("takes expectRows or expect, one of them, and refuses a matcher it cannot read", () => {
    const rows = loadConfig(
      "dev",
      minimalRawConfig({ sqlChecks: [{ name: "roles", sql: "SELECT 1, 'a'", expectRows: [[1, "a"]] }] }),
      required,
    );
    assert.deepEqual(rows.sqlChecks[0].expectRows, [["1", "a"]]);
    assert.equal(rows.sqlChecks[0].statementTimeoutMs, 10_000);
    assert.match(
      configProblems(minimalRawConfig({ sqlChecks: [{ name: "roles", sql: "SELECT 1" }] }), required)[0],
      /^rollout:sqlChecks\[0\]\.expect is missing \(give either expect \(the first value\) or expectRows/,
    );
    assert.match(
      configProblems(withMatcher({ items: { tpye: "array" } }), required)[0],
      /^rollout:checks\[0\]\.expectJson\.items\.tpye is not a known setting\. Fix: remove it/,
    );
  });
});

function withMatcher(expectJson: Record<string, unknown>) {
  return minimalRawConfig({ checks: [{ name: "api", url: "http://127.0.0.1:18181/api", expectJson }] });
}

describe("WebSocket checks against a local server", () => {
  let server: WebSocketServer;
  let url: string;
  before(async () => {
    server = new WebSocketServer({ host: "127.0.0.1", port: 0 });
    server.on("connection", (socket, req) => {
      if (req.headers["x-api-key"] !== "ws-key") return socket.close(1008, "no key");
      socket.send(JSON.stringify({ hello: "svc", version: "1.1.0" }));
      socket.on("message", (data) => socket.send(JSON.stringify({ echo: data.toString() })));
    });
    await new Promise<void>((resolve) => server.once("listening", () => resolve()));
    url = `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const spec = (overrides: Partial<WebSocketCheckSpec>): WebSocketCheckSpec => ({
    name: "ws",
    url,
    headers: { "x-api-key": "{secret:wsKey}" },
    secrets: { wsKey: "ws-key" },
    expectContains: [],
    expectJson: {},
    latencyBudgetMs: 1000,
    timeoutMs: 1000,
    retries: 0,
    retryIntervalMs: 10,
    ...overrides,
  });

  it("judges the first message, or the reply to one sent", async () => {
    const hello = await runWebSocketCheck(
      spec({ expectJson: { hello: "svc", version: { regex: "^1\\." } } }),
    );
    assert.equal(hello.attempts, 1);
    assert.match(hello.expected, /a first message, hello="svc", version matching \/\^1\\\.\//);
    await assert.doesNotReject(runWebSocketCheck(spec({ send: "ping", expectContains: ['"echo":"ping"'] })));
  });

  it("fails naming what it expected and what came back, never the secret", async () => {
    await assert.rejects(
      runWebSocketCheck(spec({ send: "ping", expectJson: { echo: "pong" } })),
      (err: Error) => {
        assert.match(
          err.message,
          /WebSocket check `ws` failed: ws:\/\/127\.0\.0\.1:\d+\/ws expected a reply to the message, echo="pong", within 1000 ms; got echo="ping" \(expected "pong"\)/,
        );
        assert.ok(!err.message.includes("ws-key"));
        return true;
      },
    );
    await assert.rejects(
      runWebSocketCheck(spec({ url: "ws://127.0.0.1:1/ws" })),
      /WebSocket check `ws` failed: .* got no reply \(ECONNREFUSED\)/,
    );
  });
});

describe("secrets in what a service writes", () => {
  it("are hidden raw, percent-encoded (a DATABASE_URL) and JSON-escaped (a structured log line)", () => {
    const secret = 'p@ss "w/rd"';
    const forms = secretForms([secret]);
    const lines = [
      `connecting to postgres://app:${encodeURIComponent(secret)}@127.0.0.1/app`,
      JSON.stringify({ msg: "login", password: secret }),
      `plain ${secret}`,
    ];
    for (const line of lines) {
      const shown = hide(line, forms);
      assert.ok(shown.includes("[secret]"), shown);
      assert.ok(!shown.includes("p@ss") && !shown.includes("p%40ss"), shown);
    }
  });
});
