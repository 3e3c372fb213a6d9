// Going back and surviving failure, for real: the rollback and deploy commands (deploy/cli.ts) as an
// operator runs them, against a real stack, PostgreSQL and Docker engine.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, killTree, matchOut, spawnUp, stackEnv, tail, webhookListener, type Cli } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { createTestStack, query, sampleConfig, type Release, type TestStack } from "../support/stack";

/** A notice's Slack fields (`*Label*\nvalue`) by label, with mrkdwn's escapes undone. */
function noticeFields(notice: object): Record<string, string> {
  const blocks = (notice as { blocks?: { fields?: { text: string }[] }[] }).blocks ?? [];
  const fields = blocks.flatMap((b) => b.fields ?? []).map((f) => /^\*(.+?)\*\n([\s\S]*)$/.exec(f.text));
  return Object.fromEntries(
    fields
      .filter((m): m is RegExpExecArray => m !== null)
      .map((m) => [m[1], m[2].replace(/&gt;/g, ">").replace(/&lt;/g, "<").replace(/&amp;/g, "&")]),
  );
}

describe("rollback and deploy", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  const db = () => ({ database: t.database });
  const schemaVersion = async () =>
    (await query<{ v: string }>("SELECT max(id) AS v FROM rollout_migrations", [], db()))[0].v;
  const health = async () =>
    (await fetch(`http://127.0.0.1:${t.appPort}/health`)).json() as Promise<Record<string, unknown>>;
  const release = async (r: Release, id?: string, edit?: (c: ReturnType<typeof sampleConfig>) => void) => {
    const config = sampleConfig(t, r, id);
    edit?.(config);
    await t.setConfig({ ...config, "rollout:notify": {} });
  };

  before(async () => {
    hook = await webhookListener();
    t = await createTestStack("itest-rollback");
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    await release("1.0.0");
    await t.stack.up({ message: "release 1.0.0" });
    await release("1.1.0");
    await t.stack.up({ message: "release 1.1.0" });
    // Rows written under 1.1.0 must survive a rollback to it.
    await query("INSERT INTO items (title, status) VALUES ('written under 1.1.0', 'done')", [], db());
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await hook?.close();
    }
  });

  it("6. refuses --to a failed update or an unknown version, changing nothing", async () => {
    const unknown = await cli(t, ["rollback", "--to", "99", "--yes"]);
    assert.equal(unknown.code, 2, tail(unknown.output));
    matchOut(unknown.output, /there is no update 99 in the stack history; successful updates: /);
    const history = await t.stack.history();
    assert.equal(history[0].message, "release 1.1.0", "no update may have run");
    assert.equal(await schemaVersion(), "0003");
  });

  it("1. 1.2.1 with a failing check, then rollback: schema, image, checks, maintenance and data back at 1.1.0", async (ctx) => {
    await release("1.2.1");
    await assert.rejects(t.stack.up({ message: "release 1.2.1" }), /health check `health-db` failed/);
    assert.equal(await schemaVersion(), "0004");
    assert.equal((await health()).maintenance, true);

    // The file backend numbers nothing; rollback numbers the history oldest first.
    const failedVersion = (await t.stack.history()).length;
    const refused = await cli(t, ["rollback", "--to", String(failedVersion), "--yes"]);
    assert.equal(refused.code, 2, tail(refused.output));
    matchOut(refused.output, new RegExp(`update ${failedVersion} failed: its release never ran to the end`));

    const started = Date.now();
    const run = await cli(t, ["rollback", "--yes"]);
    assert.equal(run.code, 0, tail(run.output));
    matchOut(
      run.output,
      /rolling back itest-rollback-\w+-1\.2\.1 \(update \d+, failed\) -> itest-rollback-\w+-1\.1\.0/,
    );
    // The figure the README quotes.
    ctx.diagnostic(/rolled back to .* in [\d.]+ s/.exec(run.output)?.[0] ?? "rollback time not printed");
    assert.ok(Date.now() - started < 5 * 60_000);
    assert.equal(await schemaVersion(), "0003");
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    const rows = await query("SELECT status FROM items WHERE title = 'written under 1.1.0'", [], db());
    assert.deepEqual(rows, [{ status: "done" }]);
    const last = (await t.stack.history())[0];
    assert.equal(last.result, "succeeded");
    assert.match(
      last.message,
      /^rollback: itest-rollback-\w+-1\.2\.1 -> itest-rollback-\w+-1\.1\.0 \(update \d+\)$/,
    );
    assert.ok(
      hook.received.some((n) => n.event === "rollback"),
      "a rollback notice was sent",
    );
    // The rollback notice carries its report: what it undid and the schema going down.
    const notice = noticeFields(hook.received.filter((n) => n.event === "rollback").at(-1)!);
    assert.match(
      notice.Rollback ?? "",
      /^undoes itest-rollback-\w+-1\.2\.1, back to update \d+/,
      JSON.stringify(notice),
    );
    assert.match(notice.Migrations ?? "", /-0004_rename_item_title/, JSON.stringify(notice));
  });

  it("2. deploy --auto-rollback of a broken release ends on the previous release, with a failure notice", async (ctx) => {
    await release("1.2.1", `${t.name}-broken`);
    const run = await cli(t, ["deploy", "--yes", "--auto-rollback"]);
    // 3: rolled back; the release asked for is not live, the one before it is.
    assert.equal(run.code, 3, tail(run.output));
    matchOut(run.output, /deploy of itest-rollback-\w+-broken failed after/);
    matchOut(run.output, /from the failure to the previous release serving: [\d.]+ s/);
    // The figure the README quotes.
    ctx.diagnostic(/from the failure to the previous release serving: [\d.]+ s.*/.exec(run.output)![0]);
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    const failure = hook.received.find((n) => n.event === "failure");
    assert.ok(failure, `a failure notice was received: ${JSON.stringify(hook.received)}`);
    assert.match(failure.text, /health check `health-db` failed/);
    // What the failed update did, as Slack fields: the backup it took and the migration it applied.
    const fields = noticeFields(failure);
    assert.match(fields.Backup ?? "", /sha256 [0-9a-f]{64}/, JSON.stringify(fields));
    assert.match(fields.Migrations ?? "", /\+0004_rename_item_title/, JSON.stringify(fields));
  });

  it("3. --restore-backup brings the database back to the backup taken before the release", async () => {
    const checksum = async () =>
      (
        await query<{ n: string; sum: string }>(
          // Whole rows as JSON: independent of which release's column names are in place.
          "SELECT count(*) AS n, md5(string_agg(to_jsonb(i)::text, ',' ORDER BY id)) AS sum FROM items i",
          [],
          db(),
        )
      )[0];
    const before = await checksum();
    await release("1.2.0", `${t.name}-1.2.0-c`);
    await t.stack.up({ message: "release 1.2.0-c" });
    // Writes under 1.2.0 that the restore must undo.
    await query("INSERT INTO items (name, status) VALUES ('written under 1.2.0', 'open')", [], db());
    assert.notDeepEqual(await checksum(), before);

    const run = await cli(t, ["rollback", "--restore-backup", "--yes"]);
    assert.equal(run.code, 0, tail(run.output));
    matchOut(run.output, /restored \d+ tables/);
    assert.deepEqual(await checksum(), before);
    assert.equal(await schemaVersion(), "0003");
    assert.equal((await health()).version, "1.1.0");
  });

  it("5. two concurrent ups on one stack: exactly one proceeds, the other is refused clearly", async () => {
    await release("1.2.0", `${t.name}-concurrent`);
    const env = {
      ...process.env,
      PULUMI_BACKEND_URL: t.backendUrl,
      PULUMI_CONFIG_PASSPHRASE: "integration-test",
    };
    const up = () =>
      new Promise<Cli>((resolve) => {
        const child = spawn(
          "pulumi",
          ["up", "--yes", "--skip-preview", "--stack", t.name, "--non-interactive"],
          { cwd: ROOT, env },
        );
        let output = "";
        child.stdout.on("data", (c: Buffer) => (output += c.toString()));
        child.stderr.on("data", (c: Buffer) => (output += c.toString()));
        child.on("close", (code) => resolve({ code, output }));
      });
    const results = await Promise.all([up(), up()]);
    const ok = results.filter((r) => r.code === 0);
    const refused = results.filter((r) => r.code !== 0);
    assert.equal(ok.length, 1, results.map((r) => r.output).join("\n-----\n"));
    assert.equal(refused.length, 1);
    assert.match(
      refused[0].output,
      /the stack is currently locked|another rollout is migrating this database/,
    );
    assert.equal((await health()).version, "1.2.0");
  });

  it("4. kill -9 during a long migration leaves the database consistent and the next up recovers", async () => {
    const fs = await import("node:fs");
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_slow_backfill.up.sql"),
      "ALTER TABLE items ADD COLUMN backfilled boolean;\nSELECT pg_sleep(30);\nUPDATE items SET backfilled = true;\n",
    );
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_slow_backfill.down.sql"),
      "ALTER TABLE items DROP COLUMN backfilled;\n",
    );
    await release("1.2.0", `${t.name}-slow`, (c) => {
      c["rollout:release"].schemaTarget = "0005";
    });
    const env = stackEnv(t);
    const child = spawnUp(t);
    // Wait until the migration is inside pg_sleep, then kill the whole process group.
    const deadline = Date.now() + 180_000;
    for (;;) {
      const sleeping = await query(
        "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid() AND datname = $1",
        [t.database],
      );
      if (sleeping.length > 0) break;
      assert.ok(Date.now() < deadline, "the slow migration never started");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    // A crash takes every process of the run with it: the CLI, its language host and the provider
    // host that holds the database session.
    await killTree(child);

    // The transaction died with its connection: nothing half-applied, 0004 still the version.
    const deadline2 = Date.now() + 30_000;
    while (
      (
        await query(
          "SELECT 1 FROM pg_stat_activity WHERE query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid() AND datname = $1",
          [t.database],
        )
      ).length > 0
    ) {
      assert.ok(Date.now() < deadline2, "the killed migration's session did not end");
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    assert.equal(await schemaVersion(), "0004");
    const column = await query(
      "SELECT 1 FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'backfilled'",
      [],
      db(),
    );
    assert.equal(column.length, 0);

    // The next run says what to do about the killed run's lock; after `pulumi cancel` it goes through.
    const releaseValue = async () =>
      JSON.parse((await t.stack.getAllConfig())["rollout:release"].value) as unknown;
    const releaseBefore = await releaseValue();
    const locked = await cli(t, ["rollback", "--yes"]);
    assert.equal(locked.code, 2, tail(locked.output));
    assert.deepEqual(await releaseValue(), releaseBefore, "the refused rollback changed the release value");
    matchOut(
      locked.output,
      /is locked by another update\. If one is running, wait for it\. If it was killed, release the lock with `pulumi cancel --yes --stack itest-rollback-\w+`/,
    );
    const cancel = spawnSync("pulumi", ["cancel", "--yes", "--stack", t.name], {
      cwd: ROOT,
      env,
      encoding: "utf8",
    });
    assert.equal(cancel.status, 0, cancel.stderr);
    const up = await t.stack.up({ message: "after kill -9" });
    assert.equal(up.summary.result, "succeeded");
    assert.equal(await schemaVersion(), "0005");
  });

  it("7. deploy --watch rolls back when the live release breaches the thresholds", async () => {
    await release("1.2.0", `${t.name}-watched`, (c) => {
      c["rollout:release"].schemaTarget = "0005";
    });
    const before = hook.received.length;
    let stopped = false;
    const result = await cli(t, ["deploy", "--yes", "--watch", "40s", "--watch-window", "5s"], (output) => {
      // Once the release is live and watched, take it down as a crash would.
      if (!stopped && /watching http/.test(output)) {
        stopped = true;
        spawnSync("docker", ["stop", "-t", "0", `${t.name}-app`]);
      }
    });
    assert.equal(result.code, 3, tail(result.output));
    matchOut(result.output, /breach while watching: soak failed after \d+ s: error rate [\d.]+ %/);
    matchOut(
      result.output,
      /rolling back itest-rollback-\w+-watched \(update \d+, succeeded\) -> itest-rollback-\w+-slow/,
    );
    assert.deepEqual(await health(), { status: "ok", version: "1.2.0", maintenance: false });
    const last = (await t.stack.history())[0];
    assert.match(
      last.message,
      /^rollback: itest-rollback-\w+-watched -> itest-rollback-\w+-slow \(update \d+\): breach while watching/,
    );
    assert.ok(
      hook.received.slice(before).some((n) => n.event === "failure" && /breach after deploy/.test(n.text)),
    );
  });
});
