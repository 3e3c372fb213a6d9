// The rollout report, a stack output: what was released, what gated it, what each step found and
// how long each phase took. Built from the steps' recorded results; no resources here.
import * as pulumi from "@pulumi/pulumi";
import type {
  Announcement,
  ContainerRelease,
  DatabaseBackup,
  DatabaseRestore,
  HealthCheck,
  MaintenanceMode,
  Preflight,
  ReleaseFacts,
  ReleaseMarker,
  Schema,
  SmokeTest,
  Soak,
  SqlCheck,
} from "../components";
import type { RolloutConfig } from "../config";
import type { BackupResult, CopyResult, LeftoverCleanup } from "../engines/backup";
import type { HttpCheckResult } from "../engines/checks/http";
import type { PreflightResult } from "../engines/checks/preflight";
import type { SmokeTestResult } from "../engines/checks/smoke";
import type { SoakResult } from "../engines/checks/soak";
import type { SqlCheckResult } from "../engines/checks/sql";
import type { WindowVerdict } from "../engines/gates/maintenanceWindow";
import type { MaintenanceResult } from "../engines/maintenanceMode";
import type { DeliveryResult } from "../engines/notify";
import type { TimedStep } from "./phases";

/** One timed step of the rollout. */
export interface PhaseTiming {
  readonly phase: string;
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly seconds: number;
}

/** The rollout report: what was released, what gated it, and how long each part took. */
export interface RolloutReport {
  readonly release: {
    readonly id: string;
    /** What approvals name: the digest of the release's content. */
    readonly digest: string;
    readonly image: string;
    readonly schemaTarget?: string;
    readonly stack: string;
  };
  /** Set when this update rolled back: what it undid, why, and the backup it restored. */
  readonly rollback: {
    readonly undoes: string;
    readonly toUpdate: number;
    readonly reason: string | null;
    readonly restored: { readonly path: string; readonly tablesRestored: number } | null;
  } | null;
  readonly gates: {
    readonly window: (Omit<WindowVerdict, "minutes"> & { readonly enforced: boolean }) | null;
    readonly override: string | null;
    readonly approvals: { readonly required: string[]; readonly given: { role: string; by: string }[] };
  };
  readonly preflight: PreflightResult;
  readonly announcements: Record<string, DeliveryResult>;
  readonly maintenance: { readonly on: MaintenanceResult; readonly off: MaintenanceResult } | null;
  readonly backup: {
    readonly path: string;
    readonly bytes: number;
    readonly sha256: string;
    readonly tableCount: number;
    readonly restoreTested: boolean;
    readonly durationMs: number;
    /** What killed runs had left, removed by this backup or left with the command that removes it. */
    readonly crashLeftovers: LeftoverCleanup;
    /** Each copy in another place (backup.copies): where, its key or path, and whether it was verified. */
    readonly copies: Pick<CopyResult, "location" | "key" | "bytes" | "sha256" | "verified">[];
  } | null;
  readonly schema: {
    readonly version: string;
    readonly direction: string;
    readonly applied: string[];
    readonly reverted: string[];
  } | null;
  readonly image: { readonly before: string | null; readonly after: string; readonly id: string };
  readonly containers: Record<string, string>;
  readonly checks: {
    readonly name: string;
    readonly kind: "http" | "sql";
    readonly passed: boolean;
    readonly observed: string;
    readonly latencyMs: number;
    readonly attempts: number;
  }[];
  readonly smokeTests: {
    readonly name: string;
    readonly steps: { name: string; status: number; latencyMs: number }[];
  }[];
  readonly soak: SoakResult | null;
  readonly phases: PhaseTiming[];
}

function timing(phase: string, startedAt: string, finishedAt: string): PhaseTiming {
  return { phase, startedAt, finishedAt, seconds: (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000 };
}

/** The steps of one rollout that the report reads; optional ones are absent when a stack leaves them out. */
export interface ReportSources {
  readonly config: RolloutConfig;
  readonly stack: string;
  readonly digest: string;
  readonly windowVerdict: WindowVerdict | undefined;
  readonly preflight: Preflight;
  readonly announceStart?: Announcement;
  readonly announceSuccess?: Announcement;
  readonly maintenanceOn?: MaintenanceMode;
  readonly maintenanceOff?: MaintenanceMode;
  readonly backup?: DatabaseBackup;
  readonly restore?: DatabaseRestore;
  readonly schema?: Schema;
  readonly containers: ContainerRelease;
  readonly httpChecks: readonly HealthCheck[];
  readonly sqlChecks: readonly SqlCheck[];
  readonly smokeTests: readonly SmokeTest[];
  readonly soak?: Soak;
  readonly marker: ReleaseMarker;
  /** The phases timed by the sequence, in order. */
  readonly timed: readonly { readonly phase: string; readonly step: TimedStep }[];
}

/** The report of one rollout, resolved once every step it reads has run. */
export function rolloutReport(p: ReportSources): pulumi.Output<RolloutReport> {
  const { config, stack } = p;
  const opt = <T>(o: pulumi.Output<T> | undefined) => (o ? o : pulumi.output(undefined));
  const checkTimes = [...p.httpChecks, ...p.sqlChecks, ...p.smokeTests].map((c) => c.finishedAt);
  const phaseTimes = pulumi.all(
    p.timed.map(({ phase, step }) =>
      pulumi.all([step.startedAt ?? step.finishedAt, step.finishedAt]).apply(([s, f]) => timing(phase, s, f)),
    ),
  );
  const lastCheck = pulumi.all(checkTimes).apply((times) => times.sort().at(-1));
  const firstCheckStart = pulumi
    .all(p.httpChecks.map((c) => c.startedAt))
    .apply((times) => times.sort()[0] as string | undefined);

  const parts = {
    preflight: p.preflight.result,
    start: opt(p.announceStart?.result),
    success: opt(p.announceSuccess?.result),
    on: opt(p.maintenanceOn?.result),
    off: opt(p.maintenanceOff?.result),
    backup: opt(p.backup?.result),
    restored: opt(p.restore?.result),
    schemaVersion: opt(p.schema?.version),
    schemaRun: opt(p.schema?.lastRun),
    imageId: p.containers.imageId,
    containerIds: p.containers.containerIds,
    http: pulumi.all(p.httpChecks.map((c) => c.result)),
    sql: pulumi.all(p.sqlChecks.map((c) => c.result)),
    smoke: pulumi.all(p.smokeTests.map((c) => c.result)),
    soak: opt(p.soak?.result),
    previous: p.marker.previous,
    phaseTimes,
    lastCheck,
    firstCheckStart,
    maintenanceOffAt: opt(p.maintenanceOff?.finishedAt),
    successAt: opt(p.announceSuccess?.finishedAt),
  };
  return pulumi.output(parts).apply((r): RolloutReport => {
    const release = config.release;
    const phases = [...(r.phaseTimes as PhaseTiming[])];
    const before = phases.filter((t) => t.phase !== "soak").at(-1);
    if (before && r.firstCheckStart)
      phases.push(timing("database objects and containers", before.finishedAt, r.firstCheckStart));
    if (r.firstCheckStart && r.lastCheck)
      phases.push(timing("checks and smoke tests", r.firstCheckStart, r.lastCheck));
    if (r.lastCheck && r.maintenanceOffAt)
      phases.push(timing("maintenance off", r.lastCheck, r.maintenanceOffAt));
    phases.sort((a, b) => (a.startedAt < b.startedAt ? -1 : 1));
    const http = r.http as HttpCheckResult[];
    const sql = r.sql as SqlCheckResult[];
    const backup = r.backup as (BackupResult & { copies?: CopyResult[] }) | undefined;
    const previous = r.previous as ReleaseFacts | null;
    return {
      release: {
        id: release.id,
        digest: p.digest,
        image: release.image,
        schemaTarget: release.schemaTarget,
        stack,
      },
      rollback: config.rollback
        ? {
            undoes: config.rollback.undoes,
            toUpdate: config.rollback.toUpdate,
            reason: config.rollback.reason ?? null,
            restored:
              r.restored && config.rollback.restoreBackup
                ? { path: config.rollback.restoreBackup.path, tablesRestored: r.restored.tablesRestored }
                : null,
          }
        : null,
      gates: {
        window: p.windowVerdict
          ? {
              open: p.windowVerdict.open,
              opensAt: p.windowVerdict.opensAt,
              closesAt: p.windowVerdict.closesAt,
              summary: p.windowVerdict.summary,
              enforced: config.window?.enforce ?? false,
            }
          : null,
        override: config.override?.reason ?? null,
        approvals: {
          required: config.approvals.required,
          given: config.approvals.given
            .filter((a) => a.release === release.id)
            .map((a) => ({ role: a.role, by: a.by })),
        },
      },
      preflight: r.preflight as PreflightResult,
      announcements: Object.fromEntries(
        Object.entries({ start: r.start, success: r.success }).filter(([, v]) => v !== undefined),
      ) as Record<string, DeliveryResult>,
      maintenance: r.on && r.off ? { on: r.on as MaintenanceResult, off: r.off as MaintenanceResult } : null,
      backup: backup
        ? {
            path: backup.path,
            bytes: backup.bytes,
            sha256: backup.sha256,
            tableCount: backup.tableCount,
            restoreTested: backup.restoreTested,
            durationMs: backup.durationMs,
            // A backup recorded before leftovers were looked for found none.
            crashLeftovers: backup.crashLeftovers ?? { removed: [], left: [] },
            copies: (backup.copies ?? []).map(({ location, key, bytes, sha256, verified }) => ({
              location,
              key,
              bytes,
              sha256,
              verified,
            })),
          }
        : null,
      schema: r.schemaRun
        ? {
            version: r.schemaVersion as string,
            direction: r.schemaRun.direction,
            applied: r.schemaRun.applied.map((m) => m.name),
            reverted: r.schemaRun.reverted.map((m) => m.name),
          }
        : null,
      image: { before: previous?.image ?? null, after: release.image, id: r.imageId },
      containers: r.containerIds,
      checks: [
        ...http.map((c) => ({
          name: c.name,
          kind: "http" as const,
          passed: c.passed,
          observed: `HTTP ${c.status}`,
          latencyMs: c.latencyMs,
          attempts: c.attempts,
        })),
        ...sql.map((c) => ({
          name: c.name,
          kind: "sql" as const,
          passed: c.passed,
          observed: c.value,
          latencyMs: c.latencyMs,
          attempts: c.attempts,
        })),
      ],
      smokeTests: (r.smoke as SmokeTestResult[]).map((t) => ({
        name: t.name,
        steps: t.steps.map((s) => ({ name: s.name, status: s.status, latencyMs: s.latencyMs })),
      })),
      soak: (r.soak as SoakResult | undefined) ?? null,
      phases,
    };
  });
}
