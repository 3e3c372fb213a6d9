// A dynamic resource that runs a task when it is created and whenever its inputs change, and
// records the result: the shape of every step of a rollout that is not itself infrastructure
// (a check, a backup, a notification). It runs during `up` only; preview never calls create.
import * as pulumi from "@pulumi/pulumi";
import type { Progress } from "../engines/progress";
import { urnOf, withEngineProgress } from "./progress";
import { DYNAMIC_MODULE, type RunNames, type StepNames } from "./tokens";

/** What a run records besides its inputs. */
export interface RunRecord<R> {
  readonly result: R;
  readonly startedAt: string;
  readonly finishedAt: string;
}

// An array, not a Set: providers are serialized by value, and a captured Set does not survive it.
// `policy` steers how a run behaves (e.g. the rules of a rollback) without being a reason to run
// again: a rollback's relaxed rules must not make the next plain `up` repeat the step.
// `progressUrn` names the component the run's progress lines are shown under.
const RECORD_KEYS = ["result", "startedAt", "finishedAt", "policy", "progressUrn", "__provider"];

/** JSON with sorted keys, so values read back from state compare equal to fresh ones. */
export function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([k, v]) => !RECORD_KEYS.includes(k) && v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonical(v)}`).join(",")}}`;
  }
  return JSON.stringify(value) ?? "null";
}

/** Input keys whose values differ between the recorded run and the new inputs. */
export function changedKeys(olds: Record<string, unknown>, news: Record<string, unknown>): string[] {
  const keys = new Set([...Object.keys(olds), ...Object.keys(news)].filter((k) => !RECORD_KEYS.includes(k)));
  return [...keys].filter((k) => canonical(olds[k]) !== canonical(news[k])).sort();
}

/**
 * The value as plain JSON: state is protobuf Structs, which refuse `undefined` (e.g. an optional
 * field left out) and class instances such as Date.
 */
export function plain<T>(value: T): T {
  return JSON.parse(JSON.stringify(value)) as T;
}

/**
 * A provider that calls `run` on create and on any input change. Nothing is undone on delete
 * unless `undo` is given: it gets the recorded inputs when the step leaves the stack (a failure
 * fails the update and keeps the step, so the next update tries again).
 * `run` and `undo` may report progress: their lines show under the step while they run.
 */
export function runOnceProvider<I extends Record<string, unknown>, R>(
  run: (inputs: I, progress: Progress) => Promise<R>,
  undo?: (recorded: I & RunRecord<R>, progress: Progress) => Promise<void>,
): pulumi.dynamic.ResourceProvider<I, I & RunRecord<R>> {
  const timed = async (inputs: I): Promise<I & RunRecord<R>> => {
    const startedAt = new Date().toISOString();
    const result = await withEngineProgress(inputs.progressUrn, (progress) => run(inputs, progress));
    return plain({ ...inputs, result, startedAt, finishedAt: new Date().toISOString() });
  };
  return {
    async diff(_id, olds, news) {
      const changed = changedKeys(olds, news);
      return { changes: changed.length > 0 };
    },
    async create(inputs) {
      const outs = await timed(inputs);
      return { id: `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`, outs };
    },
    async update(_id, _olds, news) {
      return { outs: await timed(news) };
    },
    // Reading back would mean doing the task again; the recorded run stays as it was.
    async read(id, props) {
      return { id, props };
    },
    async delete(_id, props) {
      // A run leaves nothing to remove (backups in particular are never deleted by a replace),
      // unless the step says how it is undone.
      if (undo) await withEngineProgress(props.progressUrn, (progress) => undo(props, progress));
    },
  };
}

/** A recorded run of a task; `result`, `startedAt` and `finishedAt` come from the last run. */
export class RunOnce<R> extends pulumi.dynamic.Resource {
  declare readonly result: pulumi.Output<R>;
  declare readonly startedAt: pulumi.Output<string>;
  declare readonly finishedAt: pulumi.Output<string>;

  constructor(
    step: RunNames,
    provider: pulumi.dynamic.ResourceProvider,
    name: string,
    inputs: Record<string, pulumi.Input<unknown>>,
    opts?: pulumi.CustomResourceOptions,
  ) {
    super(
      provider,
      name,
      {
        ...inputs,
        progressUrn: urnOf(opts?.parent),
        result: undefined,
        startedAt: undefined,
        finishedAt: undefined,
      },
      opts,
      DYNAMIC_MODULE,
      step.dynamicType,
    );
  }
}

/**
 * A run's result, unknown when the step never ran: a destroy or refresh that runs the program
 * registers steps that never ran (after a failed first install, say), with no start time and no
 * result. Unknown, nothing that reads them runs, as in a preview, instead of failing on `undefined`.
 */
export function ranResult<R>(run: RunOnce<R>): pulumi.Output<R> {
  return pulumi
    .all([run.result, run.startedAt])
    .apply(([r, startedAt]) =>
      startedAt === undefined ? (pulumi.unknown as unknown as R) : r,
    ) as pulumi.Output<R>;
}

/**
 * A component around one recorded run: the shape of every rollout step that is a task rather than
 * infrastructure. Its child is `<name>-<step.suffix>`.
 */
export class RunOnceComponent<R> extends pulumi.ComponentResource {
  /** What the last run returned. */
  readonly result: pulumi.Output<R>;
  readonly startedAt: pulumi.Output<string>;
  readonly finishedAt: pulumi.Output<string>;

  constructor(
    step: StepNames,
    provider: pulumi.dynamic.ResourceProvider,
    name: string,
    inputs: Record<string, pulumi.Input<unknown>>,
    opts?: pulumi.ComponentResourceOptions,
  ) {
    super(step.token, name, {}, opts);
    const run = new RunOnce<R>(step, provider, `${name}-${step.suffix}`, inputs, { parent: this });
    this.result = ranResult(run);
    this.startedAt = run.startedAt;
    this.finishedAt = run.finishedAt;
    this.registerOutputs({ result: this.result, startedAt: this.startedAt, finishedAt: this.finishedAt });
  }
}
