// Turning validated config into each component's arguments: no resources are created here, and no
// defaults are applied (config/schema.ts already did). The graph in Rollout.ts calls one function
// per phase.
import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import type {
  AnnouncementArgs,
  ContainerRelease,
  ContainerReleaseArgs,
  DatabaseBackupArgs,
  DatabaseConnectionInput,
  DatabaseObjectsArgs,
  DatabaseRestoreArgs,
  HealthCheckArgs,
  MaintenanceMode,
  MaintenanceModeArgs,
  Preflight,
  PreflightArgs,
  ReleaseFacts,
  ReportFilesArgs,
  SchemaArgs,
  SmokeTestArgs,
  SoakArgs,
  SqlCheckArgs,
  Triggers,
} from "../components";
import { imageTag, type RolloutConfig, type SecretKey } from "../config";
import type { HttpCheckSpec } from "../engines/checks/http";
import type { SmokeTestSpec } from "../engines/checks/smoke";
import { hashSources } from "../engines/image/sources";
import type { Migration } from "../engines/migrations";
import type { NoticeFact } from "../engines/notify";
import type { RolloutReport } from "../engines/report";

/** What every wiring function reads. */
export interface WiringContext {
  readonly config: RolloutConfig;
  readonly stack: string;
  /** The release digest (identity.ts): the once-per-release steps run again when it changes. */
  readonly digest: string;
  /** Folder that relative paths in config are resolved against (the project folder). */
  readonly projectDir: string;
  /** A secret config value; throws naming the key when it is not set. */
  readonly secret: (key: SecretKey) => pulumi.Output<string>;
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

/** `{schemaTarget}` in SQL checks: the target, or `none` for no migrations (`none` or `0000`). */
function schemaTargetShown(target: string | undefined): string {
  if (target === undefined) return "";
  return target === "none" || /^0+$/.test(target) ? "none" : target;
}

/** Each phase's arguments, read from one rollout's context. */
export class Wiring {
  private readonly version: string | undefined;
  private readonly rollback: boolean;

  constructor(private readonly ctx: WiringContext) {
    this.version = imageTag(ctx.config.release.image);
    this.rollback = ctx.config.rollback !== undefined;
  }

  /** The content hash of the image's build sources, when the image is built here. */
  static sourceHash(config: RolloutConfig, projectDir: string): string | undefined {
    const { build } = config.app;
    if (!build) return undefined;
    const context = path.resolve(projectDir, build.context);
    return hashSources(
      context,
      build.prepareInputs.length > 0 ? [...build.prepareInputs, build.dockerfile] : ["."],
    );
  }

  /**
   * The admin connection that the preflight, backup, schema, checks and database objects use. A
   * PostgreSQL connection carries no `engine` field, so stacks recorded before MySQL existed keep
   * the same inputs.
   */
  adminConnection(): DatabaseConnectionInput {
    const { config, secret } = this.ctx;
    const { database } = config;
    const common = {
      host: database.host,
      port: database.port,
      database: database.database,
      user: database.adminUser,
      password: secret("databasePassword"),
    };
    return database.engine === "mysql"
      ? { engine: "mysql", ...common }
      : { ...common, sslMode: database.sslMode };
  }

  preflight(): PreflightArgs {
    const { preflight } = this.ctx.config;
    return {
      connection: this.adminConnection(),
      digest: this.ctx.digest,
      policy: { rollback: this.rollback },
      spec: {
        currentHealthUrl: preflight.currentHealthUrl,
        allowNoCurrentService: preflight.allowNoCurrentService,
        gates: preflight.gates,
      },
    };
  }

  /**
   * The start or success notice, when the stack notifies: start names the image and the schema
   * target; success, the image and the schema version reached (`schemaVersion`, with a schema),
   * with `facts`: what the rollout did (report.ts, successNoticeFacts).
   */
  announcement(
    event: "start" | "success",
    schemaVersion?: pulumi.Output<string>,
    facts?: pulumi.Output<NoticeFact[]>,
  ): AnnouncementArgs | undefined {
    const { config, stack, secret } = this.ctx;
    const { notify, release } = config;
    if (!notify) return undefined;
    const summary =
      event === "start"
        ? pulumi.output(
            `${release.image}${release.schemaTarget ? `, schema to ${release.schemaTarget}` : ""}`,
          )
        : pulumi.interpolate`${release.image} is live${schemaVersion ? pulumi.interpolate`, schema at ${schemaVersion}` : ""}`;
    return {
      webhookUrl: secret(notify.webhookSecret as SecretKey),
      timeoutMs: notify.timeoutMs,
      notification: pulumi
        .all([summary, facts ?? pulumi.output(undefined)])
        .apply(([s, f]) => ({ event, stack, release: release.id, summary: s, ...(f ? { facts: f } : {}) })),
    };
  }

  /** The maintenance switch, when the stack has a maintenance endpoint. */
  maintenance(state: "on" | "off", triggers: Triggers): MaintenanceModeArgs | undefined {
    const { maintenance } = this.ctx.config;
    if (!maintenance) return undefined;
    const call = pulumi.secret(
      this.ctx.secret("maintenanceToken").apply((token) => ({
        url: maintenance.url,
        method: state === "on" ? maintenance.onMethod : maintenance.offMethod,
        token,
        timeoutMs: maintenance.timeoutMs,
        allowUnreachable: maintenance.allowUnreachable,
      })),
    );
    return { call, state, triggers, policy: { rollback: this.rollback } };
  }

  backup(): DatabaseBackupArgs | undefined {
    const { config, stack, projectDir } = this.ctx;
    const { backup, release } = config;
    if (!backup) return undefined;
    return {
      connection: this.adminConnection(),
      dir: path.resolve(projectDir, backup.dir),
      stack,
      release: release.id,
      digest: this.ctx.digest,
      minBytes: backup.minBytes,
      expectTables: backup.expectTables,
      restoreTest: backup.restoreTest,
      keep: backup.keep,
      protectReleases: config.rollback ? [config.rollback.undoes] : [],
      offsite: backup.offsite,
      ...(backup.copies.length > 0
        ? {
            copies: backup.copies.map((copy) =>
              copy.kind === "dir"
                ? { kind: "dir" as const, path: path.resolve(projectDir, copy.path), keep: copy.keep }
                : {
                    kind: "s3" as const,
                    ...(copy.endpoint ? { endpoint: copy.endpoint } : {}),
                    region: copy.region,
                    bucket: copy.bucket,
                    prefix: copy.prefix,
                    keep: copy.keep,
                    accessKeyId: this.ctx.secret(copy.accessKeySecret as SecretKey),
                    secretAccessKey: this.ctx.secret(copy.secretKeySecret as SecretKey),
                  },
            ),
            requiredCopies: backup.requiredCopies,
          }
        : {}),
    };
  }

  /** The schema move, when the stack has migrations and the release names a target. */
  schema(
    migrations: readonly Migration[] | undefined,
    backup?: { path: pulumi.Output<string>; sha256: pulumi.Output<string> },
  ): SchemaArgs | undefined {
    const { migrations: settings, release } = this.ctx.config;
    if (!migrations || !settings || !release.schemaTarget) return undefined;
    return {
      connection: this.adminConnection(),
      dir: path.resolve(this.ctx.projectDir, settings.dir),
      migrations,
      target: release.schemaTarget,
      release: release.id,
      table: settings.table,
      lockTimeoutSeconds: settings.lockTimeoutSeconds,
      migrationLockTimeoutMs: settings.lockTimeoutMs,
      statementTimeoutSeconds: settings.statementTimeoutSeconds,
      requireLintAllow: settings.requireLintAllow,
      largeTableRows: settings.largeTableRows,
      ...(settings.baseline ? { baseline: settings.baseline } : {}),
      ...(settings.rehearse && backup
        ? { rehearsal: { backupPath: backup.path, backupSha256: backup.sha256 } }
        : {}),
    };
  }

  /** A rollback's restore of the backup taken before the release it undoes, when it asks for one. */
  restore(): DatabaseRestoreArgs | undefined {
    const { rollback, migrations } = this.ctx.config;
    if (!rollback?.restoreBackup) return undefined;
    return {
      connection: pulumi.output(this.adminConnection()),
      path: rollback.restoreBackup.path,
      sha256: rollback.restoreBackup.sha256,
      table: migrations?.table,
      lockTimeoutSeconds: migrations?.lockTimeoutSeconds ?? 0,
    };
  }

  databaseObjects(): DatabaseObjectsArgs {
    return {
      connection: this.adminConnection(),
      appRole: this.ctx.config.app.databaseRole,
      appRolePassword: this.ctx.secret("appDatabasePassword"),
    };
  }

  /** The image and the app's container; `appRole` comes from the role resource, which orders role -> container. */
  containerRelease(appRole: pulumi.Output<string>, sourceHash: string | undefined): ContainerReleaseArgs {
    const { config, secret, stack, projectDir } = this.ctx;
    const { release, database, app } = config;
    // User and password are percent-encoded: a password may hold `@`, `:`, `/`, `%` or `#`.
    const credentials = pulumi.interpolate`${appRole.apply(encodeURIComponent)}:${secret("appDatabasePassword").apply(encodeURIComponent)}@${database.host}:${database.port}/${database.database}`;
    const databaseUrl =
      database.engine === "mysql"
        ? pulumi.interpolate`mysql://${credentials}`
        : pulumi.interpolate`postgresql://${credentials}?sslmode=${database.sslMode}`;
    return {
      image: release.image,
      build: app.build && {
        context: path.resolve(projectDir, app.build.context),
        dockerfile: app.build.dockerfile,
        prepareCommand: app.build.prepareCommand,
        sourceHash: sourceHash ?? "",
        expectImageId: config.rollback?.imageId,
        args: {
          ...(app.build.baseImage ? { BASE_IMAGE: app.build.baseImage } : {}),
          ...(this.version ? { APP_VERSION: this.version } : {}),
        },
      },
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
    };
  }

  /**
   * What makes the steps after the release run again: the release digest, the image, the
   * containers, and the runs of preflight and maintenance on. With the last two, whatever run
   * switched maintenance on (a rollback after a failed release included) also runs the checks and
   * switches it off, even when the release's own inputs did not change.
   */
  triggers(
    containers: ContainerRelease,
    preflight: Preflight,
    maintenanceOn: MaintenanceMode | undefined,
  ): Triggers {
    return [
      pulumi.output(this.ctx.digest),
      containers.imageId,
      containers.containerIds.apply((ids) => JSON.stringify(ids)),
      preflight.finishedAt,
      maintenanceOn ? maintenanceOn.finishedAt : pulumi.output("no maintenance"),
    ];
  }

  /** One HTTP check a config entry, `{version}` expanded. */
  healthChecks(triggers: Triggers): { name: string; args: HealthCheckArgs }[] {
    return this.ctx.config.checks.map((check) => {
      const spec: HttpCheckSpec = {
        ...check,
        expectJson: expandExpectations(check.expectJson, this.version),
      };
      return { name: check.name, args: { spec, triggers } };
    });
  }

  /** One SQL check a config entry, `{schemaTarget}` expanded. */
  sqlChecks(triggers: Triggers): { name: string; args: SqlCheckArgs }[] {
    const { release, sqlChecks } = this.ctx.config;
    return sqlChecks.map((check) => ({
      name: check.name,
      args: {
        connection: this.adminConnection(),
        spec: {
          ...check,
          expect: check.expect.replace("{schemaTarget}", schemaTargetShown(release.schemaTarget)),
        },
        triggers,
      },
    }));
  }

  /** One smoke flow a config entry, secrets filled in, passing maintenance with the bypass header. */
  smokeTests(triggers: Triggers): { name: string; args: SmokeTestArgs }[] {
    const { config, secret } = this.ctx;
    const bypassHeader = config.maintenance?.bypassHeader;
    const headers = bypassHeader
      ? secret("maintenanceToken").apply((t) => ({ [bypassHeader]: t }))
      : pulumi.output({} as Record<string, string>);
    return config.smokeTests.map((test) => {
      const vars = pulumi
        .all(
          Object.entries(test.vars).map(([k, v]) =>
            typeof v === "string"
              ? pulumi.output([k, v] as const)
              : secret(v.secret as SecretKey).apply((s) => [k, s] as const),
          ),
        )
        .apply((pairs) => Object.fromEntries(pairs) as Record<string, string>);
      const spec: pulumi.Output<SmokeTestSpec> = pulumi.all([vars, headers]).apply(([v, h]) => ({
        name: test.name,
        baseUrl: test.baseUrl,
        headers: h,
        vars: v,
        steps: test.steps.map((step) => ({
          ...step,
          expectJson: step.expectJson ? expandExpectations(step.expectJson, this.version) : undefined,
        })),
        stepTimeoutMs: test.stepTimeoutMs,
      }));
      return { name: test.name, args: { spec, triggers } };
    });
  }

  /** The soak over every GET check's URL, when the stack soaks. */
  soak(triggers: Triggers): SoakArgs | undefined {
    const { soak, checks } = this.ctx.config;
    if (!soak) return undefined;
    const urls = checks.filter((c) => c.method === "GET").map((c) => c.url);
    return { spec: { ...soak, urls }, triggers };
  }

  /** The report files, in the stack's report folder (`{stack}` expanded, relative to the project). */
  reportFiles(report: pulumi.Output<RolloutReport>): ReportFilesArgs {
    const { config, stack, projectDir } = this.ctx;
    return { dir: path.resolve(projectDir, config.report.dir.replaceAll("{stack}", stack)), report };
  }

  /** What the release marker records: the release, its image id and the schema version reached. */
  marker(
    containers: ContainerRelease,
    schemaVersion: pulumi.Output<string> | undefined,
  ): { [K in keyof ReleaseFacts]: pulumi.Input<string> } {
    const { release } = this.ctx.config;
    return {
      release: release.id,
      digest: this.ctx.digest,
      image: release.image,
      imageId: containers.imageId,
      schemaVersion: schemaVersion ?? "none",
    };
  }
}
