// SQL checks and gates look and never write, on both engines: a check whose text would change the
// schema (DDL, which MySQL commits on its own, or a COMMIT that ends PostgreSQL's read-only
// transaction) is refused by the server, and nothing it named exists afterwards. Real PostgreSQL and
// real MariaDB; each test uses a database of its own.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { runSqlCheck, type SqlCheckSpec } from "../../engines/checks/sql";
import type { MysqlConnection } from "../../engines/mysql";
import type { PgConnection } from "../../engines/postgres";
import { createMysqlDatabase, mysqlQuery } from "../support/mysql";
import { query, targetDatabase } from "../support/stack";

const check = (sql: string): SqlCheckSpec => ({
  name: "looks-only",
  sql,
  expect: "0",
  statementTimeoutMs: 5000,
  timeoutSeconds: 0,
  intervalMs: 100,
});

describe("SQL checks run read-only", () => {
  let my: MysqlConnection;
  let dropMy: () => Promise<void>;
  let pg: PgConnection;
  const pgDatabase = `itest_sqlro_${randomBytes(4).toString("hex")}`;

  before(async () => {
    ({ connection: my, drop: dropMy } = await createMysqlDatabase("itest_sqlro"));
    await query(`CREATE DATABASE ${pgDatabase}`);
    pg = { ...targetDatabase(), database: pgDatabase, sslMode: "disable" };
  });

  after(async () => {
    await dropMy?.();
    await query(`DROP DATABASE IF EXISTS ${pgDatabase}`);
  });

  it("MariaDB: a check that creates a table is refused and the table does not exist", async () => {
    await assert.rejects(
      runSqlCheck(my, check("CREATE TABLE written_by_check (id INT)")),
      /SQL check `looks-only` failed: the query raised .*READ ONLY.*; a check runs read-only and must not write/i,
    );
    const tables = await mysqlQuery<{ n: number }>(
      "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = ? AND table_name = 'written_by_check'",
      [my.database],
    );
    assert.equal(Number(tables[0].n), 0);
  });

  it("MariaDB: a plain SELECT passes", async () => {
    const result = await runSqlCheck(my, check("SELECT COUNT(*) FROM information_schema.tables WHERE 1 = 0"));
    assert.equal(result.value, "0");
  });

  it("PostgreSQL: a check that commits and then creates a table is refused and the table does not exist", async () => {
    await assert.rejects(
      runSqlCheck(pg, check("COMMIT; CREATE TABLE written_by_check (id int)")),
      /SQL check `looks-only` failed: the query raised .*read-only transaction; a check runs read-only and must not write/,
    );
    const tables = await query<{ n: string }>(
      "SELECT count(*) AS n FROM pg_tables WHERE tablename = 'written_by_check'",
      [],
      { database: pgDatabase },
    );
    assert.equal(tables[0].n, "0");
  });
});
