// The migration runner against the real local PostgreSQL: each test gets a scratch database of its
// own, created and dropped around it, and loads its migrations from real files in a temp folder.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import { Client, type ClientConfig } from "pg";
import {
  advisoryLockKey,
  loadMigrations,
  migrate,
  MigrationError,
  MigrationPlanError,
  readApplied,
  rehearseMigrations,
  type MigrateOptions,
  type Migration,
} from "../../engines/migrations";
import { takePostgresBackup } from "../../engines/backup";
import type { PgConnection } from "../../engines/postgres";
import { query, targetDatabase } from "../support/stack";

/** The record table the stack config defaults to (config/schema.ts). */
const TABLE = "rollout_migrations";
/** `migrate` with the table and lock timeout a stack gets by default, unless a test sets them. */
const migrateAt = (
  options: Omit<
    MigrateOptions,
    "table" | "lockTimeoutSeconds" | "migrationLockTimeoutMs" | "statementTimeoutSeconds"
  > &
    Partial<MigrateOptions>,
) =>
  migrate({
    table: TABLE,
    lockTimeoutSeconds: 30,
    migrationLockTimeoutMs: 10_000,
    statementTimeoutSeconds: 900,
    ...options,
  });

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** Runs `fn` with a fresh database and drops it afterwards, whatever happened. */
async function withScratchDatabase(fn: (db: PgConnection) => Promise<void>): Promise<void> {
  // Throws a clear message when the PG* variables are missing: these tests never skip.
  const admin = targetDatabase();
  const database = `mig_test_${randomBytes(5).toString("hex")}`;
  await query(`CREATE DATABASE ${database}`);
  try {
    await fn({ ...admin, database, sslMode: "disable" });
  } finally {
    await query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  }
}

async function sql<T extends Record<string, unknown>>(db: ClientConfig, text: string): Promise<T[]> {
  const client = new Client(db);
  await client.connect();
  try {
    return (await client.query<T>(text)).rows;
  } finally {
    await client.end();
  }
}

const exists = async (db: ClientConfig, relation: string) =>
  (await sql<{ present: boolean }>(db, `SELECT to_regclass('${relation}') IS NOT NULL AS present`))[0]
    .present;

const columnsOf = async (db: ClientConfig, table: string) =>
  (
    await sql<{ column_name: string }>(
      db,
      `SELECT column_name FROM information_schema.columns WHERE table_schema = 'public' AND table_name = '${table}' ORDER BY ordinal_position`,
    )
  ).map((r) => r.column_name);

/** Writes the files to a temp folder and loads them as the schema resource would. */
function migrationsFrom(files: Record<string, string>): Migration[] {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-migrations-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return loadMigrations(dir);
}

const THREE: Record<string, string> = {
  "0001_create_items.up.sql": "CREATE TABLE items (\n  id serial PRIMARY KEY,\n  title text NOT NULL\n);\n",
  "0001_create_items.down.sql": "DROP TABLE items;\n",
  "0001_create_items.verify.sql":
    "-- expect: 2\nSELECT count(*) FROM information_schema.columns\nWHERE table_schema = current_schema() AND table_name = 'items';\n",
  "0002_create_tags.up.sql":
    "CREATE TABLE tags (id serial PRIMARY KEY, label text NOT NULL);\nINSERT INTO tags (label) VALUES ('a'), ('b');\n",
  "0002_create_tags.down.sql": "DROP TABLE tags;\n",
  "0002_create_tags.verify.sql": "-- expect: 2\nSELECT count(*) FROM tags;\n",
  "0003_add_item_status.up.sql": "ALTER TABLE items ADD COLUMN status text NOT NULL DEFAULT 'open';\n",
  "0003_add_item_status.down.sql": "ALTER TABLE items DROP COLUMN status;\n",
  "0003_add_item_status.verify.sql":
    "-- expect: text\nSELECT data_type FROM information_schema.columns\nWHERE table_schema = current_schema() AND table_name = 'items' AND column_name = 'status';\n",
};

describe("migrate against PostgreSQL", () => {
  it("applies migrations up to the target and records them", () =>
    withScratchDatabase(async (db) => {
      const migrations = migrationsFrom(THREE);
      assert.deepEqual(await readApplied(db, TABLE), [], "no migrations table yet");
      const lines: string[] = [];

      const first = await migrateAt({
        connection: db,
        migrations,
        target: "0002",
        release: "1.0.0",
        log: (l) => lines.push(l),
      });
      assert.equal(first.direction, "up");
      assert.deepEqual(
        first.applied.map((s) => s.name),
        ["0001_create_items", "0002_create_tags"],
      );
      assert.deepEqual(first.reverted, []);
      assert.equal(first.version, "0002");
      assert.ok(await exists(db, "tags"));
      assert.deepEqual(await columnsOf(db, "items"), ["id", "title"]);
      assert.ok(lines.includes("applying 0001_create_items"), lines.join("\n"));

      const second = await migrateAt({ connection: db, migrations, target: "0003", release: "1.1.0" });
      assert.deepEqual(
        second.applied.map((s) => s.id),
        ["0003"],
      );
      assert.equal(second.version, "0003");
      assert.deepEqual(await columnsOf(db, "items"), ["id", "title", "status"]);

      const records = await readApplied(db, TABLE);
      assert.deepEqual(
        records.map(({ appliedAt, durationMs, ...rest }) => {
          assert.ok(!Number.isNaN(Date.parse(appliedAt)) && durationMs >= 0);
          return rest;
        }),
        migrations.map((m, i) => ({
          id: m.id,
          name: m.name,
          checksum: m.checksum,
          down: m.down,
          irreversible: false,
          release: i < 2 ? "1.0.0" : "1.1.0",
        })),
      );
    }));

  it("does nothing when the database is at the target", () =>
    withScratchDatabase(async (db) => {
      const migrations = migrationsFrom(THREE);
      await migrateAt({ connection: db, migrations, target: "0003", release: "1.0.0" });
      const before = await readApplied(db, TABLE);

      const again = await migrateAt({ connection: db, migrations, target: "0003", release: "1.0.1" });
      assert.deepEqual(
        { ...again, durationMs: 0 },
        {
          direction: "none",
          applied: [],
          reverted: [],
          version: "0003",
          durationMs: 0,
        },
      );
      assert.deepEqual(await readApplied(db, TABLE), before);
    }));

  it("reverts with the down SQL kept in state or the table, after the files are gone", () =>
    withScratchDatabase(async (db) => {
      await migrateAt({
        connection: db,
        migrations: migrationsFrom(THREE),
        target: "0003",
        release: "1.1.0",
      });
      // The previous release's folder: only the first migration's files are left.
      const older = migrationsFrom(
        Object.fromEntries(Object.entries(THREE).filter(([name]) => name.startsWith("0001_"))),
      );

      const result = await migrateAt({
        connection: db,
        migrations: older,
        target: "0001",
        release: "1.0.0",
        // State keeps its own copy for 0003, which wins over the table; 0002 falls back to the table.
        downFor: {
          "0003": {
            down: "ALTER TABLE items DROP COLUMN status;\nCREATE TABLE reverted_by_state (id int);\n",
            irreversible: false,
          },
        },
      });
      assert.equal(result.direction, "down");
      assert.deepEqual(
        result.reverted.map((s) => s.name),
        ["0003_add_item_status", "0002_create_tags"],
      );
      assert.deepEqual(result.applied, []);
      assert.equal(result.version, "0001");
      assert.deepEqual(await columnsOf(db, "items"), ["id", "title"]);
      assert.ok(await exists(db, "reverted_by_state"), "the down SQL from state ran");
      assert.equal(await exists(db, "tags"), false, "the down SQL from the table ran");
      assert.deepEqual(
        (await readApplied(db, TABLE)).map((r) => r.id),
        ["0001"],
      );

      const none = await migrateAt({ connection: db, migrations: [], target: "none", release: "0.0.0" });
      assert.deepEqual(
        [none.direction, none.reverted.map((s) => s.id), none.version],
        ["down", ["0001"], "0000"],
      );
      assert.equal(await exists(db, "items"), false);
      assert.deepEqual(await readApplied(db, TABLE), []);
    }));

  it("rolls back a failing migration, keeps the earlier ones and names it", () =>
    withScratchDatabase(async (db) => {
      const broken = {
        ...THREE,
        "0002_create_tags.up.sql":
          "CREATE TABLE tags (id serial PRIMARY KEY, label text NOT NULL);\nINSERT INTO tags (label)\nVALUES (nope);\n",
      };
      await assert.rejects(
        migrateAt({ connection: db, migrations: migrationsFrom(broken), target: "0003", release: "1.0.0" }),
        (err: unknown) => {
          assert.ok(err instanceof MigrationError, String(err));
          assert.equal(
            err.message,
            'applying migration `0002_create_tags` failed: column "nope" does not exist (SQLSTATE 42703) at line 3 of `0002_create_tags.up.sql`; it was rolled back and earlier migrations stay applied (version 0001). Fix the migration file and run `pulumi up` again.',
          );
          assert.deepEqual([err.migration, err.version, err.sqlState], ["0002_create_tags", "0001", "42703"]);
          return true;
        },
      );
      assert.ok(await exists(db, "items"), "the first migration stays applied");
      assert.equal(await exists(db, "tags"), false, "the failed migration was rolled back");
      assert.deepEqual(
        (await readApplied(db, TABLE)).map((r) => r.id),
        ["0001"],
      );

      // Fixed, the same call goes on from where it stopped (and the lock was released).
      const fixed = await migrateAt({
        connection: db,
        migrations: migrationsFrom(THREE),
        target: "0003",
        release: "1.0.0",
      });
      assert.deepEqual(
        fixed.applied.map((s) => s.id),
        ["0002", "0003"],
      );
    }));

  it("rolls back a migration whose verify query does not hold", () =>
    withScratchDatabase(async (db) => {
      const wrong = {
        ...THREE,
        "0002_create_tags.verify.sql": "-- expect: 3\nSELECT count(*)\n  FROM tags;\n",
      };
      await assert.rejects(
        migrateAt({ connection: db, migrations: migrationsFrom(wrong), target: "0003", release: "1.0.0" }),
        {
          name: "MigrationError",
          message:
            "applying migration `0002_create_tags` failed verification: `SELECT count(*) FROM tags` returned 2, expected 3; it was rolled back and earlier migrations stay applied (version 0001). Fix the migration file and run `pulumi up` again.",
        },
      );
      assert.equal(await exists(db, "tags"), false);
      assert.deepEqual(
        (await readApplied(db, TABLE)).map((r) => r.id),
        ["0001"],
      );
    }));

  it("fails with the lock holder when another rollout is migrating the database", () =>
    withScratchDatabase(async (db) => {
      const other = new Client({ ...db, application_name: "other rollout" });
      await other.connect();
      try {
        const pid = (await other.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0].pid;
        const [k1, k2] = advisoryLockKey(TABLE);
        await other.query("SELECT pg_advisory_lock($1, $2)", [k1, k2]);

        const started = Date.now();
        await assert.rejects(
          migrateAt({
            connection: db,
            migrations: migrationsFrom(THREE),
            target: "0003",
            release: "1.0.0",
            lockTimeoutSeconds: 1,
          }),
          (err: unknown) => {
            assert.ok(err instanceof MigrationError, String(err));
            assert.match(
              err.message,
              new RegExp(
                `^cannot migrate database \`${db.database}\`: another rollout is migrating this database; pid ${pid} \\(user postgres, application "other rollout", from 127\\.0\\.0\\.1, connected since \\S+, state idle\\) holds the migration lock \\(advisory lock ${k1},${k2} for table \`rollout_migrations\`\\) and did not release it within 1 s\\. Wait for it to finish and run \`pulumi up\` again; if that session is stuck, end it with \`SELECT pg_terminate_backend\\(${pid}\\)\` first\\.$`,
              ),
            );
            return true;
          },
        );
        const waited = Date.now() - started;
        assert.ok(waited >= 1000 && waited < 5000, `waited ${waited} ms for a 1 s lock timeout`);
        assert.deepEqual(await readApplied(db, TABLE), [], "nothing ran without the lock");

        await other.query("SELECT pg_advisory_unlock($1, $2)", [k1, k2]);
        const result = await migrateAt({
          connection: db,
          migrations: migrationsFrom(THREE),
          target: "0003",
          release: "1.0.0",
          lockTimeoutSeconds: 1,
        });
        assert.equal(result.version, "0003");
      } finally {
        await other.end();
      }
    }));

  it("runs a no-transaction migration on its own, both ways", () =>
    withScratchDatabase(async (db) => {
      const files = {
        ...THREE,
        "0004_index_item_title.up.sql":
          "-- rollout:no-transaction\nCREATE INDEX CONCURRENTLY items_title_idx ON items (title);\n",
        "0004_index_item_title.down.sql":
          "-- rollout:no-transaction\nDROP INDEX CONCURRENTLY items_title_idx;\n",
        "0004_index_item_title.verify.sql":
          "-- expect: true\nSELECT indisvalid FROM pg_index WHERE indexrelid = 'items_title_idx'::regclass;\n",
      };
      const migrations = migrationsFrom(files);
      assert.equal(migrations[3].noTransaction, true);

      const up = await migrateAt({ connection: db, migrations, target: "0004", release: "1.2.0" });
      assert.deepEqual(
        up.applied.map((s) => s.id),
        ["0001", "0002", "0003", "0004"],
      );
      assert.ok(await exists(db, "items_title_idx"));
      assert.deepEqual(
        (await readApplied(db, TABLE)).map((r) => r.id),
        ["0001", "0002", "0003", "0004"],
      );

      const down = await migrateAt({ connection: db, migrations, target: "0003", release: "1.1.0" });
      assert.deepEqual(
        down.reverted.map((s) => s.id),
        ["0004"],
      );
      assert.equal(await exists(db, "items_title_idx"), false);

      // Two statements in one no-transaction file run one by one, each on its own; a failure names
      // the statement, and the ones before it stay.
      const twoStatements = migrationsFrom({
        ...files,
        "0004_index_item_title.up.sql":
          "-- rollout:no-transaction\nCREATE INDEX CONCURRENTLY items_title_idx ON items (title);\nCREATE INDEX CONCURRENTLY items_status_idx ON items (status);\n",
      });
      await migrateAt({ connection: db, migrations: twoStatements, target: "0004", release: "1.2.0" });
      assert.ok(await exists(db, "items_title_idx"));
      assert.ok(await exists(db, "items_status_idx"));
      await sql(db, "DROP INDEX items_status_idx");
      await migrateAt({ connection: db, migrations: twoStatements, target: "0003", release: "1.1.0" });
      const broken = migrationsFrom({
        ...files,
        "0004_index_item_title.up.sql":
          "-- rollout:no-transaction\nCREATE INDEX CONCURRENTLY items_title_idx ON items (title);\nCREATE INDEX CONCURRENTLY items_nope_idx ON items (nope);\n",
      });
      await assert.rejects(
        migrateAt({ connection: db, migrations: broken, target: "0004", release: "1.2.0" }),
        {
          name: "MigrationError",
          message: new RegExp(
            '^applying migration `0004_index_item_title` failed at statement 2 of 2 \\(line 3: `CREATE INDEX CONCURRENTLY items_nope_idx ON items \\(nope\\)`; statements 1-1 ran and stay\\): column "nope" does not exist \\(SQLSTATE 42703\\).*it ran outside a transaction, so it was not rolled back and is not recorded as applied \\(version 0003\\)',
          ),
        },
      );
      assert.deepEqual(
        (await readApplied(db, TABLE)).map((r) => r.id),
        ["0001", "0002", "0003"],
      );
    }));

  it("refuses to run when an applied migration's file changed, and changes nothing", () =>
    withScratchDatabase(async (db) => {
      const migrations = migrationsFrom(THREE);
      await migrateAt({ connection: db, migrations, target: "0001", release: "1.0.0" });
      const edited = migrationsFrom({
        ...THREE,
        "0001_create_items.up.sql": THREE["0001_create_items.up.sql"].replace("title", "name"),
      });
      await assert.rejects(
        migrateAt({ connection: db, migrations: edited, target: "0003", release: "1.1.0" }),
        (err) => {
          assert.ok(err instanceof MigrationPlanError, String(err));
          assert.equal(
            err.message,
            `migration \`0001_create_items\` was applied with checksum ${migrations[0].checksum.slice(0, 12)}…, the file now hashes to ${edited[0].checksum.slice(0, 12)}…; write a new migration instead of editing an applied one, or, when the edit changes nothing the database needs, accept it with \`npm run migrations -- accept-checksum --stack STACK --migration 0001_create_items --reason TEXT\``,
          );
          return true;
        },
      );
      assert.equal(await exists(db, "tags"), false);
    }));

  it("fails a migration that waits behind another session's lock, naming it, the timeout and the way out", () =>
    withScratchDatabase(async (db) => {
      const migrations = migrationsFrom(THREE);
      await migrateAt({ connection: db, migrations, target: "0002", release: "1.0.0" });
      const other = new Client(db);
      await other.connect();
      try {
        // A long transaction that holds a lock on items, as a report query or a stuck session would.
        await other.query("BEGIN");
        await other.query("LOCK TABLE items IN ACCESS SHARE MODE");
        const started = Date.now();
        await assert.rejects(
          migrateAt({
            connection: db,
            migrations,
            target: "0003",
            release: "1.1.0",
            migrationLockTimeoutMs: 500,
          }),
          {
            name: "MigrationError",
            message: new RegExp(
              "^applying migration `0003_add_item_status` failed: canceling statement due to lock timeout \\(SQLSTATE 55P03\\).* \\(it waited longer than its lock_timeout of 500 ms for a lock another session holds: .*pg_terminate_backend.*\\); it was rolled back and earlier migrations stay applied \\(version 0002\\)",
            ),
          },
        );
        assert.ok(Date.now() - started < 5000, "the migration must not hang behind the lock");
        assert.deepEqual(await columnsOf(db, "items"), ["id", "title"], "nothing half-applied");
        assert.deepEqual(
          (await readApplied(db, TABLE)).map((r) => r.id),
          ["0001", "0002"],
        );
      } finally {
        await other.query("ROLLBACK");
        await other.end();
      }
      // A statement over its statement_timeout fails the same way; a file may set its own.
      const slow = migrationsFrom({
        ...THREE,
        "0004_slow.up.sql": "-- rollout:statement-timeout-seconds=1\nSELECT pg_sleep(3);\n",
        "0004_slow.down.sql": "",
      });
      await assert.rejects(
        migrateAt({ connection: db, migrations: slow, target: "0004", release: "1.2.0" }),
        {
          message:
            /^applying migration `0004_slow` failed: canceling statement due to statement timeout \(SQLSTATE 57014\).*statement_timeout of 1 s/,
        },
      );
      assert.equal((await readApplied(db, TABLE)).at(-1)?.id, "0003");
    }));

  it("applies and reverts a generated set of 300 with empty files, no-transaction files both ways and wide versions", () =>
    withScratchDatabase(async (db) => {
      const dir = generatedSet(300, { offByOneAt: undefined });
      const migrations = loadMigrations(dir);
      // 300 table migrations and, after 23 of them, a no-transaction index migration of its own.
      assert.equal(migrations.length, 323);
      assert.equal(migrations.filter((m) => m.noTransaction).length, 23);
      assert.ok(migrations.filter((m) => m.down?.startsWith("-- rollout:no-transaction")).length === 23);
      const up = await migrateAt({
        connection: db,
        migrations,
        target: migrations.at(-1)!.id,
        release: "big",
      });
      assert.equal(up.applied.length, 323);
      assert.equal(up.version, migrations.at(-1)!.id);
      const down = await migrateAt({ connection: db, migrations, target: "none", release: "big" });
      assert.equal(down.reverted.length, 323);
      assert.deepEqual(await readApplied(db, TABLE), []);
      const left = await sql<{ n: number }>(
        db,
        "SELECT count(*)::int AS n FROM pg_class WHERE relnamespace = 'public'::regnamespace AND relname <> 'rollout_migrations' AND relname NOT LIKE 'rollout_migrations%'",
      );
      assert.equal(left[0].n, 0, "every table and index is gone at the empty schema");
    }));

  it("rehearses on a scratch copy of the backup and catches an off-by-one down before the database changes", () =>
    withScratchDatabase(async (db) => {
      const dir = generatedSet(40, { offByOneAt: 25 });
      const migrations = loadMigrations(dir);
      const offByOne = migrations.find((m) => m.name.endsWith("_step_25"))!;
      await migrateAt({ connection: db, migrations, target: migrations[9].id, release: "base" });
      const backupDir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-rehearse-"));
      dirs.push(backupDir);
      const backup = await takePostgresBackup({
        connection: db,
        dir: backupDir,
        stack: "rehearse",
        release: "r1",
        minBytes: 0,
        expectTables: [],
        keep: 0,
      });
      const options = {
        connection: db,
        migrations,
        target: migrations.at(-1)!.id,
        release: "r1",
        table: TABLE,
        lockTimeoutSeconds: 30,
        migrationLockTimeoutMs: 10_000,
        statementTimeoutSeconds: 900,
        backup: { backupPath: backup.path, backupSha256: backup.sha256 },
      };
      await assert.rejects(rehearseMigrations(options), (err: Error) => {
        assert.equal(err.name, "MigrationError");
        assert.match(
          err.message,
          new RegExp(
            `^the rehearsal on a scratch copy of the backup failed in its "apply again" pass \\(up\\): applying migration \`${offByOne.name}\` failed: relation "t_${offByOne.id}" already exists`,
          ),
        );
        assert.match(err.message, /Nothing ran on database/);
        return true;
      });
      assert.equal(
        (await readApplied(db, TABLE)).at(-1)?.id,
        migrations[9].id,
        "the real database is where it was",
      );
      const scratch = await query<{ n: number }>(
        "SELECT count(*)::int AS n FROM pg_database WHERE datname LIKE 'rollout_rehearse_%'",
      );
      assert.equal(scratch[0].n, 0, "the scratch database is dropped");

      fs.writeFileSync(path.join(dir, `${offByOne.name}.down.sql`), `DROP TABLE t_${offByOne.id};\n`);
      const fixed = loadMigrations(dir);
      const rehearsal = await rehearseMigrations({ ...options, migrations: fixed });
      assert.deepEqual(
        rehearsal.passes.map((p) => [p.label, p.result.applied.length + p.result.reverted.length]),
        [
          ["apply", migrations.length - 10],
          ["revert", migrations.length - 10],
          ["apply again", migrations.length - 10],
        ],
      );
    }));

  it("reads Flyway, dbmate and Sqitch layouts and runs them both ways", () =>
    withScratchDatabase(async (db) => {
      const layouts: Record<string, Record<string, string>> = {
        flyway: {
          "V1__create_a.sql": "CREATE TABLE a (id int);",
          "U1__create_a.sql": "DROP TABLE a;",
          "V1_1__index_a.sql": "CREATE INDEX CONCURRENTLY a_id ON a (id);",
          "V1_1__index_a.sql.conf": "executeInTransaction=false\n",
          "U1_1__index_a.sql": "DROP INDEX CONCURRENTLY a_id;",
          "U1_1__index_a.sql.conf": "executeInTransaction=false\n",
          "V2__noop.sql": "",
          "U2__noop.sql": "",
        },
        dbmate: {
          "20240101120000_create_b.sql":
            "-- migrate:up\nCREATE TABLE b (id int);\n\n-- migrate:down\nDROP TABLE b;\n",
          "20240102120000_index_b.sql":
            "-- migrate:up transaction:false\nCREATE INDEX CONCURRENTLY b_id ON b (id);\n-- migrate:down transaction:false\nDROP INDEX CONCURRENTLY b_id;\n",
        },
        sqitch: {
          "sqitch.plan":
            "%syntax-version=1.0.0\n%project=demo\n\ncreate_c 2024-01-01T00:00:00Z A <a@example.com> # c\n@v1 2024-01-01T00:00:00Z A <a@example.com>\nindex_c [create_c] 2024-01-02T00:00:00Z A <a@example.com> # index\n",
          "deploy/create_c.sql": "-- Deploy demo:create_c\nBEGIN;\nCREATE TABLE c (id int);\nCOMMIT;\n",
          "revert/create_c.sql": "BEGIN;\nDROP TABLE c;\nCOMMIT;\n",
          "verify/create_c.sql": "BEGIN;\nSELECT id FROM c WHERE false;\nROLLBACK;\n",
          "deploy/index_c.sql": "CREATE INDEX CONCURRENTLY c_id ON c (id);\n",
          "revert/index_c.sql": "DROP INDEX CONCURRENTLY c_id;\n",
        },
      };
      for (const [layout, files] of Object.entries(layouts)) {
        const dir = fs.mkdtempSync(path.join(os.tmpdir(), `rollout-${layout}-`));
        dirs.push(dir);
        for (const [name, text] of Object.entries(files)) {
          fs.mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
          fs.writeFileSync(path.join(dir, name), text);
        }
        const migrations = loadMigrations(dir);
        const table = `rec_${layout}`;
        const up = await migrateAt({
          connection: db,
          migrations,
          target: migrations.at(-1)!.id,
          release: layout,
          table,
        });
        assert.equal(up.applied.length, migrations.length, layout);
        assert.ok(
          migrations.some((m) => m.noTransaction),
          `${layout} has a no-transaction migration`,
        );
        const down = await migrateAt({ connection: db, migrations, target: "none", release: layout, table });
        assert.equal(down.reverted.length, migrations.length, layout);
      }
      assert.equal(await exists(db, "a"), false);
      assert.equal(await exists(db, "b"), false);
      assert.equal(await exists(db, "c"), false);
    }));
});

/**
 * A golang-migrate set of `count` migrations with 14-digit timestamp versions: each creates a table
 * and an index; every 7th up is empty (its down drops nothing either), every 11th builds its index
 * outside a transaction both ways. With `offByOneAt`, that migration's down drops the next one's
 * table instead of its own, which only applying again after a revert (or a rehearsal) finds.
 */
function generatedSet(count: number, { offByOneAt }: { offByOneAt: number | undefined }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-generated-"));
  dirs.push(dir);
  const base = 20240101000000n;
  for (let i = 0; i < count; i++) {
    const id = String(base + BigInt(i) * 100n);
    const name = `${id}_step_${i}`;
    let up: string;
    let down: string;
    if (i % 7 === 3) {
      up = "-- nothing to do in this release\n";
      down = "";
    } else if (i % 11 === 5) {
      up = `CREATE TABLE t_${id} (id int);\n`;
      down = `DROP TABLE t_${id};\n`;
      fs.writeFileSync(
        path.join(dir, `${id}_index_${i}.up.sql`),
        "-- rollout:no-transaction\n" + `CREATE INDEX CONCURRENTLY IF NOT EXISTS i_${id} ON t_${id} (id);\n`,
      );
      // Its own version so the index migration runs right after the table.
      fs.renameSync(
        path.join(dir, `${id}_index_${i}.up.sql`),
        path.join(dir, `${String(base + BigInt(i) * 100n + 50n)}_index_${i}.up.sql`),
      );
      fs.writeFileSync(
        path.join(dir, `${String(base + BigInt(i) * 100n + 50n)}_index_${i}.down.sql`),
        `-- rollout:no-transaction\nDROP INDEX CONCURRENTLY IF EXISTS i_${id};\n`,
      );
    } else {
      up = `CREATE TABLE t_${id} (id serial PRIMARY KEY, label text);\nCREATE INDEX ON t_${id} (label);\n`;
      down = `DROP TABLE t_${id};\n`;
    }
    fs.writeFileSync(path.join(dir, `${name}.up.sql`), up);
    fs.writeFileSync(path.join(dir, `${name}.down.sql`), down);
  }
  if (offByOneAt !== undefined) {
    const id = String(base + BigInt(offByOneAt) * 100n);
    const next = String(base + BigInt(offByOneAt + 1) * 100n);
    fs.writeFileSync(
      path.join(dir, `${id}_step_${offByOneAt}.down.sql`),
      `DROP TABLE IF EXISTS t_${next};\n`,
    );
  }
  return dir;
}
