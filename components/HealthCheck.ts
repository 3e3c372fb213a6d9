import * as pulumi from "@pulumi/pulumi";
import { runHttpCheck, type HttpCheckResult, type HttpCheckSpec } from "./checks/http";
import { RunOnceComponent, runOnceProvider } from "./dynamic/runOnce";

/** Inputs of one HTTP health check. */
export interface HealthCheckArgs {
  /** What to call and what to expect; header values may be secrets. */
  readonly spec: pulumi.Input<HttpCheckSpec>;
  /**
   * Values whose change makes the check run again, e.g. the release id and the container id.
   * The check runs when it is created and whenever a trigger changes; never during preview.
   */
  readonly triggers: pulumi.Input<pulumi.Input<string>[]>;
}

const provider = runOnceProvider(async (inputs: { spec: HttpCheckSpec }) => runHttpCheck(inputs.spec));

/**
 * An HTTP check that gates a rollout: during `up` it calls the URL until it answers as expected or
 * its retries or deadline run out, and fails the update with what was expected and what came back.
 */
export class HealthCheck extends RunOnceComponent<HttpCheckResult> {
  constructor(name: string, args: HealthCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "rollout:checks:HealthCheck",
      { typeName: "HttpCheck", provider, suffix: "run" },
      name,
      { ...args },
      opts,
    );
  }
}
