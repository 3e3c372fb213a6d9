import * as pulumi from "@pulumi/pulumi";
import { runSoak, type SoakResult, type SoakSpec } from "./checks/soak";
import { RunOnceComponent, runOnceProvider } from "./dynamic/runOnce";

export interface SoakArgs {
  readonly spec: SoakSpec;
  /** Values whose change makes the soak run again (release id, container ids). */
  readonly triggers: pulumi.Input<pulumi.Input<string>[]>;
}

const provider = runOnceProvider(async (inputs: { spec: SoakSpec }) => runSoak(inputs.spec));

/**
 * Watches the health endpoints for a while after maintenance is off and fails on the error-rate or
 * p95 thresholds. Hours-long watching belongs to the deploy command, not to `pulumi up`.
 */
export class Soak extends RunOnceComponent<SoakResult> {
  constructor(name: string, args: SoakArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollout:checks:Soak", { typeName: "Soak", provider, suffix: "run" }, name, { ...args }, opts);
  }
}
