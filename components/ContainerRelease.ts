import * as docker from "@pulumi/docker";
import * as pulumi from "@pulumi/pulumi";
import path from "node:path";
import { RunOnce, runOnceProvider } from "./dynamic/runOnce";
import { buildImage, type ImageBuildResult, type ImageBuildSpec } from "./release/image";
import { hashSources } from "./sources";

// Images from a local context are built with the docker CLI (classic builder, host network); the
// previous image stays tagged, so a rollback reuses it.
const imageBuildProvider = runOnceProvider(async (inputs: { spec: ImageBuildSpec }) =>
  buildImage(inputs.spec),
);

/** How to build the image locally instead of pulling it. */
export interface ImageBuildArgs {
  /** Build context folder (absolute, or relative to the program's working directory). */
  readonly context: string;
  /** Dockerfile path relative to the context. @default "Dockerfile" */
  readonly dockerfile?: string;
  /** Build arguments, e.g. `BASE_IMAGE` for an offline base. */
  readonly args?: Record<string, string>;
  /** A shell command run in the context before each build (e.g. bundling sources). @default none */
  readonly prepareCommand?: string;
  /**
   * Files or folders, relative to the context, whose content (with the Dockerfile) decides when the
   * image is rebuilt. @default the whole context
   */
  readonly prepareInputs?: readonly string[];
}

/** One container of the release. */
export interface ServiceArgs {
  /** Service name, unique within the release; the container is named `<containerPrefix>-<name>`. */
  readonly name: string;
  /** Plain environment variables. */
  readonly env?: Record<string, pulumi.Input<string>>;
  /** Environment variables whose values are secrets; they stay encrypted in state and hidden in output. */
  readonly secretEnv?: Record<string, pulumi.Input<string>>;
  /** Docker restart policy. @default "unless-stopped" */
  readonly restart?: "no" | "on-failure" | "always" | "unless-stopped";
  /** Container health check command (exec form); `up` waits until it reports healthy. @default none */
  readonly healthcheck?: readonly string[];
  /** Services that must be started (and healthy, when they have a health check) before this one. */
  readonly after?: readonly string[];
  /**
   * Named volumes to mount; each is created once (`<containerPrefix>-<name>`) and kept across releases.
   * @default none
   */
  readonly volumes?: readonly { readonly name: string; readonly containerPath: string }[];
  /** Seconds to wait for the container to become healthy. @default 60 */
  readonly healthTimeoutSeconds?: number;
}

export interface ContainerReleaseArgs {
  /** Image reference to run, e.g. `sample-app:1.1.0`; with `build`, the tag given to the built image. */
  readonly image: string;
  /** Build the image from a local context. @default pull `image` and keep it locally */
  readonly build?: ImageBuildArgs;
  /** Docker host URL: unix socket, `ssh://user@host` or `tcp://`. */
  readonly dockerHost: string;
  /** Prefix of container names; the stack's app name. */
  readonly containerPrefix: string;
  /** The services, started in the order their `after` lists require. */
  readonly services: readonly ServiceArgs[];
  /** Labels put on every container, e.g. the release id. */
  readonly labels?: Record<string, pulumi.Input<string>>;
}

/**
 * Orders services so that each comes after the ones it names in `after`. Throws naming the service
 * for an unknown name or a cycle.
 */
export function startOrder(services: readonly ServiceArgs[]): ServiceArgs[] {
  const byName = new Map(services.map((s) => [s.name, s]));
  if (byName.size !== services.length) {
    const seen = new Set<string>();
    const dup = services.find((s) => (seen.has(s.name) ? true : (seen.add(s.name), false)));
    throw new Error(`service \`${dup?.name}\` is listed twice; give each service a unique name`);
  }
  const ordered: ServiceArgs[] = [];
  const state = new Map<string, "visiting" | "done">();
  const visit = (service: ServiceArgs, chain: string[]) => {
    if (state.get(service.name) === "done") return;
    if (state.get(service.name) === "visiting") {
      throw new Error(
        `services start in a cycle (${[...chain, service.name].join(" -> ")}); remove one of these \`after\` entries`,
      );
    }
    state.set(service.name, "visiting");
    for (const dep of service.after ?? []) {
      const target = byName.get(dep);
      if (!target) {
        throw new Error(
          `service \`${service.name}\` starts after \`${dep}\`, which is not a service of this release; ` +
            `use one of: ${[...byName.keys()].join(", ")}`,
        );
      }
      visit(target, [...chain, service.name]);
    }
    state.set(service.name, "done");
    ordered.push(service);
  };
  for (const service of services) visit(service, []);
  return ordered;
}

/**
 * The release of an image to one Docker host: the image (built from a context or pulled and kept, so
 * the previous one stays for a rollback) and its containers on host networking, recreated in
 * dependency order (stop old, start new).
 */
export class ContainerRelease extends pulumi.ComponentResource {
  /** Image id (`sha256:...`) of the image the containers run. */
  readonly imageId: pulumi.Output<string>;
  /** Image reference as given. */
  readonly imageName: pulumi.Output<string>;
  /** Container ids by service name. */
  readonly containerIds: pulumi.Output<Record<string, string>>;
  /** The containers, by service name, for resources that must follow a particular one. */
  readonly containers: Record<string, docker.Container>;

  constructor(name: string, args: ContainerReleaseArgs, opts?: pulumi.ComponentResourceOptions) {
    super("rollout:release:ContainerRelease", name, {}, opts);
    const order = startOrder(args.services);
    const provider = new docker.Provider(`${name}-docker`, { host: args.dockerHost }, { parent: this });

    let imageId: pulumi.Output<string>;
    if (args.build) {
      const build = args.build;
      const context = path.resolve(build.context);
      const image = new RunOnce<ImageBuildResult>(
        "ImageBuild",
        imageBuildProvider,
        `${name}-image`,
        {
          spec: {
            context,
            dockerfile: build.dockerfile ?? "Dockerfile",
            tag: args.image,
            buildArgs: build.args ?? {},
            prepareCommand: build.prepareCommand,
            sourceHash: hashSources(
              context,
              build.prepareInputs ? [...build.prepareInputs, build.dockerfile ?? "Dockerfile"] : ["."],
            ),
            dockerHost: args.dockerHost,
          },
        },
        { parent: this },
      );
      imageId = image.result.apply((r) => r.imageId);
    } else {
      const image = new docker.RemoteImage(
        `${name}-image`,
        { name: args.image, keepLocally: true },
        { parent: this, provider },
      );
      imageId = image.imageId;
    }

    const labels = Object.entries(args.labels ?? {}).map(([label, value]) => ({ label, value }));
    const volumes = new Map<string, docker.Volume>();
    for (const volumeName of new Set(order.flatMap((s) => (s.volumes ?? []).map((v) => v.name)))) {
      volumes.set(
        volumeName,
        new docker.Volume(
          `${name}-volume-${volumeName}`,
          { name: `${args.containerPrefix}-${volumeName}` },
          { parent: this, provider },
        ),
      );
    }
    this.containers = {};
    for (const service of order) {
      const plainEnv = Object.entries(service.env ?? {}).map(([k, v]) => pulumi.interpolate`${k}=${v}`);
      const secretEnv = Object.entries(service.secretEnv ?? {}).map(([k, v]) =>
        pulumi.secret(pulumi.interpolate`${k}=${v}`),
      );
      const container = new docker.Container(
        `${name}-${service.name}`,
        {
          name: `${args.containerPrefix}-${service.name}`,
          image: imageId,
          networkMode: "host",
          envs: [...plainEnv, ...secretEnv],
          restart: service.restart ?? "unless-stopped",
          labels,
          mustRun: true,
          healthcheck: service.healthcheck
            ? {
                tests: [...service.healthcheck],
                interval: "2s",
                timeout: "2s",
                retries: 15,
                startPeriod: "1s",
              }
            : undefined,
          volumes: (service.volumes ?? []).map((v) => ({
            volumeName: volumes.get(v.name)!.name,
            containerPath: v.containerPath,
          })),
          wait: service.healthcheck !== undefined,
          waitTimeout: service.healthTimeoutSeconds ?? 60,
        },
        {
          parent: this,
          provider,
          // Recreate: the old container stops before the new one takes its name and port.
          deleteBeforeReplace: true,
          dependsOn: (service.after ?? []).map((dep) => this.containers[dep]),
        },
      );
      this.containers[service.name] = container;
    }

    this.imageId = imageId;
    this.imageName = pulumi.output(args.image);
    this.containerIds = pulumi
      .all(Object.entries(this.containers).map(([svc, c]) => c.id.apply((id) => [svc, id] as const)))
      .apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({
      imageId: this.imageId,
      imageName: this.imageName,
      containerIds: this.containerIds,
    });
  }
}
