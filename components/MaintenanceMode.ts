import * as pulumi from "@pulumi/pulumi";
import { RunOnceComponent, runOnceProvider } from "./dynamic/runOnce";
import { switchMaintenance, type MaintenanceCall, type MaintenanceResult } from "./maintenance/http";

export interface MaintenanceModeArgs {
  /** The endpoint and the secret bearer token. */
  readonly call: pulumi.Input<MaintenanceCall>;
  readonly state: "on" | "off";
  /** Values whose change makes the switch happen again (the release id). */
  readonly triggers: pulumi.Input<pulumi.Input<string>[]>;
}

const provider = runOnceProvider(async (inputs: { call: MaintenanceCall; state: "on" | "off" }) =>
  switchMaintenance(inputs.call, inputs.state),
);

/**
 * Switches the service's maintenance mode over HTTP, once per release. "on" comes before the
 * backup; "off" after the checks, so a failed rollout leaves maintenance on (the safe state).
 */
export class MaintenanceMode extends RunOnceComponent<MaintenanceResult> {
  constructor(name: string, args: MaintenanceModeArgs, opts?: pulumi.ComponentResourceOptions) {
    super(
      "rollout:maintenance:MaintenanceMode",
      { typeName: "MaintenanceMode", provider, suffix: "switch" },
      name,
      { ...args },
      opts,
    );
  }
}
