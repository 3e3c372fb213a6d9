// The schema on a real stack, through the real CLI: adopting a database another tool migrated
// (baseline), drift found by refresh, the repair commands, lint refusing a preview, and the rehearsal
// stopping a full `pulumi up` before the target changes. One stack, in order, as an operator meets
// them; the sample service's own migrations plus a few files each test writes.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { dynamicTypeToken, STEPS } from "../../components/tokens";
import { loadMigrations } from "../../engines/migrations";
import { killTree, migrationsCli, spawnUp, stackEnv, tail } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { createTestStack, query, sampleConfig, type TestStack } from "../support/stack";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One resource of an exported deployment. */
interface StateResource {
  type: string;
  inputs: Record<string, unknown>;
  outputs: Record<string, unknown>;
}

describe("the schema on a stack, through the real CLI", () => {
  let t: TestStack;
  const db = () => ({ database: t.database });
  const records = () =>
    query<{
      id: string;
      down_sql: string | null;
      checksum: string;
      baselined: boolean;
      note: string | null;
      repairs: unknown[];
    }>(
      "SELECT id, down_sql, checksum, baselined, note, repairs FROM rollout_migrations ORDER BY id",
      [],
      db(),
    );
  const version = async () =>
    (await query<{ v: string | null }>("SELECT max(id) AS v FROM rollout_migrations", [], db()))[0].v;
  const file = (name: string) => path.join(t.migrationsDir, name);
  /** The sample config at release 1.0.0 (schema 0002) with extra migrations settings. */
  const config = (migrations: Record<string, unknown> = {}, target = "0002") => {
    const c = sampleConfig(t, "1.0.0");
    c["rollout:release"].schemaTarget = target;
    return { ...c, "rollout:migrations": { ...c["rollout:migrations"], ...migrations } };
  };

  before(async () => {
    t = await createTestStack("itest-schema");
  });
  after(async () => {
    await t?.cleanup();
  });

  it("baselines a database another tool migrated: shown in the preview, recorded with who and why, nothing run", async () => {
    // Another tool ran 0001 and 0002; no record table of ours exists.
    for (const name of ["0001_create_users_and_sessions.up.sql", "0002_create_items.up.sql"]) {
      await query(fs.readFileSync(file(name), "utf8"), [], db());
    }
    await query("INSERT INTO items (title) VALUES ('kept')", [], db());
    await t.setConfig(
      config({
        baseline: { to: "0002", by: "dba-on-call", reason: "migrated by golang-migrate before adoption" },
      }),
    );
    const preview = await t.stack.preview({ diff: true });
    assert.match(
      preview.stdout,
      /#000 baseline\s*: \[.*record 2 migration\(s\) 0001_create_users_and_sessions \.\. 0002_create_items as applied WITHOUT running them.*baselined by dba-on-call: migrated by golang-migrate before adoption/s,
      tail(preview.stdout),
    );
    assert.doesNotMatch(preview.stdout, /#001 apply/, "nothing is planned to run");

    await t.stack.up({ message: "adopt with a baseline" });
    const rows = await records();
    assert.deepEqual(
      rows.map((r) => [r.id, r.baselined]),
      [
        ["0001", true],
        ["0002", true],
      ],
    );
    assert.match(rows[0].note ?? "", /dba-on-call.*migrated by golang-migrate before adoption/);
    // Not run again: the row written before the adoption is still the only one.
    assert.deepEqual(await query("SELECT title FROM items", [], db()), [{ title: "kept" }]);
    // Adopted: the baseline leaves the config, as the README says, and nothing is left to change.
    await t.setConfig(config());
    const after = await t.stack.preview({ diff: true });
    assert.doesNotMatch(after.stdout, /#00\d (baseline|apply)/);
  });

  it("a refresh shows a migration reverted by hand as a change, and the next up applies it again", async () => {
    await query("DROP TABLE items; DELETE FROM rollout_migrations WHERE id = '0002'", [], db());
    const refresh = await t.stack.refresh();
    assert.ok(
      (refresh.summary.resourceChanges?.update ?? 0) >= 1,
      `the refresh records the drift as an update: ${JSON.stringify(refresh.summary.resourceChanges)}`,
    );
    const preview = await t.stack.preview({ diff: true });
    assert.match(
      preview.stdout,
      /#001 apply 0002_create_items\s*: \[.*CREATE TABLE items \(/s,
      tail(preview.stdout),
    );
    await t.stack.up({ message: "back to the target after the drift" });
    assert.equal(await version(), "0002");
    assert.equal((await query("SELECT to_regclass('items') IS NOT NULL AS p", [], db()))[0].p, true);
  });

  it("repair-down replaces the stored down SQL from its file, recorded and shown in the next preview", async () => {
    const down = file("0002_create_items.down.sql");
    fs.writeFileSync(down, "-- Drops the sample service's items.\nDROP TABLE IF EXISTS items;\n");

    const noReason = await migrationsCli(t, ["repair-down", "--migration", "0002"]);
    assert.equal(noReason.code, 2, noReason.output);
    assert.match(noReason.output, /--reason is required/);
    const pending = await migrationsCli(t, ["repair-down", "--migration", "0003", "--reason", "try"]);
    assert.equal(pending.code, 2, pending.output);
    assert.match(pending.output, /migration `0003_add_item_status` is not applied/);
    const unknown = await migrationsCli(t, ["repair-down", "--migration", "0099", "--reason", "try"]);
    assert.equal(unknown.code, 2, unknown.output);
    assert.match(unknown.output, /--migration "0099" is not a migration in /);
    for (const out of [noReason, pending, unknown])
      assert.doesNotMatch(out.output, /\n\s+at /, "no stack trace");
    assert.equal((await records())[1].down_sql, "DROP TABLE items;\n", "nothing changed by a refusal");

    const done = await migrationsCli(t, [
      "repair-down",
      "--migration",
      "0002_create_items",
      "--by",
      "alice",
      "--reason",
      "the down must not fail when items is already gone",
    ]);
    assert.equal(done.code, 0, done.output);
    const row = (await records())[1];
    assert.equal(row.down_sql, fs.readFileSync(down, "utf8"));
    assert.equal(row.repairs.length, 1);
    assert.deepEqual(
      (({ kind, by, reason }) => ({ kind, by, reason }))(row.repairs[0] as Record<string, string>),
      { kind: "down", by: "alice", reason: "the down must not fail when items is already gone" },
    );
    const again = await migrationsCli(t, ["repair-down", "--migration", "0002", "--reason", "again"]);
    assert.equal(again.code, 2, again.output);
    assert.match(again.output, /already equals its down file; nothing to repair/);

    const preview = await t.stack.preview({ diff: true });
    assert.match(
      preview.stdout,
      /#000 repair 0002_create_items down\s*: \[.*the stored down SQL was replaced from its file.*by alice at [0-9T:.-]+Z: the down must not fail when items is already gone/s,
      tail(preview.stdout),
    );
  });

  it("accept-checksum lets an edited applied file through with a reason; the next up records both repairs", async () => {
    const up = file("0001_create_users_and_sessions.up.sql");
    fs.writeFileSync(up, `${fs.readFileSync(up, "utf8")}-- Reviewed 2026-12: no change to the schema.\n`);
    await assert.rejects(
      t.stack.preview(),
      /migration `0001_create_users_and_sessions` was applied with checksum [0-9a-f]{12}…, the file now hashes to [0-9a-f]{12}…; write a new migration instead of editing an applied one, or, when the edit changes nothing the database needs, accept it with `npm run migrations -- accept-checksum --stack STACK --migration 0001_create_users_and_sessions --reason TEXT`/,
    );
    const before = (await records())[0].checksum;
    const done = await migrationsCli(t, [
      "accept-checksum",
      "--migration",
      "0001",
      "--by",
      "bob",
      "--reason",
      "a comment was added after it was applied",
    ]);
    assert.equal(done.code, 0, done.output);
    assert.match(done.output, /the edit was not run/);
    const row = (await records())[0];
    assert.notEqual(row.checksum, before);
    assert.equal((row.repairs[0] as { from: string }).from, before);

    const preview = await t.stack.preview({ diff: true });
    assert.match(
      preview.stdout,
      /#000 repair 0001_create_users_and_sessions checksum\s*: \[.*the edited up file was accepted without running it.*by bob at [0-9T:.-]+Z: a comment was added after it was applied/s,
      tail(preview.stdout),
    );
    assert.match(preview.stdout, /#000 repair 0002_create_items down/, "the down repair is still shown");

    await t.stack.up({ message: "take the repairs into state" });
    const after = await t.stack.preview({ diff: true });
    assert.doesNotMatch(after.stdout, /#000 repair/, "a repair is shown once, until an up records it");
    assert.equal(
      after.changeSummary.update ?? 0,
      0,
      `nothing left to change: ${JSON.stringify(after.changeSummary)}`,
    );
  });

  it("a stack whose state main's Schema wrote (every migration's SQL in its inputs) previews and updates", async () => {
    // The record table and the Schema's state as the release before this one wrote them.
    await query(
      "ALTER TABLE rollout_migrations DROP COLUMN baselined, DROP COLUMN note, DROP COLUMN repairs",
      [],
      db(),
    );
    const exported = await t.stack.exportStack();
    const resources = (exported.deployment as { resources: StateResource[] }).resources;
    const schema = resources.find((r) => r.type === dynamicTypeToken(STEPS.schema))!;
    const files = loadMigrations(t.migrationsDir).map((m) => ({
      id: m.id,
      name: m.name,
      up: m.up,
      down: m.down,
      verify: m.verify,
      checksum: m.checksum,
      irreversible: m.irreversible,
      noTransaction: m.noTransaction,
    }));
    const inputs = {
      __provider: schema.inputs.__provider,
      connection: schema.inputs.connection,
      migrations: files,
      target: "0002",
      release: schema.inputs.release,
      table: "rollout_migrations",
      lockTimeoutSeconds: schema.inputs.lockTimeoutSeconds,
      plan: [],
    };
    const { applied, version: v, lastRun, startedAt, finishedAt } = schema.outputs;
    schema.inputs = inputs;
    schema.outputs = { ...inputs, applied, version: v, lastRun, startedAt, finishedAt };
    await t.stack.importStack(exported);

    const preview = await t.stack.preview({ diff: true });
    assert.equal(
      preview.changeSummary.update ?? 0,
      0,
      `the old state is the same schema: ${tail(preview.stdout)}`,
    );
    await t.setConfig(config({}, "0003"));
    await t.stack.up({ message: "the first update with the new Schema" });
    assert.equal(await version(), "0003");
    const state = (await t.stack.exportStack()).deployment as { resources: StateResource[] };
    const stored = state.resources.find((r) => r.type === dynamicTypeToken(STEPS.schema))!.inputs.migrations;
    assert.match(
      String(stored),
      /^4 migration\(s\) 0001\.\.0004, sha256 [0-9a-f]{64}$/,
      "state keeps no migration SQL",
    );
    // Back, with the down SQL state recorded.
    await t.setConfig(config());
    await t.stack.up({ message: "back to 0002" });
    assert.equal(await version(), "0002");
  });

  it("lint with requireLintAllow refuses the preview for an unallowed rename and passes with the allow marker", async () => {
    await t.setConfig(config({ requireLintAllow: true }, "0004"));
    await assert.rejects(t.stack.preview(), (err: Error) => {
      assert.match(
        err.message,
        /lint refused 1 statement\(s\) \(rollout:migrations.requireLintAllow\):\s+- migration `0004_rename_item_title` line \d+: `ALTER TABLE items RENAME COLUMN title TO name;?` renames a table or column that the release still running reads by its old name; rewrite it, or add `-- rollout:allow=rename` to the file to accept it/,
      );
      return true;
    });
    const up = file("0004_rename_item_title.up.sql");
    const original = fs.readFileSync(up, "utf8");
    fs.writeFileSync(up, `-- rollout:allow=rename\n${original}`);
    try {
      const preview = await t.stack.preview({ diff: true });
      assert.match(
        preview.stdout,
        /lint rename \(allowed in the file\): line \d+ `ALTER TABLE items RENAME COLUMN title TO name/,
      );
      assert.match(preview.stdout, /#002 apply 0004_rename_item_title/);
    } finally {
      fs.writeFileSync(up, original);
      await t.setConfig(config());
    }
  });

  it("kill -9 right after a migration's COMMIT, then the old release value and `pulumi up`: the schema reaches it", async () => {
    fs.writeFileSync(file("0005_slow.up.sql"), "SELECT pg_sleep(20);\n");
    fs.writeFileSync(file("0005_slow.down.sql"), "SELECT 1;\n");
    try {
      await t.setConfig(config({}, "0005"));
      const up = spawnUp(t);
      // 0004 committed (its record row is there): kill everything before the state is written.
      const deadline = Date.now() + 180_000;
      while ((await query("SELECT 1 FROM rollout_migrations WHERE id = '0004'", [], db())).length === 0) {
        assert.ok(Date.now() < deadline, "0004 was never applied");
        await sleep(100);
      }
      await killTree(up);
      // The killed run's session holds the migration lock until its statement ends.
      while (
        (
          await query(
            "SELECT 1 FROM pg_stat_activity WHERE datname = $1 AND query LIKE '%pg_sleep(20)%' AND pid <> pg_backend_pid()",
            [t.database],
          )
        ).length > 0
      ) {
        await sleep(250);
      }
      assert.equal(await version(), "0004");
      const cancel = spawnSync("pulumi", ["cancel", "--yes", "--stack", t.name], {
        cwd: ROOT,
        env: stackEnv(t),
        encoding: "utf8",
      });
      assert.equal(cancel.status, 0, cancel.stderr);

      // `git revert` of the release commit: the old value, which is also what state last recorded.
      await t.setConfig(config());
      const preview = await t.stack.preview({ diff: true });
      assert.match(
        preview.stdout,
        /#001 revert 0004_rename_item_title.*#002 revert 0003_add_item_status/s,
        tail(preview.stdout),
      );
      await t.stack.up({ message: "git revert of the release" });
      assert.equal(await version(), "0002");
      const columns = await query<{ column_name: string }>(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY column_name",
        [],
        db(),
      );
      assert.deepEqual(
        columns.map((c) => c.column_name),
        ["created_at", "id", "title"],
        "0004 and 0003 reverted with the down SQL their record rows kept",
      );
    } finally {
      for (const f of ["0005_slow.up.sql", "0005_slow.down.sql"]) fs.rmSync(file(f), { force: true });
    }
  });

  it("the rehearsal inside a full up catches an off-by-one down and stops before the target changes", async () => {
    // 0005's down drops 0006's table: harmless going up, it fails only when reverting both.
    fs.writeFileSync(file("0005_create_labels.up.sql"), "CREATE TABLE labels (id serial PRIMARY KEY);\n");
    fs.writeFileSync(file("0005_create_labels.down.sql"), "DROP TABLE colours;\n");
    fs.writeFileSync(file("0006_create_colours.up.sql"), "CREATE TABLE colours (id serial PRIMARY KEY);\n");
    fs.writeFileSync(file("0006_create_colours.down.sql"), "DROP TABLE colours;\n");
    await t.setConfig(config({ rehearse: true }, "0006"));
    // The whole rollout (preflight, maintenance, backup) runs; the schema step stops it.
    await assert.rejects(t.stack.up({ message: "release with an off-by-one down" }), (err: Error) => {
      assert.match(
        err.message,
        /the rehearsal on a scratch copy of the backup failed in its "revert" pass \(down\): .*0005_create_labels.*table "colours" does not exist.*Nothing ran on database `db_itest_schema_[0-9a-f]+`: fix the migration's down script/s,
      );
      return true;
    });
    assert.equal(await version(), "0002", "the target database did not move");
    assert.equal((await query("SELECT to_regclass('labels') IS NOT NULL AS p", [], db()))[0].p, false);
    const scratch = await query<{ datname: string }>(
      "SELECT datname FROM pg_database WHERE datname LIKE 'rollout_rehearse_%'",
    );
    assert.deepEqual(scratch, [], "the scratch database is dropped");
  });
});
