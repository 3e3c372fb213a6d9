// Planning a move from the applied migrations to a target, with no Pulumi and no database inside:
// the runner calls it with what the database records, and a preview-time check can call
// `checksumProblems` with what state records. Plain functions and plain data only, because dynamic
// providers are serialized by value.
import { compareVersions, NO_MIGRATIONS, type Migration, type VerifyQuery } from "./files";

/** A migration as the database (or state) records it once applied. */
export interface AppliedMigration {
  readonly id: string;
  readonly name: string;
  /** sha256 (hex) of the up SQL when it was applied. */
  readonly checksum: string;
  /** The down SQL kept when it was applied, so it can be reverted after its files are gone. */
  readonly down?: string;
  readonly irreversible: boolean;
}

/** Apply one migration. */
export interface PlannedUpStep {
  readonly direction: "up";
  readonly id: string;
  readonly name: string;
  readonly migration: Migration;
}

/** Revert one applied migration with the down SQL kept when it was applied. */
export interface PlannedDownStep {
  readonly direction: "down";
  readonly id: string;
  readonly name: string;
  readonly down: string;
  /** Queries that must hold after the down ran, from the migration's files when they are there. */
  readonly verifyDown?: VerifyQuery[];
}

export type PlannedStep = PlannedUpStep | PlannedDownStep;

/** The steps that move the database to the target, in the order they run. */
export interface MigrationPlan {
  readonly direction: "up" | "down" | "none";
  readonly steps: PlannedStep[];
}

/** Every reason the plan cannot be made, reported together. */
export class MigrationPlanError extends Error {
  constructor(readonly problems: string[]) {
    const message =
      problems.length === 1
        ? problems[0]
        : `the migration plan has ${problems.length} problems:\n` +
          problems.map((p) => `  - ${p}`).join("\n");
    super(message);
    // Set again: in a dynamic provider this class is serialized by value, and there the call to
    // Error's constructor does not initialise \`this\`, which would leave the message empty.
    this.message = message;
    this.name = "MigrationPlanError";
  }
}

/** The highest applied id, or `0000` when none is applied. */
export function currentVersion(applied: readonly Pick<AppliedMigration, "id">[]): string {
  return applied.reduce((max, a) => (compareVersions(a.id, max) > 0 ? a.id : max), NO_MIGRATIONS);
}

/** Whether `target` means "no migrations applied": `none`, `0000` or any zero version. */
export function isNoMigrations(target: string): boolean {
  return target === "none" || (/^[\d._]+$/.test(target) && compareVersions(target, NO_MIGRATIONS) === 0);
}

/**
 * The version a target names: `none`/`0000` for no migrations, or a version (`4` names `0004`);
 * undefined when it names none of them.
 */
export function resolveTarget(
  target: string,
  known: readonly Pick<AppliedMigration, "id">[],
): string | undefined {
  if (isNoMigrations(target)) return NO_MIGRATIONS;
  return (known.find((m) => m.id === target) ?? known.find((m) => compareVersions(m.id, target) === 0))?.id;
}

/** An unknown target, said in one short line with the nearest known versions. */
export function unknownTargetMessage(target: string, known: readonly Pick<AppliedMigration, "id">[]): string {
  const ids = [...new Set(known.map((m) => m.id))].sort(compareVersions);
  if (ids.length <= 10) {
    return `target \`${target}\` is not a known migration id; known ids: ${ids.length > 0 ? ids.join(", ") : "none yet"} (or \`none\` for no migrations); set the target to one of them`;
  }
  const below = ids.filter((id) => compareVersions(id, target) < 0).at(-1);
  const above = ids.find((id) => compareVersions(id, target) > 0);
  const nearest = [below, above].filter((x) => x !== undefined).map((x) => `\`${x}\``);
  return (
    `target \`${target}\` is not a known migration id; the ${ids.length} known ids run from ${ids[0]} to ${ids.at(-1)}` +
    `${nearest.length > 0 ? ` (nearest: ${nearest.join(", ")})` : ""} (or \`none\` for no migrations); set the target to one of them`
  );
}

/**
 * One message per applied migration whose up file changed since it was applied. Files that are gone
 * are not a checksum problem (see `planMigrations` for when that is allowed).
 */
export function checksumProblems(
  available: readonly Migration[],
  applied: readonly AppliedMigration[],
): string[] {
  const byId = new Map(available.map((m) => [m.id, m]));
  return sortById(applied).flatMap((a) => {
    const file = byId.get(a.id);
    if (!file || file.checksum === a.checksum) return [];
    return [
      `migration \`${file.name}\` was applied with checksum ${short(a.checksum)}, the file now hashes to ${short(file.checksum)}; write a new migration instead of editing an applied one, or, when the edit changes nothing the database needs, accept it with \`npm run migrations -- accept-checksum --stack STACK --migration ${file.name} --reason TEXT\``,
    ];
  });
}

/**
 * Plans the steps from the applied migrations to `target`: an id in `available` or `applied`, or
 * `none`/`0000` for no migrations, or a migration's name. Up steps carry the migration from the files; down steps carry the
 * down SQL from the applied record, so reverting works after the files are gone.
 *
 * @throws MigrationPlanError listing every problem: an unknown target, an edited applied migration,
 *   a migration out of order, an applied migration whose files are gone while it stays applied, and
 *   a migration on the way down that is irreversible or has no down SQL.
 */
export function planMigrations(
  available: readonly Migration[],
  applied: readonly AppliedMigration[],
  target: string,
): MigrationPlan {
  const files = sortById(available);
  const records = sortById(applied);
  const appliedIds = new Set(records.map((a) => a.id));
  const fileIds = new Set(files.map((m) => m.id));
  const current = currentVersion(records);
  const wanted = resolveTarget(target, [...files, ...records]);

  const problems = checksumProblems(files, records);

  const latest = records.find((a) => a.id === current);
  for (const m of files) {
    if (latest && compareVersions(m.id, current) < 0 && !appliedIds.has(m.id)) {
      problems.push(
        `migration \`${m.name}\` is out of order: it is not applied, but the later migration \`${latest.name}\` is; renumber its files to an id above ${current} so it runs after the applied ones`,
      );
    }
  }

  if (wanted === undefined) {
    problems.push(unknownTargetMessage(target, [...files, ...records]));
    throw new MigrationPlanError(problems);
  }

  for (const a of records) {
    // A migration whose files are gone can only be reverted (with its stored down SQL), not kept.
    if (!fileIds.has(a.id) && compareVersions(a.id, wanted) <= 0) {
      problems.push(
        `migration \`${a.name}\` is applied but its files are gone from the migrations folder; restore ${a.name}.up.sql and its down file, or set the target below ${a.id} to revert it`,
      );
    }
  }

  if (compareVersions(wanted, current) < 0) {
    const steps: PlannedDownStep[] = [];
    for (const a of [...records].reverse().filter((r) => compareVersions(r.id, wanted) > 0)) {
      // An empty down is a deliberate no-op; only a missing one (null in the table) cannot revert.
      const down = a.down;
      if (a.irreversible || down === undefined) {
        problems.push(
          `migration \`${a.name}\` ${a.irreversible ? "is marked irreversible" : "has no down SQL"}, so it cannot be reverted by a down script; to reach target ${wanted}, restore the backup taken before it was applied instead`,
        );
      } else {
        const verifyDown = files.find((m) => m.id === a.id)?.verifyDown;
        steps.push({
          direction: "down",
          id: a.id,
          name: a.name,
          down,
          ...(verifyDown ? { verifyDown } : {}),
        });
      }
    }
    if (problems.length > 0) throw new MigrationPlanError(problems);
    return { direction: "down", steps };
  }

  if (problems.length > 0) throw new MigrationPlanError(problems);
  if (compareVersions(wanted, current) === 0) return { direction: "none", steps: [] };
  const steps: PlannedUpStep[] = files
    .filter((m) => compareVersions(m.id, current) > 0 && compareVersions(m.id, wanted) <= 0)
    .map((m) => ({ direction: "up", id: m.id, name: m.name, migration: m }));
  return { direction: "up", steps };
}

function sortById<T extends { id: string }>(items: readonly T[]): T[] {
  return [...items].sort((a, b) => compareVersions(a.id, b.id));
}

/** Enough of a sha256 to tell two apart in a message. */
function short(checksum: string): string {
  return checksum.length > 12 ? `${checksum.slice(0, 12)}…` : checksum;
}
