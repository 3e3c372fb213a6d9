// The review in plain words, after the preview's diff and before the question: what will run, the
// backup, the migrations and the images. Read from the preview's own events (what the engine will
// do), not from config alone, so it cannot promise a step the preview does not plan.
import type { EngineEvent } from "@pulumi/pulumi/automation";
import { dynamicTypeToken, STEPS } from "../components/tokens";

/** One step the preview plans, as its event names it. */
export interface PlannedStep {
  readonly op: string;
  readonly type: string;
  readonly name: string;
  readonly inputs: Record<string, unknown>;
}

/** What the running release is, from the stack's report output; absent before a first install. */
export interface Running {
  readonly release: string;
  readonly image: string;
}

/** The steps a preview's events plan, one per resource. */
export function plannedSteps(events: readonly EngineEvent[]): PlannedStep[] {
  return events.flatMap((event) => {
    const meta = event.resourcePreEvent?.metadata;
    if (!meta) return [];
    return [
      {
        op: meta.op,
        type: meta.type,
        name: meta.urn.split("::").at(-1) ?? meta.urn,
        inputs: (meta.new?.inputs ?? meta.old?.inputs ?? {}) as Record<string, unknown>,
      },
    ];
  });
}

const CHANGES: Record<string, string> = {
  create: "new",
  update: "runs again",
  replace: "replaced",
  "create-replacement": "replaced",
  delete: "removed",
};

const byType = (steps: readonly PlannedStep[], type: string) => steps.filter((s) => s.type === type);
const changing = (s: PlannedStep) => s.op in CHANGES;

/** A plan entry key is `<release> #<n> <apply|revert> <name>` (components/Schema.ts). */
function migrationLines(plan: unknown): string[] {
  if (!plan || typeof plan !== "object") return [];
  return Object.keys(plan as Record<string, unknown>).flatMap((key) => {
    const m = /^\S+ #\d+ (apply|revert|baseline|repair\S*) (.+)$/.exec(key);
    return m ? [`${m[1]} ${m[2]}`] : [];
  });
}

/** The summary, one line each; `release` and `image` are what the stack config asks for. */
export function reviewSummary(
  steps: readonly PlannedStep[],
  next: { readonly release: string; readonly image: string },
  running: Running | undefined,
): string[] {
  const lines: string[] = [];
  const moving = steps.filter((s) => changing(s) && !s.type.startsWith("pulumi:providers:"));
  if (moving.length === 0) {
    lines.push("nothing changes: the stack already runs this release (the update would be a no-op)");
    return lines;
  }
  lines.push(
    running
      ? `release ${running.release} -> ${next.release}`
      : `release ${next.release} (first install: no release is running)`,
  );
  lines.push(
    `what changes (${moving.length} of ${steps.length} resources): ` +
      moving.map((s) => `${s.name} (${CHANGES[s.op]})`).join(", "),
  );

  const backup = byType(steps, dynamicTypeToken(STEPS.backup)).find(changing);
  if (backup) {
    const { dir, restoreTest, stack } = backup.inputs as {
      dir?: string;
      restoreTest?: boolean;
      stack?: string;
    };
    lines.push(
      `backup: a new one is taken and verified before the schema moves, into ${dir ?? "the backup folder"}/${stack ?? ""}` +
        (restoreTest ? ", with a restore test" : ""),
    );
  } else if (byType(steps, dynamicTypeToken(STEPS.backup)).length > 0) {
    lines.push("backup: none taken (this release's backup exists)");
  } else {
    lines.push("backup: none configured");
  }

  const schema = byType(steps, dynamicTypeToken(STEPS.schema)).find(changing);
  const migrations = schema ? migrationLines(schema.inputs.plan) : [];
  lines.push(
    migrations.length > 0
      ? `migrations (${migrations.length}): ${migrations.join(", ")}`
      : `migrations: none to run${schema ? ` (schema target ${String(schema.inputs.target)})` : ""}`,
  );

  const containers = steps.filter((s) => s.type === "docker:index/container:Container");
  const replaced = containers.filter(changing);
  const beforeImage = running?.image;
  lines.push(
    beforeImage && beforeImage !== next.image
      ? `image ${beforeImage} -> ${next.image}`
      : beforeImage
        ? `image ${next.image} (unchanged)`
        : `image ${next.image}`,
  );
  if (replaced.length > 0) {
    lines.push(
      `containers recreated (stop old, start new): ${replaced.map((c) => String(c.inputs.name ?? c.name)).join(", ")}`,
    );
  }
  const checks = [STEPS.healthCheck, STEPS.sqlCheck, STEPS.smokeTest]
    .flatMap((names) => byType(steps, dynamicTypeToken(names)))
    .filter(changing);
  if (checks.length > 0) lines.push(`checks that run after the release: ${checks.length}`);
  return lines;
}

/** What the stack runs now, from its `report` output (the last successful update's). */
export function runningFrom(outputs: Record<string, { value?: unknown }>): Running | undefined {
  const report = outputs.report?.value as
    { release?: { id?: string }; image?: { after?: string } } | undefined;
  const release = report?.release?.id;
  const image = report?.image?.after;
  return release && image ? { release, image } : undefined;
}
