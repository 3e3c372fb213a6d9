// How components describe a PostgreSQL connection, and its translation for the pg client.
import type * as pulumi from "@pulumi/pulumi";
import type { ClientConfig } from "pg";

/** A PostgreSQL connection; `password` is a secret. */
export interface PgConnection {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  readonly password: string;
  readonly sslMode: "disable" | "require" | "verify-ca" | "verify-full";
}

/** The same, with values that may come from resources or secrets. */
export type PgConnectionInput = { readonly [K in keyof PgConnection]: pulumi.Input<PgConnection[K]> };

/** Options for the pg client: TLS as sslMode asks, certificate checks for the verify modes. */
export function clientConfig(c: PgConnection): ClientConfig {
  return {
    host: c.host,
    port: c.port,
    database: c.database,
    user: c.user,
    password: c.password,
    ssl: c.sslMode === "disable" ? false : { rejectUnauthorized: c.sslMode !== "require" },
  };
}
