// The local MariaDB for MySQL integration tests, from the variables `local-env/mariadb.sh env`
// exports (scripts/test.sh and the test scripts eval it). Each test makes a database of its own.
import { randomBytes } from "node:crypto";
import mysql from "mysql2/promise";
import type { MysqlConnection } from "../../engines/mysql";

/** The admin connection to the local MariaDB on its default database. */
export function targetMysql(): MysqlConnection {
  const missing = ["MYSQL_HOST", "MYSQL_TCP_PORT", "MYSQL_USER", "MYSQL_PWD", "MYSQL_DATABASE"].filter(
    (k) => !process.env[k],
  );
  if (missing.length > 0) {
    throw new Error(
      `MySQL integration tests need ${missing.join(", ")}; run \`eval "$(local-env/mariadb.sh env)"\` first (scripts/test.sh does)`,
    );
  }
  return {
    engine: "mysql",
    host: process.env.MYSQL_HOST!,
    port: Number(process.env.MYSQL_TCP_PORT),
    user: process.env.MYSQL_USER!,
    password: process.env.MYSQL_PWD!,
    database: process.env.MYSQL_DATABASE!,
  };
}

/** Runs SQL (several statements allowed) as the admin, in `database` or the default one; the last result's rows. */
export async function mysqlQuery<T = Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
  database?: string,
): Promise<T[]> {
  const db = targetMysql();
  const client = await mysql.createConnection({
    host: db.host,
    port: db.port,
    user: db.user,
    password: db.password,
    database: database ?? db.database,
    multipleStatements: true,
    supportBigNumbers: true,
    bigNumberStrings: false,
  });
  try {
    const [rows] = await client.query(sql, params);
    const last = Array.isArray(rows) && Array.isArray(rows[rows.length - 1]) ? rows[rows.length - 1] : rows;
    return (Array.isArray(last) ? last : []) as T[];
  } finally {
    await client.end();
  }
}

/** A fresh database `<prefix>_<random>` on the local MariaDB and the connection to it; `drop` removes it. */
export async function createMysqlDatabase(
  prefix: string,
): Promise<{ connection: MysqlConnection; drop: () => Promise<void> }> {
  const database = `${prefix}_${randomBytes(4).toString("hex")}`;
  await mysqlQuery(`CREATE DATABASE \`${database}\``);
  return {
    connection: { ...targetMysql(), database },
    drop: async () => {
      await mysqlQuery(`DROP DATABASE IF EXISTS \`${database}\``);
    },
  };
}
