// Building an image with the Docker CLI, for images made from a local context. No Pulumi inside;
// the ImageBuild dynamic resource in ContainerRelease.ts calls it during `up`.
import { spawn, spawnSync } from "node:child_process";
import path from "node:path";
import readline from "node:readline";
import { dockerCliEnv, type DockerEndpoint } from "../dockerHost";
import { quiet, type Progress } from "../progress";

export interface ImageBuildSpec {
  /** Absolute path of the build context. */
  readonly context: string;
  /** Dockerfile path relative to the context. */
  readonly dockerfile: string;
  /** Tag given to the image, e.g. `sample-app:1.1.0`. */
  readonly tag: string;
  readonly buildArgs: Record<string, string>;
  /** Shell command run in the context before the build, e.g. bundling sources. */
  readonly prepareCommand?: string;
  /** Content hash of the sources; stored as a label so an identical image is reused, not rebuilt. */
  readonly sourceHash: string;
  /** The Docker host the image is built on (engines/dockerHost.ts). */
  readonly dockerHost: DockerEndpoint;
}

export interface ImageBuildResult {
  /** `sha256:...` id of the image. */
  readonly imageId: string;
  /**
   * "built"; "reused" when the tag already held an image of the same sources and arguments;
   * "recorded" when a rollback ran the image id recorded for its release.
   */
  readonly outcome: "built" | "reused" | "recorded";
  readonly durationMs: number;
}

/** How a build runs this time. */
export interface ImageBuildPolicy {
  /** A rollback's recorded image id: that exact image runs, whatever the tag points at now. */
  readonly expectImageId?: string;
}

const LABEL = "rollout.build-hash";

/** The docker CLI's environment: the target host and the classic builder (no buildx plugin needed). */
function dockerEnv(host: DockerEndpoint): NodeJS.ProcessEnv {
  return { ...dockerCliEnv(host), DOCKER_BUILDKIT: "0" };
}

/** Runs a command, passing each line it prints to `progress`; fails with its last lines. */
async function run(
  command: string,
  args: string[],
  opts: { cwd?: string; env: NodeJS.ProcessEnv; what: string; progress: Progress },
): Promise<void> {
  const child = spawn(command, args, { cwd: opts.cwd, env: opts.env, stdio: ["ignore", "pipe", "pipe"] });
  const tail: string[] = [];
  const onLine = (line: string) => {
    tail.push(line);
    if (tail.length > 15) tail.shift();
    if (line.trim() !== "") opts.progress(line);
  };
  const lines = [child.stdout, child.stderr].map((stream) => {
    const reader = readline.createInterface({ input: stream, crlfDelay: Infinity });
    reader.on("line", onLine);
    return new Promise<void>((resolve) => reader.on("close", resolve));
  });
  const status = await new Promise<number | null>((resolve, reject) => {
    child.on("error", (err) => reject(new Error(`${opts.what} could not start ${command}: ${err.message}`)));
    child.on("close", (code) => resolve(code));
  });
  await Promise.all(lines);
  if (status !== 0) throw new Error(`${opts.what} failed (exit ${status}):\n${tail.join("\n").trim()}`);
}

/** The build identity: sources and everything that shapes the image. */
function buildHash(spec: ImageBuildSpec): string {
  return [
    spec.sourceHash,
    spec.dockerfile,
    ...Object.entries(spec.buildArgs)
      .sort()
      .map(([k, v]) => `${k}=${v}`),
  ].join(";");
}

/** Which parts of two build identities differ, in words: the sources, the Dockerfile, a build argument. */
function buildDifference(held: string, wanted: string): string {
  if (held === "") return "it was not built by a rollout (no rollout.build-hash label)";
  const [heldSources, heldFile, ...heldArgs] = held.split(";");
  const [sources, file, ...args] = wanted.split(";");
  const parts: string[] = [];
  if (heldSources !== sources) parts.push(`sources ${heldSources.slice(0, 12)} vs ${sources.slice(0, 12)}`);
  if (heldFile !== file) parts.push(`Dockerfile ${heldFile} vs ${file}`);
  const argNames = new Set([...heldArgs, ...args].map((a) => a.split("=")[0]));
  for (const name of argNames) {
    const a = heldArgs.find((x) => x.startsWith(`${name}=`));
    const b = args.find((x) => x.startsWith(`${name}=`));
    if (a !== b)
      parts.push(
        `build arg ${name}: ${a?.slice(name.length + 1) ?? "unset"} vs ${b?.slice(name.length + 1) ?? "unset"}`,
      );
  }
  return `its rollout.build-hash label differs (${parts.join("; ")})`;
}

/** Id and build label of the image the tag points at, or undefined when there is none. */
export function inspectImage(
  tag: string,
  dockerHost: DockerEndpoint,
): { id: string; hash: string } | undefined {
  const result = spawnSync(
    "docker",
    ["image", "inspect", "--format", `{{.Id}} {{index .Config.Labels "${LABEL}"}}`, tag],
    {
      env: dockerEnv(dockerHost),
      encoding: "utf8",
    },
  );
  if (result.status !== 0) return undefined;
  const [id, ...hash] = result.stdout.trim().split(" ");
  return { id, hash: hash.join(" ") };
}

/**
 * Builds the image unless the tag already holds one built from the same sources and arguments, so
 * a rollback to an earlier release reuses the image it had instead of rebuilding it. A tag is
 * never moved to other content: a tag that holds another build is refused, naming what differs.
 * With `policy.expectImageId` (a rollback) the recorded image runs, and nothing is built.
 */
export async function buildImage(
  spec: ImageBuildSpec,
  policy: ImageBuildPolicy = {},
  progress: Progress = quiet,
): Promise<ImageBuildResult> {
  const started = Date.now();
  if (policy.expectImageId) {
    if (!inspectImage(policy.expectImageId, spec.dockerHost)) {
      throw new Error(
        `image ${policy.expectImageId}, recorded for ${spec.tag} when it ran, is no longer on the Docker host ` +
          `(${spec.dockerHost.url}); load it there again (docker load) or roll back to another update`,
      );
    }
    return { imageId: policy.expectImageId, outcome: "recorded", durationMs: Date.now() - started };
  }
  const wanted = buildHash(spec);
  const existing = inspectImage(spec.tag, spec.dockerHost);
  if (existing && existing.hash === wanted) {
    return { imageId: existing.id, outcome: "reused", durationMs: Date.now() - started };
  }
  if (existing) {
    throw new Error(
      `refusing to build ${spec.tag}: the tag already holds image ${existing.id}, and ${buildDifference(existing.hash, wanted)}; ` +
        "a tag names one content, so give this build a new tag (a new release), or remove the old image " +
        `(\`docker rmi ${spec.tag}\`) if no release in the stack history runs it`,
    );
  }
  if (spec.prepareCommand) {
    progress(`preparing the build context: ${spec.prepareCommand}`);
    await run("sh", ["-c", spec.prepareCommand], {
      cwd: spec.context,
      env: process.env,
      what: `preparing the build context (${spec.prepareCommand})`,
      progress,
    });
  }
  const args = [
    "build",
    "--network",
    "host",
    "--file",
    path.join(spec.context, spec.dockerfile),
    "--tag",
    spec.tag,
  ];
  args.push("--label", `${LABEL}=${wanted}`);
  for (const [key, value] of Object.entries(spec.buildArgs)) args.push("--build-arg", `${key}=${value}`);
  args.push(spec.context);
  progress(`building ${spec.tag}`);
  await run("docker", args, {
    env: dockerEnv(spec.dockerHost),
    what: `docker build of ${spec.tag}`,
    progress,
  });
  const built = inspectImage(spec.tag, spec.dockerHost);
  if (!built) throw new Error(`docker build of ${spec.tag} reported success but the tag does not exist`);
  return { imageId: built.id, outcome: "built", durationMs: Date.now() - started };
}
