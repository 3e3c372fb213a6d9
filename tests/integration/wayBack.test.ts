// The way back at 02:30, on a stack configured like prod: the current service required, the
// maintenance endpoint required, an enforced window, tech-lead and dba approvals (naming the
// release digest that preview prints) and a sessions gate. Each scenario is one an operator meets
// when a release is broken; each asserts what the operator expects afterwards.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, killTree, matchOut, spawnUp, stackEnv, tail, webhookListener } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { createTestStack, docker, query, sampleConfig, type Release, type TestStack } from "../support/stack";
import { approved as approvedOn, enforcedWindow, SESSIONS_GATE, utcClock } from "../support/prodLike";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the way back on a prod-like stack", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  const db = () => ({ database: t.database });
  const base = () => `http://127.0.0.1:${t.appPort}`;
  const schemaVersion = async () =>
    (await query<{ v: string }>("SELECT max(id) AS v FROM rollout_migrations", [], db()))[0].v;
  const health = async () => (await fetch(`${base()}/health`)).json() as Promise<Record<string, unknown>>;
  const report = async () => (await t.stack.outputs()).report.value as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
  const historyLength = async () => (await t.stack.history()).length;
  /** The image id the app container runs. */
  const runningImage = () => docker("inspect", "--format", "{{.Image}}", `${t.name}-app`);
  /** Users logged out: the sessions gate holds for a forward release. */
  const drainSessions = () => query("DELETE FROM sessions", [], db());

  /** The sample config with prod's settings; `window` is open now unless given. */
  function prodLike(release: Release, id: string, window = { start: utcClock(-60), end: utcClock(60) }) {
    const config: Record<string, unknown> = { ...sampleConfig(t, release, id) };
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
    config["rollout:window"] = enforcedWindow(window);
    config["rollout:approvals"] = { required: ["tech-lead", "dba"], given: [] };
    config["rollout:notify"] = {};
    return config;
  }

  /** Sets the release with approvals naming the digest preview prints, as a reviewer does. */
  const approved = <C extends Record<string, unknown>>(config: C) => approvedOn(t, config);

  before(async () => {
    hook = await webhookListener();
    t = await createTestStack("itest-wayback");
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    // A first install has no service to check or switch: the only time those are allowed.
    await t.setConfig({ ...sampleConfig(t, "1.0.0"), "rollout:notify": {} });
    await t.stack.up({ message: "first install 1.0.0" });
    await drainSessions();
    await approved(prodLike("1.1.0", `${t.name}-1.1.0`));
    await t.stack.up({ message: "release 1.1.0" });
    await query("INSERT INTO items (title, status) VALUES ('written under 1.1.0', 'done')", [], db());
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await hook?.close();
    }
  });

  it("1. a crashed release: rollback is not held up by it being down, its maintenance endpoint or the sessions gate", async (ctx) => {
    const goodImage = runningImage();
    await drainSessions();
    await approved(prodLike("1.2.1", `${t.name}-1.2.1`));
    await assert.rejects(t.stack.up({ message: "release 1.2.1" }), /health check `health-db` failed/);
    // The broken release crashes; a user is logged in (the sessions gate does not hold).
    docker("stop", "-t", "0", `${t.name}-app`);
    await assert.rejects(fetch(`${base()}/health`), /fetch failed/);
    await query(
      "INSERT INTO sessions (token, user_id, expires_at) SELECT 'a-live-user', id, now() + interval '1 hour' FROM users LIMIT 1",
      [],
      db(),
    );

    const run = await cli(t, ["rollback", "--yes"]);
    assert.equal(run.code, 0, tail(run.output));
    ctx.diagnostic(`crashed release: ${/rolled back to .* in [\d.]+ s/.exec(run.output)?.[0]}`);
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    assert.equal(await schemaVersion(), "0003");
    assert.equal(runningImage(), goodImage, "the image id 1.1.0 ran before comes back");
    assert.deepEqual(await query("SELECT status FROM items WHERE title = 'written under 1.1.0'", [], db()), [
      { status: "done" },
    ]);
    const r = await report();
    assert.equal(r.rollback.undoes, `${t.name}-1.2.1`);
    assert.equal(r.preflight.currentService, "down, not required on a rollback");
    assert.deepEqual(r.preflight.skippedGates, ["no-active-sessions"]);
    assert.equal(r.maintenance.on.outcome, "skipped");
    assert.equal(r.maintenance.off.outcome, "switched");
    assert.ok(r.backup, "a backup was taken before the down scripts");
    const config = await t.stack.getAllConfig();
    assert.equal(config["rollout:rollback"], undefined, "a finished rollback leaves no mark in the config");
    assert.ok(hook.received.some((n) => n.event === "rollback"));
  });

  it("5. a second rollback right after one refuses without --to and changes nothing", async () => {
    const before = await historyLength();
    const run = await cli(t, ["rollback", "--yes"]);
    assert.equal(run.code, 2, tail(run.output));
    matchOut(
      run.output,
      /already rolled itest-wayback-\w+-1\.2\.1 back to itest-wayback-\w+-1\.1\.0; .*--to/,
    );
    assert.equal(await historyLength(), before);
    assert.equal((await health()).version, "1.1.0");
  });

  it("6. another image under the same release id is a full rollout, and the old approval does not count", async () => {
    const config = (await t.stack.getAllConfig())["rollout:release"];
    const good = JSON.parse(config.value) as { id: string; image: string; schemaTarget: string };
    const settings = await t.stack.workspace.stackSettings(t.name);
    const current = Object.fromEntries(
      Object.entries(settings.config ?? {}).filter(([, v]) => !(typeof v === "object" && v && "secure" in v)),
    );
    await t.setConfig({
      ...current,
      "rollout:release": { ...good, image: good.image.replace("1.1.0", "1.2.0") },
    });
    const preview = await t.stack.preview({ diff: true });
    // Preflight, maintenance and the backup run again: the release's content changed.
    const steps: [string, string][] = [
      ["Preflight", "rollout-preflight-run"],
      ["MaintenanceMode", "rollout-maintenance-on-switch"],
      ["DatabaseBackup", "rollout-backup-dump"],
    ];
    for (const [type, name] of steps) {
      assert.match(
        preview.stdout,
        new RegExp(
          `~ pulumi-nodejs:dynamic/rollout:${type}: \\(update\\)\\s+\\[id=\\S+\\]\\s+\\[urn=[^\\]]*::${name}\\]`,
        ),
        `${name} runs again`,
      );
    }
    const containerBefore = docker("inspect", "--format", "{{.Id}}", `${t.name}-app`);
    await assert.rejects(
      t.stack.up({ message: "same id, other image" }),
      /approval by `tech-lead` for release itest-wayback-\w+-1\.1\.0 \(digest [0-9a-f]{12}\) is missing \(found only: alice .*an approval of other content does not count\)/,
    );
    assert.equal(
      docker("inspect", "--format", "{{.Id}}", `${t.name}-app`),
      containerBefore,
      "nothing changed",
    );
    // Back to the approved release, which is then the last update.
    await t.setConfig(current);
    await t.stack.up({ message: "back to the approved 1.1.0" });
  });

  it("3. a migration that fails mid-release: rollback takes the service out of maintenance and runs the checks", async (ctx) => {
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_broken.up.sql"),
      "ALTER TABLE items ADD COLUMN oops nosuchtype;\n",
    );
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_broken.down.sql"),
      "ALTER TABLE items DROP COLUMN oops;\n",
    );
    try {
      await drainSessions();
      const broken = prodLike("1.2.0", `${t.name}-1.2.0-m`);
      (broken["rollout:release"] as { schemaTarget: string }).schemaTarget = "0005";
      await approved(broken);
      await assert.rejects(
        t.stack.up({ message: "release 1.2.0-m" }),
        /applying migration `0005_broken` failed/,
      );
      assert.equal(await schemaVersion(), "0004");
      assert.equal((await health()).maintenance, true, "a failed release leaves maintenance on");

      const run = await cli(t, ["rollback", "--yes"]);
      assert.equal(run.code, 0, tail(run.output));
      ctx.diagnostic(`failed migration: ${/rolled back to .* in [\d.]+ s/.exec(run.output)?.[0]}`);
      assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
      assert.equal(await schemaVersion(), "0003");
      const r = await report();
      assert.deepEqual(
        r.checks.map((c: { name: string; passed: boolean }) => [c.name, c.passed]),
        [
          ["health", true],
          ["health-db", true],
          ["schema-version", true],
        ],
      );
      assert.equal(r.smokeTests[0].name, "crud");
      // Users do not get 503: what they reach answers.
      assert.notEqual((await fetch(`${base()}/items`)).status, 503);
    } finally {
      for (const f of ["0005_broken.up.sql", "0005_broken.down.sql"])
        fs.rmSync(path.join(t.migrationsDir, f));
    }
  });

  it("4. a config fault of the broken release does not block its own rollback: the good update's whole config comes back", async () => {
    await drainSessions();
    const broken = prodLike("1.2.0", `${t.name}-1.2.0-c`);
    broken["rollout:backup"] = {
      ...(broken["rollout:backup"] as object),
      expectTables: ["public.no_such_table"],
    };
    await approved(broken);
    await assert.rejects(
      t.stack.up({ message: "release 1.2.0-c" }),
      /lacks the expected table public\.no_such_table/,
    );
    assert.equal((await health()).maintenance, true);

    const run = await cli(t, ["rollback", "--yes"]);
    assert.equal(run.code, 0, tail(run.output));
    matchOut(run.output, /~ rollout:backup: .*no_such_table.* -> /);
    matchOut(run.output, /~ rollout:release: /);
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    const backup = JSON.parse((await t.stack.getAllConfig())["rollout:backup"].value) as {
      expectTables?: string[];
    };
    assert.equal(backup.expectTables, undefined, "the good update's backup settings are back");
  });

  it("9. --restore-backup after a failed rollback restores the dump taken before the undone release", async () => {
    const checksum = async () =>
      (
        await query<{ n: string; sum: string }>(
          "SELECT count(*) AS n, md5(string_agg(to_jsonb(i)::text, ',' ORDER BY id)) AS sum FROM items i",
          [],
          db(),
        )
      )[0];
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_audit.up.sql"),
      "ALTER TABLE items ADD COLUMN audited boolean;\n",
    );
    // A down script with a bug: the rollback by down scripts fails on it.
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_audit.down.sql"),
      "ALTER TABLE items DROP COLUMN no_such_column;\n",
    );
    try {
      const before = await checksum();
      await drainSessions();
      const release = prodLike("1.2.0", `${t.name}-1.2.0-r`);
      (release["rollout:release"] as { schemaTarget: string }).schemaTarget = "0005";
      await approved(release);
      await t.stack.up({ message: "release 1.2.0-r" });
      await query("INSERT INTO items (name, status) VALUES ('written under 1.2.0-r', 'open')", [], db());
      assert.notDeepEqual(await checksum(), before);

      const failed = await cli(t, ["rollback", "--yes"]);
      assert.equal(failed.code, 1, tail(failed.output));
      matchOut(failed.output, /running `npm run rollback` again retries it with the same target/);
      assert.ok(!/ at .*\.ts:\d+/.test(failed.output.split("error: rollback")[1] ?? ""), "no stack trace");

      const restored = await cli(t, ["rollback", "--restore-backup", "--yes"]);
      assert.equal(restored.code, 0, tail(restored.output));
      matchOut(restored.output, /retrying the rollback of update \d+ with its target/);
      assert.deepEqual(await checksum(), before, "the exact pre-release rows are back");
      assert.equal(await schemaVersion(), "0003");
      assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
      const r = await report();
      assert.match(r.rollback.restored.path, new RegExp(`_${t.name}-1\\.2\\.0-r_\\d{8}T\\d{6}Z\\.dump$`));
    } finally {
      for (const f of ["0005_audit.up.sql", "0005_audit.down.sql"]) fs.rmSync(path.join(t.migrationsDir, f));
    }
  });

  it("10. deploy: --help and bad flags without a trace; a refusal that changed nothing is not rolled back", async () => {
    const help = await cli(t, ["deploy", "--help"]);
    assert.equal(help.code, 0, tail(help.output));
    matchOut(help.output, /--auto-rollback/);
    const bad = await cli(t, ["rollback", "--frobnicate"]);
    assert.equal(bad.code, 2, tail(bad.output));
    matchOut(bad.output, /Unknown option '--frobnicate'[\s\S]*npm run rollback --/);
    for (const out of [help.output, bad.output]) assert.ok(!/\n\s+at /.test(out), `no stack trace:\n${out}`);

    // The window has closed: the deploy is refused, nothing changed, nothing rolled back.
    const closed = prodLike("1.2.0", `${t.name}-1.2.0-late`, { start: utcClock(-180), end: utcClock(-120) });
    await t.setConfig(closed);
    const before = await historyLength();
    const run = await cli(t, ["deploy", "--yes", "--auto-rollback"]);
    assert.equal(run.code, 2, tail(run.output));
    matchOut(
      run.output,
      /refused before anything changed: .*refusing to roll out: outside the maintenance window/,
    );
    assert.ok(!/rolling back/.test(run.output), "no rollback after a refusal");
    const history = await t.stack.history();
    assert.ok(history.length <= before + 1, "at most the refused update is recorded");
    assert.ok(!history[0].message.startsWith("rollback:"), `no rollback ran: ${history[0].message}`);
    assert.equal((await health()).version, "1.1.0");
  });

  it("10b. SIGTERM during deploy cancels the update cleanly: the lock is released and a failure notice sent", async () => {
    await drainSessions();
    const slow = prodLike("1.1.0", `${t.name}-1.1.0-slow`);
    slow["rollout:soak"] = { durationSeconds: 20, intervalMs: 500, maxErrorRate: 0.05, maxP95Ms: 500 };
    await approved(slow);
    const noticesBefore = hook.received.length;
    let sent = false;
    const run = await cli(t, ["deploy", "--yes"], (output, child) => {
      if (!sent && /rollout-soak-run (creating|updating)/.test(output)) {
        sent = true;
        child.kill("SIGTERM");
      }
    });
    assert.ok(sent, "the soak started");
    assert.equal(run.code, 1, tail(run.output));
    matchOut(run.output, /SIGTERM: cancelling the update/);
    assert.ok(
      hook.received.slice(noticesBefore).some((n) => n.event === "failure" && /cancelled/.test(n.text)),
      `a failure notice: ${JSON.stringify(hook.received.slice(noticesBefore))}`,
    );
    // The lock is gone: the next up runs without `pulumi cancel`.
    const up = await t.stack.up({ message: "after SIGTERM" });
    assert.equal(up.summary.result, "succeeded");
  });

  it("2. outside the window: refused without --reason, changing nothing; with one it rolls back, and the reason is reported", async () => {
    // A good release whose window closes in about two minutes, then a broken one inside it.
    const closesAt = utcClock(2);
    await drainSessions();
    await approved(prodLike("1.1.0", `${t.name}-1.1.0-w`, { start: utcClock(-60), end: closesAt }));
    await t.stack.up({ message: "release 1.1.0-w" });
    await drainSessions();
    await approved(prodLike("1.2.1", `${t.name}-1.2.1-w`, { start: utcClock(-60), end: closesAt }));
    await assert.rejects(t.stack.up({ message: "release 1.2.1-w" }), /health check `health-db` failed/);
    while (utcClock(0) < closesAt || utcClock(0).startsWith(closesAt)) await sleep(2000);
    await sleep(1000);

    const before = await historyLength();
    const releaseBefore = (await t.stack.getAllConfig())["rollout:release"].value;
    const refused = await cli(t, ["rollback", "--yes"]);
    assert.equal(refused.code, 2, tail(refused.output));
    matchOut(
      refused.output,
      /outside the maintenance window .*a rollback outside the window needs a written reason: add --reason/,
    );
    assert.equal(await historyLength(), before, "nothing ran");
    assert.equal((await t.stack.getAllConfig())["rollout:release"].value, releaseBefore, "nothing changed");

    const reason = "checkout answers 500 since 02:10, incident 4711";
    const run = await cli(t, ["rollback", "--yes", "--reason", reason]);
    assert.equal(run.code, 0, tail(run.output));
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    assert.equal((await report()).rollback.reason, reason);
    const notice = hook.received.filter((n) => n.event === "rollback").at(-1);
    assert.ok(
      notice && notice.text.includes(reason),
      `the notice names the reason: ${JSON.stringify(notice)}`,
    );
  });

  it("kill -9 right after a migration's COMMIT, then `npm run rollback`: the schema reaches the target", async () => {
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_fast.up.sql"),
      "ALTER TABLE items ADD COLUMN fast boolean;\n",
    );
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_fast.down.sql"),
      "ALTER TABLE items DROP COLUMN fast;\n",
    );
    fs.writeFileSync(path.join(t.migrationsDir, "0006_slow.up.sql"), "SELECT pg_sleep(20);\n");
    fs.writeFileSync(path.join(t.migrationsDir, "0006_slow.down.sql"), "SELECT 1;\n");
    try {
      await drainSessions();
      const release = prodLike("1.2.0", `${t.name}-1.2.0-k`);
      (release["rollout:release"] as { schemaTarget: string }).schemaTarget = "0006";
      await approved(release);
      const up = spawnUp(t);
      // 0005 committed (its record row is there): kill everything before the state is written.
      const deadline = Date.now() + 180_000;
      while ((await query("SELECT 1 FROM rollout_migrations WHERE id = '0005'", [], db())).length === 0) {
        assert.ok(Date.now() < deadline, "0005 was never applied");
        await sleep(100);
      }
      await killTree(up);
      // The killed run's session ends once its statement does; until then it holds the migration lock.
      while (
        (
          await query(
            "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()",
          )
        ).length > 0
      ) {
        await sleep(250);
      }
      assert.equal(await schemaVersion(), "0005");
      const cancel = spawnSync("pulumi", ["cancel", "--yes", "--stack", t.name], {
        cwd: ROOT,
        env: stackEnv(t),
        encoding: "utf8",
      });
      assert.equal(cancel.status, 0, cancel.stderr);

      // Back to the last good release by its number in `npm run history`.
      const history = await t.stack.history();
      const good = history.length - history.findIndex((e) => e.message === "release 1.1.0-w");
      const run = await cli(t, ["rollback", "--yes", "--to", String(good)]);
      assert.equal(run.code, 0, tail(run.output));
      assert.equal(await schemaVersion(), "0003");
      const column = await query(
        "SELECT 1 FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'fast'",
        [],
        db(),
      );
      assert.equal(column.length, 0, "0005 was reverted with the down SQL its record row kept");
      assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    } finally {
      for (const f of ["0005_fast.up.sql", "0005_fast.down.sql", "0006_slow.up.sql", "0006_slow.down.sql"]) {
        fs.rmSync(path.join(t.migrationsDir, f));
      }
    }
  });
});
