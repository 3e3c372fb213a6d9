import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import type { HttpCheckResult, HttpCheckSpec } from "./checks/http";
import { imageTag, type RolloutConfig } from "./config";
import { ContainerRelease } from "./ContainerRelease";
import { DatabaseObjects } from "./DatabaseObjects";
import { HealthCheck } from "./HealthCheck";

export interface RolloutArgs {
  /** Validated stack config (see config.ts). */
  readonly config: RolloutConfig;
  /** Stack name, for labels and the report. */
  readonly stack: string;
  /** Secret: the admin password of the target database. */
  readonly databasePassword: pulumi.Input<string>;
  /** Secret: the password of the application's database role. */
  readonly appDatabasePassword: pulumi.Input<string>;
  /** Folder that relative paths in config are resolved against (the project folder). */
  readonly projectDir: string;
}

/** The rollout report: what was released and what gated it. */
export interface RolloutReport {
  readonly release: { readonly id: string; readonly image: string; readonly stack: string };
  readonly image: { readonly reference: string; readonly id: string };
  readonly containers: Record<string, string>;
  readonly checks: {
    readonly name: string;
    readonly passed: boolean;
    readonly status: number;
    readonly latencyMs: number;
    readonly attempts: number;
  }[];
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

/** One release of the service: database objects, then containers, then the checks that gate it. */
export class Rollout extends pulumi.ComponentResource {
  readonly report: pulumi.Output<RolloutReport>;

  constructor(name: string, args: RolloutArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollout:index:Rollout", name, {}, opts);
    const { config } = args;
    const { release, database, app } = config;
    const version = imageTag(release.image);

    const dbObjects = new DatabaseObjects(
      `${name}-db`,
      {
        connection: { ...database, adminPassword: args.databasePassword },
        appRole: app.databaseRole,
        appRolePassword: args.appDatabasePassword,
      },
      { parent: this },
    );

    const databaseUrl = pulumi.interpolate`postgresql://${dbObjects.appRoleName}:${args.appDatabasePassword}@${database.host}:${database.port}/${database.database}?sslmode=${database.sslMode}`;
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
        labels: { "rollout.release": release.id, "rollout.stack": args.stack },
        services: [
          {
            name: "app",
            env: { ...app.env, PORT: String(app.port), HOST: "127.0.0.1" },
            secretEnv: { DATABASE_URL: databaseUrl },
            restart: app.restart,
          },
        ],
      },
      { parent: this, dependsOn: [dbObjects] },
    );

    const checks = config.checks.map((check) => {
      const spec: HttpCheckSpec = { ...check, expectJson: expandExpectations(check.expectJson, version) };
      return new HealthCheck(
        `${name}-check-${check.name}`,
        {
          spec,
          triggers: [
            pulumi.output(release.id),
            containers.imageId,
            containers.containerIds.apply((ids) => JSON.stringify(ids)),
          ],
        },
        { parent: this, dependsOn: [containers] },
      );
    });

    const results: pulumi.Output<HttpCheckResult[]> = pulumi.all(checks.map((c) => c.result));
    this.report = pulumi
      .all([containers.imageId, containers.containerIds, results])
      .apply(([imageId, containerIds, checkResults]): RolloutReport => ({
        release: { id: release.id, image: release.image, stack: args.stack },
        image: { reference: release.image, id: imageId },
        containers: containerIds,
        checks: checkResults.map((r) => ({
          name: r.name,
          passed: r.passed,
          status: r.status,
          latencyMs: r.latencyMs,
          attempts: r.attempts,
        })),
      }));
    this.registerOutputs({ report: this.report });
  }
}
