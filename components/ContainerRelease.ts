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
import { RunOnce, runOnceProvider } from "./runOnce";
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

/** One container of the release. */
export interface ServiceArgs {
  /** Service name, unique within the release; the container is named `<containerPrefix>-<name>`. */
  readonly name: string;
  /** Plain environment variables. */
  readonly env: Record<string, pulumi.Input<string>>;
  /** Environment variables whose values are secrets; they stay encrypted in state and hidden in output. */
  readonly secretEnv: Record<string, pulumi.Input<string>>;
  /** Docker restart policy. */
  readonly restart: "no" | "on-failure" | "always" | "unless-stopped";
  /** Named volumes to mount; each is created once (`<containerPrefix>-<name>`) and kept across releases. */
  readonly volumes: readonly { readonly name: string; readonly containerPath: string }[];
}

export interface ContainerReleaseArgs {
  /** Image reference to run, e.g. `sample-app:1.1.0`; with `build`, the tag given to the built image. */
  readonly image: string;
  /** Build the image from a local context. @default pull `image` and keep it locally */
  readonly build?: ImageBuildArgs;
  /**
   * The Docker host (engines/dockerHost.ts openDockerHost): unix socket, `ssh://user@host[:port]` or
   * `tcp://` with TLS; resolves once its SSH files are written.
   */
  readonly dockerHost: pulumi.Input<DockerEndpoint>;
  /** Prefix of container names; the stack's app name. */
  readonly containerPrefix: string;
  /** The services, started in the order given. */
  readonly services: readonly ServiceArgs[];
  /** Labels put on every container, e.g. the release id. */
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

/**
 * The release of an image to one Docker host: the image (built from a context or pulled and kept, so
 * the previous one stays for a rollback) and its containers on host networking, recreated (stop
 * old, start new).
 */
export class ContainerRelease extends pulumi.ComponentResource {
  /** Image id (`sha256:...`) of the image the containers run. */
  readonly imageId: pulumi.Output<string>;
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

    let imageId: pulumi.Output<string>;
    if (args.build) {
      const build = args.build;
      const context = path.resolve(build.context);
      const image = new RunOnce<ImageBuildResult>(
        STEPS.imageBuild,
        imageBuildProvider,
        `${name}-${STEPS.imageBuild.suffix}`,
        {
          spec: {
            context,
            dockerfile: build.dockerfile,
            tag: args.image,
            buildArgs: build.args,
            prepareCommand: build.prepareCommand,
            sourceHash: build.sourceHash,
            dockerHost: args.dockerHost,
          },
          policy: { expectImageId: build.expectImageId },
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

    const labels = Object.entries(args.labels).map(([label, value]) => ({ label, value }));
    const volumes = new Map<string, docker.Volume>();
    for (const volumeName of new Set(args.services.flatMap((s) => s.volumes.map((v) => v.name)))) {
      volumes.set(
        volumeName,
        new docker.Volume(
          `${name}-volume-${volumeName}`,
          { name: `${args.containerPrefix}-${volumeName}` },
          { parent: this, provider },
        ),
      );
    }
    const containers: Record<string, docker.Container> = {};
    for (const service of args.services) {
      const plainEnv = Object.entries(service.env).map(([k, v]) => pulumi.interpolate`${k}=${v}`);
      const secretEnv = Object.entries(service.secretEnv).map(([k, v]) =>
        pulumi.secret(pulumi.interpolate`${k}=${v}`),
      );
      const container = new docker.Container(
        `${name}-${service.name}`,
        {
          name: `${args.containerPrefix}-${service.name}`,
          image: imageId,
          networkMode: "host",
          envs: [...plainEnv, ...secretEnv],
          restart: service.restart,
          labels: [...labels, ...envLabels(service)],
          mustRun: true,
          volumes: service.volumes.map((v) => ({
            volumeName: volumes.get(v.name)!.name,
            containerPath: v.containerPath,
          })),
        },
        // Recreate: the old container stops before the new one takes its name and port.
        { parent: this, provider, deleteBeforeReplace: true },
      );
      containers[service.name] = container;
    }

    this.imageId = imageId;
    this.containerIds = pulumi
      .all(Object.entries(containers).map(([svc, c]) => c.id.apply((id) => [svc, id] as const)))
      .apply((pairs) => Object.fromEntries(pairs));
    this.registerOutputs({ imageId: this.imageId, containerIds: this.containerIds });
  }
}
