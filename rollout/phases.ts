// The rollout as a sequence of phases: each phase depends on the nearest phase above it that is
// present (a phase that a stack leaves out is skipped, not waited for), so a failure stops every
// phase below it. It also records which phases the report times.
import type * as pulumi from "@pulumi/pulumi";

/** A step that records when its run started and finished. */
export interface TimedStep {
  readonly startedAt?: pulumi.Output<string>;
  readonly finishedAt: pulumi.Output<string>;
}

/** A component class: `new Step(name, args, opts)`. */
type StepClass<A, R> = new (name: string, args: A, opts?: pulumi.ComponentResourceOptions) => R;

/** Marks a phase whose step is timed in the report. */
export const TIMED = "timed";

/** `TIMED` may be passed only for a step that records its run times. */
type Timing<R> = R extends TimedStep ? [] | [typeof TIMED] : [];

/** Steps of one kind that run side by side in a phase, one a config entry; see {@link each}. */
export interface Each<R extends pulumi.Resource> {
  build(prefix: string, opts: pulumi.ComponentResourceOptions): R[];
}

/** One `Step` per item, named `<rollout>-<role>-<item name>`. */
export function each<A, R extends pulumi.Resource>(
  Step: StepClass<A, R>,
  role: string,
  items: readonly { readonly name: string; readonly args: A }[],
): Each<R> {
  return { build: (prefix, opts) => items.map((i) => new Step(`${prefix}-${role}-${i.name}`, i.args, opts)) };
}

export class PhaseSequence {
  /** The phases the report times, in order. */
  readonly timed: { readonly phase: string; readonly step: TimedStep }[] = [];
  private above: readonly pulumi.Resource[] = [];

  /** Children are named `<prefix>-<role>`. */
  constructor(
    private readonly parent: pulumi.Resource,
    private readonly prefix: string,
  ) {}

  /** A phase every rollout has: one step after the phase above; a step with run times may be `TIMED`. */
  phase<A, R extends pulumi.Resource>(
    phase: string,
    Step: StepClass<A, R>,
    role: string,
    args: A,
    ...timed: Timing<R>
  ): R {
    const step = new Step(`${this.prefix}-${role}`, args, this.options());
    this.done(phase, [step], timed.length > 0 ? (step as R & TimedStep) : undefined);
    return step;
  }

  /** A phase the stack may leave out: nothing is created, and nothing waits for it, when `args` is undefined. */
  optional<A, R extends pulumi.Resource>(
    phase: string,
    Step: StepClass<A, R>,
    role: string,
    args: A | undefined,
    ...timed: Timing<R>
  ): R | undefined {
    return args === undefined ? undefined : this.phase(phase, Step, role, args, ...timed);
  }

  /** A phase of steps that run side by side, by group; it may be empty, and then nothing waits for it. */
  group<G extends Record<string, Each<pulumi.Resource>>>(
    phase: string,
    groups: G,
  ): { [K in keyof G]: G[K] extends Each<infer R> ? R[] : never } {
    const opts = this.options();
    const built = Object.fromEntries(
      Object.entries(groups).map(([key, g]) => [key, g.build(this.prefix, opts)]),
    );
    this.done(phase, Object.values(built).flat());
    return built as { [K in keyof G]: G[K] extends Each<infer R> ? R[] : never };
  }

  private options(): pulumi.ComponentResourceOptions {
    return { parent: this.parent, dependsOn: [...this.above] };
  }

  private done(phase: string, resources: readonly pulumi.Resource[], timed?: TimedStep): void {
    if (resources.length > 0) this.above = resources;
    if (timed) this.timed.push({ phase, step: timed });
  }
}
