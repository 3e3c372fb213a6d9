import * as pulumi from "@pulumi/pulumi";
import { runPreflight, type PreflightResult, type PreflightSpec } from "./checks/preflight";
import { RunOnceComponent, runOnceProvider } from "./dynamic/runOnce";
import { clientConfig, type PgConnection, type PgConnectionInput } from "./pg";

export interface PreflightArgs {
  readonly connection: PgConnectionInput;
  readonly spec: PreflightSpec;
  /** The release id: preflight runs once per release. */
  readonly release: string;
}

const provider = runOnceProvider(async (inputs: { connection: PgConnection; spec: PreflightSpec }) =>
  runPreflight(clientConfig(inputs.connection), inputs.spec),
);

/**
 * The first step of a rollout, before anything changes: the database answers, the running service
 * is healthy, and every SQL gate holds (polled until its timeout).
 */
export class Preflight extends RunOnceComponent<PreflightResult> {
  constructor(name: string, args: PreflightArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "rollout:preflight:Preflight",
      { typeName: "Preflight", provider, suffix: "run" },
      name,
      { ...args },
      opts,
    );
  }
}
