// The rollout steps that are tasks rather than infrastructure, one row each: a component around one
// recorded run that happens when it is created and again whenever its inputs change (during `up`
// only; preview never runs one). The work itself is engine code; a row only names it.
import * as pulumi from "@pulumi/pulumi";
import { runHttpCheck, type HttpCheckResult, type HttpCheckSpec } from "../engines/checks/http";
import {
  runCommand,
  type CommandLine,
  type CommandResult,
  type CommandSecrets,
  type CommandSpec,
} from "../engines/commands";
import {
  restoreUnderMigrationLock,
  type LockedRestoreOptions,
  type LockedRestoreResult,
} from "../engines/backup";
import {
  runPreflight,
  type PreflightPolicy,
  type PreflightResult,
  type PreflightSpec,
} from "../engines/checks/preflight";
import { runLogCheck, type LogCheckResult, type LogCheckSpec } from "../engines/checks/logs";
import {
  runServicesCheck,
  type ServicesCheckResult,
  type ServicesCheckSpec,
} from "../engines/checks/services";
import {
  runWebSocketCheck,
  type WebSocketCheckResult,
  type WebSocketCheckSpec,
} from "../engines/checks/websocket";
import { runSmokeTest, type SmokeTestResult, type SmokeTestSpec } from "../engines/checks/smoke";
import {
  measureBaseline,
  runSoak,
  type BaselineResult,
  type SoakResult,
  type SoakSpec,
} from "../engines/checks/soak";
import { runSqlCheck, type SqlCheckResult, type SqlCheckSpec } from "../engines/checks/sql";
import {
  switchMaintenance,
  type MaintenanceCall,
  type MaintenancePolicy,
  type MaintenanceResult,
} from "../engines/maintenanceMode";
import { sendNotification, type DeliveryResult, type Notification } from "../engines/notify";
import type { DatabaseConnection } from "../engines/database";
import { ensureMysqlAppUser, type MysqlAppUserResult } from "../engines/mysql/objects";
import type { MysqlConnection } from "../engines/mysql";
import type { PgConnection } from "../engines/postgres";
import type { Progress } from "../engines/progress";
import { writeReportFiles, type ReportFilesResult, type RolloutReport } from "../engines/report";
import { RunOnceComponent, runOnceProvider, type RunRecord } from "./runOnce";
import { STEPS, type StepNames } from "./tokens";

/** A PostgreSQL connection whose values may come from resources or secrets (the password). */
export type PgConnectionInput = { readonly [K in keyof PgConnection]: pulumi.Input<PgConnection[K]> };
/** A MySQL connection whose values may come from resources or secrets (the password). */
export type MysqlConnectionInput = {
  readonly [K in keyof MysqlConnection]: pulumi.Input<MysqlConnection[K]>;
};
/** A connection to the stack's database, whichever its engine. */
export type DatabaseConnectionInput = PgConnectionInput | MysqlConnectionInput;

/** Values whose change makes a step run again, e.g. the release id, the image id and the container ids. */
export type Triggers = pulumi.Input<pulumi.Input<string>[]>;

/** The args of a check: what to call and expect, and what makes it run again. */
export interface CheckArgs<S> {
  /** Header values, variables and tokens in it may be secrets. */
  readonly spec: pulumi.Input<S>;
  readonly triggers: Triggers;
}

/** A component class for one kind of step: its args are the run's inputs. */
type StepClass<A, R> = new (
  name: string,
  args: A,
  opts?: pulumi.ComponentResourceOptions,
) => RunOnceComponent<R>;

/**
 * Defines a step kind. `run` gets the resolved inputs; `after` may look at each result (e.g. to
 * warn). Dynamic providers are serialized by value, so `run` may use only engine functions.
 */
function step<A extends object, R>(
  names: StepNames,
  run: (inputs: A, progress: Progress) => Promise<R>,
  after?: (result: R, component: pulumi.Resource) => void,
  undo?: (recorded: A & RunRecord<R>, progress: Progress) => Promise<void>,
): StepClass<A, R> {
  const provider = runOnceProvider(
    run as (inputs: Record<string, unknown>, progress: Progress) => Promise<R>,
    undo as
      ((recorded: Record<string, unknown> & RunRecord<R>, progress: Progress) => Promise<void>) | undefined,
  );
  return class extends RunOnceComponent<R> {
    constructor(name: string, args: A, opts?: pulumi.ComponentResourceOptions) {
      super(names, provider, name, { ...args } as Record<string, pulumi.Input<unknown>>, opts);
      if (after) this.result.apply((result) => after(result, this));
    }
  };
}

export interface PreflightArgs {
  readonly connection: DatabaseConnectionInput;
  readonly spec: PreflightSpec;
  /** The release digest: preflight runs once per release content. */
  readonly digest: string;
  /** The rules of this run (a rollback's are its own); a change alone does not run it again. */
  readonly policy: PreflightPolicy;
}
/**
 * The first step of a rollout, before anything changes: the database answers, the running service
 * is healthy, and every SQL gate holds (polled until its timeout).
 */
export const Preflight = step<PreflightArgs, PreflightResult>(STEPS.preflight, async (i, progress) =>
  runPreflight(i.connection as DatabaseConnection, i.spec, i.policy, progress),
);
export type Preflight = InstanceType<typeof Preflight>;

export interface AnnouncementArgs {
  /** Secret: the webhook URL (Slack-compatible). */
  readonly webhookUrl: pulumi.Input<string>;
  readonly notification: pulumi.Input<Notification>;
  readonly timeoutMs: number;
}
/**
 * A webhook notification sent once per release (start or success). An endpoint that is down does
 * not stop the rollout: the delivery outcome is recorded, reported and logged as a warning.
 */
export const Announcement = step<AnnouncementArgs, DeliveryResult>(
  STEPS.announcement,
  async (i) => sendNotification(i.webhookUrl as string, i.notification as Notification, i.timeoutMs),
  (r, component) => {
    if (r && !r.delivered) {
      pulumi.log.warn(
        `the ${r.event} notification was not delivered (${r.detail}); the rollout goes on`,
        component,
      );
    }
  },
);
export type Announcement = InstanceType<typeof Announcement>;

export interface MaintenanceModeArgs {
  /** The endpoint and the secret bearer token. */
  readonly call: pulumi.Input<MaintenanceCall>;
  readonly state: "on" | "off";
  /** Values whose change makes the switch happen again (the release digest, the steps before). */
  readonly triggers: Triggers;
  /** The rules of this run (a rollback's are its own); a change alone does not switch again. */
  readonly policy: MaintenancePolicy;
}
/**
 * Switches the service's maintenance mode over HTTP, once per release. "on" comes before the
 * backup; "off" after the checks, so a failed rollout leaves maintenance on (the safe state).
 */
export const MaintenanceMode = step<MaintenanceModeArgs, MaintenanceResult>(
  STEPS.maintenanceMode,
  async (i) => switchMaintenance(i.call as MaintenanceCall, i.state, i.policy),
);
export type MaintenanceMode = InstanceType<typeof MaintenanceMode>;

export type HealthCheckArgs = CheckArgs<HttpCheckSpec>;
/**
 * An HTTP check that gates a rollout: during `up` it calls the URL until it answers as expected or
 * its retries or deadline run out, and fails the update with what was expected and what came back.
 */
export const HealthCheck = step<HealthCheckArgs, HttpCheckResult>(STEPS.healthCheck, async (i, progress) =>
  runHttpCheck(i.spec as HttpCheckSpec, progress),
);
export type HealthCheck = InstanceType<typeof HealthCheck>;

export interface SqlCheckArgs {
  readonly connection: DatabaseConnectionInput;
  readonly spec: SqlCheckSpec;
  readonly triggers: Triggers;
}
/** A query whose first value must equal the expected one after the release (e.g. row counts). */
export const SqlCheck = step<SqlCheckArgs, SqlCheckResult>(STEPS.sqlCheck, async (i, progress) =>
  runSqlCheck(i.connection as DatabaseConnection, i.spec, "SQL check", progress),
);
export type SqlCheck = InstanceType<typeof SqlCheck>;

export type LogCheckArgs = CheckArgs<LogCheckSpec>;
/**
 * The release's container logs since the release started: no line may match a forbidden pattern,
 * and every required line must be there (waited for up to its timeout).
 */
export const LogCheck = step<LogCheckArgs, LogCheckResult>(STEPS.logCheck, async (i, progress) =>
  runLogCheck(i.spec as LogCheckSpec, progress),
);
export type LogCheck = InstanceType<typeof LogCheck>;

export type ServicesCheckArgs = CheckArgs<ServicesCheckSpec>;
/** Every service of the release is running, and the ones with a health check are healthy. */
export const ServicesCheck = step<ServicesCheckArgs, ServicesCheckResult>(
  STEPS.servicesCheck,
  async (i, progress) => runServicesCheck(i.spec as ServicesCheckSpec, progress),
);
export type ServicesCheck = InstanceType<typeof ServicesCheck>;

export type WebSocketCheckArgs = CheckArgs<WebSocketCheckSpec>;
/** Connects to a WebSocket endpoint, optionally sends one message, and judges the first reply. */
export const WebSocketCheck = step<WebSocketCheckArgs, WebSocketCheckResult>(
  STEPS.wsCheck,
  async (i, progress) => runWebSocketCheck(i.spec as WebSocketCheckSpec, progress),
);
export type WebSocketCheck = InstanceType<typeof WebSocketCheck>;

export type SmokeTestArgs = CheckArgs<SmokeTestSpec>;
/** A short HTTP flow with captured values (login -> token -> CRUD), run during `up` only. */
export const SmokeTest = step<SmokeTestArgs, SmokeTestResult>(STEPS.smokeTest, async (i) =>
  runSmokeTest(i.spec as SmokeTestSpec),
);
export type SmokeTest = InstanceType<typeof SmokeTest>;

export type SoakArgs = CheckArgs<SoakSpec>;
/**
 * Watches the health endpoints for a while after maintenance is off and fails on the error-rate or
 * p95 thresholds. Hours-long watching belongs to the deploy command, not to `pulumi up`.
 */
export const Soak = step<SoakArgs, SoakResult>(STEPS.soak, async (i, progress) =>
  runSoak(i.spec as SoakSpec, progress),
);
export type Soak = InstanceType<typeof Soak>;

export interface BaselineSpec {
  readonly urls: readonly string[];
  readonly probes: number;
  readonly intervalMs: number;
  readonly requestTimeoutMs: number;
  readonly allowNoCurrentService: boolean;
}
export type BaselineArgs = CheckArgs<BaselineSpec>;
/**
 * Before maintenance on: the soak's URLs probed on the release running now, so the soak can judge
 * the new one relative to it. `measured` is null when nothing runs yet (a first install).
 */
export const Baseline = step<BaselineArgs, { measured: BaselineResult | null }>(
  STEPS.baseline,
  async (i, progress) => ({ measured: await measureBaseline(i.spec as BaselineSpec, progress) }),
);
export type Baseline = InstanceType<typeof Baseline>;

export type DatabaseRestoreArgs = {
  readonly [K in keyof LockedRestoreOptions]: pulumi.Input<LockedRestoreOptions[K]>;
};
/**
 * A rollback's restore of the backup taken before the release it undoes: verified, then restored
 * in one transaction under the migration lock, before the schema moves.
 */
export const DatabaseRestore = step<DatabaseRestoreArgs, LockedRestoreResult>(
  STEPS.restore,
  async (i, progress) =>
    restoreUnderMigrationLock({ ...(i as unknown as LockedRestoreOptions), log: progress }),
);
export type DatabaseRestore = InstanceType<typeof DatabaseRestore>;

export interface CommandStepArgs {
  /** What to run, where, and what it must give; no secret in it. */
  readonly spec: CommandSpec;
  /** Run when the step leaves the stack's config (a rollback to a release without it), with the same host, env and timeout. */
  readonly revert?: CommandLine;
  /** Secret: the secret env values and the SSH private key. */
  readonly secrets: pulumi.Input<CommandSecrets>;
  /** Values whose change runs it again (none for a step that runs only when it changes itself). */
  readonly triggers: Triggers;
}
/**
 * A command run at its point of the rollout, here or over SSH; a failure stops the phases after it.
 * When the step leaves the stack's config, its recorded revert command runs (deletes come at the
 * end of an update, so after the containers of the release rolled back to are running).
 */
export const CommandStep = step<CommandStepArgs, CommandResult>(
  STEPS.command,
  async (i, progress) => runCommand(i.spec, i.secrets as CommandSecrets, progress),
  undefined,
  async (recorded, progress) => {
    if (recorded.revert === undefined) return;
    await runCommand(recorded.spec, recorded.secrets as CommandSecrets, progress, "revert", recorded.revert);
  },
);
export type CommandStep = InstanceType<typeof CommandStep>;
export interface MysqlAppUserArgs {
  readonly connection: MysqlConnectionInput;
  /** The application's user name. */
  readonly user: string;
  /** Secret: its password; a change runs the step again, so the new one takes effect. */
  readonly password: pulumi.Input<string>;
}
/**
 * The application's MySQL user with read/write on its database, in the engine's SQL (CREATE USER IF
 * NOT EXISTS, ALTER USER, GRANT); run again when the connection, user or password changes.
 */
export const MysqlAppUser = step<MysqlAppUserArgs, MysqlAppUserResult>(STEPS.mysqlAppUser, async (i) =>
  ensureMysqlAppUser(i.connection as MysqlConnection, i.user, i.password as string),
);
export type MysqlAppUser = InstanceType<typeof MysqlAppUser>;

export interface ReportFilesArgs {
  /** The stack's report folder, absolute. */
  readonly dir: string;
  readonly report: pulumi.Input<RolloutReport>;
}
/**
 * Writes the report as Markdown and HTML into the stack's report folder, each time the report
 * changes (a no-op `up` writes nothing). A file that cannot be written is a warning, not a failure:
 * the release it reports on has already succeeded.
 */
export const ReportFiles = step<ReportFilesArgs, ReportFilesResult>(
  STEPS.reportFiles,
  async (i) => writeReportFiles(i.dir, i.report as RolloutReport),
  (r, component) => {
    if (r && !r.written) {
      pulumi.log.warn(
        `the report files could not be written to ${r.dir} (${r.problem}); the release succeeded, and the report is in the stack outputs \`report\` and \`summary\``,
        component,
      );
    }
  },
);
export type ReportFiles = InstanceType<typeof ReportFiles>;
