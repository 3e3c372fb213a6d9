// The one PostgreSQL connection of the engines: its shape, its translation for the pg client (TLS
// with libpq's sslmode meaning), one connect, and the query for the user tables. No Pulumi inside:
// dynamic providers that are serialized by value call it, so plain functions and constants only.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client, type ClientConfig } from "pg";

/** libpq `sslmode` values the stack config accepts. */
export const SSL_MODES = ["disable", "require", "verify-ca", "verify-full"] as const;
export type PgSslMode = (typeof SSL_MODES)[number];

/** A PostgreSQL connection; `password` is a secret, never logged, shown or returned. */
export interface PgConnection {
  readonly host: string;
  readonly port: number;
  /** A bare database name (never a connection string). */
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly sslMode: PgSslMode;
}

/** How long a connection attempt may take before it fails instead of hanging the rollout. */
export const CONNECT_TIMEOUT_SECONDS = 10;

/** Options of one connection. */
export interface ConnectOptions {
  /** Connect to this database instead of the connection's own (e.g. a scratch database). */
  readonly database?: string;
  /** Shown in pg_stat_activity, so an operator can tell whose session it is. @default "rollout" */
  readonly applicationName?: string;
}

/**
 * node-postgres settings with the same sslmode meaning as libpq's, so the client and the
 * pg_dump/pg_restore tools are equally strict: `require` encrypts without checking the
 * certificate; the verify modes check it against PGSSLROOTCERT or ~/.postgresql/root.crt, and
 * `verify-full` also checks the host name.
 */
export function clientConfig(connection: PgConnection, options: ConnectOptions = {}): ClientConfig {
  const mode = connection.sslMode;
  let ssl: ClientConfig["ssl"];
  if (mode === "disable") ssl = false;
  else if (mode === "require") ssl = { rejectUnauthorized: false };
  else {
    const rootCert = process.env.PGSSLROOTCERT ?? path.join(os.homedir(), ".postgresql", "root.crt");
    const ca = fs.existsSync(rootCert) ? fs.readFileSync(rootCert, "utf8") : undefined;
    ssl = {
      rejectUnauthorized: true,
      ...(ca === undefined ? {} : { ca }),
      ...(mode === "verify-ca" ? { checkServerIdentity: () => undefined } : {}),
    };
  }
  return {
    host: connection.host,
    port: connection.port,
    database: options.database ?? connection.database,
    user: connection.user,
    password: connection.password,
    ssl,
    application_name: options.applicationName ?? "rollout",
    connectionTimeoutMillis: CONNECT_TIMEOUT_SECONDS * 1000,
  };
}

/** `database "x" at host:port as "user"`, for messages (never the password). */
export function describeTarget(connection: PgConnection, database = connection.database): string {
  return `database "${database}" at ${connection.host}:${connection.port} as "${connection.user}"`;
}

/**
 * Opens a connection; throws naming the target, the sslmode and the server's answer. A dropped
 * connection is reported by the query that needed it (without a listener it would crash the process).
 */
export async function connect(connection: PgConnection, options: ConnectOptions = {}): Promise<Client> {
  const client = new Client(clientConfig(connection, options));
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch (error) {
    await client.end().catch(() => undefined); // closing a connection that never opened may fail too
    throw new Error(
      `cannot connect to ${describeTarget(connection, options.database)} ` +
        `(sslmode ${connection.sslMode}): ${(error as Error).message}; ` +
        "check the database settings and password, and that the server is up",
      { cause: error },
    );
  }
  return client;
}

/** Runs `work` on a new connection and closes it afterwards, whatever happens. */
export async function withClient<T>(
  connection: PgConnection,
  work: (client: Client) => Promise<T>,
  options: ConnectOptions = {},
): Promise<T> {
  const client = await connect(connection, options);
  try {
    return await work(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

// User tables whose data pg_dump writes: ordinary and partitioned tables outside the system schemas,
// not temporary, and not members of an extension (the extension recreates those).
const USER_TABLES_SQL = `
SELECT n.nspname AS schema, c.relname AS name
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind IN ('r', 'p')
  AND c.relpersistence <> 't'
  AND n.nspname <> 'information_schema'
  AND n.nspname !~ '^pg_'
  AND NOT EXISTS (
    SELECT 1 FROM pg_catalog.pg_depend d
    WHERE d.classid = 'pg_catalog.pg_class'::regclass AND d.objid = c.oid AND d.deptype = 'e'
  )
ORDER BY 1, 2`;

/** Every user table of the connected database, sorted by schema and name. */
export async function userTables(client: Client): Promise<{ schema: string; name: string }[]> {
  return (await client.query<{ schema: string; name: string }>(USER_TABLES_SQL)).rows;
}
