import * as pulumi from "@pulumi/pulumi";
import { runPreflight, type PreflightResult, type PreflightSpec } from "./checks/preflight";
import { RunOnce, runOnceProvider } from "./dynamic/runOnce";
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
export class Preflight extends pulumi.ComponentResource {
  readonly result: pulumi.Output<PreflightResult>;
  readonly startedAt: pulumi.Output<string>;
  readonly finishedAt: pulumi.Output<string>;

  constructor(name: string, args: PreflightArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollout:preflight:Preflight", name, {}, opts);
    const run = new RunOnce<PreflightResult>(
      "Preflight",
      provider,
      `${name}-run`,
      { ...args },
      { parent: this },
    );
    this.result = run.result;
    this.startedAt = run.startedAt;
    this.finishedAt = run.finishedAt;
    this.registerOutputs({ result: this.result });
  }
}
