// The database engine seam: a connection is PostgreSQL's (no `engine` field, so the state of stacks
// written before MySQL existed stays the same) or MySQL's (`engine: "mysql"`), and the few things
// every step asks of a database, whatever the engine, go through one small session interface. The
// engine-specific work (dumps, migrations) lives beside it in postgres/, mysql/ and backup/.
// No Pulumi inside: dynamic providers serialized by value call it.
import type mysql from "mysql2/promise";
import {
  connectMysql,
  describeMysqlTarget,
  mysqlServerVersion,
  mysqlUserTables,
  type MysqlConnection,
} from "../mysql";
import { connect, describeTarget, userTables, type PgConnection } from "../postgres";

/** The database engines a stack can target. */
export const DATABASE_ENGINES = ["postgresql", "mysql"] as const;
export type DatabaseEngine = (typeof DATABASE_ENGINES)[number];

/** A connection to either engine; the password is a secret. */
export type DatabaseConnection = PgConnection | MysqlConnection;

/** True for a MySQL/MariaDB connection. */
export function isMysql(connection: DatabaseConnection): connection is MysqlConnection {
  return (connection as { engine?: string }).engine === "mysql";
}

/** The engine of a connection. */
export function engineOf(connection: DatabaseConnection): DatabaseEngine {
  return isMysql(connection) ? "mysql" : "postgresql";
}

/** `database "x" at host:port as "user"` (never the password). */
export function describeDatabase(connection: DatabaseConnection): string {
  return isMysql(connection) ? describeMysqlTarget(connection) : describeTarget(connection);
}

/** One open session: what checks, gates and preflight need of a database. */
export interface SqlSession {
  /** Runs one statement; its rows as objects keyed by column name. */
  query(sql: string): Promise<Record<string, unknown>[]>;
  /**
   * Runs one statement in a read-only transaction with a statement timeout, and ends the
   * transaction: what a check or gate runs, so it can look but never write, nor run on.
   */
  readOnlyQuery(sql: string, statementTimeoutMs: number): Promise<Record<string, unknown>[]>;
  /** The server's version text. */
  serverVersion(): Promise<string>;
  /** Every user table, as `schema.name` (MySQL: the database name as the schema). */
  tables(): Promise<string[]>;
  end(): Promise<void>;
}

/** Opens a session on the connection's own database; throws naming the target when it cannot. */
export async function openSession(
  connection: DatabaseConnection,
  applicationName: string,
): Promise<SqlSession> {
  if (isMysql(connection)) {
    const client = await connectMysql(connection);
    const query = async (sql: string): Promise<Record<string, unknown>[]> => {
      const [rows] = await client.query<mysql.RowDataPacket[]>(sql);
      // A statement without a result set (an UPDATE) answers with a header, not rows.
      return Array.isArray(rows) ? (rows as Record<string, unknown>[]) : [];
    };
    return {
      query,
      async readOnlyQuery(sql, statementTimeoutMs) {
        // MariaDB bounds any statement (`max_statement_time`, seconds); MySQL bounds SELECTs
        // (`max_execution_time`, ms). The session is the check's own, so the setting stays with it.
        const mariadb = /mariadb/i.test(await mysqlServerVersion(client));
        await query(
          mariadb
            ? `SET SESSION max_statement_time = ${(statementTimeoutMs / 1000).toFixed(3)}`
            : `SET SESSION max_execution_time = ${Math.round(statementTimeoutMs)}`,
        );
        // DDL commits the transaction it is in and runs outside it; the session's own default keeps
        // whatever runs after that read-only too.
        await query("SET SESSION TRANSACTION READ ONLY");
        await query("START TRANSACTION READ ONLY");
        try {
          return await query(sql);
        } finally {
          await query("ROLLBACK").catch(() => undefined);
        }
      },
      serverVersion: () => mysqlServerVersion(client),
      tables: async () => (await mysqlUserTables(client)).map((t) => `${t.schema}.${t.name}`),
      end: () => client.end().catch(() => undefined),
    };
  }
  const client = await connect(connection, { applicationName });
  const query = async (sql: string): Promise<Record<string, unknown>[]> =>
    (await client.query(sql)).rows as Record<string, unknown>[];
  return {
    query,
    async readOnlyQuery(sql, statementTimeoutMs) {
      // A COMMIT inside the check's text would end the transaction; the session's default keeps
      // what follows it read-only too.
      await query("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY");
      await query("BEGIN READ ONLY");
      try {
        await query(`SET LOCAL statement_timeout = ${Math.round(statementTimeoutMs)}`);
        return await query(sql);
      } finally {
        await query("ROLLBACK").catch(() => undefined);
      }
    },
    // `SHOW` names its column after the setting; the alias gives the row a known key.
    serverVersion: async () =>
      (await client.query<{ v: string }>("SELECT current_setting('server_version') AS v")).rows[0].v,
    tables: async () => (await userTables(client)).map((t) => `${t.schema}.${t.name}`),
    end: () => client.end().catch(() => undefined),
  };
}

/** Runs `work` on a new session and closes it afterwards, whatever happens. */
export async function withSession<T>(
  connection: DatabaseConnection,
  applicationName: string,
  work: (session: SqlSession) => Promise<T>,
): Promise<T> {
  const session = await openSession(connection, applicationName);
  try {
    return await work(session);
  } finally {
    await session.end();
  }
}
