// The rollout report, a stack output: what was released, what gated it, what each step found and
// how long each phase took. Built from the steps' recorded results; no resources here.
import * as pulumi from "@pulumi/pulumi";
import type {
  Announcement,
  CommandStep,
  ContainerRelease,
  DatabaseBackup,
  DatabaseRestore,
  HealthCheck,
  LogCheck,
  MaintenanceMode,
  Preflight,
  ReleaseFacts,
  ReleaseMarker,
  Schema,
  SmokeTest,
  Soak,
  ServicesCheck,
  SqlCheck,
  WebSocketCheck,
} from "../components";
import { APP_SERVICE, type RolloutConfig } from "../config";
import type { BackupResult, CopyResult } from "../engines/backup";
import type { CommandResult } from "../engines/commands";
import type { HttpCheckResult } from "../engines/checks/http";
import type { LogCheckResult } from "../engines/checks/logs";
import type { WebSocketCheckResult } from "../engines/checks/websocket";
import type { PreflightResult } from "../engines/checks/preflight";
import type { SmokeTestResult } from "../engines/checks/smoke";
import type { ServicesCheckResult } from "../engines/checks/services";
import type { SoakResult } from "../engines/checks/soak";
import type { SqlCheckResult } from "../engines/checks/sql";
import type { WindowVerdict } from "../engines/gates/maintenanceWindow";
import type { MaintenanceResult } from "../engines/maintenanceMode";
import type { DeliveryResult, NoticeFact } from "../engines/notify";
import {
  backupReport,
  checkReports,
  commandReports,
  noticeFacts,
  schemaReport,
  smokeReports,
  type PhaseTiming,
  type RolloutReport,
  type ServiceReport,
} from "../engines/report";
import type { MigrateResult } from "../engines/migrations";
import type { TimedStep } from "./phases";

export type { CheckReport, PhaseTiming, RolloutReport } from "../engines/report";

function timing(phase: string, startedAt: string, finishedAt: string): PhaseTiming {
  return { phase, startedAt, finishedAt, seconds: (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000 };
}

function phaseTimings(timed: ReportSources["timed"]): pulumi.Output<PhaseTiming[]> {
  return pulumi.all(
    timed.map(({ phase, step }) =>
      pulumi.all([step.startedAt ?? step.finishedAt, step.finishedAt]).apply(([s, f]) => timing(phase, s, f)),
    ),
  );
}

const opt = <T>(o: pulumi.Output<T> | undefined) => (o ? o : pulumi.output(undefined));

/**
 * The facts of the success notice, which runs before the report is complete: the release, the
 * backup, the migrations, the image released, the checks, smoke tests and soak, and the phases
 * timed so far. The image before is not among them: the release marker, which knows it, runs last.
 */
export function successNoticeFacts(
  p: Pick<
    ReportSources,
    | "config"
    | "stack"
    | "digest"
    | "backup"
    | "schema"
    | "httpChecks"
    | "sqlChecks"
    | "logChecks"
    | "wsChecks"
    | "smokeTests"
    | "soak"
  > & { readonly timed: ReportSources["timed"] },
): pulumi.Output<NoticeFact[]> {
  const { release } = p.config;
  return pulumi
    .output({
      backup: opt(p.backup?.result),
      schemaVersion: opt(p.schema?.version),
      schemaRun: opt(p.schema?.lastRun),
      http: pulumi.all(p.httpChecks.map((c) => c.result)),
      sql: pulumi.all(p.sqlChecks.map((c) => c.result)),
      logs: pulumi.all(p.logChecks.map((c) => c.result)),
      ws: pulumi.all(p.wsChecks.map((c) => c.result)),
      smoke: pulumi.all(p.smokeTests.map((c) => c.result)),
      soak: opt(p.soak?.result),
      phases: phaseTimings([...p.timed]),
    })
    .apply((r) =>
      noticeFacts({
        release: {
          id: release.id,
          digest: p.digest,
          image: release.image,
          schemaTarget: release.schemaTarget,
          stack: p.stack,
        },
        gates: undefined,
        rollback: p.config.rollback
          ? {
              undoes: p.config.rollback.undoes,
              toUpdate: p.config.rollback.toUpdate,
              reason: p.config.rollback.reason ?? null,
              restored: null,
            }
          : null,
        image: { after: release.image },
        backup: backupReport(r.backup as BackupResult | undefined),
        schema: schemaReport(r.schemaVersion, r.schemaRun as MigrateResult | undefined),
        checks: checkReports(
          r.http as HttpCheckResult[],
          r.sql as SqlCheckResult[],
          r.logs as LogCheckResult[],
          r.ws as WebSocketCheckResult[],
        ),
        smokeTests: smokeReports(r.smoke as SmokeTestResult[]),
        soak: (r.soak as SoakResult | undefined) ?? null,
        phases: r.phases as PhaseTiming[],
      }),
    );
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
  readonly services: ServicesCheck;
  readonly httpChecks: readonly HealthCheck[];
  readonly sqlChecks: readonly SqlCheck[];
  readonly logChecks: readonly LogCheck[];
  readonly wsChecks: readonly WebSocketCheck[];
  readonly smokeTests: readonly SmokeTest[];
  readonly soak?: Soak;
  /** Every command step, in the order they run. */
  readonly commands: readonly CommandStep[];
  readonly marker: ReleaseMarker;
  /** The phases timed by the sequence, in order. */
  readonly timed: readonly { readonly phase: string; readonly step: TimedStep }[];
}

/** The report of one rollout, resolved once every step it reads has run. */
export function rolloutReport(p: ReportSources): pulumi.Output<RolloutReport> {
  const { config, stack } = p;
  const checkTimes = [...p.httpChecks, ...p.sqlChecks, ...p.logChecks, ...p.wsChecks, ...p.smokeTests].map(
    (c) => c.finishedAt,
  );
  const phaseTimes = phaseTimings(p.timed);
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
    imageIds: p.containers.imageIds,
    states: p.services.result,
    http: pulumi.all(p.httpChecks.map((c) => c.result)),
    sql: pulumi.all(p.sqlChecks.map((c) => c.result)),
    logs: pulumi.all(p.logChecks.map((c) => c.result)),
    ws: pulumi.all(p.wsChecks.map((c) => c.result)),
    smoke: pulumi.all(p.smokeTests.map((c) => c.result)),
    soak: opt(p.soak?.result),
    commands: pulumi.all(p.commands.map((c) => c.result)),
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
                ? {
                    path: config.rollback.restoreBackup.path,
                    tablesRestored: r.restored.tablesRestored,
                    archives: (r.restored.archives ?? []).map((a) => ({
                      name: a.name,
                      target: a.target,
                      files: a.restored.files,
                    })),
                  }
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
      backup: backupReport(backup),
      schema: schemaReport(r.schemaVersion as string | undefined, r.schemaRun as MigrateResult | undefined),
      image: { before: previous?.image ?? null, after: release.image, id: r.imageId },
      containers: r.containerIds,
      services: serviceReports(config, previous, r.imageIds, r.containerIds, r.states as ServicesCheckResult),
      checks: checkReports(http, sql, r.logs as LogCheckResult[], r.ws as WebSocketCheckResult[]),
      smokeTests: smokeReports(r.smoke as SmokeTestResult[]),
      soak: (r.soak as SoakResult | undefined) ?? null,
      commands: commandReports(
        r.commands as CommandResult[],
        Object.fromEntries(config.commands.map((c) => [c.name, c.at])),
      ),
      phases,
    };
  });
}

/** Each service in start order: the image before (from the previous release) and after, and its state. */
function serviceReports(
  config: RolloutConfig,
  previous: ReleaseFacts | null,
  imageIds: Record<string, string>,
  containerIds: Record<string, string>,
  states: ServicesCheckResult,
): ServiceReport[] {
  const images = new Map([
    [APP_SERVICE, { before: previous?.image ?? null, after: config.release.image }],
    ...config.services.map(
      (s) => [s.name, { before: previous?.services?.[s.name]?.image ?? null, after: s.image }] as const,
    ),
  ]);
  return states.services.map((s) => ({
    name: s.name,
    imageBefore: images.get(s.name)?.before ?? null,
    image: images.get(s.name)?.after ?? "",
    imageId: imageIds[s.name] ?? s.imageId,
    container: containerIds[s.name] ?? s.container,
    state: s.health ? `${s.status}, ${s.health}` : s.status,
    startedAt: s.startedAt,
    kept: s.kept,
  }));
}
