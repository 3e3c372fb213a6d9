// The Warungin example (examples/warungin) run as an operator runs it, on a stack configured like
// prod: its committed stack file, with only what must differ on a test machine changed (names,
// ports, its own database, folders, image repository, the window open now but enforced, the
// server's pinned host key). The server is the second Docker host over SSH (local-env/dockerhost.sh):
// release 1.1.0 starts seven containers there in the runbook's order, after the database dump and
// the tar of the application directory; a live user session holds the next release at the gate;
// the broken 1.1.1 lets a supervisor into another store and fails its security smoke step; the
// rollback brings every service's earlier image back and the 403 with it. It is also the test of a
// Docker host over SSH: images built there, containers run there and not here, checks reaching it,
// the key pinned in the provider's options and in plain text nowhere, no key file left behind.
import yaml from "js-yaml";
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { hashSources } from "../../engines/image/sources";
import { cli, tail, webhookListener } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { approved, enforcedWindow } from "../support/prodLike";
import { onH2, removeFromH2, secondHost } from "../support/secondHost";
import { declaredSecrets, listFiles, secretLeaks } from "../support/secretScan";
import { containerState, createTestStack, query, targetDatabase, type TestStack } from "../support/stack";

const EXAMPLE = path.join(ROOT, "examples", "warungin");
/** Its own image repository, named by the services' sources, so changed services get new tags. */
const IMAGE = `exw-warungin-${hashSources(EXAMPLE, ["app/src", "app/build.mjs", "app/Dockerfile"]).slice(0, 12)}`;
/** The example's ports 18480-18486 on the server become this test's 46600-46606. */
const port = (examplePort: number) => examplePort - 18480 + 46600;
const SERVICES = ["redis", "frontend", "nginx", "loki", "promtail", "cloudflared"];
const CONTAINERS = ["app", ...SERVICES];

type Config = Record<string, unknown>;
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type Loose = Record<string, any>;

describe("the Warungin example: eight services over SSH, a gate, a broken release, rollback", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  const output: string[] = [];
  /** The image id each container ran after v1.1.0, read from the server's engine. */
  const good: Record<string, string> = {};
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-warungin-itest-"));
  /** The application directory on the server that the runbook tars (`cd /root/New-Warungin`). */
  const appDir = path.join(work, "New-Warungin");
  const supervisorPassword = `${Date.now().toString(36)}-sv`;
  const h2 = () => secondHost();
  const at = (examplePort: number) => `http://${h2().addr}:${port(examplePort)}`;
  const db = () => ({ database: t.database });
  const health = async () => (await fetch(`${at(18481)}/api/health`)).json() as Promise<Loose>;
  const schemaVersion = async () =>
    (await query<{ v: string }>("SELECT max(id) AS v FROM rollout_migrations", [], db()))[0].v;
  const imageOf = (service: string) => onH2("inspect", "--format", "{{.Image}}", `${t.name}-${service}`);
  const report = async () => (await t.stack.outputs()).report.value as Loose;
  const up = (message: string) => t.stack.up({ message, onOutput: (o) => output.push(o) });
  /** The supervisor's view of another branch's store, through nginx as users reach it. */
  async function otherStoreStatus(): Promise<number> {
    const login = await fetch(`${at(18480)}/api/auth/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ email: "smoke-supervisor@warungin.test", password: supervisorPassword }),
    });
    assert.equal(login.status, 200);
    const { token } = (await login.json()) as { token: string };
    return (await fetch(`${at(18480)}/api/stores/2`, { headers: { authorization: `Bearer ${token}` } }))
      .status;
  }

  /** The committed stack file on this test stack, for `version` of the backend at `schemaTarget`. */
  function release(version: string, schemaTarget: string, firstInstall = false): Config {
    const file = yaml.load(fs.readFileSync(path.join(EXAMPLE, "Pulumi.production.yaml"), "utf8")) as {
      config: Config;
    };
    const swapped = JSON.stringify(file.config)
      .replace(/\b1848(\d)\b/g, (p) => String(port(Number(p))))
      .replaceAll("198.18.0.2", h2().addr);
    const c = JSON.parse(swapped) as Loose;
    const pinned = { keySecret: "serverKey", hostKey: h2().hostKey };
    const d = targetDatabase();
    c["rollout:release"] = { id: `${t.name}-${version}`, image: `${IMAGE}:${version}`, schemaTarget };
    c["rollout:database"] = { ...c["rollout:database"], host: d.host, port: d.port, database: t.database };
    c["rollout:app"] = { ...c["rollout:app"], name: t.name, port: port(18481), databaseRole: t.appRole };
    c["rollout:docker"] = { host: h2().url, ssh: pinned };
    c["rollout:services"] = c["rollout:services"].map((s: Loose) => ({
      ...s,
      image: s.image.replace(/^warungin-/, `${IMAGE}-`),
    }));
    const archive = c["rollout:backup"].archives[0];
    c["rollout:backup"] = {
      ...c["rollout:backup"],
      dir: t.backupDir,
      archives: [{ ...archive, path: appDir, host: { host: `root@${h2().addr}`, ...pinned } }],
    };
    c["rollout:window"] = enforcedWindow();
    c["rollout:report"] = { dir: t.reportDir };
    // The criteria stay as written; only the watch, and the gate's wait for users to log out, are short.
    c["rollout:soak"] = { ...c["rollout:soak"], durationSeconds: 3, intervalMs: 500 };
    c["rollout:preflight"].gates[0].timeoutSeconds = 4;
    c["rollout:preflight"].gates[0].intervalMs = 1000;
    if (firstInstall) {
      // Nothing runs yet to check or switch, and there is no sessions table to count, nor a table
      // to expect in the dump, which is smaller than the floor for one with the schema in it.
      c["rollout:preflight"] = { ...c["rollout:preflight"], allowNoCurrentService: true, gates: [] };
      c["rollout:maintenance"] = { ...c["rollout:maintenance"], allowUnreachable: true };
      c["rollout:backup"].expectTables = [];
      c["rollout:backup"].minBytes = 0;
    }
    return c;
  }

  before(async () => {
    h2();
    fs.mkdirSync(path.join(appDir, "uploads"), { recursive: true });
    fs.writeFileSync(
      path.join(appDir, "docker-compose.yml"),
      "services:\n  backend:\n    image: warungin:1.1.0\n",
    );
    fs.writeFileSync(path.join(appDir, "uploads", "logo.png"), Buffer.alloc(4096, 7));
    // A backup the runbook left in the directory before: excluded from the next one.
    fs.writeFileSync(
      path.join(appDir, "backup-pre-deployment-20251130-230000.tar.gz"),
      Buffer.alloc(2048, 1),
    );
    hook = await webhookListener();
    t = await createTestStack("itest-exw", EXAMPLE);
    const secrets: Record<string, string> = {
      "rollout:webhookUrl": hook.url,
      "rollout:secrets.serverKey": h2().privateKey,
      "rollout:secrets.supervisorPassword": supervisorPassword,
    };
    for (const [key, value] of Object.entries(secrets)) await t.stack.setConfig(key, { value, secret: true });
    await approved(t, release("1.1.0", "0002", true));
    await up("first install: the runbook's v1.1.0");
  });
  after(async () => {
    try {
      // The provider reaches the server with files the program writes: destroy runs it.
      await t?.stack.destroy({ runProgram: true, onOutput: () => undefined });
    } finally {
      await t?.cleanup();
      await hook?.close();
      removeFromH2(
        CONTAINERS.map((c) => `${t?.name}-${c}`),
        [`${t?.name}-state`],
      );
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it("1. v1.1.0 runs on the server: seven containers in the runbook's order, after the dump and the tar of the app directory", async () => {
    for (const c of CONTAINERS) {
      assert.equal(onH2("inspect", "--format", "{{.State.Status}}", `${t.name}-${c}`), "running", c);
      assert.equal(containerState(`${t.name}-${c}`), "", `nothing of ${c} runs on the local engine`);
    }
    const h = await health();
    assert.deepEqual(
      [h.status, h.version, h.maintenance, h.database, h.cache],
      ["ok", "1.1.0", false, "ok", "ok"],
      JSON.stringify(h),
    );
    assert.equal(typeof h.timestamp, "string");
    for (const c of CONTAINERS) good[c] = imageOf(c);
    const r = await report();
    const order = (r.services as { name: string }[]).map((s) => s.name);
    const before = (a: string, b: string) =>
      assert.ok(order.indexOf(a) < order.indexOf(b), `${a} starts before ${b}: ${order.join(", ")}`);
    before("redis", "app");
    before("app", "nginx");
    before("frontend", "nginx");
    before("nginx", "loki");
    before("loki", "promtail");
    before("nginx", "cloudflared");
    for (const s of r.services as { name: string; state: string; kept: boolean }[]) {
      assert.match(s.state, /^running/, `${s.name}: ${s.state}`);
      assert.equal(s.kept, ["redis", "loki"].includes(s.name), s.name);
    }
    // The health-checked ones were healthy before their dependants started, and still are.
    for (const s of ["app", "redis", "frontend", "nginx", "loki"]) {
      assert.equal(onH2("inspect", "--format", "{{.State.Health.Status}}", `${t.name}-${s}`), "healthy", s);
    }
    const [archive] = r.backup.archives as Loose[];
    assert.equal(archive.name, "app-dir");
    assert.equal(archive.source, `ssh://root@${h2().addr}:22${appDir}`);
    assert.equal(archive.files, 2, "docker-compose.yml and uploads/logo.png; the old backup is excluded");
    assert.equal(fs.statSync(archive.path).size, archive.bytes);
    assert.equal(r.backup.restoreTested, true);
    const smoke = (r.smokeTests[0].steps as { name: string; status: number }[]).map((s) => [
      s.name,
      s.status,
    ]);
    assert.deepEqual(smoke, [
      ["admin-login-asks-2fa", 200],
      ["2fa-not-bypassable", 401],
      ["supervisor-login", 200],
      ["assigned-stores-only", 200],
      ["other-store-forbidden", 403],
      ["shift-first-read", 200],
      ["shift-cached", 200],
      ["logout", 204],
    ]);
    const passed = (r.checks as { name: string; kind: string; passed: boolean }[])
      .filter((c) => c.passed)
      .map((c) => `${c.kind}:${c.name}`);
    for (const c of [
      "http:backend-health",
      "http:frontend-loads",
      "http:tunnel-connected",
      "sql:database-connected",
      "logs:logs",
    ]) {
      assert.ok(passed.includes(c), `${c} passed: ${passed.join(", ")}`);
    }
    const page = await fetch(`${at(18486)}/`);
    assert.match(
      await page.text(),
      /<title>Warungin POS<\/title>/,
      "the tunnel reaches the page through nginx",
    );
    assert.deepEqual(
      hook.received.map((n) => n.event),
      ["start", "success"],
    );
  });

  it("2. a logged-in cashier holds the next release at the zero-active-sessions gate; nothing changes", async () => {
    const appImage = imageOf("app");
    await query(
      `WITH u AS (INSERT INTO users (email, password_hash, role) VALUES ('kasir@warungin.test', 'x:y', 'CASHIER') RETURNING id)
       INSERT INTO sessions (token, user_id, expires_at) SELECT 'cashier-session', id, now() + interval '1 hour' FROM u`,
      [],
      db(),
    );
    try {
      await approved(t, release("1.1.1", "0003"));
      await assert.rejects(up("release 1.1.1 while a cashier is logged in"), /zero-active-sessions/);
      assert.equal(imageOf("app"), appImage, "the backend was not touched");
      assert.equal(await schemaVersion(), "0002");
      assert.equal(
        (await health()).maintenance,
        false,
        "users were not shut out for a release that did not start",
      );
    } finally {
      await query("DELETE FROM sessions WHERE token = 'cashier-session'", [], db());
    }
  });

  it("3. the broken 1.1.1 lets the supervisor into another store: its security step fails after 0003, maintenance stays on", async () => {
    await assert.rejects(
      up("release 1.1.1"),
      /smoke test `security` step `other-store-forbidden` failed: GET \/api\/stores\/2 expected status 403[\s\S]*got status 200/,
    );
    assert.equal(await schemaVersion(), "0003");
    const h = await health();
    assert.equal(h.version, "1.1.1");
    assert.equal(h.maintenance, true, "a failed release leaves maintenance on");
    assert.equal((await fetch(`${at(18480)}/api/stores`)).status, 503, "users get the maintenance answer");
  });

  it("4. npm run rollback --cwd examples/warungin brings every service's earlier image back, 0003 down, and the 403", async (ctx) => {
    const kept = ["redis", "loki"].map((s) => onH2("inspect", "--format", "{{.Id}}", `${t.name}-${s}`));
    const started = Date.now();
    const run = await cli(t, [
      "rollback",
      "--yes",
      "--cwd",
      EXAMPLE,
      "--reason",
      "store authorization broken",
    ]);
    output.push(run.output);
    assert.equal(run.code, 0, tail(run.output));
    ctx.diagnostic(`rollback of 7 containers over SSH: ${((Date.now() - started) / 1000).toFixed(1)} s`);
    assert.match(
      run.output,
      new RegExp(`rolling back ${t.name}-1\\.1\\.1 \\(update \\d+, failed\\) -> ${t.name}-1\\.1\\.0`),
    );
    assert.equal(await schemaVersion(), "0002");
    const region = await query(
      "SELECT 1 FROM information_schema.columns WHERE table_name = 'stores' AND column_name = 'region'",
      [],
      db(),
    );
    assert.equal(region.length, 0, "0003 was reverted with its down SQL");
    const h = await health();
    assert.deepEqual([h.version, h.maintenance], ["1.1.0", false]);
    for (const c of CONTAINERS) assert.equal(imageOf(c), good[c], `${c} runs its 1.1.0 image again`);
    assert.deepEqual(
      ["redis", "loki"].map((s) => onH2("inspect", "--format", "{{.Id}}", `${t.name}-${s}`)),
      kept,
      "the long-lived services were never recreated",
    );
    assert.equal(await otherStoreStatus(), 403);
    const r = await report();
    assert.equal(r.rollback.undoes, `${t.name}-1.1.1`);
    assert.deepEqual(r.schema.reverted, ["0003_store_regions"]);
    assert.ok(hook.received.some((n) => n.event === "rollback"));
  });

  it("5. the provider pins the server's key; no secret (its key, passwords, the token) is in plain text anywhere", async () => {
    const files = [
      path.join(EXAMPLE, `Pulumi.${t.name}.yaml`),
      ...listFiles(new URL(t.backendUrl).pathname),
      ...listFiles(t.reportDir),
    ];
    const texts = files.map((f) => [f, fs.readFileSync(f, "utf8")] as const);
    const said = output.join("");
    const outputs = JSON.stringify(await t.stack.outputs());
    const secrets = await declaredSecrets(t.stack);
    assert.ok("rollout:secrets.serverKey" in secrets && "rollout:secrets.supervisorPassword" in secrets);
    assert.deepEqual(
      secretLeaks(secrets, [...texts, ["output", said], ["outputs", outputs]]),
      [],
      "a secret is in plain text",
    );
    const keyLines = h2()
      .privateKey.split("\n")
      .filter((l) => l.length > 20 && !l.startsWith("-----"));
    assert.ok(keyLines.length >= 2, "the key has body lines to look for");
    for (const line of keyLines) {
      for (const [f, text] of texts) assert.ok(!text.includes(line), f);
      assert.ok(!said.includes(line), "the output of up and rollback");
      assert.ok(!outputs.includes(line), "the stack outputs");
    }
    // The provider's ssh options, as the state holds them: key login only, the host key checked.
    const stateFile = files.find(
      (f) => f.endsWith(`${path.sep}${t.name}.json`) && f.includes(`${path.sep}stacks${path.sep}`),
    );
    assert.ok(stateFile, `the state file is among ${files.length} files`);
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as {
      checkpoint: { latest: { resources: { type: string; inputs?: Record<string, unknown> }[] } };
    };
    const provider = state.checkpoint.latest.resources.find((r) => r.type === "pulumi:providers:docker");
    const stored = provider?.inputs?.sshOpts;
    const sshOpts = (Array.isArray(stored) ? stored : JSON.parse(String(stored ?? "[]"))) as string[];
    assert.equal(provider?.inputs?.host, h2().url);
    for (const o of ["StrictHostKeyChecking=yes", "BatchMode=yes", "IdentitiesOnly=yes"]) {
      assert.ok(sshOpts.includes(o), `${o} in ${JSON.stringify(sshOpts)}`);
    }
    // The key file lasts one operation: its watcher removes the folder within a second or two of the end.
    const keyFolders = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("rollout-docker-"));
    for (let i = 0; i < 30 && keyFolders().length > 0; i++) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(keyFolders(), [], "no key folder outlives its operation");
  });
});
