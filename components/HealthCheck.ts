import * as pulumi from "@pulumi/pulumi";
import { runHttpCheck, type HttpCheckResult, type HttpCheckSpec } from "./checks/http";

/** Inputs of one HTTP health check. */
export interface HealthCheckArgs {
  /** What to call and what to expect. */
  readonly spec: pulumi.Input<HttpCheckSpec>;
  /**
   * Values whose change makes the check run again, e.g. the release id and the container id.
   * The check runs when it is created and whenever a trigger changes; never during preview.
   */
  readonly triggers: pulumi.Input<pulumi.Input<string>[]>;
}

interface CheckInputs {
  spec: HttpCheckSpec;
  triggers: string[];
}

type CheckOutputs = CheckInputs & { result: HttpCheckResult };

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

// Dynamic providers are serialized into state by value; keep this object free of captured resources.
const httpCheckProvider: pulumi.dynamic.ResourceProvider<CheckInputs, CheckOutputs> = {
  async diff(_id, olds, news) {
    const changed: string[] = [];
    if (!sameJson(olds.spec, news.spec)) changed.push("spec");
    if (!sameJson(olds.triggers, news.triggers)) changed.push("triggers");
    return { changes: changed.length > 0, deleteBeforeReplace: false };
  },
  async create(inputs) {
    const result = await runHttpCheck(inputs.spec);
    return { id: `${inputs.spec.name}`, outs: { ...inputs, result } };
  },
  async update(_id, _olds, news) {
    const result = await runHttpCheck(news.spec);
    return { outs: { ...news, result } };
  },
  // Reading back would mean calling the service; the last result stays as recorded.
  async read(id, props) {
    return { id, props };
  },
  async delete() {
    // Nothing to undo: a check leaves no trace on the target.
  },
};

class HttpCheckRun extends pulumi.dynamic.Resource {
  declare readonly result: pulumi.Output<HttpCheckResult>;

  constructor(name: string, args: HealthCheckArgs, opts?: pulumi.CustomResourceOptions) {
    super(httpCheckProvider, name, { ...args, result: undefined }, opts, "rollout", "HttpCheck");
  }
}

/**
 * An HTTP check that gates a rollout: during `up` it calls the URL until it answers as expected or
 * its retries or deadline run out, and fails the update with what was expected and what came back.
 */
export class HealthCheck extends pulumi.ComponentResource {
  /** Status, latency, attempts and time of the passing run. */
  readonly result: pulumi.Output<HttpCheckResult>;

  constructor(name: string, args: HealthCheckArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollout:checks:HealthCheck", name, {}, opts);
    const run = new HttpCheckRun(`${name}-run`, args, { parent: this });
    this.result = run.result;
    this.registerOutputs({ result: this.result });
  }
}
