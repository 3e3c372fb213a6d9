// Backups and restores against the real local PostgreSQL and the real pg_dump and pg_restore. Each test
// gets a database of its own (`bk_test_<random>`, two tables in two schemas) and a backup folder of its
// own, both removed afterwards.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import { Client } from "pg";
import {
  restorePostgresBackup,
  scratchDatabasePrefix,
  takePostgresBackup,
  type PostgresBackupOptions,
} from "../../engines/backup";
import type { PgConnection } from "../../engines/postgres";
import { query, targetDatabase } from "../support/stack";

const SEED_SQL = `
CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL);
CREATE SCHEMA shop;
CREATE TABLE shop.orders (id serial PRIMARY KEY, item_id int NOT NULL REFERENCES items (id), qty int NOT NULL);
INSERT INTO items (name) SELECT 'item ' || g FROM generate_series(1, 50) g;
INSERT INTO shop.orders (item_id, qty) SELECT g % 50 + 1, g FROM generate_series(1, 120) g;
`;

// A digest of every row, to prove a restore brings back the same data and not just the same counts.
const CONTENT_SQL = `
SELECT (SELECT md5(string_agg(i::text, ',' ORDER BY id)) FROM items i) AS items,
       (SELECT md5(string_agg(o::text, ',' ORDER BY id)) FROM shop.orders o) AS orders`;

const NOW = new Date("2025-01-31T14:03:09.123Z");

/** Runs SQL in one database of the target server and returns the rows of the last statement. */
async function sql<T extends Record<string, unknown>>(database: string, text: string): Promise<T[]> {
  const client = new Client({ ...targetDatabase(), database });
  await client.connect();
  try {
    const result = await client.query<T>(text);
    return (Array.isArray(result) ? result[result.length - 1] : result).rows as T[];
  } finally {
    await client.end();
  }
}

// This suite's scratch databases: they are named by stack, and the server is shared with other runs.
const restoreDatabases = async () =>
  (await query<{ datname: string }>("SELECT datname FROM pg_database WHERE datname LIKE 'rollout_restore_%'"))
    .map((r) => r.datname)
    .filter((name) => name.startsWith(scratchDatabasePrefix("itest")));

describe("PostgreSQL backups on the real server", () => {
  let connection: PgConnection;
  let dir: string;
  let lines: string[] = [];
  let base: PostgresBackupOptions;
  let cleanup: (() => Promise<void>) | undefined;

  beforeEach(async () => {
    // targetDatabase() throws, naming the missing variables, when the server was not started for us.
    const db = targetDatabase();
    const database = `bk_test_${randomBytes(4).toString("hex")}`;
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "pg-backup-"));
    lines = [];
    cleanup = async () => {
      fs.rmSync(dir, { recursive: true, force: true });
      await query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    };
    await query(`CREATE DATABASE ${database}`);
    await sql(database, SEED_SQL);
    connection = { ...db, database, sslMode: "disable" };
    // minBytes and keep as a stack gets them by default (config/schema.ts).
    base = {
      connection,
      dir,
      stack: "itest",
      release: "1.2.0",
      minBytes: 1024,
      keep: 10,
      now: NOW,
      log: (line) => lines.push(line),
    };
  });

  afterEach(async () => {
    const done = cleanup;
    cleanup = undefined;
    await done?.();
    const leaked = lines.filter((line) => line.includes(targetDatabase().password));
    assert.deepEqual(leaked, [], "a log line holds the password");
  });

  const folder = () => path.join(dir, "itest");
  const expectedPath = () => path.join(folder(), "itest_1.2.0_20250131T140309Z.dump");

  it("takes a verified backup whose sha256 matches sha256sum", async () => {
    const result = await takePostgresBackup({ ...base, expectTables: ["items", "shop.orders"] });

    assert.equal(result.path, expectedPath());
    const [sum] = execFileSync("sha256sum", [result.path], { encoding: "utf8" }).split(" ");
    assert.equal(result.sha256, sum);
    assert.equal(
      fs.readFileSync(`${result.path}.sha256`, "utf8"),
      `${sum}  itest_1.2.0_20250131T140309Z.dump\n`,
    );
    assert.equal(
      execFileSync("sha256sum", ["--check", `${path.basename(result.path)}.sha256`], {
        cwd: folder(),
        encoding: "utf8",
      }),
      "itest_1.2.0_20250131T140309Z.dump: OK\n",
    );
    assert.equal(result.bytes, fs.statSync(result.path).size);
    assert.ok(result.bytes >= 1024, `a ${result.bytes}-byte dump passed the 1024-byte floor`);
    assert.deepEqual(result.tables, ["public.items", "shop.orders"]);
    assert.equal(result.tableCount, 2);
    assert.equal(result.verified, true);
    assert.equal(result.restoreTested, false);
    assert.equal(result.rowCounts, undefined);
    assert.equal(result.createdAt, "2025-01-31T14:03:09.123Z");
    assert.match(result.pgDumpVersion, /^pg_dump \(PostgreSQL\) 15\.\d+/);
    assert.deepEqual(result.removedByRetention, []);
    assert.ok(result.durationMs > 0 && result.durationMs < 60_000, `durationMs ${result.durationMs}`);

    assert.equal(fs.statSync(folder()).mode & 0o777, 0o700);
    assert.equal(fs.statSync(result.path).mode & 0o777, 0o600);
    assert.deepEqual(fs.readdirSync(folder()).sort(), [
      "itest_1.2.0_20250131T140309Z.dump",
      "itest_1.2.0_20250131T140309Z.dump.sha256",
    ]);
    assert.ok(!JSON.stringify(result).includes(connection.password), "the result holds the password");
    assert.ok(
      lines.some((line) => line.includes("verified")),
      JSON.stringify(lines),
    );
  });

  it("fails on a missing expected table and keeps the dump only as .failed", async () => {
    const failed = `${expectedPath()}.failed`;
    await assert.rejects(takePostgresBackup({ ...base, expectTables: ["items", "shop.invoices", "Items"] }), {
      message:
        `backup ${failed} lacks the expected tables shop.invoices, public.Items (backup.expectTables); ` +
        "its table of contents lists public.items, shop.orders; check that pg_dump reached the right database " +
        "and that the names are spelled as in it (schema.table, case-sensitive; a bare name means public.<name>)",
    });
    assert.deepEqual(fs.readdirSync(folder()), [path.basename(failed)]);
    // The kept file is the real dump, there to inspect.
    assert.match(execFileSync("pg_restore", ["--list", failed], { encoding: "utf8" }), /TABLE shop orders /);
  });

  it("fails a dump under minBytes", async () => {
    const failed = `${expectedPath()}.failed`;
    await assert.rejects(takePostgresBackup({ ...base, minBytes: 10_000_000 }), (error: Error) => {
      const bytes = fs.statSync(failed).size;
      assert.equal(
        error.message,
        `backup ${failed} is ${bytes} bytes, under the floor of 10000000 bytes (backup.minBytes); ` +
          "check that pg_dump reached the right database",
      );
      return true;
    });
    assert.deepEqual(fs.readdirSync(folder()), [path.basename(failed)]);
  });

  it("passes a restore test with exact row counts and drops the scratch database", async () => {
    const before = await restoreDatabases();
    const result = await takePostgresBackup({ ...base, restoreTest: true });
    assert.equal(result.restoreTested, true);
    assert.deepEqual(result.rowCounts, { "public.items": 50, "shop.orders": 120 });
    assert.deepEqual(await restoreDatabases(), before);
    assert.ok(
      lines.some((line) => /restore test passed, 2 tables/.test(line)),
      JSON.stringify(lines),
    );
  });

  it("counts source rows in the dump's snapshot, not after later writes", async () => {
    // Rows written after pg_dump finished and before the counts are taken: counted outside the dump's
    // snapshot they would make the restore test fail.
    const log = (line: string) => {
      lines.push(line);
      if (line.startsWith("backup: pg_dump finished")) {
        execFileSync("psql", [
          "--no-psqlrc",
          "-q",
          "-d",
          connection.database,
          "-c",
          "INSERT INTO items (name) VALUES ('late')",
        ]);
      }
    };
    const result = await takePostgresBackup({ ...base, restoreTest: true, log });
    assert.deepEqual(result.rowCounts, { "public.items": 50, "shop.orders": 120 });
    assert.deepEqual(await sql(connection.database, "SELECT count(*)::int AS n FROM items"), [{ n: 51 }]);
  });

  it("fails a restore test whose restored rows differ from the source", async () => {
    // A dump of the same schema with fewer rows, swapped in after verification and before the
    // restore test (announced by its log line): the case of a dump that does not hold what the
    // database held, which a healthy server never produces on demand.
    const other = await takePostgresBackup({ ...base, stack: "other" });
    await sql(connection.database, "DELETE FROM shop.orders; INSERT INTO items (name) VALUES ('extra')");
    const before = await restoreDatabases();
    const failed = `${expectedPath()}.failed`;
    const log = (line: string) => {
      lines.push(line);
      if (line.startsWith("backup: restore test into scratch database")) {
        fs.copyFileSync(other.path, `${expectedPath()}.partial`);
      }
    };
    await assert.rejects(takePostgresBackup({ ...base, restoreTest: true, log }), {
      message:
        `restore test of backup ${failed} found different row counts (table: source, restored): ` +
        "public.items: 51, 50; shop.orders: 0, 120; the dump does not hold what the database held; " +
        "take the backup again, and if the counts differ again, restore the named tables by hand (pg_restore --table) to see why",
    });
    assert.deepEqual(fs.readdirSync(folder()), [path.basename(failed)]);
    assert.deepEqual(await restoreDatabases(), before);
  });

  it("keeps the newest backups of the stack and leaves other files alone", async () => {
    fs.mkdirSync(folder(), { recursive: true });
    fs.writeFileSync(path.join(folder(), "notes.txt"), "operator notes");
    const day = (n: number) => new Date(NOW.getTime() + n * 86_400_000);
    const taken = [];
    for (let n = 0; n < 4; n++) {
      taken.push(await takePostgresBackup({ ...base, release: `1.${n}.0`, now: day(n), keep: 2 }));
    }
    assert.deepEqual(
      taken.map((r) => r.removedByRetention),
      [[], [], [taken[0].path], [taken[1].path]],
    );
    assert.deepEqual(fs.readdirSync(folder()).sort(), [
      "itest_1.2.0_20250202T140309Z.dump",
      "itest_1.2.0_20250202T140309Z.dump.sha256",
      "itest_1.3.0_20250203T140309Z.dump",
      "itest_1.3.0_20250203T140309Z.dump.sha256",
      "notes.txt",
    ]);
  });

  it("restores the rows a later change removed", async () => {
    const backup = await takePostgresBackup(base);
    const [original] = await sql(connection.database, CONTENT_SQL);
    await sql(
      connection.database,
      "DELETE FROM shop.orders WHERE id > 100; UPDATE items SET name = 'changed'; " +
        "ALTER TABLE items ADD COLUMN status text",
    );
    assert.notDeepEqual(await sql(connection.database, CONTENT_SQL), [original]);

    const result = await restorePostgresBackup({
      connection,
      path: backup.path,
      expectedSha256: backup.sha256,
      log: (line) => lines.push(line),
    });
    assert.equal(result.tablesRestored, 2);
    assert.ok(result.durationMs > 0);
    assert.deepEqual(await sql(connection.database, CONTENT_SQL), [original]);
    const columns = await sql(
      connection.database,
      "SELECT column_name FROM information_schema.columns WHERE table_name = 'items' ORDER BY ordinal_position",
    );
    assert.deepEqual(
      columns.map((c) => c.column_name),
      ["id", "name"],
    );
  });

  it("refuses a tampered backup and leaves the database as it is", async () => {
    const backup = await takePostgresBackup(base);
    const tampered = path.join(dir, "tampered.dump");
    const bytes = fs.readFileSync(backup.path);
    bytes[Math.floor(bytes.length / 2)] ^= 0xff;
    fs.writeFileSync(tampered, bytes);
    await sql(connection.database, "INSERT INTO items (name) VALUES ('after the backup')");

    await assert.rejects(
      restorePostgresBackup({ connection, path: tampered, expectedSha256: backup.sha256 }),
      {
        message:
          `refusing to restore ${tampered}: it hashes to sha256 ${createHash("sha256").update(bytes).digest("hex")}, ` +
          `but the backup was recorded as ${backup.sha256}; the file changed or was damaged after it was taken, ` +
          "so restore from another copy of this backup",
      },
    );
    assert.deepEqual(await sql(connection.database, "SELECT count(*)::int AS n FROM items"), [{ n: 51 }]);

    await assert.rejects(restorePostgresBackup({ connection, path: backup.path, expectedSha256: "abc" }), {
      message:
        'expected sha256 "abc" is not 64 hex digits; pass the sha256 recorded with the backup ' +
        "(its .sha256 file or the rollout report)",
    });
  });

  it("gives pg_dump the password through PGPASSWORD only and reports its failure", async () => {
    // Stand-in tools that record what they were given and fail the way pg_dump does.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "fake-pg-"));
    try {
      const record = path.join(bin, "record");
      fs.writeFileSync(
        path.join(bin, "pg_dump"),
        [
          "#!/bin/sh",
          'if [ "$1" = "--version" ]; then echo "pg_dump (PostgreSQL) 15.99"; exit 0; fi',
          `printf '%s\\n' "$@" > ${record}.argv`,
          `printf '%s' "$PGPASSWORD" | sha256sum > ${record}.password`,
          "echo 'pg_dump: error: simulated failure' >&2",
          "exit 1",
        ].join("\n"),
        { mode: 0o755 },
      );
      fs.writeFileSync(path.join(bin, "pg_restore"), "#!/bin/sh\nexit 1\n", { mode: 0o755 });

      await assert.rejects(takePostgresBackup({ ...base, pgBinDir: bin }), {
        message:
          `backup of database "${connection.database}" at ${connection.host}:${connection.port} as "${connection.user}" ` +
          "failed: pg_dump ended with exit code 1: pg_dump: error: simulated failure; check the connection settings, " +
          "that the user may read every table, and that no lock blocks the dump",
      });
      const argv = fs.readFileSync(`${record}.argv`, "utf8").trim().split("\n");
      assert.deepEqual(argv, [
        "--format=custom",
        `--file=${expectedPath()}.partial`,
        "--no-password",
        `--host=${connection.host}`,
        `--port=${connection.port}`,
        `--username=${connection.user}`,
        `--dbname=${connection.database}`,
      ]);
      const passwordSum = createHash("sha256").update(connection.password).digest("hex");
      assert.equal(fs.readFileSync(`${record}.password`, "utf8").split(" ")[0], passwordSum);
      assert.deepEqual(fs.readdirSync(folder()), [], "the partial dump was left behind");
    } finally {
      fs.rmSync(bin, { recursive: true, force: true });
    }
  });

  it("fails clearly on a wrong password without showing it", async () => {
    const password = `wrong-${randomBytes(8).toString("hex")}`;
    await assert.rejects(
      takePostgresBackup({ ...base, connection: { ...connection, password } }),
      (error: Error) => {
        assert.match(
          error.message,
          /^cannot connect to database "bk_test_\w+" at 127\.0\.0\.1:\d+ as "postgres" \(sslmode disable\): password authentication failed/,
        );
        assert.ok(!error.message.includes(password), error.message);
        return true;
      },
    );
  });

  it("refuses a pgBinDir without the client tools and a database given as a connection string", async () => {
    await assert.rejects(takePostgresBackup({ ...base, pgBinDir: "/nonexistent" }), {
      message:
        "backup.pgBinDir /nonexistent has no executable pg_dump or pg_restore; point backup.pgBinDir at the bin " +
        "folder of the PostgreSQL client tools, e.g. /usr/lib/postgresql/15/bin",
    });
    const database = `postgresql://postgres:${connection.password}@127.0.0.1/x`;
    await assert.rejects(
      takePostgresBackup({ ...base, connection: { ...connection, database } }),
      (error: Error) => {
        assert.match(error.message, /^database name is empty or looks like a connection string/);
        assert.ok(!error.message.includes(connection.password), error.message);
        return true;
      },
    );
  });
});
