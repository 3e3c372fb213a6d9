// MySQL backups and restores against the real local MariaDB with the real mariadb-dump and mariadb
// client. Each test gets a database of its own (`itest_mysql_bk_<random>`) and a backup folder of its
// own, both removed afterwards.
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, it } from "node:test";
import {
  restoreMysqlBackup,
  scratchDatabasePrefix,
  takeMysqlBackup,
  verifyMysqlDump,
  type MysqlBackupOptions,
} from "../../engines/backup";
import type { MysqlConnection } from "../../engines/mysql";
import { createMysqlDatabase, mysqlQuery } from "../support/mysql";

const SEED_SQL = `
CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(100) NOT NULL);
CREATE TABLE orders (id INT AUTO_INCREMENT PRIMARY KEY, item_id INT NOT NULL, qty INT NOT NULL,
  FOREIGN KEY (item_id) REFERENCES items (id));
INSERT INTO items (name) SELECT CONCAT('item ', seq) FROM seq_1_to_50;
INSERT INTO orders (item_id, qty) SELECT seq % 50 + 1, seq FROM seq_1_to_120;
CREATE TRIGGER orders_qty BEFORE INSERT ON orders FOR EACH ROW SET NEW.qty = GREATEST(NEW.qty, 1);
`;

/** A digest of every row, to prove a restore brings back the same data and not just the same counts. */
const CONTENT_SQL = `SELECT
  (SELECT MD5(GROUP_CONCAT(id, ':', name ORDER BY id)) FROM items) AS items,
  (SELECT MD5(GROUP_CONCAT(id, ':', item_id, ':', qty ORDER BY id)) FROM orders) AS orders`;

const NOW = new Date("2025-01-31T14:03:09.123Z");
const STACK = "itest-mysql";

describe("MySQL backups on the real MariaDB", () => {
  let connection: MysqlConnection;
  let drop: () => Promise<void>;
  let dir: string;
  let lines: string[];
  let base: MysqlBackupOptions;
  const folder = () => path.join(dir, STACK);
  const expectedPath = () => path.join(folder(), `${STACK}_1.2.0_20250131T140309Z.dump`);

  beforeEach(async () => {
    ({ connection, drop } = await createMysqlDatabase("itest_mysql_bk"));
    await mysqlQuery(SEED_SQL, [], connection.database);
    dir = fs.mkdtempSync(path.join(os.tmpdir(), "itest-mysql-backup-"));
    lines = [];
    // minBytes and keep as a stack gets them by default (config/schema.ts).
    base = {
      connection,
      dir,
      stack: STACK,
      release: "1.2.0",
      minBytes: 1024,
      keep: 10,
      now: NOW,
      log: (line) => lines.push(line),
    };
  });

  afterEach(async () => {
    fs.rmSync(dir, { recursive: true, force: true });
    await drop();
  });

  it("dumps, verifies, restore-tests with row counts and restores the same data", async () => {
    const before = await mysqlQuery(CONTENT_SQL, [], connection.database);
    const backup = await takeMysqlBackup({
      ...base,
      expectTables: ["items", `${connection.database}.orders`],
      restoreTest: true,
    });

    assert.equal(backup.path, expectedPath());
    assert.equal(backup.verified, true);
    assert.equal(backup.restoreTested, true);
    assert.deepEqual(backup.tables, [`${connection.database}.items`, `${connection.database}.orders`]);
    assert.equal(backup.tableCount, 2);
    assert.deepEqual(backup.rowCounts, {
      [`${connection.database}.items`]: 50,
      [`${connection.database}.orders`]: 120,
    });
    const bytes = fs.readFileSync(backup.path);
    assert.equal(backup.bytes, bytes.length);
    assert.equal(backup.sha256, createHash("sha256").update(bytes).digest("hex"));
    assert.equal(
      fs.readFileSync(`${backup.path}.sha256`, "utf8"),
      `${backup.sha256}  ${path.basename(backup.path)}\n`,
    );
    assert.equal(fs.statSync(backup.path).mode & 0o777, 0o600);
    assert.equal(fs.statSync(folder()).mode & 0o777, 0o700);
    assert.match(backup.pgDumpVersion, /MariaDB/);
    const text = bytes.toString("utf8");
    assert.match(
      text,
      /TRIGGER orders_qty BEFORE INSERT ON orders/,
      "the dump holds the trigger (--triggers)",
    );
    assert.doesNotMatch(text, /CREATE DATABASE/, "the dump restores into any database");
    // The password is nowhere in what the run said, and the option file is gone.
    assert.ok(lines.length > 0);
    for (const line of lines) assert.ok(!line.includes(connection.password), line);
    assert.deepEqual(
      fs.readdirSync(os.tmpdir()).filter((f) => f.startsWith("rollout-mysql-")),
      [],
      "an option file was left behind",
    );
    assert.ok(
      lines.some((l) => /restore test passed, 2 tables with matching row counts/.test(l)),
      lines.join("\n"),
    );
    // No scratch database is left.
    const scratch = await mysqlQuery<{ name: string }>(
      "SELECT SCHEMA_NAME AS name FROM information_schema.SCHEMATA WHERE SCHEMA_NAME LIKE 'rollout_restore_%'",
    );
    assert.deepEqual(
      scratch.filter((r) => r.name.startsWith(scratchDatabasePrefix(STACK))),
      [],
    );

    // Change the data, then restore: the rows come back as they were at the backup.
    await mysqlQuery(
      "DELETE FROM orders WHERE id > 10; UPDATE items SET name = 'changed'",
      [],
      connection.database,
    );
    const restored = await restoreMysqlBackup({
      connection,
      path: backup.path,
      expectedSha256: backup.sha256,
    });
    assert.equal(restored.tablesRestored, 2);
    assert.deepEqual(await mysqlQuery(CONTENT_SQL, [], connection.database), before);
  });

  it("fails a truncated dump: it is kept as .failed and named, and no backup is in place", async () => {
    const good = await takeMysqlBackup({ ...base, now: new Date("2025-01-31T10:00:00Z") });
    // The same dump cut short, as a full disk or a killed tool would leave it.
    const bytes = fs.readFileSync(good.path);
    const cut = path.join(dir, "cut.dump");
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
    await assert.rejects(
      verifyMysqlDump({ file: cut, minBytes: 1024, expectTables: ["items", "orders"] }),
      (err: Error) => {
        assert.match(
          err.message,
          new RegExp(
            `^backup ${cut} is incomplete: it does not end with the "-- Dump completed" line the dump tool writes last ` +
              `\\(${Math.floor(bytes.length * 0.6)} bytes, \\d tables? read before it ends\\); the dump was cut short`,
          ),
        );
        return true;
      },
    );

    // Through takeMysqlBackup: a dump tool whose output is cut short fails verification.
    const bin = fs.mkdtempSync(path.join(os.tmpdir(), "itest-mysql-fakebin-"));
    const realDump = execPath("mariadb-dump");
    fs.writeFileSync(
      path.join(bin, "mariadb-dump"),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec ${realDump} --version; fi\n${realDump} "$@" | head -c 2000\n`,
      { mode: 0o755 },
    );
    const oldPath = process.env.PATH;
    process.env.PATH = `${bin}${path.delimiter}${oldPath}`;
    try {
      await assert.rejects(takeMysqlBackup(base), (err: Error) => {
        assert.match(err.message, new RegExp(`^backup ${expectedPath()}\\.failed is incomplete: `));
        assert.match(
          err.message,
          /\(2000 bytes, 1 table read before it ends\); the dump was cut short .*; take the backup again$/,
        );
        return true;
      });
    } finally {
      process.env.PATH = oldPath;
      fs.rmSync(bin, { recursive: true, force: true });
    }
    assert.deepEqual(fs.readdirSync(folder()).sort(), [
      path.basename(good.path),
      `${path.basename(good.path)}.sha256`,
      `${path.basename(expectedPath())}.failed`,
    ]);
  });

  it("fails a dump under the size floor and one that lacks an expected table", async () => {
    await assert.rejects(takeMysqlBackup({ ...base, minBytes: 10_000_000 }), (err: Error) => {
      assert.match(
        err.message,
        new RegExp(
          `^backup ${expectedPath()}\\.failed is \\d+ bytes, under the floor of 10000000 bytes \\(backup\\.minBytes\\)`,
        ),
      );
      return true;
    });
    await assert.rejects(
      takeMysqlBackup({
        ...base,
        now: new Date("2025-01-31T15:00:00Z"),
        expectTables: ["items", "invoices"],
      }),
      (err: Error) => {
        assert.match(
          err.message,
          /lacks the expected table invoices \(backup\.expectTables\); it creates items, orders;/,
        );
        return true;
      },
    );
  });

  it("refuses to restore a file that no longer hashes as recorded, and changes nothing", async () => {
    const backup = await takeMysqlBackup(base);
    const tampered = path.join(dir, "tampered.dump");
    const bytes = Buffer.from(fs.readFileSync(backup.path, "utf8").replace("item 1'", "item X'"));
    fs.writeFileSync(tampered, bytes);
    await mysqlQuery("INSERT INTO items (name) VALUES ('after the backup')", [], connection.database);
    await assert.rejects(restoreMysqlBackup({ connection, path: tampered, expectedSha256: backup.sha256 }), {
      message:
        `refusing to restore ${tampered}: it hashes to sha256 ${createHash("sha256").update(bytes).digest("hex")}, ` +
        `but the backup was recorded as ${backup.sha256}; the file changed or was damaged after it was taken, ` +
        "so restore from another copy of this backup",
    });
    assert.deepEqual(await mysqlQuery("SELECT COUNT(*) AS n FROM items", [], connection.database), [
      { n: 51 },
    ]);
  });
});

function execPath(name: string): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    const candidate = path.join(dir, name);
    if (fs.existsSync(candidate)) return candidate;
  }
  throw new Error(`${name} is not on PATH; run local-env/mariadb.sh start`);
}
