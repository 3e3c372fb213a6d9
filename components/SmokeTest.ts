import * as pulumi from "@pulumi/pulumi";
import { runSmokeTest, type SmokeTestResult, type SmokeTestSpec } from "./checks/smoke";
import { RunOnceComponent, runOnceProvider } from "./dynamic/runOnce";

export interface SmokeTestArgs {
  /** The flow; `vars` and `headers` may hold secrets (passwords, the maintenance bypass token). */
  readonly spec: pulumi.Input<SmokeTestSpec>;
  /** Values whose change makes the flow run again (release id, container ids). */
  readonly triggers: pulumi.Input<pulumi.Input<string>[]>;
}

const provider = runOnceProvider(async (inputs: { spec: SmokeTestSpec }) => runSmokeTest(inputs.spec));

/** A short HTTP flow with captured values (login -> token -> CRUD), run during `up` only. */
export class SmokeTest extends RunOnceComponent<SmokeTestResult> {
  constructor(name: string, args: SmokeTestArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "rollout:checks:SmokeTest",
      { typeName: "SmokeTest", provider, suffix: "run" },
      name,
      { ...args },
      opts,
    );
  }
}
