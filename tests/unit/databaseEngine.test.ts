// rollout:database.engine: the defaults per engine, the settings that apply to one engine only, and
// the connection the program hands the steps (PostgreSQL's without an `engine` field, so the state
// of stacks recorded before MySQL existed does not change).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { loadConfig } from "../../config";
import { engineOf, isMysql } from "../../engines/database";
import { mysqlDumpFlags } from "../../engines/backup";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const allSecrets = { databasePassword: true, appDatabasePassword: true };
const withDatabase = (database: Record<string, unknown>) =>
  minimalRawConfig({ database: { database: "rollout_dev", ...database } });

describe("rollout:database.engine", () => {
  const accepted: { name: string; database: Record<string, unknown>; expect: unknown }[] = [
    {
      name: "no engine: PostgreSQL with its defaults",
      database: {},
      expect: {
        engine: "postgresql",
        host: "127.0.0.1",
        port: 5432,
        database: "rollout_dev",
        adminUser: "postgres",
        sslMode: "require",
      },
    },
    {
      name: "mysql: port 3306 and user root, no sslMode",
      database: { engine: "mysql" },
      expect: { engine: "mysql", host: "127.0.0.1", port: 3306, database: "rollout_dev", adminUser: "root" },
    },
    {
      name: "mysql with its own port and user",
      database: { engine: "mysql", host: "localhost", port: 53306, adminUser: "deployer" },
      expect: {
        engine: "mysql",
        host: "localhost",
        port: 53306,
        database: "rollout_dev",
        adminUser: "deployer",
      },
    },
    {
      name: "postgresql spelled out, with a port and sslMode",
      database: { engine: "postgresql", port: 55432, sslMode: "disable" },
      expect: {
        engine: "postgresql",
        host: "127.0.0.1",
        port: 55432,
        database: "rollout_dev",
        adminUser: "postgres",
        sslMode: "disable",
      },
    },
  ];
  for (const c of accepted) {
    it(`accepts ${c.name}`, () => {
      assert.deepEqual(loadConfig("dev", withDatabase(c.database), allSecrets).database, c.expect);
    });
  }

  const refused: { name: string; database: Record<string, unknown>; expect: string[] }[] = [
    {
      name: "sslMode on a MySQL stack, naming the key, the value and the fix",
      database: { engine: "mysql", sslMode: "require" },
      expect: [
        'rollout:database.sslMode is invalid (is a PostgreSQL setting (libpq sslmode) and means nothing for database.engine "mysql", whose connections do not use TLS here): got "require". Fix: remove it, or set rollout:database.engine to postgresql if that is the target.',
      ],
    },
    {
      name: "a MySQL host off this machine, as its connections have no TLS yet",
      database: { engine: "mysql", host: "db.internal" },
      expect: [
        'rollout:database.host is invalid (is not this machine, and MySQL connections do not use TLS yet: the admin and app passwords and every dumped row would cross the network in plain text): got "db.internal". Fix: run the rollout on the database\'s machine (host 127.0.0.1), or reach it through an SSH tunnel (ssh -L 3306:127.0.0.1:3306 ...) and set host to 127.0.0.1.',
      ],
    },
    {
      name: "an engine it does not know",
      database: { engine: "oracle" },
      expect: [
        'rollout:database.engine is invalid (expected one of "postgresql"|"mysql"): got "oracle". Fix: set it with `pulumi config set --path \'rollout:database.engine\' <value>`.',
      ],
    },
  ];
  for (const c of refused) {
    it(`refuses ${c.name}`, () => {
      assert.deepEqual(configProblems(withDatabase(c.database), allSecrets), c.expect);
    });
  }

  it("tells the connections apart by their engine field", () => {
    const pg = { host: "h", port: 1, database: "d", user: "u", password: "p", sslMode: "disable" as const };
    const my = { engine: "mysql" as const, host: "h", port: 1, database: "d", user: "u", password: "p" };
    assert.deepEqual(
      [isMysql(pg), engineOf(pg), isMysql(my), engineOf(my)],
      [false, "postgresql", true, "mysql"],
    );
  });
});

describe("the dump tool's own flags", () => {
  it("MySQL's mysqldump leaves out GTID_PURGED and tablespaces; MariaDB's needs neither flag", () => {
    assert.deepEqual(
      mysqlDumpFlags("mysqldump  Ver 8.0.36 for Linux on x86_64 (MySQL Community Server - GPL)"),
      ["--set-gtid-purged=OFF", "--no-tablespaces"],
    );
    assert.deepEqual(
      mysqlDumpFlags("mariadb-dump  Ver 10.19 Distrib 10.11.19-MariaDB, for debian-linux-gnu (x86_64)"),
      [],
    );
  });
});

describe("a MySQL stack's migrations", () => {
  it("refuse requireLintAllow, which the PostgreSQL lint behind it would never apply", () => {
    assert.deepEqual(
      configProblems(
        minimalRawConfig({
          database: { engine: "mysql", database: "shop" },
          migrations: { dir: "migrations", requireLintAllow: true },
        }),
        allSecrets,
      ),
      [
        "rollout:migrations.requireLintAllow is true on a MySQL stack, whose migrations are not linted (the lint reads PostgreSQL's grammar and locks), so it would refuse nothing. Fix: remove it, and review MySQL migrations by their preview.",
      ],
    );
  });
});
