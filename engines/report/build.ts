// The parts of the report built from the steps' recorded results: by the program (rollout/report.ts)
// from outputs, and by the deploy commands (deploy/state.ts) from exported state. Pure.
import type { ArchiveResult, BackupResult, CopyResult } from "../backup";
import type { CommandPoint, CommandResult } from "../commands";
import type { HttpCheckResult } from "../checks/http";
import type { LogCheckResult } from "../checks/logs";
import type { WebSocketCheckResult } from "../checks/websocket";
import type { SmokeTestResult } from "../checks/smoke";
import type { SqlCheckResult } from "../checks/sql";
import type { MigrateResult } from "../migrations";
import type { CheckReport, RolloutReport } from "./types";

/** Each check with what it expected, saw and took; a result recorded before `expected` existed says so. */
export function checkReports(
  http: readonly HttpCheckResult[],
  sql: readonly SqlCheckResult[],
  logs: readonly LogCheckResult[] = [],
  ws: readonly WebSocketCheckResult[] = [],
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
    ...logs.map((c) => ({
      name: c.name,
      kind: "logs" as const,
      passed: c.passed,
      expected: c.expected,
      observed: `${c.lines} lines since ${c.since}, none forbidden`,
      latencyMs: c.latencyMs,
      attempts: c.attempts,
    })),
    ...ws.map((c) => ({
      name: c.name,
      kind: "websocket" as const,
      passed: c.passed,
      expected: c.expected,
      observed: "the expected reply",
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
    steps: t.steps.map((s) => ({
      name: s.name,
      status: s.status,
      latencyMs: s.latencyMs,
      ...(s.latencyBudgetMs !== undefined ? { latencyBudgetMs: s.latencyBudgetMs } : {}),
    })),
  }));
}

/** The command steps' results for the report, each with the point it ran at. */
export function commandReports(
  results: readonly CommandResult[],
  points: Readonly<Record<string, CommandPoint>>,
): RolloutReport["commands"] {
  return results.map((c) => ({
    name: c.name,
    at: points[c.name],
    host: c.host,
    exitCode: c.exitCode,
    seconds: c.durationMs / 1000,
    finishedAt: c.finishedAt,
    outputLines: c.outputLines,
    outputTail: c.outputTail,
    matched: c.matched,
    absent: c.absent,
  }));
}
