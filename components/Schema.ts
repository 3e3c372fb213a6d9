import * as pulumi from "@pulumi/pulumi";
import {
  checksumProblems,
  migrate,
  NO_MIGRATIONS,
  readApplied,
  type AppliedMigration,
  type MigrateResult,
  type Migration,
} from "../engines/migrations";
import type { PgConnection } from "../engines/postgres";
import { canonical, plain } from "./runOnce";
import type { PgConnectionInput } from "./steps";
import { DYNAMIC_MODULE, STEPS } from "./tokens";

export interface SchemaArgs {
  /** Admin connection that owns the schema. */
  readonly connection: PgConnectionInput;
  /** Every migration of the folder, in id order, as `loadMigrations` reads them. */
  readonly migrations: readonly Migration[];
  /** Move the database to this id, up or down; "0000" means no migrations. */
  readonly target: string;
  /** Recorded with each migration applied. */
  readonly release: string;
  /** The record table. */
  readonly table: string;
  /** Wait this long for another rollout's advisory lock. */
  readonly lockTimeoutSeconds: number;
}

interface SchemaInputs {
  connection: PgConnection;
  migrations: Migration[];
  target: string;
  release: string;
  table: string;
  lockTimeoutSeconds: number;
  /** What the update will do, for review in `pulumi preview --diff`; computed by check. */
  plan?: string[];
}

interface SchemaOutputs extends SchemaInputs {
  /** What the record table holds after the run, down SQL included: the way back. */
  applied: AppliedMigration[];
  version: string;
  lastRun: MigrateResult;
  startedAt: string;
  finishedAt: string;
}

/**
 * What moving from the old target to the new one will run, one line per element (the diff display
 * shortens multi-line strings, and a reviewer must see every line of SQL). Down SQL comes from the
 * old inputs, which is what state holds.
 */
export function describePlan(
  olds: Pick<SchemaInputs, "migrations" | "target"> | undefined,
  news: Pick<SchemaInputs, "migrations" | "target">,
): string[] {
  const from = olds?.target ?? NO_MIGRATIONS;
  const to = news.target;
  const block = (heading: string, sql: string | undefined) => [
    heading,
    ...(sql ?? "(no down SQL: irreversible)")
      .trim()
      .split(/\r?\n/)
      .map((line) => `    ${line}`),
  ];
  if (to > from) {
    return news.migrations
      .filter((m) => m.id > from && m.id <= to)
      .flatMap((m) => block(`apply ${m.name}${m.noTransaction ? " (no transaction)" : ""}:`, m.up));
  }
  if (to < from) {
    const known = new Map([...(olds?.migrations ?? []), ...news.migrations].map((m) => [m.id, m]));
    return [...known.values()]
      .filter((m) => m.id > to && m.id <= from)
      .sort((a, b) => (a.id < b.id ? 1 : -1))
      .flatMap((m) => block(`revert ${m.name}:`, (olds?.migrations.find((o) => o.id === m.id) ?? m).down));
  }
  return [];
}

const SCHEMA_KEYS = ["connection", "migrations", "target", "release", "table", "lockTimeoutSeconds"] as const;

/** The record table's rows as state keeps them: what going back needs, down SQL included. */
async function appliedInDatabase(connection: PgConnection, table: string): Promise<AppliedMigration[]> {
  return (await readApplied(connection, table)).map((a) => ({
    id: a.id,
    name: a.name,
    checksum: a.checksum,
    down: a.down,
    irreversible: a.irreversible,
  }));
}

async function run(inputs: SchemaInputs, stateApplied: AppliedMigration[]): Promise<SchemaOutputs> {
  const startedAt = new Date().toISOString();
  const lastRun = await migrate({
    connection: inputs.connection,
    migrations: inputs.migrations,
    target: inputs.target,
    release: inputs.release,
    table: inputs.table,
    lockTimeoutSeconds: inputs.lockTimeoutSeconds,
    downFor: Object.fromEntries(
      stateApplied.map((a) => [a.id, { down: a.down, irreversible: a.irreversible }]),
    ),
  });
  const applied = await appliedInDatabase(inputs.connection, inputs.table);
  return {
    ...inputs,
    applied,
    version: lastRun.version,
    lastRun,
    startedAt,
    finishedAt: new Date().toISOString(),
  };
}

// Dynamic providers are serialized into state by value: only plain functions from modules above.
const provider: pulumi.dynamic.ResourceProvider<SchemaInputs, SchemaOutputs> = {
  async check(olds, news) {
    const plan = describePlan(olds && olds.migrations ? olds : undefined, news);
    return { inputs: plain({ ...news, plan }) };
  },
  async diff(_id, olds, news) {
    // An applied migration edited on disk fails preview here, before anything runs.
    const problems = checksumProblems(news.migrations, olds.applied ?? []);
    if (problems.length > 0) throw new Error(problems.join("\n"));
    const changed = SCHEMA_KEYS.filter((k) => canonical(olds[k]) !== canonical(news[k]));
    return { changes: changed.length > 0 };
  },
  async create(inputs) {
    return { id: `${inputs.connection.database}/${inputs.table}`, outs: await run(inputs, []) };
  },
  async update(_id, olds, news) {
    return { outs: await run(news, olds.applied ?? []) };
  },
  // Refresh reads the record table, the truth: drift from state shows in the refresh diff.
  async read(id, props) {
    if (!props) return { id, props };
    const applied = await appliedInDatabase(props.connection, props.table);
    const version = applied.reduce((max, a) => (a.id > max ? a.id : max), NO_MIGRATIONS);
    return { id, props: plain({ ...props, applied, version }) };
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
    const known = new Set([NO_MIGRATIONS, ...args.migrations.map((m) => m.id)]);
    if (!known.has(args.target)) {
      throw new pulumi.ResourceError(
        `schema target ${JSON.stringify(args.target)} is not a migration in the folder; ` +
          `use one of: ${[...known].join(", ")} (rollout:release.schemaTarget)`,
        this,
      );
    }
    const state = new SchemaState(
      `${name}-${STEPS.schema.suffix}`,
      {
        connection: args.connection,
        migrations: args.migrations,
        target: args.target,
        release: args.release,
        table: args.table,
        lockTimeoutSeconds: args.lockTimeoutSeconds,
        plan: undefined,
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
