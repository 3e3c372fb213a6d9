// A whole rollout on MariaDB through the real CLI (Automation API), on a stack configured like prod:
// the current service required, the maintenance endpoint required, an enforced window that is open
// now, tech-lead and dba approvals naming the release digest, and a SQL gate. The database is the
// local MariaDB (rollout:database.engine mysql): backup, migrations, SQL gate and check, the app user
// and the way back all run against it. The service is the sample app; it speaks PostgreSQL only, so
// its database endpoints are not checked here, its health and maintenance endpoints are.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, tail } from "../support/cli";
import { createMysqlDatabase, mysqlQuery, targetMysql } from "../support/mysql";
import { createTestStack, sampleConfig, TEST_IMAGE, type Release, type TestStack } from "../support/stack";
import { approved as approvedOn, enforcedWindow } from "../support/prodLike";

const MIGRATIONS: Record<string, string> = {
  "0001_create_items.up.sql":
    "CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, title VARCHAR(100) NOT NULL);\n" +
    "INSERT INTO items (title) VALUES ('one'), ('two'), ('three');\n",
  "0001_create_items.down.sql": "DROP TABLE items;\n",
  "0001_create_items.verify.sql": "-- expect: 3\nSELECT COUNT(*) FROM items;\n",
  "0002_add_status.up.sql": "ALTER TABLE items ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'open';\n",
  "0002_add_status.down.sql": "ALTER TABLE items DROP COLUMN status;\n",
  // Fails on its second statement; the first one commits on its own.
  "0003_add_owner.up.sql":
    "ALTER TABLE items ADD COLUMN owner VARCHAR(50) NULL;\nALTER TABLE no_such_table ADD COLUMN x INT;\n",
  "0003_add_owner.down.sql": "ALTER TABLE items DROP COLUMN owner;\n",
};

describe("a MySQL stack configured like prod", () => {
  let t: TestStack;
  let database: string;
  let dropDatabase: () => Promise<void>;
  let migrationsDir: string;
  let fakeBin: string;
  const base = () => `http://127.0.0.1:${t.appPort}`;
  const health = async () => (await fetch(`${base()}/health`)).json() as Promise<Record<string, unknown>>;
  const columns = async () =>
    (
      await mysqlQuery<{ c: string }>(
        "SELECT COLUMN_NAME AS c FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ? AND TABLE_NAME = 'items' ORDER BY ORDINAL_POSITION",
        [database],
      )
    ).map((r) => r.c);
  const recorded = async () =>
    (await mysqlQuery<{ id: string }>("SELECT id FROM rollout_migrations ORDER BY id", [], database)).map(
      (r) => r.id,
    );
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const report = async () => (await t.stack.outputs()).report.value as Record<string, any>;

  function config(
    release: Release,
    id: string,
    target: string,
    firstInstall = false,
  ): Record<string, unknown> {
    const my = targetMysql();
    const c: Record<string, unknown> = { ...sampleConfig(t, release, id) };
    c["rollout:release"] = { id, image: `${TEST_IMAGE}:${release}`, schemaTarget: target };
    c["rollout:database"] = { engine: "mysql", host: my.host, port: my.port, database, adminUser: my.user };
    c["rollout:migrations"] = { dir: migrationsDir, lockTimeoutSeconds: 5 };
    c["rollout:checks"] = [
      {
        name: "health",
        url: `${base()}/health`,
        expectJson: { status: "ok" },
        retries: 20,
        retryIntervalMs: 500,
      },
    ];
    c["rollout:sqlChecks"] = [
      { name: "schema-version", sql: "SELECT MAX(id) FROM rollout_migrations", expect: "{schemaTarget}" },
    ];
    c["rollout:smokeTests"] = [];
    c["rollout:preflight"] = {
      currentHealthUrl: `${base()}/health`,
      allowNoCurrentService: firstInstall,
      gates: firstInstall
        ? []
        : [
            {
              name: "no-held-items",
              sql: "SELECT COUNT(*) FROM items WHERE title = 'held'",
              expect: 0,
              timeoutSeconds: 2,
              intervalMs: 500,
            },
          ],
    };
    c["rollout:maintenance"] = {
      url: `${base()}/admin/maintenance`,
      bypassHeader: "x-maintenance-bypass",
      allowUnreachable: firstInstall,
    };
    c["rollout:window"] = enforcedWindow();
    c["rollout:approvals"] = { required: ["tech-lead", "dba"], given: [] };
    return c;
  }

  /** Sets the release with approvals naming the digest preview prints, as a reviewer does. */
  const approved = <C extends Record<string, unknown>>(config: C) => approvedOn(t, config);

  before(async () => {
    ({
      connection: { database },
      drop: dropDatabase,
    } = await createMysqlDatabase("itest_mysql_stack"));
    t = await createTestStack("itest-mysql");
    await t.stack.setConfig("rollout:databasePassword", { value: targetMysql().password, secret: true });
    migrationsDir = fs.mkdtempSync(path.join(os.tmpdir(), "itest-mysql-stack-migrations-"));
    for (const [name, text] of Object.entries(MIGRATIONS))
      fs.writeFileSync(path.join(migrationsDir, name), text);
    // A dump tool whose output is cut short, as a full disk or a killed tool leaves it.
    fakeBin = fs.mkdtempSync(path.join(os.tmpdir(), "itest-mysql-fakebin-"));
    const real = "/usr/bin/mariadb-dump";
    fs.writeFileSync(
      path.join(fakeBin, "mariadb-dump"),
      `#!/bin/sh\nif [ "$1" = "--version" ]; then exec ${real} --version; fi\n${real} "$@" | head -c 1500\n`,
      { mode: 0o755 },
    );
    // A first install has no service to check or switch: the only time those are allowed.
    await approved(config("1.0.0", `${t.name}-a`, "0001", true));
    await t.stack.up({ message: "release a" });
  });

  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await mysqlQuery("DROP USER IF EXISTS ?@'%'", [t?.appRole ?? "none"]).catch(() => undefined);
      await dropDatabase?.();
      for (const dir of [migrationsDir, fakeBin]) if (dir) fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("1. the first install backs up, migrates, creates the app user and checks the schema on MariaDB", async () => {
    assert.deepEqual(await recorded(), ["0001"]);
    assert.deepEqual(await columns(), ["id", "title"]);
    const r = await report();
    assert.match(r.backup.path, new RegExp(`/${t.name}/${t.name}_${t.name}-a_\\d{8}T\\d{6}Z\\.dump$`));
    assert.equal(r.backup.sha256.length, 64);
    const grants = await mysqlQuery<Record<string, string>>(`SHOW GRANTS FOR '${t.appRole}'@'%'`);
    assert.ok(
      grants.some(
        (g) =>
          Object.values(g)[0] ===
          `GRANT SELECT, INSERT, UPDATE, DELETE ON \`${database}\`.* TO \`${t.appRole}\`@\`%\``,
      ),
      JSON.stringify(grants),
    );
    assert.deepEqual(await health(), { status: "ok", version: "1.0.0", maintenance: false });
  });

  it("2. a release with a migration goes through the gate, the backup with a restore test, the schema and the SQL check", async () => {
    await approved(config("1.1.0", `${t.name}-b`, "0002"));
    const preview = (await t.stack.preview({ diff: true })).stdout;
    // The review shows the SQL and says, per migration, that MySQL will not roll it back.
    assert.match(preview, /apply 0002_add_status \(not transactional on MySQL\)/);
    assert.match(preview, /ALTER TABLE items ADD COLUMN status VARCHAR\(20\) NOT NULL DEFAULT 'open';/);
    assert.match(preview, /note: not transactional on MySQL: each statement commits on its own/);
    await t.stack.up({ message: "release b" });
    assert.deepEqual(await recorded(), ["0001", "0002"]);
    assert.deepEqual(await columns(), ["id", "title", "status"]);
    const r = await report();
    assert.equal(r.backup.restoreTested, true);
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
  });

  it("3. a truncated dump fails verification and stops the rollout before any migration", async () => {
    await approved(config("1.2.0", `${t.name}-c`, "0003"));
    const oldPath = process.env.PATH;
    process.env.PATH = `${fakeBin}${path.delimiter}${oldPath}`;
    try {
      await assert.rejects(t.stack.up({ message: "release c" }), (err: Error) => {
        assert.match(
          err.message,
          /backup \S+_\S+-c_\d{8}T\d{6}Z\.dump\.failed is incomplete: it does not end with the "-- Dump completed" line/,
        );
        return true;
      });
    } finally {
      process.env.PATH = oldPath;
    }
    assert.deepEqual(await recorded(), ["0001", "0002"], "no migration ran");
    assert.deepEqual(await columns(), ["id", "title", "status"], "0003's first statement never ran");
    assert.equal((await health()).maintenance, true, "maintenance stays on after a failure");
  });

  it("4. a migration failing on its second statement reports that statement and the state", async () => {
    await approved(config("1.2.0", `${t.name}-d`, "0003"));
    await assert.rejects(t.stack.up({ message: "release d" }), (err: Error) => {
      assert.match(
        err.message,
        /applying migration `0003_add_owner` failed at statement 2 of 2 \(line 2 of `0003_add_owner\.up\.sql`: `ALTER TABLE no_such_table ADD COLUMN x INT`\): Table '\S+\.no_such_table' doesn't exist \(error 1146, SQLSTATE 42S02\); MySQL commits each statement on its own, so statement 1 \(line 1: `ALTER TABLE items ADD COLUMN owner VARCHAR\(50\) NULL`\) ran and stays applied \(not rolled back\); the migration is not recorded as applied \(version 0002\)\. To go on: /,
      );
      return true;
    });
    assert.deepEqual(await recorded(), ["0001", "0002"]);
    assert.deepEqual(await columns(), ["id", "title", "status", "owner"], "statement 1 stays, as reported");
  });

  it("5. rollback --restore-backup restores the MySQL dump taken before the failed release, then --to goes back further with the down scripts", async () => {
    await mysqlQuery("INSERT INTO items (title) VALUES ('written after the dump')", [], database);
    const restored = await cli(t, ["rollback", "--restore-backup", "--yes"]);
    assert.equal(restored.code, 0, tail(restored.output));
    assert.deepEqual(await columns(), ["id", "title", "status"], "the dump taken before 0003 ran is back");
    assert.deepEqual(await mysqlQuery("SELECT COUNT(*) AS n FROM items", [], database), [{ n: 3 }]);
    assert.deepEqual(await recorded(), ["0001", "0002"]);
    assert.deepEqual(await health(), { status: "ok", version: "1.1.0", maintenance: false });
    const r = await report();
    assert.match(r.rollback.restored.path, new RegExp(`_${t.name}-d_\\d{8}T\\d{6}Z\\.dump$`));

    const history = await t.stack.history();
    const first = history.length - history.findIndex((e) => e.message === "release a");
    const back = await cli(t, ["rollback", "--yes", "--to", String(first)]);
    assert.equal(back.code, 0, tail(back.output));
    assert.deepEqual(await recorded(), ["0001"]);
    assert.deepEqual(await columns(), ["id", "title"], "0002 was reverted with the down SQL kept in state");
    assert.deepEqual(await health(), { status: "ok", version: "1.0.0", maintenance: false });
  });
});
