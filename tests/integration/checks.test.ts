// Checks that say what the runbooks say, on a real stack of the sample service: named secrets
// (`rollout:secrets.<name>`) as service env, check headers, smoke variables and the maintenance
// token; maintenance through separate enable and disable URLs (TERP); matchers and latency budgets;
// two logins in one flow (approver and requester, DJ-System); a form login (Employee); SQL row sets;
// the log check; a WebSocket check. The failures run on a stack configured like prod, and every text the rollouts
// left behind is scanned for every declared secret.
/* eslint-disable @typescript-eslint/no-explicit-any -- stack config and the report are JSON here */
import type { EngineEvent } from "@pulumi/pulumi/automation";
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { ROOT } from "../support/fixtures";
import { declaredSecrets, listFiles, secretLeaks } from "../support/secretScan";
import { createTestStack, docker, sampleConfig, type Release, type TestStack } from "../support/stack";
import { approved as approvedOn, enforcedWindow } from "../support/prodLike";

/** This file's own image repository: its builds of the sample service are its own, never another test's tag. */
const IMAGE = "rollout-itest-checks-app";

describe("checks that say what the runbooks say", () => {
  let t: TestStack;
  const base = () => `http://127.0.0.1:${t.appPort}`;
  const events: EngineEvent[] = [];
  const failures: string[] = [];
  const onEvent = (e: EngineEvent) => events.push(e);
  const health = async () => (await fetch(`${base()}/health`)).json() as Promise<Record<string, unknown>>;
  const report = async () => (await t.stack.outputs()).report.value as Record<string, any>;
  const named = {
    terpToken: randomBytes(12).toString("hex"),
    requesterPassword: randomBytes(10).toString("hex"),
    approverPassword: randomBytes(10).toString("hex"),
  };

  /** The checks of this stack; `change` edits them for one scenario. */
  function checksConfig(release: Release, id: string, change: (c: Record<string, any>) => void = () => {}) {
    const config: Record<string, any> = { ...sampleConfig(t, release, id) };
    config["rollout:release"] = { ...config["rollout:release"], image: `${IMAGE}:${release}` };
    config["rollout:app"] = {
      ...config["rollout:app"],
      env: { SEED_USER: "requester", SEED_USER_2: "approver" },
      secretEnv: {
        MAINTENANCE_TOKEN: "terpToken",
        SEED_PASSWORD: "requesterPassword",
        SEED_PASSWORD_2: "approverPassword",
      },
    };
    config["rollout:maintenance"] = {
      enableUrl: `${base()}/admin/maintenance/enable`,
      disableUrl: `${base()}/admin/maintenance/disable`,
      tokenSecret: "terpToken",
      bypassHeader: "x-maintenance-bypass",
      allowUnreachable: true,
    };
    config["rollout:checks"] = [
      {
        name: "health",
        url: `${base()}/health`,
        expectJson: { status: "ok", version: "{version}", maintenance: { type: "boolean" } },
        retries: 20,
        retryIntervalMs: 500,
      },
      {
        // Behind maintenance: only the bypass header, a named secret, lets it through.
        name: "version",
        url: `${base()}/version`,
        headers: { "x-maintenance-bypass": "{secret:terpToken}" },
        expectJson: { version: { type: "string", regex: "^1\\.\\d+\\.\\d+$" } },
        latencyBudgetMs: 1000,
        retries: 5,
        retryIntervalMs: 500,
      },
    ];
    config["rollout:sqlChecks"] = [
      { name: "schema-version", sql: "SELECT max(id) FROM rollout_migrations", expect: "{schemaTarget}" },
      {
        name: "seeded-users",
        sql: "SELECT username FROM users ORDER BY username",
        expectRows: [["approver"], ["requester"]],
        timeoutSeconds: 20,
        intervalMs: 500,
        statementTimeoutMs: 2000,
      },
    ];
    config["rollout:logCheck"] = { require: ["listening on"], timeoutSeconds: 20 };
    config["rollout:wsChecks"] = [
      {
        // Behind maintenance too: the handshake carries the bypass header, a `{secret: name}` reference.
        name: "ws-echo",
        url: `ws://127.0.0.1:${t.appPort}/ws`,
        headers: { "x-maintenance-bypass": { secret: "terpToken" } },
        send: "ping",
        expectJson: { echo: "ping", version: "{version}" },
        latencyBudgetMs: 1000,
      },
    ];
    const auth = (token: string) => ({ authorization: `Bearer \${${token}}` });
    config["rollout:smokeTests"] = [
      {
        name: "approval",
        baseUrl: base(),
        vars: { requesterPassword: { secret: "requesterPassword" } },
        steps: [
          {
            name: "login requester",
            method: "POST",
            path: "/login",
            form: { username: "requester", password: "${requesterPassword}" },
            expectStatus: 200,
            expectJson: { token: { type: "string", minLength: 16 } },
            capture: { requesterToken: "token" },
            latencyBudgetMs: 2000,
          },
          {
            name: "login approver",
            method: "POST",
            path: "/login",
            body: { username: "approver", password: "{secret:approverPassword}" },
            expectStatus: 200,
            capture: { approverToken: "token" },
          },
          {
            name: "me requester",
            path: "/me",
            headers: auth("requesterToken"),
            expectStatus: 200,
            expectJson: { username: "requester" },
          },
          {
            name: "me approver",
            path: "/me",
            headers: auth("approverToken"),
            expectStatus: 200,
            expectJson: { username: "approver" },
          },
          {
            name: "create",
            method: "POST",
            path: "/items",
            headers: auth("requesterToken"),
            body: { title: "needs approval" },
            expectStatus: 201,
            expectJson: { id: { type: "number" }, title: "needs approval" },
            capture: { id: "id" },
            latencyBudgetMs: 1000,
          },
          {
            name: "list",
            path: "/items",
            headers: auth("approverToken"),
            expectStatus: 200,
            expectBodyContains: ["needs approval"],
            latencyBudgetMs: 1000,
          },
          {
            name: "delete",
            method: "DELETE",
            path: "/items/${id}",
            headers: auth("approverToken"),
            expectStatus: 204,
          },
        ],
      },
    ];
    change(config);
    return config;
  }

  /** The same checks on a stack configured like prod: current service, maintenance, window, approvals. */
  function prodLike(release: Release, id: string, change?: (c: Record<string, any>) => void) {
    const config = checksConfig(release, id, change);
    config["rollout:preflight"] = {
      currentHealthUrl: `${base()}/health`,
      allowNoCurrentService: false,
      gates: [],
    };
    config["rollout:maintenance"] = { ...config["rollout:maintenance"], allowUnreachable: false };
    config["rollout:window"] = enforcedWindow();
    config["rollout:approvals"] = { required: ["tech-lead", "dba"], given: [] };
    return config;
  }

  /** An up that must fail; its message is kept for the secret scan. */
  async function failingUp(config: Record<string, any>, message: string): Promise<string> {
    await t.setConfig(config);
    const err = await t.stack.up({ message, onEvent }).then(
      () => assert.fail(`${message}: the up was expected to fail`),
      (e: Error) => e,
    );
    failures.push(err.message);
    return err.message;
  }

  /** Sets the release with approvals naming the digest preview prints, as a reviewer does. */
  const approved = <C extends Record<string, unknown>>(config: C) => approvedOn(t, config);

  before(async () => {
    t = await createTestStack("itest-checks");
    for (const [name, value] of Object.entries(named)) {
      await t.stack.setConfig(`rollout:secrets.${name}`, { value, secret: true });
    }
    await t.setConfig(checksConfig("1.0.0", `${t.name}-1.0.0`));
    await t.stack.up({ message: "first install 1.0.0", onEvent });
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      // The next run builds from the sources it has; a tag never names two builds.
      for (const release of ["1.0.0", "1.1.0"]) {
        try {
          docker("rmi", "-f", `${IMAGE}:${release}`);
        } catch {
          // not built
        }
      }
    }
  });

  it("a first install passes every kind of check, with named secrets in env, headers, bodies and the maintenance token", async () => {
    const r = await report();
    const checks = Object.fromEntries(r.checks.map((c: { name: string }) => [c.name, c])) as Record<
      string,
      any
    >;
    assert.deepEqual(Object.keys(checks).sort(), [
      "health",
      "logs",
      "schema-version",
      "seeded-users",
      "version",
      "ws-echo",
    ]);
    assert.ok(Object.values(checks).every((c) => c.passed));
    assert.equal(checks["seeded-users"].observed, '[["approver"],["requester"]]');
    assert.equal(checks.logs.kind, "logs");
    assert.equal(checks["ws-echo"].kind, "websocket");
    assert.match(
      checks["ws-echo"].expected,
      /a reply to the message, echo="ping", version="1\.0\.0", within 1000 ms/,
    );
    assert.match(checks.logs.expected, /no line matching \/ERROR\|FATAL\/, a line matching \/listening on\//);
    assert.match(checks.version.expected, /version a string, matching \/\^1\\\.\\d\+\\\.\\d\+\$\//);
    assert.deepEqual(
      r.smokeTests[0].steps.map((s: { name: string; status: number }) => [s.name, s.status]),
      [
        ["login requester", 200],
        ["login approver", 200],
        ["me requester", 200],
        ["me approver", 200],
        ["create", 201],
        ["list", 200],
        ["delete", 204],
      ],
    );
    assert.equal(r.smokeTests[0].steps[5].latencyBudgetMs, 1000);
    // Nothing answered the enable URL on a first install; the disable URL switched it off.
    assert.equal(r.maintenance.on.outcome, "unreachable");
    assert.equal(r.maintenance.off.outcome, "switched");
    assert.deepEqual(await health(), { status: "ok", version: "1.0.0", maintenance: false });
  });

  it("on a prod-like stack a failing matcher stops the rollout after maintenance went on through its enable URL, and says what it saw", async () => {
    const release = await approved(prodLike("1.1.0", `${t.name}-1.1.0`));
    const wrong = structuredClone(release);
    wrong["rollout:checks"][1].expectJson = { version: { regex: "^9\\." } };
    const message = await failingUp(wrong, "release 1.1.0, a check expects 9.x");
    assert.match(
      message,
      /health check `version` failed: GET http:\/\/127\.0\.0\.1:\d+\/version expected status 200, version matching \/\^9\\\.\/, within 1000 ms; got version is "1\.1\.0" \(expected to match \/\^9\\\.\/\)/,
    );
    // The service is the new release, still in maintenance (the safe state), switched on by the enable URL.
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: true });
    assert.equal((await fetch(`${base()}/items`)).status, 503);
  });

  it("a smoke step over its latency budget stops the rollout with the step, the time and the budget", async () => {
    const release = await approved(prodLike("1.1.0", `${t.name}-1.1.0`));
    const slow = structuredClone(release);
    slow["rollout:smokeTests"][0].steps[0].latencyBudgetMs = 1;
    const message = await failingUp(slow, "release 1.1.0, a login budget of 1 ms");
    assert.match(
      message,
      /smoke test `approval` step `login requester` failed: POST \/login expected status 200, token a string, of length at least 16, within 1 ms; got latency \d+ ms \(budget 1 ms\)/,
    );
    assert.equal((await health()).maintenance, true);
  });

  it("a forbidden line in the release's logs stops the rollout, naming the line", async () => {
    const release = await approved(prodLike("1.1.0", `${t.name}-1.1.0`));
    const strict = structuredClone(release);
    strict["rollout:logCheck"] = { forbid: ["ERROR|FATAL", "listening on"], require: [] };
    const message = await failingUp(strict, "release 1.1.0, the start line forbidden");
    assert.match(
      message,
      /log check `logs` failed: the logs since \S+ have app: "sample-app 1\.1\.0 listening on http:\/\/127\.0\.0\.1:\d+ [^"]*" matches \/listening on\//,
    );
    assert.equal((await health()).maintenance, true);
  });

  it("a check naming an undeclared secret is refused before anything runs, naming the key and how to set it", async () => {
    const release = await approved(prodLike("1.1.0", `${t.name}-1.1.0`));
    const undeclared = structuredClone(release);
    undeclared["rollout:checks"][1].headers = { "x-maintenance-bypass": "{secret:terpTokn}" };
    await t.setConfig(undeclared);
    const err = await t.stack.preview().then(
      () => assert.fail("the preview was expected to fail"),
      (e: Error) => e,
    );
    assert.match(
      err.message,
      /rollout:secrets\.terpTokn is missing \(rollout:checks\[1\]\.headers\.x-maintenance-bypass refers to it\)\. Fix: `pulumi config set --secret rollout:secrets\.terpTokn <value>`\./,
    );
    assert.doesNotMatch(err.message, /\n\s+at .*\.ts:\d+/, "no stack trace");
  });

  it("fixed forward, the release passes and maintenance goes off through its disable URL", async () => {
    const release = await approved(prodLike("1.1.0", `${t.name}-1.1.0`));
    await t.setConfig(release);
    await t.stack.up({ message: "release 1.1.0", onEvent });
    const r = await report();
    assert.equal(r.maintenance.off.outcome, "switched");
    assert.ok(r.checks.every((c: { passed: boolean }) => c.passed));
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
  });

  it("no declared secret is in the raw state, the stack file, the engine's events, the outputs, the report files or the refusals", async () => {
    const secrets = await declaredSecrets(t.stack);
    for (const name of Object.keys(named)) assert.ok(`rollout:secrets.${name}` in secrets, name);
    assert.ok(Object.keys(secrets).length >= 7, `the stack's secrets: ${Object.keys(secrets).join(", ")}`);
    const stateFiles = listFiles(new URL(t.backendUrl).pathname);
    assert.ok(
      stateFiles.some((f) => f.endsWith(`${t.name}.json`)),
      `the state file is among ${stateFiles.join(", ")}`,
    );
    const reportFiles = listFiles(t.reportDir);
    assert.ok(
      reportFiles.some((f) => f.endsWith("latest.md")),
      `report files: ${reportFiles.join(", ")}`,
    );
    const files = [path.join(ROOT, `Pulumi.${t.name}.yaml`), ...stateFiles, ...reportFiles];
    const texts: (readonly [string, string])[] = files.map((f) => [f, fs.readFileSync(f, "utf8")] as const);
    texts.push(["the stack outputs", JSON.stringify(await t.stack.outputs())]);
    texts.push(["the engine events", events.map((e) => JSON.stringify(e)).join("\n")]);
    texts.push(["the failed updates' messages", failures.join("\n")]);
    assert.ok(events.length > 100, `events were recorded: ${events.length}`);
    assert.ok(failures.length === 3, `three failures were recorded: ${failures.length}`);
    // The values were used: the service logged the two users in, and the checks passed through maintenance.
    assert.deepEqual(secretLeaks(secrets, texts), []);
  });
});
