import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import {
  Announcement,
  CommandStep,
  ContainerRelease,
  DatabaseBackup,
  DatabaseObjects,
  DatabaseRestore,
  HealthCheck,
  LogCheck,
  MaintenanceMode,
  Preflight,
  ReleaseMarker,
  ReportFiles,
  ServicesCheck,
  Schema,
  SmokeTest,
  Soak,
  Baseline,
  SqlCheck,
  TOKENS,
  WebSocketCheck,
} from "../components";
import { secretKeyOf, type RolloutConfig, type SecretKey } from "../config";
import { loadMigrations } from "../engines/migrations";
import { reportMarkdown, type ReportFilesResult } from "../engines/report";
import { judgeProgramGates } from "./gates";
import { releaseDigest } from "./identity";
import { each, PhaseSequence, TIMED } from "./phases";
import { rolloutReport, successNoticeFacts, type RolloutReport } from "./report";
import { Wiring, type WiringContext } from "./wiring";

export interface RolloutArgs {
  /** Validated stack config (see config/). */
  readonly config: RolloutConfig;
  /** Stack name, for labels, backup names and the report. */
  readonly stack: string;
  /** Secret values by name; `databasePassword` and `appDatabasePassword` are always present. */
  readonly secrets: Partial<Record<SecretKey, pulumi.Output<string>>>;
  /** Folder that relative paths in config are resolved against (the project folder). */
  readonly projectDir: string;
  /** The time the window is judged at. @default now */
  readonly now?: Date;
  /** Preview (warn on closed window and missing approvals) or update (refuse). @default the engine's mode */
  readonly dryRun?: boolean;
}

/** The one step of an optional check as a list of one, or none. */
function optionalList<A>(args: A | undefined): { name: string; args: A }[] {
  return args === undefined ? [] : [{ name: "logs", args }];
}

/**
 * One release of the service, in the order of the runbooks. The phases below run top to bottom:
 * each depends on the nearest phase above it that the stack has (a phase it leaves out is skipped),
 * so a failure stops everything below it and leaves maintenance on. The once-per-release steps key on
 * the release digest; the checks, smoke tests, maintenance off and soak also key on the image, the
 * containers and the runs of preflight and maintenance on (`triggers`), so a new release, a
 * replaced container or any run that switched maintenance on (a rollback included) runs them again.
 * A rollback (`config.rollback`) runs the same phases by its own rules; see docs/architecture.md.
 */
export class Rollout extends pulumi.ComponentResource {
  readonly report: pulumi.Output<RolloutReport>;
  /** The report as Markdown, for people. */
  readonly summary: pulumi.Output<string>;
  /** Where the report files went (or why they could not be written). */
  readonly reportFiles: pulumi.Output<ReportFilesResult>;

  constructor(name: string, args: RolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TOKENS.rollout, name, {}, opts);
    const { config, stack } = args;
    // Before any resource exists: the migration files, the release's identity, the window and the approvals.
    const migrations = this.loadMigrations(config, args.projectDir);
    const sourceHashes = Wiring.sourceHashes(config, args.projectDir);
    const digest = releaseDigest(config, migrations, sourceHashes);
    const ctx: WiringContext = {
      config,
      stack,
      digest,
      projectDir: args.projectDir,
      secret: (key) => {
        const value = args.secrets[key];
        if (!value)
          throw new pulumi.ResourceError(
            `secret rollout:${secretKeyOf(key)} is required here but not set; set it with \`pulumi config set --secret rollout:${secretKeyOf(key)} <value>\``,
            this,
          );
        return value;
      },
    };

    const windowVerdict = judgeProgramGates(
      config,
      digest,
      { now: args.now ?? new Date(), dryRun: args.dryRun ?? pulumi.runtime.isDryRun() },
      this,
    );

    const w = new Wiring(ctx);
    const run = new PhaseSequence(this, name);
    const preflight = run.phase("preflight", Preflight, "preflight", w.preflight(), TIMED);
    const baseline = run.optional(
      "baseline",
      Baseline,
      "baseline",
      w.baseline(w.earlyTriggers(preflight, undefined)),
      TIMED,
    );
    const announceStart = run.optional(
      "announce start",
      Announcement,
      "announce-start",
      w.announcement("start"),
      TIMED,
    );
    const maintenanceOn = run.optional(
      "maintenance on",
      MaintenanceMode,
      "maintenance-on",
      w.maintenance("on", [digest]),
      TIMED,
    );
    const early = w.earlyTriggers(preflight, maintenanceOn);
    const beforeBackup = run.group("commands before the backup", {
      commands: each(CommandStep, "command", w.commands("beforeBackup", early)),
    });
    const backup = run.optional("backup", DatabaseBackup, "backup", w.backup(), TIMED);
    if (config.migrations?.rehearse && !backup) {
      throw new pulumi.ResourceError(
        "rollout:migrations.rehearse is true but the stack has no rollout:backup; the rehearsal runs on a scratch copy of the release's backup, so configure rollout:backup or set rehearse to false",
        this,
      );
    }
    const restore = run.optional("restore", DatabaseRestore, "restore", w.restore(), TIMED);
    const schema = run.optional(
      "schema",
      Schema,
      "schema",
      w.schema(
        migrations,
        backup && { path: backup.result.apply((r) => r.path), sha256: backup.result.apply((r) => r.sha256) },
      ),
      TIMED,
    );
    const afterSchema = run.group("commands after the schema", {
      commands: each(CommandStep, "command", w.commands("afterSchema", early)),
    });
    const database = run.phase("database objects", DatabaseObjects, "db", w.databaseObjects());
    const containers = run.phase(
      "containers",
      ContainerRelease,
      "release",
      w.containerRelease(database.appRoleName, sourceHashes),
    );
    const triggers = w.triggers(containers, preflight, maintenanceOn);
    const services = run.phase("services", ServicesCheck, "services", w.servicesCheck(containers, triggers));
    const afterServices = run.group("commands after the containers", {
      commands: each(CommandStep, "command", w.commands("afterServices", triggers)),
    });
    const logCheck = w.logCheck(containers, preflight.startedAt, triggers);
    const smokeTests = w.smokeTests(triggers);
    const checks = run.group("checks", {
      http: each(HealthCheck, "check", w.healthChecks(triggers)),
      sql: each(SqlCheck, "sqlcheck", w.sqlChecks(triggers)),
      ws: each(WebSocketCheck, "wscheck", w.wsChecks(triggers)),
      logs: each(LogCheck, "logcheck", optionalList(logCheck)),
    });
    const smoke = run.group("smoke tests", { tests: each(SmokeTest, "smoke", smokeTests) });
    const afterChecks = run.group("commands after the checks", {
      commands: each(CommandStep, "command", w.commands("afterChecks", triggers)),
    });
    const maintenanceOff = run.optional(
      "maintenance off",
      MaintenanceMode,
      "maintenance-off",
      w.maintenance("off", triggers),
    );
    const soak = run.optional(
      "soak",
      Soak,
      "soak",
      w.soak(triggers, { smokeTests, logCheck, baseline: baseline?.result }),
      TIMED,
    );
    const announceSuccess = run.optional(
      "announce success",
      Announcement,
      "announce-success",
      w.announcement(
        "success",
        schema?.version,
        successNoticeFacts({
          config,
          stack,
          digest,
          backup,
          schema,
          httpChecks: checks.http,
          sqlChecks: checks.sql,
          logChecks: checks.logs,
          wsChecks: checks.ws,
          smokeTests: smoke.tests,
          soak,
          timed: run.timed,
        }),
      ),
    );
    const marker = run.phase(
      "release marker",
      ReleaseMarker,
      "marker",
      w.marker(containers, schema?.version),
    );

    this.report = rolloutReport({
      config,
      stack,
      digest,
      windowVerdict,
      preflight,
      announceStart,
      announceSuccess,
      maintenanceOn,
      maintenanceOff,
      backup,
      restore,
      schema,
      containers,
      services,
      httpChecks: checks.http,
      sqlChecks: checks.sql,
      logChecks: checks.logs,
      wsChecks: checks.ws,
      smokeTests: smoke.tests,
      soak,
      commands: [beforeBackup, afterSchema, afterServices, afterChecks].flatMap((g) => g.commands),
      marker,
      timed: run.timed,
    });
    this.summary = this.report.apply(reportMarkdown);
    const files = run.phase("report files", ReportFiles, "report", w.reportFiles(this.report));
    this.reportFiles = files.result;
    this.registerOutputs({ report: this.report, summary: this.summary, reportFiles: this.reportFiles });
  }

  /** The migration files, read and checked before anything is created; undefined without migrations. */
  private loadMigrations(config: RolloutConfig, projectDir: string) {
    try {
      return config.migrations ? loadMigrations(path.resolve(projectDir, config.migrations.dir)) : undefined;
    } catch (err) {
      throw new pulumi.ResourceError((err as Error).message, this);
    }
  }
}
