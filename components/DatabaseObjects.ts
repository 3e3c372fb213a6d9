import * as postgresql from "@pulumi/postgresql";
import * as pulumi from "@pulumi/pulumi";
import { CONNECT_TIMEOUT_SECONDS } from "../engines/postgres";
import {
  MysqlAppUser,
  type DatabaseConnectionInput,
  type MysqlConnectionInput,
  type PgConnectionInput,
} from "./steps";
import { TOKENS } from "./tokens";

/** The schema the application's tables live in. */
const SCHEMA = "public";

/** The database objects a release needs besides its schema: the app's login role and its grants. */
export interface DatabaseObjectsArgs {
  /** Admin connection used to manage roles and grants; the password is a secret. */
  readonly connection: DatabaseConnectionInput;
  /** The login role the application uses. */
  readonly appRole: string;
  /** Secret password of `appRole`. */
  readonly appRolePassword: pulumi.Input<string>;
}

/**
 * The application's login role, with CONNECT on the database, USAGE on the schema and read/write on
 * its tables and sequences, present and future (through default privileges, so tables that later
 * migrations create are covered without another grant). On MySQL: the application's user with
 * SELECT, INSERT, UPDATE and DELETE on the database, through the engine's SQL in a recorded run
 * (`@pulumi/mysql`'s provider cannot be built here).
 */
export class DatabaseObjects extends pulumi.ComponentResource {
  /** Name of the application's login role. */
  readonly appRoleName: pulumi.Output<string>;

  constructor(name: string, args: DatabaseObjectsArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TOKENS.databaseObjects, name, {}, opts);
    if ((args.connection as { engine?: string }).engine === "mysql") {
      const user = new MysqlAppUser(
        `${name}-app-user`,
        {
          connection: args.connection as MysqlConnectionInput,
          user: args.appRole,
          password: pulumi.secret(args.appRolePassword),
        },
        { parent: this },
      );
      // From the step's result, so the container that logs in as the user is created after it.
      this.appRoleName = user.result.apply(() => args.appRole);
      this.registerOutputs({ appRoleName: this.appRoleName });
      return;
    }
    const connection = args.connection as PgConnectionInput;

    const provider = new postgresql.Provider(
      `${name}-admin`,
      {
        host: connection.host,
        port: connection.port,
        database: connection.database,
        username: connection.user,
        password: connection.password,
        sslmode: connection.sslMode,
        superuser: false,
        connectTimeout: CONNECT_TIMEOUT_SECONDS,
      },
      { parent: this },
    );
    const child = { parent: this, provider };

    const role = new postgresql.Role(
      `${name}-app-role`,
      { name: args.appRole, login: true, password: args.appRolePassword, inherit: true },
      child,
    );
    const grant = (suffix: string, grantArgs: Omit<postgresql.GrantArgs, "role" | "database">) =>
      new postgresql.Grant(
        `${name}-${suffix}`,
        { role: role.name, database: connection.database, ...grantArgs },
        child,
      );
    grant("connect", { objectType: "database", privileges: ["CONNECT"] });
    grant("schema-usage", { objectType: "schema", schema: SCHEMA, privileges: ["USAGE"] });
    grant("tables", {
      objectType: "table",
      schema: SCHEMA,
      objects: [],
      privileges: ["SELECT", "INSERT", "UPDATE", "DELETE"],
    });
    grant("sequences", {
      objectType: "sequence",
      schema: SCHEMA,
      objects: [],
      privileges: ["USAGE", "SELECT", "UPDATE"],
    });
    const defaults = (suffix: string, objectType: string, privileges: string[]) =>
      new postgresql.DefaultPrivileges(
        `${name}-default-${suffix}`,
        {
          role: role.name,
          database: connection.database,
          owner: connection.user,
          schema: SCHEMA,
          objectType,
          privileges,
        },
        child,
      );
    defaults("tables", "table", ["SELECT", "INSERT", "UPDATE", "DELETE"]);
    defaults("sequences", "sequence", ["USAGE", "SELECT", "UPDATE"]);

    this.appRoleName = role.name;
    this.registerOutputs({ appRoleName: this.appRoleName });
  }
}
