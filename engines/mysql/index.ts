// The one MySQL/MariaDB connection of the engines: its shape, one connect, quoting, and the query for
// the user tables. No Pulumi inside: dynamic providers that are serialized by value call it, so plain
// functions and constants only.
import mysql from "mysql2/promise";

/** A MySQL or MariaDB connection; `password` is a secret, never logged, shown or returned. */
export interface MysqlConnection {
  /** Tells this connection from a PostgreSQL one (which has no `engine`). */
  readonly engine: "mysql";
  readonly host: string;
  readonly port: number;
  /** A bare database (schema) name. */
  readonly database: string;
  readonly user: string;
  readonly password: string;
}

/** A client session of mysql2's promise API. */
export type MysqlClient = mysql.Connection;

/** How long a connection attempt may take before it fails instead of hanging the rollout. */
export const MYSQL_CONNECT_TIMEOUT_SECONDS = 10;

/** `database "x" at host:port as "user"`, for messages (never the password). */
export function describeMysqlTarget(connection: MysqlConnection, database = connection.database): string {
  return `MySQL database "${database}" at ${connection.host}:${connection.port} as "${connection.user}"`;
}

/** Options of one connection. */
export interface MysqlConnectOptions {
  /** Connect to this database instead of the connection's own (e.g. a scratch database); null for none. */
  readonly database?: string | null;
  /** Let one query text hold several statements (a dump restored through the client). @default false */
  readonly multipleStatements?: boolean;
}

/**
 * Opens a connection; throws naming the target and the server's answer. A dropped connection is
 * reported by the query that needed it (without a listener it would crash the process).
 */
export async function connectMysql(
  connection: MysqlConnection,
  options: MysqlConnectOptions = {},
): Promise<MysqlClient> {
  const database = options.database === undefined ? connection.database : options.database;
  try {
    const client = await mysql.createConnection({
      host: connection.host,
      port: connection.port,
      user: connection.user,
      password: connection.password,
      ...(database === null ? {} : { database }),
      connectTimeout: MYSQL_CONNECT_TIMEOUT_SECONDS * 1000,
      multipleStatements: options.multipleStatements ?? false,
      // BIGINT counts and DECIMALs as text, so a check compares exactly what the server returned.
      supportBigNumbers: true,
      bigNumberStrings: true,
      dateStrings: true,
    });
    client.on("error", () => undefined);
    return client;
  } catch (error) {
    throw new Error(
      `cannot connect to ${describeMysqlTarget(connection, database ?? "(none)")}: ${(error as Error).message}; ` +
        "check the database settings and password, and that the server is up",
      { cause: error },
    );
  }
}

/** Runs `work` on a new connection and closes it afterwards, whatever happens. */
export async function withMysql<T>(
  connection: MysqlConnection,
  work: (client: MysqlClient) => Promise<T>,
  options: MysqlConnectOptions = {},
): Promise<T> {
  const client = await connectMysql(connection, options);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/** A MySQL identifier in backquotes, a backquote inside doubled. */
export function quoteMysqlIdentifier(name: string): string {
  return `\`${name.replace(/`/g, "``")}\``;
}

/**
 * Every base table of the connection's database, as `{schema, name}` with the database as the
 * schema (MySQL has no schemas inside a database), sorted by name.
 */
export async function mysqlUserTables(client: MysqlClient): Promise<{ schema: string; name: string }[]> {
  const [rows] = await client.query<mysql.RowDataPacket[]>(
    `SELECT TABLE_SCHEMA AS \`schema\`, TABLE_NAME AS name FROM information_schema.TABLES
      WHERE TABLE_SCHEMA = DATABASE() AND TABLE_TYPE = 'BASE TABLE' ORDER BY TABLE_NAME`,
  );
  return rows.map((r) => ({ schema: String(r.schema), name: String(r.name) }));
}

/** The server's version text, e.g. `10.11.19-MariaDB-0+deb12u1`. */
export async function mysqlServerVersion(client: MysqlClient): Promise<string> {
  const [rows] = await client.query<mysql.RowDataPacket[]>("SELECT VERSION() AS v");
  return String(rows[0].v);
}
