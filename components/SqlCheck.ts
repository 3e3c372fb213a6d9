import * as pulumi from "@pulumi/pulumi";
import { runSqlCheck, type SqlCheckResult, type SqlCheckSpec } from "./checks/sql";
import { RunOnceComponent, runOnceProvider } from "./dynamic/runOnce";
import { clientConfig, type PgConnection, type PgConnectionInput } from "./pg";

export interface SqlCheckArgs {
  readonly connection: PgConnectionInput;
  readonly spec: SqlCheckSpec;
  /** Values whose change makes the check run again (release id, container ids). */
  readonly triggers: pulumi.Input<pulumi.Input<string>[]>;
}

const provider = runOnceProvider(async (inputs: { connection: PgConnection; spec: SqlCheckSpec }) =>
  runSqlCheck(clientConfig(inputs.connection), inputs.spec),
);

/** A query whose first value must equal the expected one after the release (e.g. row counts). */
export class SqlCheck extends RunOnceComponent<SqlCheckResult> {
  constructor(name: string, args: SqlCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "rollout:checks:SqlCheck",
      { typeName: "SqlCheck", provider, suffix: "run" },
      name,
      { ...args },
      opts,
    );
  }
}
