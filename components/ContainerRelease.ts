import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import {
  buildImage,
  type ImageBuildPolicy,
  type ImageBuildResult,
  type ImageBuildSpec,
} from "../engines/image/build";
import { dockerProviderSettings, type DockerEndpoint } from "../engines/dockerHost";
import { ranResult, RunOnce, runOnceProvider } from "./runOnce";
import { STEPS, TOKENS } from "./tokens";

// Images from a local context are built with the docker CLI (classic builder, host network); the
// previous image stays tagged, so a rollback reuses it.
const imageBuildProvider = runOnceProvider(
  async (inputs: { spec: ImageBuildSpec; policy: ImageBuildPolicy }, progress) =>
    buildImage(inputs.spec, inputs.policy, progress),
);

/** How to build the image locally instead of pulling it. */
export interface ImageBuildArgs {
  /** Build context folder (absolute, or relative to the program's working directory). */
  readonly context: string;
  /** Dockerfile path relative to the context. */
  readonly dockerfile: string;
  /** Build arguments, e.g. `BASE_IMAGE` for an offline base. */
  readonly args: Record<string, string>;
  /** A shell command run in the context before each build (e.g. bundling sources). @default none */
  readonly prepareCommand?: string;
  /** Content hash of the build's sources (engines/image/sources.ts): the image is rebuilt when it changes. */
  readonly sourceHash: string;
  /** A rollback's recorded image id: run exactly that image, never a rebuild. @default build or reuse */
  readonly expectImageId?: string;
}

/** The container health check Docker runs; the service counts as started once it passes. */
export interface HealthcheckArgs {
  /** A shell line (run with `CMD-SHELL`) or an argument list (`CMD`). */
  readonly command: string | readonly string[];
  readonly intervalSeconds: number;
  readonly timeoutSeconds: number;
  readonly retries: number;
  readonly startPeriodSeconds: number;
  /** How long the release waits for healthy before it fails. */
  readonly waitSeconds: number;
}

/** One container of the release. */
export interface ServiceArgs {
  /** Service name, unique within the release; the container is named `<containerPrefix>-<name>`. */
  readonly name: string;
  /** The release's own service (the app): its resources keep the names they had when it was the only one. */
  readonly own?: boolean;
  /** Image reference to run; with `build`, the tag given to the built image. */
  readonly image: string;
  /** Build the image from a local context. @default pull `image` and keep it locally */
  readonly build?: ImageBuildArgs;
  /** A rollback's recorded image id of a pulled image: run exactly that image. @default the pulled one */
  readonly expectImageId?: string;
  /** Replaces the image's CMD. @default the image's */
  readonly command?: readonly string[];
  /** Replaces the image's ENTRYPOINT. @default the image's */
  readonly entrypoint?: readonly string[];
  /** Plain environment variables. */
  readonly env: Record<string, pulumi.Input<string>>;
  /** Environment variables whose values are secrets; they stay encrypted in state and hidden in output. */
  readonly secretEnv: Record<string, pulumi.Input<string>>;
  /** Docker restart policy. */
  readonly restart: "no" | "on-failure" | "always" | "unless-stopped";
  /** Named volumes to mount; each is created once (`<containerPrefix>-<name>`) and kept across releases. */
  readonly volumes: readonly {
    readonly name: string;
    readonly containerPath: string;
    readonly readOnly?: boolean;
  }[];
  /** Docker's health check; dependants start once it passes. @default none: started is enough */
  readonly healthcheck?: HealthcheckArgs;
  /** Services (earlier in `services`) that must be started, and healthy if they have a check, first. */
  readonly dependsOn: readonly string[];
  /** Long-lived: no per-release labels, so a new release leaves the container running. */
  readonly keep: boolean;
}

export interface ContainerReleaseArgs {
  /**
   * The Docker host (engines/dockerHost.ts openDockerHost): unix socket, `ssh://user@host[:port]` or
   * `tcp://` with TLS; resolves once its SSH files are written.
   */
  readonly dockerHost: pulumi.Input<DockerEndpoint>;
  /** Prefix of container names; the stack's app name. */
  readonly containerPrefix: string;
  /** The services, each after the ones it depends on; exactly one is the release's own. */
  readonly services: readonly ServiceArgs[];
  /** Labels put on every container that is not kept, e.g. the release id. */
  readonly labels: Record<string, pulumi.Input<string>>;
}

/**
 * The environment in words a preview can show. One secret value makes the whole `envs` list secret
 * in a diff, so each plain variable is also a label (`rollout.env.<NAME>`) and the secret ones are
 * named, never valued (`rollout.secret-env`): a change of a plain value, or a secret added or
 * removed, stays reviewable; a changed secret value shows only as a change of `envs`.
 */
function envLabels(service: ServiceArgs): { label: string; value: pulumi.Input<string> }[] {
  const plain = Object.entries(service.env)
    .sort(([a], [b]) => (a < b ? -1 : 1))
    .map(([k, v]) => ({ label: `rollout.env.${k}`, value: v }));
  const secretNames = Object.keys(service.secretEnv).sort();
  return secretNames.length === 0
    ? plain
    : [...plain, { label: "rollout.secret-env", value: secretNames.join(",") }];
}

/** Docker's health check as the provider takes it (durations in Docker's notation). */
function dockerHealthcheck(h: HealthcheckArgs): docker.types.input.ContainerHealthcheck {
  return {
    tests: typeof h.command === "string" ? ["CMD-SHELL", h.command] : ["CMD", ...h.command],
    interval: `${h.intervalSeconds}s`,
    timeout: `${h.timeoutSeconds}s`,
    retries: h.retries,
    startPeriod: `${h.startPeriodSeconds}s`,
  };
}

/**
 * The release's services on one Docker host: each one's image (built from a context, or pulled and
 * kept, so the previous one stays for a rollback) and its container on host networking, recreated
 * (stop old, start new) in dependency order. A service with a health check counts as started only
 * once Docker calls it healthy, so its dependants wait for that; one that never turns healthy fails
 * the release before any dependant starts. The app's resources keep the names they had when it was
 * the only service.
 */
export class ContainerRelease extends pulumi.ComponentResource {
  /** Image id (`sha256:...`) the app runs. */
  readonly imageId: pulumi.Output<string>;
  /** Image ids by service name. */
  readonly imageIds: pulumi.Output<Record<string, string>>;
  /** Container ids by service name. */
  readonly containerIds: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: ContainerReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super(TOKENS.containerRelease, name, {}, opts);
    const settings = pulumi.output(args.dockerHost).apply(dockerProviderSettings);
    const provider = new docker.Provider(
      `${name}-docker`,
      // An unset value stays unset (undefined), so a local host's provider inputs are as before.
      {
        host: settings.host,
        sshOpts: settings.sshOpts as pulumi.Output<string[]>,
        certPath: settings.certPath as pulumi.Output<string>,
      },
      { parent: this },
    );

    const imageOf = (service: ServiceArgs): pulumi.Output<string> => {
      const base = service.own ? name : `${name}-${service.name}`;
      if (service.build) {
        const build = service.build;
        const image = new RunOnce<ImageBuildResult>(
          STEPS.imageBuild,
          imageBuildProvider,
          `${base}-${STEPS.imageBuild.suffix}`,
          {
            spec: {
              context: path.resolve(build.context),
              dockerfile: build.dockerfile,
              tag: service.image,
              buildArgs: build.args,
              prepareCommand: build.prepareCommand,
              sourceHash: build.sourceHash,
              dockerHost: args.dockerHost,
            },
            policy: { expectImageId: build.expectImageId },
          },
          { parent: this },
        );
        return ranResult(image).apply((r) => r.imageId);
      }
      const image = new docker.RemoteImage(
        `${base}-image`,
        { name: service.image, keepLocally: true },
        { parent: this, provider },
      );
      return service.expectImageId ? image.imageId.apply(() => service.expectImageId!) : image.imageId;
    };

    const labels = Object.entries(args.labels).map(([label, value]) => ({ label, value }));
    const volumes = new Map<string, docker.Volume>();
    for (const volumeName of new Set(args.services.flatMap((s) => s.volumes.map((v) => v.name)))) {
      volumes.set(
        volumeName,
        new docker.Volume(
          `${name}-volume-${volumeName}`,
          { name: `${args.containerPrefix}-${volumeName}` },
          // Its data is in no backup: a release or rollback without it leaves the volume on the host.
          { parent: this, provider, retainOnDelete: true },
        ),
      );
    }
    const containers = new Map<string, docker.Container>();
    const imageIds: Record<string, pulumi.Output<string>> = {};
    for (const service of args.services) {
      const imageId = imageOf(service);
      imageIds[service.name] = imageId;
      const plainEnv = Object.entries(service.env).map(([k, v]) => pulumi.interpolate`${k}=${v}`);
      const secretEnv = Object.entries(service.secretEnv).map(([k, v]) =>
        pulumi.secret(pulumi.interpolate`${k}=${v}`),
      );
      const dependsOn = service.dependsOn.map((d) => {
        const c = containers.get(d);
        if (!c) throw new Error(`service ${service.name} depends on ${d}, which is not before it`);
        return c;
      });
      const container = new docker.Container(
        `${name}-${service.name}`,
        {
          name: `${args.containerPrefix}-${service.name}`,
          image: imageId,
          networkMode: "host",
          ...(service.command ? { command: [...service.command] } : {}),
          ...(service.entrypoint ? { entrypoints: [...service.entrypoint] } : {}),
          envs: [...plainEnv, ...secretEnv],
          restart: service.restart,
          labels: [
            ...(service.keep ? [{ label: "rollout.kept", value: "true" }] : labels),
            ...envLabels(service),
          ],
          mustRun: true,
          volumes: service.volumes.map((v) => ({
            volumeName: volumes.get(v.name)!.name,
            containerPath: v.containerPath,
            ...(v.readOnly ? { readOnly: true } : {}),
          })),
          ...(service.healthcheck
            ? {
                healthcheck: dockerHealthcheck(service.healthcheck),
                wait: true,
                waitTimeout: service.healthcheck.waitSeconds,
              }
            : {}),
        },
        // Recreate: the old container stops before the new one takes its name and port.
        { parent: this, provider, deleteBeforeReplace: true, dependsOn },
      );
      containers.set(service.name, container);
    }

    const byName = <T>(entries: [string, pulumi.Output<T>][]) =>
      pulumi
        .all(entries.map(([svc, v]) => v.apply((x) => [svc, x] as const)))
        .apply((pairs) => Object.fromEntries(pairs) as Record<string, T>);
    const own = args.services.find((s) => s.own);
    if (!own) throw new Error("a release needs its own service");
    this.imageId = imageIds[own.name];
    this.imageIds = byName(Object.entries(imageIds));
    this.containerIds = byName([...containers].map(([svc, c]) => [svc, c.id]));
    this.registerOutputs({ imageId: this.imageId, imageIds: this.imageIds, containerIds: this.containerIds });
  }
}
