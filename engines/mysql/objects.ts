// The application's MySQL user and its grants, in the engine's own SQL: `@pulumi/mysql`'s provider
// cannot be built here, so this is a recorded run (components/DatabaseObjects.ts) rather than
// provider resources. No Pulumi inside.
import { connectMysql, describeMysqlTarget, quoteMysqlIdentifier, type MysqlConnection } from "./index";

/** The privileges the application's user gets on its database: read and write its rows. */
export const MYSQL_APP_PRIVILEGES = ["SELECT", "INSERT", "UPDATE", "DELETE"] as const;

/** What {@link ensureMysqlAppUser} did. */
export interface MysqlAppUserResult {
  /** The user name (its host part is `%`). */
  readonly user: string;
  readonly database: string;
  readonly privileges: string[];
}

/**
 * Makes `user`@`%` exist with `password` (set again each run, so a changed secret takes effect) and
 * SELECT, INSERT, UPDATE and DELETE on every table of the connection's database, present and future
 * (a database-level grant covers tables later migrations create). The password travels as a bound
 * value, never in a message or the result.
 */
export async function ensureMysqlAppUser(
  connection: MysqlConnection,
  user: string,
  password: string,
): Promise<MysqlAppUserResult> {
  if (!/^[a-z_][a-z0-9_]{0,31}$/.test(user)) {
    throw new Error(
      `app.databaseRole ${JSON.stringify(user)} is not a MySQL user name this rollout creates; use 1-32 lower-case letters, digits and _`,
    );
  }
  const client = await connectMysql(connection);
  try {
    await client.query("CREATE USER IF NOT EXISTS ?@'%' IDENTIFIED BY ?", [user, password]);
    await client.query("ALTER USER ?@'%' IDENTIFIED BY ?", [user, password]);
    await client.query(
      `GRANT ${MYSQL_APP_PRIVILEGES.join(", ")} ON ${quoteMysqlIdentifier(connection.database)}.* TO ?@'%'`,
      [user],
    );
  } catch (error) {
    throw new Error(
      `could not create or grant the application's MySQL user ${user} on ${describeMysqlTarget(connection)}: ` +
        `${(error as { sqlMessage?: string }).sqlMessage ?? (error as Error).message}; ` +
        `the admin user needs CREATE USER and GRANT OPTION on ${connection.database}.*`,
      { cause: error },
    );
  } finally {
    await client.end().catch(() => undefined);
  }
  return { user, database: connection.database, privileges: [...MYSQL_APP_PRIVILEGES] };
}
