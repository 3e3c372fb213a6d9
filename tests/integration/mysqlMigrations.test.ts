// The migration runner against the real local MariaDB: each test gets a database of its own and
// loads its migrations from real files in a temp folder.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import mysql from "mysql2/promise";
import { takeMysqlBackup } from "../../engines/backup";
import {
  loadMigrations,
  migrate,
  MigrationError,
  mysqlLockName,
  readApplied,
  rehearseMigrations,
  splitMysqlStatements,
  type MigrateOptions,
} from "../../engines/migrations";
import type { MysqlConnection } from "../../engines/mysql";
import { createMysqlDatabase, mysqlQuery } from "../support/mysql";

const TABLE = "rollout_migrations";
/** `migrate` with the table and timeouts a stack gets by default (config/schema.ts). */
const migrateAt = (
  options: Pick<MigrateOptions, "connection" | "migrations" | "target" | "release"> & Partial<MigrateOptions>,
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

function folder(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "itest-mysql-migrations-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) fs.writeFileSync(path.join(dir, name), text);
  return dir;
}

const FILES = {
  "0001_create_items.up.sql": `-- items; a ';' in a comment and a string must not split
CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(100) NOT NULL);
INSERT INTO items (title) VALUES ('a;b'), ('c');
`,
  "0001_create_items.down.sql": "DROP TABLE items;\n",
  "0001_create_items.verify.sql": `-- expect: 2
SELECT COUNT(*) FROM items;
`,
  "0002_add_status.up.sql": `ALTER TABLE items ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'open';
ALTER TABLE no_such_table ADD COLUMN owner INT;
CREATE INDEX items_status ON items (status);
`,
  "0002_add_status.down.sql": "ALTER TABLE items DROP COLUMN status;\n",
};

async function withDatabase(fn: (c: MysqlConnection) => Promise<void>): Promise<void> {
  const { connection, drop } = await createMysqlDatabase("itest_mysql_mig");
  try {
    await fn(connection);
  } finally {
    await drop();
  }
}

const columns = (db: string) =>
  mysqlQuery<{ c: string }>(
    "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'items' ORDER BY ORDINAL_POSITION",
    [db],
  ).then((rows) => rows.map((r) => r.c));

describe("MySQL migrations on the real MariaDB", () => {
  it("splits statements as the mysql client does", () => {
    assert.deepEqual(
      splitMysqlStatements(
        "-- head; note\nCREATE TABLE a (x INT);\nINSERT INTO a VALUES (1) /* ; */;\n# tail;\n",
      ),
      [
        { sql: "-- head; note\nCREATE TABLE a (x INT)", line: 1 },
        { sql: "INSERT INTO a VALUES (1) /* ; */", line: 3 },
      ],
    );
    assert.deepEqual(
      splitMysqlStatements(
        "DELIMITER //\nCREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; END//\nDELIMITER ;\nSELECT 1;",
      ),
      [
        { sql: "CREATE TRIGGER t BEFORE INSERT ON a FOR EACH ROW BEGIN SET NEW.x = 1; END", line: 2 },
        { sql: "SELECT 1", line: 4 },
      ],
    );
  });

  it("a migration that fails on its second statement names it and the state the database is in", async () => {
    await withDatabase(async (connection) => {
      const dir = folder(FILES);
      const migrations = loadMigrations(dir);
      const first = await migrateAt({ connection, migrations, target: "0001", release: "1.0.0" });
      assert.equal(first.version, "0001");
      assert.deepEqual(await mysqlQuery("SELECT title FROM items ORDER BY id", [], connection.database), [
        { title: "a;b" },
        { title: "c" },
      ]);

      const lines: string[] = [];
      await assert.rejects(
        migrateAt({ connection, migrations, target: "0002", release: "1.1.0", log: (l) => lines.push(l) }),
        (err: unknown) => {
          assert.ok(err instanceof MigrationError);
          assert.equal(err.migration, "0002_add_status");
          assert.equal(err.version, "0001");
          assert.equal(err.sqlState, "42S02");
          assert.equal(
            err.message,
            "applying migration `0002_add_status` failed at statement 2 of 3 (line 2 of `0002_add_status.up.sql`: " +
              "`ALTER TABLE no_such_table ADD COLUMN owner INT`): " +
              `Table '${connection.database}.no_such_table' doesn't exist (error 1146, SQLSTATE 42S02); ` +
              "MySQL commits each statement on its own, so statement 1 (line 1: " +
              "`ALTER TABLE items ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'open'`) ran and stays applied " +
              "(not rolled back); the migration is not recorded as applied (version 0001). To go on: undo what that " +
              "statement changed by hand (the matching statements of the down SQL), or restore the backup taken " +
              "before this release; then fix the migration file and run `pulumi up` again.",
          );
          return true;
        },
      );
      // The state is as the message says: statement 1 applied, statement 3 never ran, 0002 not recorded.
      assert.deepEqual(await columns(connection.database), ["id", "title", "status"]);
      assert.deepEqual(
        await mysqlQuery(
          "SELECT INDEX_NAME AS i FROM information_schema.STATISTICS WHERE TABLE_SCHEMA = ? AND INDEX_NAME = 'items_status'",
          [connection.database],
        ),
        [],
      );
      assert.deepEqual(
        (await readApplied(connection, TABLE)).map((r) => r.id),
        ["0001"],
      );
      assert.ok(
        lines.some((l) => /not transactional on MySQL/.test(l)),
        lines.join("\n"),
      );

      // Doing what it says: undo statement 1 by hand, fix the file, run again.
      await mysqlQuery("ALTER TABLE items DROP COLUMN status", [], connection.database);
      fs.writeFileSync(
        path.join(dir, "0002_add_status.up.sql"),
        "ALTER TABLE items ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'open';\nCREATE INDEX items_status ON items (status);\n",
      );
      const fixed = await migrateAt({
        connection,
        migrations: loadMigrations(dir),
        target: "0002",
        release: "1.1.0",
      });
      assert.deepEqual(
        fixed.applied.map((a) => a.id),
        ["0002"],
      );
      const records = await readApplied(connection, TABLE);
      assert.deepEqual(
        records.map((r) => [r.id, r.release]),
        [
          ["0001", "1.0.0"],
          ["0002", "1.1.0"],
        ],
      );
      assert.match(records[0].appliedAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(records[1].down, "ALTER TABLE items DROP COLUMN status;\n");

      // Down scripts work as on PostgreSQL: the down SQL kept in state (downFor) wins over the file's.
      fs.writeFileSync(path.join(dir, "0002_add_status.down.sql"), "SELECT no_such_column FROM items;\n");
      const down = await migrateAt({
        connection,
        migrations: loadMigrations(dir),
        target: "none",
        release: "1.0.0",
        downFor: { "0002": { down: records[1].down, irreversible: false } },
      });
      assert.deepEqual(
        down.reverted.map((r) => r.id),
        ["0002", "0001"],
      );
      assert.equal(down.version, "0000");
      assert.deepEqual(await mysqlQuery("SHOW TABLES LIKE 'items'", [], connection.database), []);
      assert.deepEqual(await readApplied(connection, TABLE), []);
    });
  });

  it("a verify query that does not hold fails the migration and says what stays", async () => {
    await withDatabase(async (connection) => {
      const dir = folder({
        ...FILES,
        "0001_create_items.verify.sql": "-- expect: 3\nSELECT COUNT(*) FROM items;\n",
      });
      await assert.rejects(
        migrateAt({ connection, migrations: loadMigrations(dir), target: "0001", release: "1.0.0" }),
        {
          message:
            "applying migration `0001_create_items` failed verification: `SELECT COUNT(*) FROM items` returned 2, expected 3; " +
            "all 2 of its statement(s) ran and stay (MySQL cannot roll DDL back) and it is not recorded as applied " +
            "(version 0000, none applied). Fix the database or the migration by hand, or restore the backup taken before this release, " +
            "then run `pulumi up` again.",
        },
      );
      assert.deepEqual(await readApplied(connection, TABLE), []);
    });
  });

  it("waits for the GET_LOCK of another rollout and names its session", async () => {
    await withDatabase(async (connection) => {
      const { engine: _engine, ...options } = connection;
      void _engine;
      const holder = await mysql.createConnection(options);
      try {
        const lock = mysqlLockName(connection.database, TABLE);
        await holder.query("SELECT GET_LOCK(?, 0)", [lock]);
        const [[{ id }]] = (await holder.query("SELECT CONNECTION_ID() AS id")) as unknown as [
          [{ id: number }],
        ];
        const started = performance.now();
        await assert.rejects(
          migrateAt({
            connection,
            migrations: loadMigrations(folder(FILES)),
            target: "0001",
            release: "1.0.0",
            lockTimeoutSeconds: 1,
          }),
          (err: Error) => {
            assert.match(
              err.message,
              new RegExp(
                `^cannot migrate MySQL database \`${connection.database}\`: another rollout is migrating this database; connection ${id} \\(user root from 127\\.0\\.0\\.1:\\d+, Sleep for \\d+ s\\) holds the migration lock \\(GET_LOCK '${lock}' for table \`rollout_migrations\`\\) and did not release it within 1 s\\. .*KILL ${id}`,
              ),
            );
            return true;
          },
        );
        assert.ok(performance.now() - started >= 900, "it waited for the lock");
        assert.deepEqual(await mysqlQuery("SHOW TABLES LIKE 'items'", [], connection.database), []);
      } finally {
        await holder.end();
      }
    });
  });

  it("rehearses on a scratch copy of a verified backup before the real run", async () => {
    await withDatabase(async (connection) => {
      const dir = folder(FILES);
      await migrateAt({ connection, migrations: loadMigrations(dir), target: "0001", release: "1.0.0" });
      const backupDir = fs.mkdtempSync(path.join(os.tmpdir(), "itest-mysql-rehearse-"));
      dirs.push(backupDir);
      const backup = await takeMysqlBackup({
        connection,
        dir: backupDir,
        stack: "itest-mysql",
        release: "1.1.0",
        minBytes: 0,
        keep: 0,
      });
      // 0002 fails on its second statement: the rehearsal finds it on the copy; the real database is untouched.
      await assert.rejects(
        rehearseMigrations({
          connection,
          migrations: loadMigrations(dir),
          target: "0002",
          release: "1.1.0",
          table: TABLE,
          lockTimeoutSeconds: 30,
          migrationLockTimeoutMs: 10_000,
          statementTimeoutSeconds: 900,
          backup: { backupPath: backup.path, backupSha256: backup.sha256 },
        }),
        /the rehearsal on a scratch copy of the backup failed in its "apply" pass \(up\): applying migration `0002_add_status` failed at statement 2 of 3 .*Nothing ran on database/,
      );
      assert.deepEqual(await columns(connection.database), ["id", "title"]);
      const left = await mysqlQuery<{ n: string }>(
        "SELECT SCHEMA_NAME AS n FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'rollout\\_rehearse\\_%'",
      );
      assert.deepEqual(left, []);
    });
  });
});
