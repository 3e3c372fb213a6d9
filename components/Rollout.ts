import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import { Announcement } from "./Announcement";
import type { DeliveryResult } from "./announce/webhook";
import type { BackupResult } from "./backup";
import type { HttpCheckResult, HttpCheckSpec } from "./checks/http";
import type { PreflightResult } from "./checks/preflight";
import type { SmokeTestResult, SmokeTestSpec } from "./checks/smoke";
import type { SoakResult } from "./checks/soak";
import type { SqlCheckResult } from "./checks/sql";
import { imageTag, type RolloutConfig, type SecretKey } from "./config";
import { ContainerRelease } from "./ContainerRelease";
import { DatabaseBackup } from "./DatabaseBackup";
import { DatabaseObjects } from "./DatabaseObjects";
import { approvalProblems } from "./gates/approvals";
import { evaluateWindow, type WindowVerdict } from "./gates/window";
import { HealthCheck } from "./HealthCheck";
import type { MaintenanceResult } from "./maintenance/http";
import { MaintenanceMode } from "./MaintenanceMode";
import { loadMigrations } from "./migrations";
import type { PgConnectionInput } from "./pg";
import { Preflight } from "./Preflight";
import { ReleaseMarker, type ReleaseFacts } from "./ReleaseMarker";
import { Schema } from "./Schema";
import { SmokeTest } from "./SmokeTest";
import { Soak } from "./Soak";
import { SqlCheck } from "./SqlCheck";

export interface RolloutArgs {
  /** Validated stack config (see config.ts). */
  readonly config: RolloutConfig;
  /** Stack name, for labels, backup names and the report. */
  readonly stack: string;
  /** Secret config values by key; `databasePassword` and `appDatabasePassword` are always present. */
  readonly secrets: Partial<Record<SecretKey, pulumi.Output<string>>>;
  /** Folder that relative paths in config are resolved against (the project folder). */
  readonly projectDir: string;
  /** The time the window is judged at. @default now */
  readonly now?: Date;
  /** Preview (warn on closed window and missing approvals) or update (refuse). @default the engine's mode */
  readonly dryRun?: boolean;
}

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
    readonly image: string;
    readonly schemaTarget?: string;
    readonly stack: string;
  };
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

/** Expands `{version}` in expected JSON values to the release's image tag. */
function expandExpectations(
  expect: Record<string, string | number | boolean>,
  version: string | undefined,
): Record<string, string | number | boolean> {
  return Object.fromEntries(
    Object.entries(expect).map(([k, v]) => [
      k,
      typeof v === "string" && version ? v.replace("{version}", version) : v,
    ]),
  );
}

function timing(phase: string, startedAt: string, finishedAt: string): PhaseTiming {
  return { phase, startedAt, finishedAt, seconds: (Date.parse(finishedAt) - Date.parse(startedAt)) / 1000 };
}

type Timed = { startedAt?: pulumi.Output<string>; finishedAt: pulumi.Output<string> };

/**
 * One release of the service, in the order of the runbooks: preflight -> announce start ->
 * maintenance on -> backup -> schema -> database objects -> containers -> checks -> smoke tests ->
 * maintenance off -> soak -> announce success. Each arrow is an explicit dependency, so a failure
 * stops everything after it and leaves maintenance on.
 */
export class Rollout extends pulumi.ComponentResource {
  readonly report: pulumi.Output<RolloutReport>;

  constructor(name: string, args: RolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollout:index:Rollout", name, {}, opts);
    const { config, stack, secrets } = args;
    const { release, database, app } = config;
    const version = imageTag(release.image);
    const dryRun = args.dryRun ?? pulumi.runtime.isDryRun();
    const secret = (key: SecretKey): pulumi.Output<string> => {
      const value = secrets[key];
      if (!value) throw new pulumi.ResourceError(`secret rollout:${key} is required here but not set`, this);
      return value;
    };

    // Program-time gates: they stop `up` before any resource is touched; preview only warns.
    const gate = (problem: string, fix: string) => {
      if (dryRun) pulumi.log.warn(`${problem} (\`pulumi up\` will refuse). ${fix}`, this);
      else throw new pulumi.ResourceError(`${problem}. ${fix}`, this);
    };
    let windowVerdict: WindowVerdict | undefined;
    if (config.window) {
      windowVerdict = evaluateWindow(config.window, args.now ?? new Date());
      if (!windowVerdict.open && config.window.enforce) {
        if (config.override) {
          pulumi.log.warn(`${windowVerdict.summary}; overridden: ${config.override.reason}`, this);
        } else {
          gate(
            `refusing to roll out: ${windowVerdict.summary}`,
            "Wait for the window, or set rollout:override.reason to a written reason (it lands in the report).",
          );
        }
      }
    }
    for (const problem of approvalProblems(config.approvals.required, config.approvals.given, release.id)) {
      gate(`refusing to roll out: ${problem}`, "Record the approval, then run `pulumi up` again.");
    }
    let migrations;
    try {
      migrations = config.migrations
        ? loadMigrations(path.resolve(args.projectDir, config.migrations.dir))
        : undefined;
    } catch (err) {
      throw new pulumi.ResourceError((err as Error).message, this);
    }

    const connection: PgConnectionInput = {
      host: database.host,
      port: database.port,
      database: database.database,
      user: database.adminUser,
      password: secret("databasePassword"),
      sslMode: database.sslMode,
    };
    const child = (after: pulumi.Resource[]): pulumi.ComponentResourceOptions => ({
      parent: this,
      dependsOn: after,
    });
    const timed: { phase: string; step: Timed }[] = [];

    // 1. Preflight: nothing has changed yet when it fails.
    const preflight = new Preflight(
      `${name}-preflight`,
      {
        connection,
        release: release.id,
        spec: {
          currentHealthUrl: config.preflight.currentHealthUrl,
          allowNoCurrentService: config.preflight.allowNoCurrentService,
          gates: config.preflight.gates,
        },
      },
      child([]),
    );
    timed.push({ phase: "preflight", step: preflight });
    let last: pulumi.Resource[] = [preflight];

    // 2. Announce the start.
    const announce = (event: "start" | "success", summary: pulumi.Input<string>, after: pulumi.Resource[]) =>
      config.notify
        ? new Announcement(
            `${name}-announce-${event}`,
            {
              webhookUrl: secret(config.notify.webhookSecret as SecretKey),
              timeoutMs: config.notify.timeoutMs,
              notification: pulumi
                .output(summary)
                .apply((s) => ({ event, stack, release: release.id, summary: s })),
            },
            child(after),
          )
        : undefined;
    const announceStart = announce(
      "start",
      `${release.image}${release.schemaTarget ? `, schema to ${release.schemaTarget}` : ""}`,
      last,
    );
    if (announceStart) {
      timed.push({ phase: "announce start", step: announceStart });
      last = [announceStart];
    }

    // 3. Maintenance on.
    const maintenanceCall = (method: string) =>
      config.maintenance
        ? pulumi.secret(
            secret("maintenanceToken").apply((token) => ({
              url: config.maintenance!.url,
              method,
              token,
              timeoutMs: config.maintenance!.timeoutMs,
              allowUnreachable: config.maintenance!.allowUnreachable,
            })),
          )
        : undefined;
    let maintenanceOn: MaintenanceMode | undefined;
    if (config.maintenance) {
      maintenanceOn = new MaintenanceMode(
        `${name}-maintenance-on`,
        { call: maintenanceCall(config.maintenance.onMethod)!, state: "on", triggers: [release.id] },
        child(last),
      );
      timed.push({ phase: "maintenance on", step: maintenanceOn });
      last = [maintenanceOn];
    }

    // 4. Backup, verified before anything after it may run.
    let backup: DatabaseBackup | undefined;
    if (config.backup) {
      backup = new DatabaseBackup(
        `${name}-backup`,
        {
          connection,
          dir: path.resolve(args.projectDir, config.backup.dir),
          stack,
          release: release.id,
          minBytes: config.backup.minBytes,
          expectTables: config.backup.expectTables,
          restoreTest: config.backup.restoreTest,
          keep: config.backup.keep,
          offsite: config.backup.offsite,
        },
        child(last),
      );
      timed.push({ phase: "backup", step: backup });
      last = [backup];
    }

    // 5. Schema to the release's target.
    let schema: Schema | undefined;
    if (migrations && config.migrations && release.schemaTarget) {
      schema = new Schema(
        `${name}-schema`,
        {
          connection,
          migrations,
          target: release.schemaTarget,
          release: release.id,
          table: config.migrations.table,
          lockTimeoutSeconds: config.migrations.lockTimeoutSeconds,
        },
        child(last),
      );
      timed.push({ phase: "schema", step: schema });
      last = [schema];
    }

    // 6. Database objects: the app's role and grants.
    const dbObjects = new DatabaseObjects(
      `${name}-db`,
      {
        connection: {
          host: database.host,
          port: database.port,
          database: database.database,
          adminUser: database.adminUser,
          adminPassword: secret("databasePassword"),
          sslMode: database.sslMode,
        },
        appRole: app.databaseRole,
        appRolePassword: secret("appDatabasePassword"),
      },
      child(last),
    );

    // 7. Containers (recreate: stop old, start new), inside maintenance.
    const databaseUrl = pulumi.interpolate`postgresql://${dbObjects.appRoleName}:${secret("appDatabasePassword")}@${database.host}:${database.port}/${database.database}?sslmode=${database.sslMode}`;
    const build = app.build
      ? {
          context: path.resolve(args.projectDir, app.build.context),
          dockerfile: app.build.dockerfile,
          prepareCommand: app.build.prepareCommand,
          prepareInputs: app.build.prepareInputs,
          args: {
            ...(app.build.baseImage ? { BASE_IMAGE: app.build.baseImage } : {}),
            ...(version ? { APP_VERSION: version } : {}),
          },
        }
      : undefined;
    const containers = new ContainerRelease(
      `${name}-release`,
      {
        image: release.image,
        build,
        dockerHost: config.docker.host,
        containerPrefix: app.name,
        labels: { "rollout.release": release.id, "rollout.stack": stack },
        services: [
          {
            name: "app",
            env: { ...app.env, PORT: String(app.port), HOST: "127.0.0.1" },
            secretEnv: {
              DATABASE_URL: databaseUrl,
              ...Object.fromEntries(
                Object.entries(app.secretEnv).map(([env, key]) => [env, secret(key as SecretKey)]),
              ),
            },
            restart: app.restart,
            volumes: app.stateVolume ? [{ name: "state", containerPath: app.stateVolume.containerPath }] : [],
          },
        ],
      },
      child([dbObjects]),
    );

    // 8. Checks, keyed to the release and the containers, so a new release or container reruns them.
    const triggers = [
      pulumi.output(release.id),
      containers.imageId,
      containers.containerIds.apply((ids) => JSON.stringify(ids)),
    ];
    const httpChecks = config.checks.map((check) => {
      const spec: HttpCheckSpec = { ...check, expectJson: expandExpectations(check.expectJson, version) };
      return new HealthCheck(`${name}-check-${check.name}`, { spec, triggers }, child([containers]));
    });
    const sqlChecks = config.sqlChecks.map((check) => {
      const spec = { ...check, expect: check.expect.replace("{schemaTarget}", release.schemaTarget ?? "") };
      return new SqlCheck(
        `${name}-sqlcheck-${check.name}`,
        { connection, spec, triggers },
        child([containers]),
      );
    });
    const checks: pulumi.Resource[] = [...httpChecks, ...sqlChecks];
    if (checks.length > 0) last = checks;
    else last = [containers];

    // 9. Smoke tests, through maintenance with the bypass header.
    const bypassHeaders = config.maintenance?.bypassHeader
      ? secret("maintenanceToken").apply((t) => ({ [config.maintenance!.bypassHeader!]: t }))
      : pulumi.output({} as Record<string, string>);
    const smokeTests = config.smokeTests.map((test) => {
      const vars = pulumi
        .all(
          Object.entries(test.vars).map(([k, v]) =>
            typeof v === "string"
              ? pulumi.output([k, v] as const)
              : secret(v.secret as SecretKey).apply((s) => [k, s] as const),
          ),
        )
        .apply((pairs) => Object.fromEntries(pairs) as Record<string, string>);
      const spec: pulumi.Output<SmokeTestSpec> = pulumi.all([vars, bypassHeaders]).apply(([v, headers]) => ({
        name: test.name,
        baseUrl: test.baseUrl,
        headers,
        vars: v,
        steps: test.steps.map((step) => ({
          ...step,
          expectJson: step.expectJson ? expandExpectations(step.expectJson, version) : undefined,
        })),
        stepTimeoutMs: test.stepTimeoutMs,
      }));
      return new SmokeTest(`${name}-smoke-${test.name}`, { spec, triggers }, child(last));
    });
    if (smokeTests.length > 0) last = smokeTests;
    const checksDone = last;

    // 10. Maintenance off: only after every check passed.
    let maintenanceOff: MaintenanceMode | undefined;
    if (config.maintenance) {
      maintenanceOff = new MaintenanceMode(
        `${name}-maintenance-off`,
        { call: maintenanceCall(config.maintenance.offMethod)!, state: "off", triggers },
        child(last),
      );
      last = [maintenanceOff];
    }

    // 11. Soak: watch the live release for a while.
    let soak: Soak | undefined;
    if (config.soak) {
      const urls = config.checks.filter((c) => c.method === "GET").map((c) => c.url);
      soak = new Soak(`${name}-soak`, { spec: { ...config.soak, urls }, triggers }, child(last));
      timed.push({ phase: "soak", step: soak });
      last = [soak];
    }

    // 12. Announce success, and record what is released now.
    const announceSuccess = announce(
      "success",
      pulumi.interpolate`${release.image} is live${schema ? pulumi.interpolate`, schema at ${schema.version}` : ""}`,
      last,
    );
    if (announceSuccess) last = [announceSuccess];
    const marker = new ReleaseMarker(
      `${name}-marker`,
      {
        release: release.id,
        image: release.image,
        imageId: containers.imageId,
        schemaVersion: schema ? schema.version : "none",
      },
      child(last),
    );

    this.report = this.buildReport({
      args,
      windowVerdict,
      preflight,
      announceStart,
      announceSuccess,
      maintenanceOn,
      maintenanceOff,
      backup,
      schema,
      containers,
      httpChecks,
      sqlChecks,
      smokeTests,
      soak,
      marker,
      timed,
      checksDone,
    });
    this.registerOutputs({ report: this.report });
  }

  private buildReport(p: {
    args: RolloutArgs;
    windowVerdict: WindowVerdict | undefined;
    preflight: Preflight;
    announceStart?: Announcement;
    announceSuccess?: Announcement;
    maintenanceOn?: MaintenanceMode;
    maintenanceOff?: MaintenanceMode;
    backup?: DatabaseBackup;
    schema?: Schema;
    containers: ContainerRelease;
    httpChecks: HealthCheck[];
    sqlChecks: SqlCheck[];
    smokeTests: SmokeTest[];
    soak?: Soak;
    marker: ReleaseMarker;
    timed: { phase: string; step: Timed }[];
    checksDone: pulumi.Resource[];
  }): pulumi.Output<RolloutReport> {
    const { config, stack } = p.args;
    const opt = <T>(o: pulumi.Output<T> | undefined) => (o ? o : pulumi.output(undefined));
    const checkTimes = [...p.httpChecks, ...p.sqlChecks, ...p.smokeTests].map((c) => c.finishedAt);
    const phaseTimes = pulumi.all(
      p.timed.map(({ phase, step }) =>
        pulumi
          .all([step.startedAt ?? step.finishedAt, step.finishedAt])
          .apply(([s, f]) => timing(phase, s, f)),
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
      const backup = r.backup as BackupResult | undefined;
      const previous = r.previous as ReleaseFacts | null;
      return {
        release: { id: release.id, image: release.image, schemaTarget: release.schemaTarget, stack },
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
        maintenance:
          r.on && r.off ? { on: r.on as MaintenanceResult, off: r.off as MaintenanceResult } : null,
        backup: backup
          ? {
              path: backup.path,
              bytes: backup.bytes,
              sha256: backup.sha256,
              tableCount: backup.tableCount,
              restoreTested: backup.restoreTested,
              durationMs: backup.durationMs,
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
}
