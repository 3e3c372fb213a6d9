import * as pulumi from "@pulumi/pulumi";
import { createHash } from "node:crypto";
import {
  checksumProblems,
  compareVersions,
  currentVersion,
  isEmptySql,
  lintSql,
  loadMigrations,
  migrate,
  MigrationPlanError,
  NO_MIGRATIONS,
  planMigrations,
  readApplied,
  rehearseMigrations,
  resolveTarget,
  unknownTargetMessage,
  type AppliedMigration,
  type AppliedRecord,
  type MigrateResult,
  type Migration,
  type PlannedStep,
  type RepairRecord,
} from "../engines/migrations";
import { isMysql, type DatabaseConnection } from "../engines/database";
import { MYSQL_NOT_TRANSACTIONAL } from "../engines/migrations/mysqlRunner";
import { withClient } from "../engines/postgres";
import type { Progress } from "../engines/progress";
import { urnOf, withEngineProgress } from "./progress";
import { canonical, plain } from "./runOnce";
import type { DatabaseConnectionInput } from "./steps";
import { DYNAMIC_MODULE, STEPS } from "./tokens";

export interface SchemaArgs {
  /** Admin connection that owns the schema. */
  readonly connection: DatabaseConnectionInput;
  /** The migrations folder (absolute); `up` reads the files it runs from here, checksums checked. */
  readonly dir: string;
  /** Every migration of the folder, in version order, as `loadMigrations` reads them. */
  readonly migrations: readonly Migration[];
  /** Move the database to this version or name, up or down; "none" (or "0000") means no migrations. */
  readonly target: string;
  /** Recorded with each migration applied. */
  readonly release: string;
  /** The record table. */
  readonly table: string;
  /** Wait this long for another rollout's advisory lock. */
  readonly lockTimeoutSeconds: number;
  /** `lock_timeout` of each migration, in ms; 0 for none. */
  readonly migrationLockTimeoutMs: number;
  /** `statement_timeout` of each migration, in seconds; 0 for none. */
  readonly statementTimeoutSeconds: number;
  /** Refuse lint findings that the file does not allow with `-- rollout:allow=<rule>`. */
  readonly requireLintAllow: boolean;
  /** Tables with at least this many rows (estimated) count as large for the CREATE INDEX rule. */
  readonly largeTableRows: number;
  /** Record migrations up to `to` as applied without running them. @default none */
  readonly baseline?: { readonly to: string; readonly by: string; readonly reason: string };
  /** Rehearse on a scratch copy of this verified backup before the real run. @default no rehearsal */
  readonly rehearsal?: {
    readonly backupPath: pulumi.Input<string>;
    readonly backupSha256: pulumi.Input<string>;
  };
}

/** What state keeps of each migration of the folder: enough to see a change, none of its SQL. */
export interface MigrationSummary {
  readonly id: string;
  readonly name: string;
  readonly checksum: string;
}

interface SchemaInputs {
  connection: DatabaseConnection;
  dir: string;
  /**
   * Full migrations from the program; check() keeps only a digest of the folder (`folderDigest`),
   * so neither state nor the preview carries a line per migration. State written before keeps an
   * array here.
   */
  migrations: (Migration | MigrationSummary)[] | string;
  target: string;
  release: string;
  table: string;
  lockTimeoutSeconds: number;
  migrationLockTimeoutMs?: number;
  statementTimeoutSeconds?: number;
  requireLintAllow?: boolean;
  largeTableRows?: number;
  baseline?: { to: string; by: string; reason: string };
  rehearsal?: { backupPath: string; backupSha256: string };
  /**
   * What the update will run, for review in `pulumi preview --diff`: one entry per step, keyed
   * `<release> #<n> <apply|revert> <name>` so unrelated steps are never shown as changes of each
   * other, its SQL one line per element (the diff display shortens multi-line strings).
   */
  plan?: Record<string, string[]>;
  /**
   * True in a preview, false in an update: an update stores no plan, so the next preview shows its
   * plan alone rather than beside the removal of the last one. @default true
   */
  showPlan?: boolean;
  /** How many plan entries are work (steps, a baseline, a repair): the diff's "something to run". */
  pending?: number;
  /** Set by a refresh that found the record table at another version than state: the drift. */
  recordedVersion?: string;
  /** The repairs the record table holds (as check read them), so the next preview shows only new ones. */
  repairs?: SeenRepair[];
  /** The component each migration's progress lines are shown under; not a reason to run. */
  progressUrn?: string;
}

/** A repair of an applied migration's record, as state keeps it. */
interface SeenRepair {
  readonly id: string;
  readonly kind: RepairRecord["kind"];
  readonly at: string;
  /** The checksum (for `checksum`) or down SQL hash (for `down`) after the repair. */
  readonly to: string;
}

interface SchemaOutputs extends Omit<SchemaInputs, "plan" | "showPlan" | "pending"> {
  /** What the record table holds after the run, down SQL included: the way back. */
  applied: AppliedMigration[];
  version: string;
  lastRun: MigrateResult;
  startedAt: string;
  finishedAt: string;
}

/** The keys whose change alone means an update, compared as an older state recorded them. */
const SCHEMA_KEYS = ["connection", "target", "release", "table", "lockTimeoutSeconds"] as const;

/**
 * The folder in one line that changes when any migration's id, name or up SQL does, e.g.
 * `346 migration(s) 0001..0346, sha256 1a2b…`. An array from an older state is digested the same way.
 */
export function folderDigest(migrations: readonly (Migration | MigrationSummary)[] | string): string {
  if (typeof migrations === "string") return migrations;
  const hash = createHash("sha256")
    .update(canonical(migrations.map(summaryOf)))
    .digest("hex");
  const span = migrations.length > 0 ? ` ${migrations[0].id}..${migrations.at(-1)!.id}` : "";
  return `${migrations.length} migration(s)${span}, sha256 ${hash}`;
}

const summaryOf = (m: Migration | MigrationSummary): MigrationSummary => ({
  id: m.id,
  name: m.name,
  checksum: m.checksum,
});

/** The record table's rows as state keeps them: what going back needs, down SQL included. */
function asApplied(records: readonly AppliedRecord[]): AppliedMigration[] {
  return records.map((a) => ({
    id: a.id,
    name: a.name,
    checksum: a.checksum,
    ...(a.down !== undefined ? { down: a.down } : {}),
    irreversible: a.irreversible,
  }));
}

/** One plan entry's lines: the SQL it will run, or what it is when there is none to show. */
function stepLines(step: PlannedStep, notes: string[]): string[] {
  const sql = step.direction === "up" ? step.migration.up : step.down;
  const body = isEmptySql(sql)
    ? ["(empty: a deliberate no-op)"]
    : sql
        .trim()
        .split(/\r?\n/)
        .map((line) => `    ${line}`);
  return [...body, ...notes];
}

/**
 * What moving the database to the target will run, from what the record table holds (or, when the
 * database cannot be read at preview, from the target state recorded), with lint findings.
 *
 * @throws Error when the plan cannot be made, or a lint finding is not allowed and must be.
 */
export async function describePlan(
  inputs: SchemaInputs,
  migrations: readonly Migration[],
  olds: Pick<SchemaInputs, "target" | "repairs"> | undefined,
): Promise<{ plan: Record<string, string[]>; repairs: SeenRepair[] | undefined }> {
  const stateTarget = olds?.target;
  let records: AppliedMigration[];
  let assumed: string | undefined;
  let repairs: SeenRepair[] | undefined = olds?.repairs;
  let repaired: { name: string; repair: RepairRecord }[] = [];
  try {
    const rows = await readApplied(inputs.connection, inputs.table);
    records = asApplied(rows);
    const all = rows.flatMap((r) => (r.repairs ?? []).map((repair) => ({ id: r.id, name: r.name, repair })));
    const seen = new Set((olds?.repairs ?? []).map(repairKey));
    repaired = all.filter((x) => !seen.has(repairKey({ id: x.id, ...x.repair })));
    repairs = all.map((x) => ({ id: x.id, kind: x.repair.kind, at: x.repair.at, to: x.repair.to }));
  } catch (err) {
    const at = stateTarget ?? NO_MIGRATIONS;
    const version = resolveTarget(at, migrations) ?? NO_MIGRATIONS;
    records = migrations.filter((m) => compareVersions(m.id, version) <= 0).map((m) => ({ ...m }));
    assumed = `the record table could not be read (${(err as Error).message}); this plan assumes the database is at ${at}, as state records`;
  }
  const plan: Record<string, string[]> = {};
  const key = (n: number, what: string) => `${inputs.release} #${String(n).padStart(3, "0")} ${what}`;
  if (assumed) plan[key(0, "note")] = [assumed];
  for (const { name, repair } of repaired) {
    plan[key(0, `repair ${name} ${repair.kind}`)] = [
      repair.kind === "down"
        ? `the stored down SQL was replaced from its file (sha256 ${repair.from.slice(0, 12) || "none"} -> ${repair.to.slice(0, 12)})`
        : `the edited up file was accepted without running it (checksum ${repair.from.slice(0, 12)} -> ${repair.to.slice(0, 12)})`,
      `by ${repair.by} at ${repair.at}: ${repair.reason}`,
    ];
  }
  let withBaseline = records;
  if (inputs.baseline) {
    const b = inputs.baseline;
    const pending = planMigrations(migrations, records, b.to).steps.filter((s) => s.direction === "up");
    if (pending.length > 0) {
      plan[key(0, "baseline")] = [
        `record ${pending.length} migration(s) ${pending[0].name} .. ${pending.at(-1)!.name} as applied WITHOUT running them`,
        `baselined by ${b.by}: ${b.reason}`,
      ];
      withBaseline = [
        ...records,
        ...pending.map((s) => ({ ...summaryOf(s.migration), irreversible: false, down: "" })),
      ];
    }
  }
  const { steps } = planMigrations(migrations, withBaseline, inputs.target);
  if (steps.length > 0 && inputs.rehearsal) {
    plan[key(0, "rehearsal")] = [
      `on a scratch database restored from this release's backup: apply the ${steps.length} step(s) with their verify queries, revert them, apply them again; a failure stops the rollout before the database changes`,
    ];
  }
  const refused: string[] = [];
  const mysql = isMysql(inputs.connection);
  const large = await largeTables(inputs, steps);
  for (const [index, step] of steps.entries()) {
    const notes: string[] = [];
    // The lint rules read PostgreSQL's grammar and locking; on MySQL every step says instead that a
    // failure part way leaves its earlier statements applied.
    if (mysql) notes.push(`note: ${MYSQL_NOT_TRANSACTIONAL}`);
    else if (step.direction === "up") {
      const allowed = new Set(step.migration.allow ?? []);
      for (const f of await lintSql(step.migration.up, large)) {
        const ok = allowed.has(f.rule);
        notes.push(
          `lint ${f.rule}${ok ? " (allowed in the file)" : ""}: line ${f.line} \`${f.statement}\`: ${f.reason}`,
        );
        if (!ok && inputs.requireLintAllow) {
          refused.push(
            `migration \`${step.name}\` line ${f.line}: \`${f.statement}\` ${f.reason}; rewrite it, or add \`-- rollout:allow=${f.rule}\` to the file to accept it`,
          );
        }
      }
    }
    const outside =
      mysql ||
      (step.direction === "up" ? step.migration.noTransaction : step.down.includes("rollout:no-transaction"));
    plan[
      key(
        index + 1,
        `${step.direction === "up" ? "apply" : "revert"} ${step.name}${mysql ? " (not transactional on MySQL)" : outside ? " (no transaction)" : ""}`,
      )
    ] = stepLines(step, notes);
  }
  if (refused.length > 0) {
    throw new Error(
      `lint refused ${refused.length} statement(s) (rollout:migrations.requireLintAllow):\n  - ${refused.join("\n  - ")}`,
    );
  }
  return { plan, repairs };
}

/** Plan entries that are work: the steps, a baseline and repairs (not notes). */
function pendingEntries(plan: Record<string, string[]> | undefined): number {
  return Object.keys(plan ?? {}).filter(
    (k) => !/ #000 /.test(k) || k.endsWith(" baseline") || / #000 repair /.test(k),
  ).length;
}

const repairKey = (r: Pick<SeenRepair, "id" | "kind" | "at">) => `${r.id} ${r.kind} ${r.at}`;

/** Tables the pending steps touch that hold at least `largeTableRows` rows by the planner's estimate. */
async function largeTables(inputs: SchemaInputs, steps: PlannedStep[]): Promise<Set<string> | undefined> {
  if (!steps.some((s) => s.direction === "up")) return new Set();
  // The lint that reads these sizes is PostgreSQL's.
  if (isMysql(inputs.connection)) return new Set();
  try {
    return await withClient(inputs.connection, async (client) => {
      const { rows } = await client.query<{ relname: string }>(
        "SELECT relname FROM pg_class WHERE relkind = 'r' AND reltuples >= $1",
        [inputs.largeTableRows ?? 0],
      );
      return new Set(rows.map((r) => r.relname));
    });
  } catch {
    return undefined;
  }
}

/** The migrations `up` runs, read again from the folder; they must be the ones the preview showed. */
function migrationsToRun(inputs: SchemaInputs): Migration[] {
  const files = loadMigrations(inputs.dir);
  const now = folderDigest(files);
  if (now !== folderDigest(inputs.migrations)) {
    throw new Error(
      `the migration files in ${inputs.dir} changed between the preview and this update (${folderDigest(inputs.migrations)} then, ${now} now); run \`pulumi up\` again to review and apply what is there now`,
    );
  }
  return files;
}

function run(inputs: SchemaInputs, stateApplied: AppliedMigration[]): Promise<SchemaOutputs> {
  return withEngineProgress(inputs.progressUrn, (log) => migrateLogged(inputs, stateApplied, log));
}

async function migrateLogged(
  inputs: SchemaInputs,
  stateApplied: AppliedMigration[],
  log: Progress,
): Promise<SchemaOutputs> {
  const startedAt = new Date().toISOString();
  const { plan: _plan, showPlan: _show, pending: _pending, ...kept } = inputs;
  void [_plan, _show, _pending];
  const migrations = migrationsToRun(inputs);
  const options = {
    log,
    connection: inputs.connection,
    migrations,
    target: inputs.target,
    release: inputs.release,
    table: inputs.table,
    lockTimeoutSeconds: inputs.lockTimeoutSeconds,
    migrationLockTimeoutMs: inputs.migrationLockTimeoutMs ?? 10_000,
    statementTimeoutSeconds: inputs.statementTimeoutSeconds ?? 900,
    ...(inputs.baseline ? { baseline: inputs.baseline } : {}),
    downFor: Object.fromEntries(
      stateApplied.map((a) => [a.id, { down: a.down, irreversible: a.irreversible }]),
    ),
  };
  if (inputs.rehearsal) await rehearseMigrations({ ...options, backup: inputs.rehearsal });
  const lastRun = await migrate(options);
  const applied = asApplied(await readApplied(inputs.connection, inputs.table));
  return plain({
    ...kept,
    migrations: folderDigest(inputs.migrations),
    applied,
    version: lastRun.version,
    lastRun,
    startedAt,
    finishedAt: new Date().toISOString(),
  });
}

/** The inputs a refresh records when the record table moved: what it holds shows as the change. */
function driftedInputs(props: SchemaOutputs, recordedVersion: string): SchemaOutputs {
  const { applied: _a, version: _v, lastRun: _l, startedAt: _s, finishedAt: _f, ...inputs } = props;
  void [_a, _v, _l, _s, _f];
  return plain({ ...inputs, recordedVersion }) as unknown as SchemaOutputs;
}

// Dynamic providers are serialized into state by value: only plain functions from modules above.
const provider: pulumi.dynamic.ResourceProvider<SchemaInputs, SchemaOutputs> = {
  async check(olds, news) {
    const full =
      typeof news.migrations === "string" ? [] : news.migrations.filter((m): m is Migration => "up" in m);
    const known = [...full];
    if (resolveTarget(news.target, known) === undefined) {
      return {
        inputs: news,
        failures: [{ property: "target", reason: unknownTargetMessage(news.target, known) }],
      };
    }
    let described: Awaited<ReturnType<typeof describePlan>>;
    try {
      described = await describePlan(news, full, olds);
    } catch (err) {
      const message = err instanceof MigrationPlanError ? err.message : (err as Error).message;
      return { inputs: news, failures: [{ property: "migrations", reason: message }] };
    }
    const { plan, repairs } = described;
    const { plan: _shown, ...rest } = news;
    void _shown;
    return {
      inputs: plain({
        ...rest,
        migrations: folderDigest(news.migrations),
        ...(news.showPlan === false ? {} : { plan }),
        pending: pendingEntries(plan),
        ...(repairs && repairs.length > 0 ? { repairs } : {}),
      }),
    };
  },
  async diff(_id, olds, news) {
    // An applied migration edited on disk fails preview here too, when check could not read the table.
    // An edit accepted with `accept-checksum` since that state was written is not one.
    const accepted = new Map(
      (news.repairs ?? []).filter((r) => r.kind === "checksum").map((r) => [r.id, r.to]),
    );
    const stateApplied = (olds.applied ?? []).map((a) => ({
      ...a,
      checksum: accepted.get(a.id) ?? a.checksum,
    }));
    const problems = checksumProblems(loadMigrations(news.dir), stateApplied);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    // Something to run (the record table, the truth, is not at the target) is a change, whatever
    // state says: after a crash between a COMMIT and the state write, the same inputs still move on.
    // A repair recorded since the last update is one too, so state takes the repaired record.
    const pending = (news.pending ?? pendingEntries(news.plan)) > 0;
    const sameMigrations = folderDigest(olds.migrations ?? []) === folderDigest(news.migrations);
    const changed = SCHEMA_KEYS.filter((k) => canonical(olds[k]) !== canonical(news[k]));
    return { changes: pending || !sameMigrations || changed.length > 0 };
  },
  async create(inputs) {
    return { id: `${inputs.connection.database}/${inputs.table}`, outs: await run(inputs, []) };
  },
  async update(_id, olds, news) {
    return { outs: await run(news, olds.applied ?? []) };
  },
  // Refresh reads the record table, the truth. The version it records goes into the inputs too, so
  // drift shows as a change in the refresh and the next update moves the database to the target.
  async read(id, props) {
    if (!props) return { id, props };
    const applied = asApplied(await readApplied(props.connection, props.table));
    const version = currentVersion(applied);
    const drifted = version !== props.version;
    return {
      id,
      props: plain({ ...props, applied, version }),
      ...(drifted ? { inputs: driftedInputs(props, version) } : {}),
    };
  },
  // Destroying the stack never drops schema or data; revert with a lower target instead.
  async delete() {},
};

class SchemaState extends pulumi.dynamic.Resource {
  declare readonly applied: pulumi.Output<AppliedMigration[]>;
  declare readonly version: pulumi.Output<string>;
  declare readonly lastRun: pulumi.Output<MigrateResult>;
  declare readonly startedAt: pulumi.Output<string>;
  declare readonly finishedAt: pulumi.Output<string>;

  constructor(name: string, props: pulumi.Inputs, opts?: pulumi.CustomResourceOptions) {
    const outputs = {
      applied: undefined,
      version: undefined,
      lastRun: undefined,
      startedAt: undefined,
      finishedAt: undefined,
    };
    super(provider, name, { ...props, ...outputs }, opts, DYNAMIC_MODULE, STEPS.schema.dynamicType);
  }
}

/**
 * The database schema as one resource: its update moves the database from the applied version to
 * the target, up or down, each migration in a transaction with its verify queries, under an advisory
 * lock, recorded in a table that is the truth. The down SQL of every applied migration stays in
 * state, so going back works even when the files are gone.
 */
export class Schema extends pulumi.ComponentResource {
  /** Migrations applied after the run, with their down SQL. */
  readonly applied: pulumi.Output<AppliedMigration[]>;
  /** The highest applied id. */
  readonly version: pulumi.Output<string>;
  /** What the last run applied or reverted. */
  readonly lastRun: pulumi.Output<MigrateResult>;
  readonly startedAt: pulumi.Output<string>;
  readonly finishedAt: pulumi.Output<string>;

  constructor(name: string, args: SchemaArgs, opts?: pulumi.ComponentResourceOptions) {
    super(STEPS.schema.token, name, {}, opts);
    if (resolveTarget(args.target, args.migrations) === undefined) {
      throw new pulumi.ResourceError(
        `schema target ${JSON.stringify(args.target)} is not a migration in the folder; ` +
          (args.migrations.length <= 10
            ? `use one of: ${[NO_MIGRATIONS, ...args.migrations.map((m) => m.id)].join(", ")} (rollout:release.schemaTarget)`
            : `${unknownTargetMessage(args.target, args.migrations).replace(/^target `[^`]*` is not a known migration id; /, "")} (rollout:release.schemaTarget)`),
        this,
      );
    }
    const state = new SchemaState(
      `${name}-${STEPS.schema.suffix}`,
      {
        connection: args.connection,
        dir: args.dir,
        migrations: args.migrations,
        target: args.target,
        release: args.release,
        table: args.table,
        lockTimeoutSeconds: args.lockTimeoutSeconds,
        migrationLockTimeoutMs: args.migrationLockTimeoutMs,
        statementTimeoutSeconds: args.statementTimeoutSeconds,
        requireLintAllow: args.requireLintAllow,
        largeTableRows: args.largeTableRows,
        baseline: args.baseline,
        rehearsal: args.rehearsal,
        showPlan: pulumi.runtime.isDryRun(),
        plan: undefined,
        progressUrn: urnOf(this),
      },
      { parent: this },
    );
    this.applied = state.applied;
    this.version = state.version;
    this.lastRun = state.lastRun;
    this.startedAt = state.startedAt;
    this.finishedAt = state.finishedAt;
    this.registerOutputs({ version: this.version, lastRun: this.lastRun });
  }
}
