// What rollback needs to know from a stack's state before it changes anything: the down SQL kept
// for each applied migration, and the backups each release took. Pure over an exported deployment.
import { dynamicTypeToken, STEPS, type ReleaseFacts } from "../components/tokens";
import type { BackupResult } from "../engines/backup";
import type { HttpCheckResult } from "../engines/checks/http";
import type { LogCheckResult } from "../engines/checks/logs";
import type { SqlCheckResult } from "../engines/checks/sql";
import type { WebSocketCheckResult } from "../engines/checks/websocket";
import type { MigrateResult } from "../engines/migrations";
import { backupReport, checkReports, schemaReport, type ReportSoFar } from "../engines/report";

/** One resource of an exported deployment (`pulumi stack export`). */
interface StateResource {
  readonly type: string;
  readonly urn: string;
  readonly inputs?: Record<string, unknown>;
  readonly outputs?: Record<string, unknown>;
}

export interface StateMigration {
  readonly id: string;
  readonly name: string;
  readonly down?: string;
  readonly irreversible: boolean;
}

export interface StateBackup {
  readonly release: string;
  readonly path: string;
  readonly sha256: string;
  readonly createdAt: string;
  /** The directory archives taken with it: name and SHA-256. */
  readonly archives: readonly { readonly name: string; readonly sha256: string }[];
}

function resources(deployment: unknown): StateResource[] {
  const d = deployment as { deployment?: { resources?: StateResource[] } };
  return d.deployment?.resources ?? [];
}

/** Applied migrations as the Schema resource recorded them (with their down SQL), by id. */
export function appliedMigrations(deployment: unknown): StateMigration[] {
  const schema = resources(deployment).find((r) => r.type === dynamicTypeToken(STEPS.schema));
  return ((schema?.outputs?.applied as StateMigration[] | undefined) ?? [])
    .slice()
    .sort((a, b) => (a.id < b.id ? -1 : 1));
}

/** The backup recorded for the current release, if the stack takes backups. */
export function currentBackup(deployment: unknown): StateBackup | undefined {
  const backup = resources(deployment).find((r) => r.type === dynamicTypeToken(STEPS.backup));
  const result = backup?.outputs?.result as
    | { path?: string; sha256?: string; createdAt?: string; archives?: { name: string; sha256: string }[] }
    | undefined;
  const release = backup?.outputs?.release as string | undefined;
  if (!result?.path || !result.sha256 || !release) return undefined;
  return {
    release,
    path: result.path,
    sha256: result.sha256,
    createdAt: result.createdAt ?? "",
    archives: (result.archives ?? []).map((a) => ({ name: a.name, sha256: a.sha256 })),
  };
}

/**
 * Problems that would stop going down to `target`: a migration above it that is irreversible or
 * has no down SQL in state. Each names the migration and the way out.
 */
export function downProblems(applied: readonly StateMigration[], target: string): string[] {
  return applied
    .filter((m) => m.id > target)
    .filter((m) => m.irreversible || !m.down)
    .map(
      (m) =>
        `migration \`${m.name}\` cannot be reverted by a down script (${m.irreversible ? "marked irreversible" : "no down SQL in state"}); ` +
        `roll back with --restore-backup to restore the backup taken before it`,
    );
}

/** What the release marker recorded for `release` (the newest time it ran), if it ran to the end. */
export function recordedRelease(
  deployment: unknown,
  release: { id: string; image: string },
): ReleaseFacts | undefined {
  const marker = resources(deployment).find((r) => r.type === dynamicTypeToken(STEPS.marker));
  const ledger = (marker?.outputs?.ledger as ReleaseFacts[] | undefined) ?? [];
  return ledger.find((f) => f.release === release.id && f.image === release.image);
}

/**
 * What an update had done when it failed: the runs that state records as finished at or after
 * `since` (its start). A step that failed records nothing new, so this is what passed.
 */
export function runsSince(
  deployment: unknown,
  since: string,
): Pick<ReportSoFar, "backup" | "schema" | "checks"> {
  const all = resources(deployment);
  const ran = (step: { dynamicType: string; suffix: string }) =>
    all.filter((r) => {
      const finishedAt = r.outputs?.finishedAt;
      return r.type === dynamicTypeToken(step) && typeof finishedAt === "string" && finishedAt >= since;
    });
  const backup = ran(STEPS.backup)[0]?.outputs?.result as BackupResult | undefined;
  const schema = ran(STEPS.schema)[0]?.outputs;
  const results = <T>(step: { dynamicType: string; suffix: string }) =>
    ran(step)
      .map((r) => r.outputs?.result as T | undefined)
      .filter((r): r is T => r !== undefined);
  return {
    backup: backupReport(backup),
    schema: schemaReport(schema?.version as string | undefined, schema?.lastRun as MigrateResult | undefined),
    checks: checkReports(
      results<HttpCheckResult>(STEPS.healthCheck),
      results<SqlCheckResult>(STEPS.sqlCheck),
      results<LogCheckResult>(STEPS.logCheck),
      results<WebSocketCheckResult>(STEPS.wsCheck),
    ),
  };
}
