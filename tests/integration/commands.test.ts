// Command steps on a stack configured like prod (the current service required, the maintenance
// endpoint required, an enforced window that is open now, tech-lead and dba approvals naming the
// release digest, a sessions gate): commands here and over SSH at each point of the rollout, their
// lines in the engine's log and the report, a failing one that stops what comes after it, and the
// revert of a step that the release rolled back to does not have. Real CLI, real sshd on 127.0.0.1.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { STEPS, dynamicTypeToken } from "../../components/tokens";
import { runCommand, type CommandSpec } from "../../engines/commands";
import { cli, tail, webhookListener } from "../support/cli";
import {
  createTestStack,
  query,
  sampleConfig,
  targetDatabase,
  type Release,
  type TestStack,
} from "../support/stack";
import { approved as approvedOn, enforcedWindow, SESSIONS_GATE } from "../support/prodLike";

/** The private sshd that local-env/sshd.sh runs (its `env` exports these). */
function sshd() {
  const missing = [
    "ROLLOUT_SSH_HOST",
    "ROLLOUT_SSH_PORT",
    "ROLLOUT_SSH_USER",
    "ROLLOUT_SSH_KEY",
    "ROLLOUT_SSH_KNOWN_HOSTS",
  ].filter((k) => !process.env[k]);
  if (missing.length > 0)
    throw new Error(
      `command steps over SSH need ${missing.join(", ")}; run \`eval "$(bash local-env/sshd.sh env)"\` first`,
    );
  return {
    host: `${process.env.ROLLOUT_SSH_USER}@${process.env.ROLLOUT_SSH_HOST}`,
    port: Number(process.env.ROLLOUT_SSH_PORT),
    user: process.env.ROLLOUT_SSH_USER!,
    privateKey: fs.readFileSync(process.env.ROLLOUT_SSH_KEY!, "utf8"),
    knownHostsFile: process.env.ROLLOUT_SSH_KNOWN_HOSTS!,
  };
}

/** URNs of the resources the update started to create or change. */
const started = (events: readonly EngineEvent[]) =>
  events
    .filter((e) => e.resourcePreEvent && ["create", "update"].includes(e.resourcePreEvent.metadata.op))
    .map((e) => e.resourcePreEvent!.metadata.urn);

/** Info lines the engine logged under a resource whose URN ends with `suffix`, one line each. */
const linesUnder = (events: readonly EngineEvent[], suffix: string) =>
  events
    .filter((e) => e.diagnosticEvent?.severity === "info" && e.diagnosticEvent.urn?.endsWith(suffix))
    .flatMap((e) => e.diagnosticEvent!.message.trim().split("\n"));

describe("command steps on a prod-like stack", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  let work: string;
  const ssh = sshd();
  const db = () => ({ database: t.database });
  const base = () => `http://127.0.0.1:${t.appPort}`;
  const health = async () => (await fetch(`${base()}/health`)).json() as Promise<Record<string, unknown>>;
  const schemaVersion = async () =>
    (await query<{ v: string }>("SELECT max(id) AS v FROM rollout_migrations", [], db()))[0].v;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const report = async () => (await t.stack.outputs()).report.value as Record<string, any>;
  const dumps = () => {
    const dir = path.join(t.backupDir, t.name);
    return fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith(".dump")).length : 0;
  };
  const drainSessions = () => query("DELETE FROM sessions", [], db());
  /** Every secret value the stack holds, none of which may show up in plain text. */
  const secretValues = () => [
    t.smokePassword,
    t.maintenanceToken,
    t.appPassword,
    targetDatabase().password,
    ...ssh.privateKey.split("\n").filter((l) => l.length > 20),
  ];

  /** The commands of a release: one at each point, the last over SSH. */
  function commands(version: string, schema: string) {
    const db = targetDatabase();
    return [
      {
        name: "count-dumps",
        at: "beforeBackup",
        run: `echo "dumps before: $(find "$BACKUPS" -name '*.dump' 2>/dev/null | wc -l)"`,
        env: { BACKUPS: path.join(t.backupDir, t.name) },
      },
      {
        name: "schema-version",
        at: "afterSchema",
        // A review after the schema moved, as `alembic current` would do it: node and pg from the project.
        run: [
          "node",
          "-e",
          "const { Client } = require('pg'); const c = new Client(); c.connect().then(() => c.query('SELECT max(id) AS v FROM rollout_migrations')).then((r) => { console.log('schema at ' + r.rows[0].v); return c.end(); })",
        ],
        cwd: ".",
        env: { PGHOST: db.host, PGPORT: String(db.port), PGUSER: db.user, PGDATABASE: t.database },
        secretEnv: { PGPASSWORD: "databasePassword" },
        outputMustContain: [`^schema at ${schema}$`],
        timeoutSeconds: 60,
      },
      {
        name: "app-version",
        at: "afterServices",
        run: [
          "node",
          "-e",
          `fetch('${base()}/health').then((r) => r.json()).then((j) => { console.log('app says version ' + j.version + ', maintenance ' + j.maintenance); console.log('token ' + process.env.TOKEN); })`,
        ],
        secretEnv: { TOKEN: "smokePassword" },
        outputMustContain: [`^app says version ${version.replace(/\./g, "\\.")}, maintenance true$`],
        outputMustNotContain: ["maintenance false"],
        timeoutSeconds: 60,
      },
      {
        name: "remote-status",
        at: "afterChecks",
        run: 'echo "remote $(whoami) sees $PLAIN in $(pwd)"; echo "key $TOKEN"',
        cwd: "/tmp",
        env: { PLAIN: version },
        secretEnv: { TOKEN: "maintenanceToken" },
        ssh: {
          host: ssh.host,
          port: ssh.port,
          keySecret: "sshPrivateKey",
          knownHostsFile: ssh.knownHostsFile,
        },
        outputMustContain: [`^remote ${ssh.user} sees ${version.replace(/\./g, "\\.")} in /tmp$`],
        timeoutSeconds: 60,
      },
    ];
  }

  /** The sample config with prod's settings and the window open now. */
  function prodLike(release: Release, extra: Record<string, unknown>[] = []) {
    const config: Record<string, unknown> = { ...sampleConfig(t, release, `${t.name}-${release}`) };
    config["rollout:preflight"] = {
      currentHealthUrl: `${base()}/health`,
      allowNoCurrentService: false,
      gates: [SESSIONS_GATE],
    };
    config["rollout:maintenance"] = {
      url: `${base()}/admin/maintenance`,
      bypassHeader: "x-maintenance-bypass",
      allowUnreachable: false,
    };
    config["rollout:window"] = enforcedWindow();
    config["rollout:approvals"] = { required: ["tech-lead", "dba"], given: [] };
    config["rollout:notify"] = {};
    const target = (config["rollout:release"] as { schemaTarget: string }).schemaTarget;
    config["rollout:commands"] = [...commands(release, target), ...extra];
    return config;
  }

  /** Sets the release with approvals naming the digest preview prints, as a reviewer does. */
  const approved = <C extends Record<string, unknown>>(config: C) => approvedOn(t, config);

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-itest-cmds-"));
    hook = await webhookListener();
    t = await createTestStack("itest-cmds");
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    await t.stack.setConfig("rollout:sshPrivateKey", { value: ssh.privateKey, secret: true });
    // A first install has no service to check or switch: the only time those are allowed.
    await t.setConfig({ ...sampleConfig(t, "1.0.0"), "rollout:notify": {} });
    await t.stack.up({ message: "first install 1.0.0" });
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await hook?.close();
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it("1. runs each command at its point, here and over SSH; its lines reach the engine's log and the report, its secrets do not", async (ctx) => {
    const dumpsBefore = dumps();
    await drainSessions();
    await approved(prodLike("1.1.0"));
    const events: EngineEvent[] = [];
    await t.stack.up({ message: "release 1.1.0", onEvent: (e) => events.push(e) });

    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    // The same check as in the failure below, seen here: the steps after the commands started.
    assert.ok(
      started(events).some((u) => u.endsWith("-check-health-run")),
      started(events).join("\n"),
    );
    // Where each ran: before this release's backup, after the schema moved, after the new container.
    assert.ok(
      linesUnder(events, "-command-count-dumps").includes(`count-dumps: dumps before: ${dumpsBefore}`),
      linesUnder(events, "-command-count-dumps").join("\n"),
    );
    assert.equal(dumps(), dumpsBefore + 1, "the release's backup came after the command");
    const appLines = linesUnder(events, "-command-app-version");
    assert.ok(
      appLines.includes("app-version: app says version 1.1.0, maintenance true"),
      appLines.join("\n"),
    );
    assert.ok(appLines.includes("app-version: token [secret]"), appLines.join("\n"));
    assert.ok(linesUnder(events, "-command-schema-version").includes("schema-version: schema at 0003"));
    const remote = linesUnder(events, "-command-remote-status");
    assert.ok(remote.includes(`remote-status: remote ${ssh.user} sees 1.1.0 in /tmp`), remote.join("\n"));
    assert.ok(remote.includes("remote-status: key [secret]"), remote.join("\n"));

    const r = await report();
    assert.deepEqual(
      r.commands.map((c: { name: string; at: string; host: string; exitCode: number }) => [
        c.name,
        c.at,
        c.host,
        c.exitCode,
      ]),
      [
        ["count-dumps", "beforeBackup", "local", 0],
        ["schema-version", "afterSchema", "local", 0],
        ["app-version", "afterServices", "local", 0],
        ["remote-status", "afterChecks", `ssh://${ssh.host}:${ssh.port}`, 0],
      ],
    );
    const app = r.commands.find((c: { name: string }) => c.name === "app-version");
    assert.deepEqual(app.outputTail, ["app says version 1.1.0, maintenance true", "token [secret]"]);
    assert.deepEqual(app.matched, ["^app says version 1\\.1\\.0, maintenance true$"]);
    assert.deepEqual(app.absent, ["maintenance false"]);
    const md = fs.readFileSync(path.join(t.reportDir, "latest.md"), "utf8");
    assert.match(md, /^## Commands$/m);
    assert.match(md, /^\| remote-status \| afterChecks \| ssh:\/\/root@127\.0\.0\.1:\d+ \| 0 \|/m);
    assert.ok(md.includes("\napp says version 1.1.0, maintenance true\ntoken [secret]\n"), md);

    // No secret in plain text: the engine's log, the outputs, the stored state file.
    const logged = events.map((e) => JSON.stringify(e)).join("\n");
    const outputs = JSON.stringify(await t.stack.outputs());
    const backendDir = t.backendUrl.replace(/^file:\/\//, "");
    const stateFile = fs
      .readdirSync(backendDir, { recursive: true, encoding: "utf8" })
      .map((f) => path.join(backendDir, f))
      .find((f) => f.endsWith(`${path.sep}${t.name}.json`) && f.includes(`${path.sep}stacks${path.sep}`));
    assert.ok(stateFile, "the stack's state file is in the backend");
    const stored = fs.readFileSync(stateFile, "utf8");
    for (const secret of secretValues()) {
      assert.ok(!logged.includes(secret), "a secret value reached the engine's log");
      assert.ok(!outputs.includes(secret), "a secret value reached the outputs");
      assert.ok(!stored.includes(secret), "a secret value is in the state file in plain text");
    }
    const state = JSON.parse(stored) as {
      checkpoint: { latest: { resources: { type: string; urn: string; inputs?: { secrets?: unknown } }[] } };
    };
    const run = state.checkpoint.latest.resources.find(
      (res) => res.type === dynamicTypeToken(STEPS.command) && res.urn.endsWith("-command-remote-status-run"),
    );
    assert.ok(run, "the SSH command's run is in state");
    assert.match(
      JSON.stringify(run.inputs?.secrets),
      /"ciphertext":"v1:/,
      "its secrets are stored encrypted",
    );
    ctx.diagnostic(
      `command phases: ${r.commands.map((c: { name: string; seconds: number }) => `${c.name} ${c.seconds}s`).join(", ")}`,
    );
  });

  it("2. a failing command stops the rollout before the later phases and leaves maintenance on", async () => {
    const flag = path.join(work, "feature-flag");
    const extra = [
      {
        name: "feature-flag",
        at: "afterSchema",
        run: `echo on > "${flag}"`,
        // Gets its secret again on the way back: a revert runs with the step's recorded env.
        revert: `printf %s "$TOKEN" | sha256sum | cut -c1-64 > "${flag}.reverted" && rm "${flag}"`,
        secretEnv: { TOKEN: "smokePassword" },
      },
      { name: "pm2-status", at: "afterServices", run: "echo 'app 1.2.0 errored'; exit 3" },
    ];
    await drainSessions();
    await approved(prodLike("1.2.0", extra));
    const events: EngineEvent[] = [];
    await assert.rejects(
      t.stack.up({ message: "release 1.2.0", onEvent: (e) => events.push(e) }),
      (err: Error) => {
        assert.match(
          err.message,
          /command `pm2-status` \(local\) exited with 3, expected 0, after [\d.]+ s; its last output:\s+app 1\.2\.0 errored/,
        );
        return true;
      },
    );
    assert.equal(await schemaVersion(), "0004", "the schema moved before the failing command");
    assert.equal(fs.readFileSync(flag, "utf8"), "on\n", "the command after the schema ran");
    const h = await health();
    assert.equal(h.maintenance, true, "maintenance stays on after a failure");
    // The containers were released, and nothing after their commands started: no check, no command after the checks.
    const urns = started(events);
    assert.ok(
      urns.some((u) => u.endsWith("-command-app-version-run")),
      urns.join("\n"),
    );
    assert.deepEqual(
      urns.filter((u) =>
        /-(check-health|check-health-db|smoke-crud|command-remote-status|maintenance-off)(-run|-switch)?$/.test(
          u,
        ),
      ),
      [],
    );
    assert.deepEqual(linesUnder(events, "-command-remote-status"), []);
  });

  it("3. the rollback runs the revert of the step the release rolled back to lacks, with its secret", async () => {
    const flag = path.join(work, "feature-flag");
    const run = await cli(t, ["rollback", "--yes"]);
    assert.equal(run.code, 0, tail(run.output));
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    assert.equal(await schemaVersion(), "0003");
    assert.ok(!fs.existsSync(flag), "the revert removed what the step made");
    assert.equal(
      fs.readFileSync(`${flag}.reverted`, "utf8").trim(),
      createHash("sha256").update(t.smokePassword).digest("hex"),
      "the revert got the step's secret env",
    );
    const r = await report();
    assert.equal(r.rollback.undoes, `${t.name}-1.2.0`);
    // The rollback ran the release's own commands again, by the release rolled back to.
    const app = r.commands.find((c: { name: string }) => c.name === "app-version");
    assert.deepEqual(app.outputTail, ["app says version 1.1.0, maintenance true", "token [secret]"]);
    assert.deepEqual(
      r.commands.map((c: { name: string }) => c.name),
      ["count-dumps", "schema-version", "app-version", "remote-status"],
    );
    assert.ok(!run.output.includes(t.smokePassword), "the rollback's output holds no secret");
  });
});

describe("a command over SSH against the real sshd", () => {
  const ssh = sshd();
  const spec = (over: Partial<CommandSpec>): CommandSpec => ({
    name: "remote",
    run: "true",
    cwd: undefined,
    env: {},
    host: { kind: "ssh", host: ssh.host, port: ssh.port, knownHostsFile: ssh.knownHostsFile },
    timeoutSeconds: 30,
    expectExit: 0,
    outputMustContain: [],
    outputMustNotContain: [],
    ...over,
  });
  const remoteProcesses = (marker: string) =>
    execFileSync("ps", ["-eo", "args"], { encoding: "utf8" })
      .split("\n")
      .filter((l) => l.includes(marker) && !l.includes("ps -eo")).length;

  it("stops the command on the host when its time is up (the host key pinned in config)", async () => {
    const marker = `itest-cmds-${randomBytes(4).toString("hex")}`;
    // The pinned key line, as `ssh-keyscan` prints it, without the host name.
    const hostKey = fs
      .readFileSync(ssh.knownHostsFile, "utf8")
      .trim()
      .split("\n")[0]
      .split(" ")
      .slice(1, 3)
      .join(" ");
    await assert.rejects(
      runCommand(
        spec({
          run: `echo started; sleep 120 # ${marker}`,
          timeoutSeconds: 2,
          host: { kind: "ssh", host: ssh.host, port: ssh.port, hostKey },
        }),
        { env: {}, privateKey: ssh.privateKey },
        () => undefined,
      ),
      /command `remote` \(ssh:\/\/.*\) did not finish within 2 s and was stopped[\s\S]*started/,
    );
    // The sshd runs on this machine, so its processes are visible here.
    assert.equal(remoteProcesses(marker), 0, "the command was stopped on the host");
  });

  it("refuses a host whose key is not the one known, saying what 255 means", async () => {
    const other = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-itest-cmds-kh-"));
    try {
      const knownHosts = path.join(other, "known_hosts");
      execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(other, "k")]);
      const pub = fs.readFileSync(path.join(other, "k.pub"), "utf8").split(" ").slice(0, 2).join(" ");
      fs.writeFileSync(knownHosts, `[${process.env.ROLLOUT_SSH_HOST}]:${ssh.port} ${pub}\n`);
      await assert.rejects(
        runCommand(
          spec({ host: { kind: "ssh", host: ssh.host, port: ssh.port, knownHostsFile: knownHosts } }),
          { env: {}, privateKey: ssh.privateKey },
          () => undefined,
        ),
        (err: Error) => {
          assert.match(
            err.message,
            /exited with 255 \(255 is also what ssh exits with when it cannot connect, log in, or check the host key against knownHosts\), expected 0/,
          );
          assert.match(err.message, /Host key verification failed/);
          assert.ok(
            !err.message.includes(ssh.privateKey.split("\n")[1]),
            "no part of the key in the message",
          );
          return true;
        },
      );
    } finally {
      fs.rmSync(other, { recursive: true, force: true });
    }
  });
});
