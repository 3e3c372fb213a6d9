// Turning validated config into each component's arguments: no resources are created here, and no
// defaults are applied (config/schema.ts already did). The graph in Rollout.ts calls one function
// per phase.
import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import type {
  AnnouncementArgs,
  CommandStepArgs,
  BackupCopyArgs,
  ContainerRelease,
  ContainerReleaseArgs,
  ServiceArgs,
  LogCheckArgs,
  WebSocketCheckArgs,
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
  BaselineArgs,
  SmokeTestArgs,
  SoakArgs,
  ServicesCheckArgs,
  SqlCheckArgs,
  SshTargetArgs,
  Triggers,
} from "../components";
import {
  APP_SERVICE,
  CONFIG_NAMESPACE,
  imageTag,
  startOrder,
  type AppConfig,
  probeUrls,
  secretKeyOf,
  type RolloutConfig,
  type SecretKey,
  type SshTargetConfig,
} from "../config";
import type { HttpCheckSpec } from "../engines/checks/http";
import type { LogCheckSpec } from "../engines/checks/logs";
import type { ServicesCheckSpec } from "../engines/checks/services";
import type { FieldExpectation } from "../engines/checks/match";
import { secretNamesIn } from "../engines/checks/request";
import type { SmokeStep, SmokeTestSpec } from "../engines/checks/smoke";
import type { BaselineResult, SoakSpec } from "../engines/checks/soak";
import type { WebSocketCheckSpec } from "../engines/checks/websocket";
import type { CommandHost, CommandPoint, CommandSecrets } from "../engines/commands";
import { openDockerHost, type DockerEndpoint } from "../engines/dockerHost";
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

/**
 * A config value with each `{secret: name}` object written as the `{secret:name}` template the
 * engines fill, and the secret names it uses.
 */
function withSecretTemplates<T>(value: T): { value: T; names: string[] } {
  const names = new Set<string>();
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") {
      for (const name of secretNamesIn(v)) names.add(name);
      return v;
    }
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") {
      const entries = Object.entries(v as Record<string, unknown>);
      if (entries.length === 1 && entries[0][0] === "secret" && typeof entries[0][1] === "string") {
        names.add(entries[0][1]);
        return `{secret:${entries[0][1]}}`;
      }
      return Object.fromEntries(entries.map(([k, x]) => [k, walk(x)]));
    }
    return v;
  };
  return { value: walk(value) as T, names: [...names] };
}

/** Expands `{version}` in expected JSON values to the release's image tag. */
function expandExpectations(
  expect: Record<string, FieldExpectation>,
  version: string | undefined,
): Record<string, FieldExpectation> {
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

  private endpoint: pulumi.Output<DockerEndpoint> | undefined;

  /**
   * The release's Docker host, opened once per program run: for ssh://, its key and pinned host key
   * are written to a private folder that lasts the Pulumi operation. No secret in the value.
   */
  dockerHost(): pulumi.Output<DockerEndpoint> {
    if (this.endpoint) return this.endpoint;
    const { config, stack, projectDir } = this.ctx;
    const keySecret = config.docker.ssh?.keySecret;
    const key: pulumi.Output<string | undefined> = keySecret
      ? this.ctx.secret(keySecret as SecretKey)
      : pulumi.output(undefined);
    this.endpoint = pulumi.unsecret(
      key.apply((privateKey) =>
        openDockerHost(config.docker, privateKey, `${projectDir}\n${stack}`, projectDir),
      ),
    );
    return this.endpoint;
  }

  /** The content hash of each image's build sources, by service name, for the images built here. */
  static sourceHashes(config: RolloutConfig, projectDir: string): Record<string, string> {
    const built = [
      { name: APP_SERVICE, build: config.app.build },
      ...config.services.map((s) => ({ name: s.name, build: s.build })),
    ];
    return Object.fromEntries(
      built.flatMap(({ name, build }) => {
        if (!build) return [];
        const context = path.resolve(projectDir, build.context);
        const hash = hashSources(
          context,
          build.prepareInputs.length > 0 ? [...build.prepareInputs, build.dockerfile] : ["."],
        );
        return [[name, hash]];
      }),
    );
  }

  /** The named secrets' values as one secret output (empty when there are none). */
  private secretValues(names: readonly string[]): pulumi.Output<Record<string, string>> {
    if (names.length === 0) return pulumi.output({} as Record<string, string>);
    return pulumi.secret(
      pulumi
        .all(names.map((name) => this.ctx.secret(name).apply((v) => [name, v] as const)))
        .apply((pairs) => Object.fromEntries(pairs) as Record<string, string>),
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
      webhookUrl: secret(notify.webhookSecret),
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
      this.ctx.secret(maintenance.tokenSecret).apply((token) => ({
        url: state === "on" ? maintenance.enableUrl : maintenance.disableUrl,
        method: state === "on" ? maintenance.onMethod : maintenance.offMethod,
        token,
        timeoutMs: maintenance.timeoutMs,
        allowUnreachable: maintenance.allowUnreachable,
      })),
    );
    // The token's key steers messages only; in the policy it is no reason to switch again.
    const tokenKey = `${CONFIG_NAMESPACE}:${secretKeyOf(maintenance.tokenSecret)}`;
    return { call, state, triggers, policy: { rollback: this.rollback, tokenKey } };
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
            copies: backup.copies.map((copy): BackupCopyArgs => {
              switch (copy.kind) {
                case "dir":
                  return { kind: "dir", path: path.resolve(projectDir, copy.path), keep: copy.keep };
                case "ssh":
                  return { ...this.sshTarget(copy), kind: "ssh", path: copy.path, keep: copy.keep };
                case "s3":
                  return {
                    kind: "s3",
                    ...(copy.endpoint ? { endpoint: copy.endpoint } : {}),
                    region: copy.region,
                    bucket: copy.bucket,
                    prefix: copy.prefix,
                    keep: copy.keep,
                    accessKeyId: this.ctx.secret(copy.accessKeySecret as SecretKey),
                    secretAccessKey: this.ctx.secret(copy.secretKeySecret as SecretKey),
                  };
              }
            }),
            requiredCopies: backup.requiredCopies,
          }
        : {}),
      ...(backup.archives.length > 0
        ? {
            archives: backup.archives.map((a) => ({
              name: a.name,
              path: a.path,
              ...(a.host ? { host: this.sshTarget(a.host) } : {}),
              excludes: a.excludes,
              minFiles: a.minFiles,
            })),
          }
        : {}),
    };
  }

  /** An SSH host's settings as an engine takes them: files from the project, the key from its secret. */
  sshTarget(target: SshTargetConfig): SshTargetArgs {
    const { projectDir } = this.ctx;
    return {
      host: target.host,
      port: target.port,
      ...(target.keySecret ? { privateKey: this.ctx.secret(target.keySecret as SecretKey) } : {}),
      ...(target.keyFile ? { keyFile: path.resolve(projectDir, target.keyFile) } : {}),
      ...(target.hostKey ? { hostKey: target.hostKey } : {}),
      ...(target.knownHostsFile ? { knownHostsFile: path.resolve(projectDir, target.knownHostsFile) } : {}),
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
      ...(rollback.restoreBackup.archives && rollback.restoreBackup.archives.length > 0
        ? {
            // One output, so a key from secret config keeps the whole list secret in state.
            archives: pulumi.output(
              rollback.restoreBackup.archives.map((recorded) => {
                const spec = this.ctx.config.backup?.archives.find((a) => a.name === recorded.name);
                if (!spec) {
                  throw new Error(
                    `rollout:rollback.restoreBackup names archive ${recorded.name}, which rollout:backup.archives does not have; ` +
                      "run npm run rollback again so it reads the archives from the stack config",
                  );
                }
                return {
                  name: spec.name,
                  path: spec.path,
                  ...(spec.host ? { host: this.sshTarget(spec.host) } : {}),
                  excludes: spec.excludes,
                  file: recorded.path,
                  sha256: recorded.sha256,
                };
              }),
            ),
          }
        : {}),
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

  /**
   * The services in start order: the app (its image is the release's, its database URL made from
   * `appRole`, which comes from the role resource and so orders role -> containers) and the ones
   * beside it. A rollback runs each image id the target update ran.
   */
  containerRelease(
    appRole: pulumi.Output<string>,
    sourceHashes: Record<string, string>,
  ): ContainerReleaseArgs {
    const { config, secret, stack, projectDir } = this.ctx;
    const { release, database, app, rollback } = config;
    // User and password are percent-encoded: a password may hold `@`, `:`, `/`, `%` or `#`.
    const credentials = pulumi.interpolate`${appRole.apply(encodeURIComponent)}:${secret("appDatabasePassword").apply(encodeURIComponent)}@${database.host}:${database.port}/${database.database}`;
    const databaseUrl =
      database.engine === "mysql"
        ? pulumi.interpolate`mysql://${credentials}`
        : pulumi.interpolate`postgresql://${credentials}?sslmode=${database.sslMode}`;
    const buildArgs = (
      name: string,
      build: AppConfig["build"],
      expectImageId: string | undefined,
      version: string | undefined,
    ): ServiceArgs["build"] =>
      build && {
        context: path.resolve(projectDir, build.context),
        dockerfile: build.dockerfile,
        prepareCommand: build.prepareCommand,
        sourceHash: sourceHashes[name] ?? "",
        expectImageId,
        args: {
          ...(build.baseImage ? { BASE_IMAGE: build.baseImage } : {}),
          ...(version ? { APP_VERSION: version } : {}),
        },
      };
    const secretEnvOf = (secretEnv: Record<string, string>) =>
      Object.fromEntries(Object.entries(secretEnv).map(([env, key]) => [env, secret(key)]));
    const own: ServiceArgs = {
      name: APP_SERVICE,
      own: true,
      image: release.image,
      build: buildArgs(APP_SERVICE, app.build, rollback?.imageId, this.version),
      ...(app.build || !rollback?.imageId ? {} : { expectImageId: rollback.imageId }),
      // HOST: where the service listens; a remote Docker host's service must be reachable from here.
      env: { ...app.env, PORT: String(app.port), HOST: app.env.HOST ?? "127.0.0.1" },
      secretEnv: { DATABASE_URL: databaseUrl, ...secretEnvOf(app.secretEnv) },
      restart: app.restart,
      volumes: app.stateVolume ? [{ name: "state", containerPath: app.stateVolume.containerPath }] : [],
      ...(app.healthcheck ? { healthcheck: app.healthcheck } : {}),
      dependsOn: app.dependsOn,
      keep: false,
    };
    const others = new Map(
      config.services.map((s): [string, ServiceArgs] => {
        const expectImageId = rollback?.imageIds?.[s.name];
        return [
          s.name,
          {
            name: s.name,
            image: s.image,
            build: buildArgs(s.name, s.build, expectImageId, imageTag(s.image)),
            ...(s.build || !expectImageId ? {} : { expectImageId }),
            ...(s.command ? { command: s.command } : {}),
            ...(s.entrypoint ? { entrypoint: s.entrypoint } : {}),
            env: s.env,
            secretEnv: secretEnvOf(s.secretEnv),
            restart: s.restart,
            volumes: s.volumes,
            ...(s.healthcheck ? { healthcheck: s.healthcheck } : {}),
            dependsOn: s.dependsOn,
            keep: s.keep,
          },
        ];
      }),
    );
    return {
      dockerHost: this.dockerHost(),
      containerPrefix: app.name,
      labels: { "rollout.release": release.id, "rollout.stack": stack },
      services: startOrder(config).map((name) => (name === APP_SERVICE ? own : others.get(name)!)),
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

  /**
   * What makes a command before the containers run again: the release digest and the runs of
   * preflight and maintenance on (the containers, which the later points also key on, come after).
   */
  earlyTriggers(preflight: Preflight, maintenanceOn: MaintenanceMode | undefined): Triggers {
    return [
      pulumi.output(this.ctx.digest),
      preflight.finishedAt,
      maintenanceOn ? maintenanceOn.finishedAt : pulumi.output("no maintenance"),
    ];
  }

  /**
   * The command steps at one point, in config order. `everyRelease` steps key on `triggers`;
   * `onChange` steps on nothing but their own config. Secret env values and the SSH key travel as
   * one secret; relative folders and known_hosts files resolve against the project.
   */
  commands(at: CommandPoint, triggers: Triggers): { name: string; args: CommandStepArgs }[] {
    const { config, projectDir, secret } = this.ctx;
    return config.commands
      .filter((c) => c.at === at)
      .map((c) => {
        const { ssh } = c;
        const host: CommandHost = ssh
          ? {
              kind: "ssh",
              host: ssh.host,
              port: ssh.port,
              ...(ssh.keyFile ? { keyFile: path.resolve(projectDir, ssh.keyFile) } : {}),
              ...(ssh.hostKey ? { hostKey: ssh.hostKey } : {}),
              ...(ssh.knownHostsFile ? { knownHostsFile: path.resolve(projectDir, ssh.knownHostsFile) } : {}),
            }
          : { kind: "local" };
        const keySecret = ssh?.keySecret;
        const secretEnv = Object.entries(c.secretEnv);
        const secrets: pulumi.Input<CommandSecrets> =
          secretEnv.length === 0 && !keySecret
            ? { env: {} }
            : pulumi.secret(
                pulumi
                  .all([
                    pulumi.all(
                      secretEnv.map(([env, key]) => secret(key as SecretKey).apply((v) => [env, v] as const)),
                    ),
                    keySecret ? secret(keySecret as SecretKey) : pulumi.output(undefined),
                  ])
                  .apply(([pairs, privateKey]) => ({
                    env: Object.fromEntries(pairs),
                    ...(privateKey === undefined ? {} : { privateKey }),
                  })),
              );
        return {
          name: c.name,
          args: {
            spec: {
              name: c.name,
              run: c.run,
              cwd:
                c.cwd === undefined
                  ? undefined
                  : host.kind === "local"
                    ? path.resolve(projectDir, c.cwd)
                    : c.cwd,
              env: c.env,
              host,
              timeoutSeconds: c.timeoutSeconds,
              expectExit: c.expectExit,
              outputMustContain: c.outputMustContain,
              outputMustNotContain: c.outputMustNotContain,
            },
            ...(c.revert === undefined ? {} : { revert: c.revert }),
            secrets,
            triggers: c.runsWhen === "everyRelease" ? triggers : [],
          },
        };
      });
  }

  /**
   * One HTTP check a config entry, `{version}` expanded; a check whose headers or body name a
   * secret gets the secret's value in its (then secret) spec.
   */
  healthChecks(triggers: Triggers): { name: string; args: HealthCheckArgs }[] {
    return this.ctx.config.checks.map((check) => {
      const { json, form, headers: rawHeaders, ...rest } = check;
      const request = withSecretTemplates({ headers: rawHeaders, json, form });
      const plain: HttpCheckSpec = {
        ...rest,
        headers: request.value.headers as Record<string, string>,
        ...(request.value.json !== undefined || request.value.form !== undefined
          ? {
              body: {
                ...(request.value.json !== undefined ? { json: request.value.json } : {}),
                ...(request.value.form !== undefined
                  ? { form: request.value.form as Record<string, string> }
                  : {}),
              },
            }
          : {}),
        expectJson: expandExpectations(check.expectJson, this.version),
      };
      const spec =
        request.names.length === 0
          ? plain
          : this.secretValues(request.names).apply((secrets): HttpCheckSpec => ({ ...plain, secrets }));
      return { name: check.name, args: { spec, triggers } };
    });
  }

  /** One WebSocket check a config entry; one naming a secret gets its value in its (then secret) spec. */
  wsChecks(triggers: Triggers): { name: string; args: WebSocketCheckArgs }[] {
    return this.ctx.config.wsChecks.map((check) => {
      const request = withSecretTemplates({ headers: check.headers, send: check.send });
      const send = request.value.send;
      const plain: WebSocketCheckSpec = {
        name: check.name,
        url: check.url,
        headers: request.value.headers as Record<string, string>,
        ...(send !== undefined ? { send: typeof send === "string" ? send : JSON.stringify(send) } : {}),
        expectContains: check.expectContains,
        expectJson: expandExpectations(check.expectJson, this.version),
        latencyBudgetMs: check.latencyBudgetMs,
        timeoutMs: check.timeoutMs,
        retries: check.retries,
        retryIntervalMs: check.retryIntervalMs,
      };
      const spec =
        request.names.length === 0
          ? plain
          : this.secretValues(request.names).apply((secrets): WebSocketCheckSpec => ({ ...plain, secrets }));
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
          ...(check.expect !== undefined
            ? { expect: check.expect.replace("{schemaTarget}", schemaTargetShown(release.schemaTarget)) }
            : {}),
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
      ? secret(config.maintenance!.tokenSecret).apply((t) => ({ [bypassHeader]: t }))
      : pulumi.output({} as Record<string, string>);
    return config.smokeTests.map((test) => {
      const vars = pulumi
        .all(
          Object.entries(test.vars).map(([k, v]) =>
            typeof v === "string"
              ? pulumi.output([k, v] as const)
              : secret(v.secret).apply((s) => [k, s] as const),
          ),
        )
        .apply((pairs) => Object.fromEntries(pairs) as Record<string, string>);
      const steps = withSecretTemplates(
        test.steps.map((step): SmokeStep => ({
          ...step,
          headers: step.headers as Record<string, string> | undefined,
          form: step.form as Record<string, string> | undefined,
          expectJson: step.expectJson ? expandExpectations(step.expectJson, this.version) : undefined,
        })),
      );
      const spec: pulumi.Output<SmokeTestSpec> = pulumi
        .all([vars, headers, this.secretValues(steps.names)])
        .apply(([v, h, secrets]) => ({
          name: test.name,
          baseUrl: test.baseUrl,
          headers: h,
          vars: v,
          ...(steps.names.length > 0 ? { secrets } : {}),
          steps: steps.value,
          stepTimeoutMs: test.stepTimeoutMs,
        }));
      return { name: test.name, args: { spec, triggers } };
    });
  }

  /** The check that every service runs (and the health-checked ones are healthy) on the Docker host. */
  servicesCheck(containers: ContainerRelease, triggers: Triggers): ServicesCheckArgs {
    const { config } = this.ctx;
    const healthChecked = [
      ...(config.app.healthcheck ? [APP_SERVICE] : []),
      ...config.services.filter((s) => s.healthcheck).map((s) => s.name),
    ];
    const order = startOrder(config);
    const spec = pulumi
      .all([containers.containerIds, this.dockerHost()])
      .apply(([ids, dockerHost]): ServicesCheckSpec => ({
        dockerHost,
        containers: order.map((name) => ({ name, id: ids[name] })),
        healthChecked,
        kept: config.services.filter((s) => s.keep).map((s) => s.name),
        // As long as the slowest health check may take to pass at a start.
        timeoutSeconds: Math.max(
          10,
          ...[config.app, ...config.services].map((s) => s.healthcheck?.waitSeconds ?? 0),
        ),
      }));
    return { spec, triggers };
  }

  /**
   * The log check over the release's containers, when the stack has one: their logs since the
   * release started (`since`, the preflight's start). The stack's secrets are handed over only to
   * be kept out of its messages.
   */
  logCheck(
    containers: ContainerRelease,
    since: pulumi.Output<string>,
    triggers: Triggers,
  ): LogCheckArgs | undefined {
    const { logCheck, app } = this.ctx.config;
    if (!logCheck) return undefined;
    const hidden = this.secretValues([
      ...new Set([
        "appDatabasePassword",
        ...Object.values(app.secretEnv),
        ...this.ctx.config.services.flatMap((s) => Object.values(s.secretEnv)),
      ]),
    ]);
    const spec = pulumi
      .all([containers.containerIds, since, hidden, this.dockerHost()])
      .apply(([ids, from, secrets, dockerHost]): LogCheckSpec => ({
        name: "logs",
        dockerHost,
        containers: ids,
        since: from,
        forbid: logCheck.forbid,
        require: logCheck.require,
        timeoutSeconds: logCheck.timeoutSeconds,
        ...(Object.keys(secrets).length > 0 ? { secrets: Object.values(secrets) } : {}),
      }));
    return { spec, triggers };
  }

  /**
   * The baseline the soak judges against, when the stack asks for one: the soak's URLs probed on
   * the release running now, after the preflight and before maintenance on. A rollback has none:
   * the release it undoes is no measure, so its soak judges by the absolute limits.
   */
  baseline(early: Triggers): BaselineArgs | undefined {
    const { soak, preflight } = this.ctx.config;
    if (!soak?.baseline || this.rollback) return undefined;
    return {
      spec: {
        urls: probeUrls(this.ctx.config),
        probes: soak.baseline.probes,
        intervalMs: soak.intervalMs,
        requestTimeoutMs: soak.requestTimeoutMs,
        allowNoCurrentService: preflight.allowNoCurrentService,
      },
      triggers: early,
    };
  }

  /**
   * The soak over the URLs a bare GET can probe (see probeUrls), when the stack soaks; with the
   * smoke flows and the log check to run again as it goes, and the baseline to judge against, when
   * the stack asks for them.
   */
  soak(
    triggers: Triggers,
    again: {
      smokeTests: readonly { args: SmokeTestArgs }[];
      logCheck: LogCheckArgs | undefined;
      baseline: pulumi.Output<{ measured: BaselineResult | null }> | undefined;
    },
  ): SoakArgs | undefined {
    const { soak } = this.ctx.config;
    if (!soak) return undefined;
    const urls = probeUrls(this.ctx.config);
    const { smokeEverySeconds, logsEverySeconds, baseline: relative, ...limits } = soak;
    if (smokeEverySeconds === undefined && logsEverySeconds === undefined && !relative) {
      return { spec: { ...limits, urls }, triggers };
    }
    const smoke = pulumi.all(again.smokeTests.map((t) => t.args.spec));
    const logs = again.logCheck ? pulumi.output(again.logCheck.spec) : pulumi.output(undefined);
    const measured = again.baseline ?? pulumi.output({ measured: null });
    const spec = pulumi.all([smoke, logs, measured]).apply(([tests, check, b]): SoakSpec => ({
      ...limits,
      urls,
      ...(smokeEverySeconds !== undefined ? { smoke: { everySeconds: smokeEverySeconds, tests } } : {}),
      ...(logsEverySeconds !== undefined && check ? { logs: { everySeconds: logsEverySeconds, check } } : {}),
      ...(relative
        ? {
            baseline: {
              result: b.measured,
              maxErrorRateIncrease: relative.maxErrorRateIncrease,
              maxP95Increase: relative.maxP95Increase,
              p95FloorMs: relative.p95FloorMs,
            },
          }
        : {}),
    }));
    return { spec, triggers };
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
  ): { [K in keyof ReleaseFacts]-?: pulumi.Input<ReleaseFacts[K]> } {
    const { release, services } = this.ctx.config;
    return {
      release: release.id,
      digest: this.ctx.digest,
      image: release.image,
      imageId: containers.imageId,
      schemaVersion: schemaVersion ?? "none",
      services: containers.imageIds.apply((ids) =>
        Object.fromEntries(services.map((s) => [s.name, { image: s.image, imageId: ids[s.name] }])),
      ),
    };
  }
}
