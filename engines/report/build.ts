// The parts of the report built from the steps' recorded results: by the program (rollout/report.ts)
// from outputs, and by the deploy commands (deploy/state.ts) from exported state. Pure.
import type { ArchiveResult, BackupResult, CopyResult } from "../backup";
import type { HttpCheckResult } from "../checks/http";
import type { SmokeTestResult } from "../checks/smoke";
import type { SqlCheckResult } from "../checks/sql";
import type { MigrateResult } from "../migrations";
import type { CheckReport, RolloutReport } from "./types";

/** Each check with what it expected, saw and took; a result recorded before `expected` existed says so. */
export function checkReports(
  http: readonly HttpCheckResult[],
  sql: readonly SqlCheckResult[],
): CheckReport[] {
  const expected = (e: string | undefined) => e ?? "not recorded";
  return [
    ...http.map((c) => ({
      name: c.name,
      kind: "http" as const,
      passed: c.passed,
      expected: expected(c.expected),
      observed: `HTTP ${c.status}`,
      latencyMs: c.latencyMs,
      attempts: c.attempts,
    })),
    ...sql.map((c) => ({
      name: c.name,
      kind: "sql" as const,
      passed: c.passed,
      expected: expected(c.expected),
      observed: c.value,
      latencyMs: c.latencyMs,
      attempts: c.attempts,
    })),
  ];
}

const copyFacts = (copies: readonly CopyResult[] | undefined) =>
  (copies ?? []).map(({ location, key, bytes, sha256, verified }) => ({
    location,
    key,
    bytes,
    sha256,
    verified,
  }));

export function backupReport(
  backup:
    | (BackupResult & {
        readonly copies?: readonly CopyResult[];
        readonly archives?: readonly (ArchiveResult & { readonly copies?: readonly CopyResult[] })[];
      })
    | undefined,
): RolloutReport["backup"] {
  return backup
    ? {
        path: backup.path,
        bytes: backup.bytes,
        sha256: backup.sha256,
        tableCount: backup.tableCount,
        restoreTested: backup.restoreTested,
        durationMs: backup.durationMs,
        // A backup recorded before leftovers were looked for found none.
        crashLeftovers: backup.crashLeftovers ?? { removed: [], left: [] },
        copies: copyFacts(backup.copies),
        archives: (backup.archives ?? []).map((a) => ({
          name: a.name,
          source: a.source,
          path: a.path,
          bytes: a.bytes,
          sha256: a.sha256,
          files: a.files,
          fileBytes: a.fileBytes,
          copies: copyFacts(a.copies),
        })),
      }
    : null;
}

export function schemaReport(
  version: string | undefined,
  run: MigrateResult | undefined,
): RolloutReport["schema"] {
  return run
    ? {
        version: version as string,
        direction: run.direction,
        applied: run.applied.map((m) => m.name),
        reverted: run.reverted.map((m) => m.name),
      }
    : null;
}

export function smokeReports(smoke: readonly SmokeTestResult[]): RolloutReport["smokeTests"] {
  return smoke.map((t) => ({
    name: t.name,
    steps: t.steps.map((s) => ({ name: s.name, status: s.status, latencyMs: s.latencyMs })),
  }));
}
