// The services check: right after the containers, every service of the release is running on its
// Docker host, and the ones with a health check are healthy. A container that started and then
// exited (a crash on boot the start could not see) fails the release here, naming the service.
// Read with `docker inspect`. No Pulumi inside; serialized by value into a dynamic provider, so
// only Node modules and plain functions.
import { execFile } from "node:child_process";
import { dockerCliEnv, type DockerEndpoint } from "../dockerHost";
import { quiet, type Progress } from "../progress";

export interface ServicesCheckSpec {
  /** The Docker host the containers run on (engines/dockerHost.ts). */
  readonly dockerHost: DockerEndpoint;
  /** Each service's container id, in start order (a list: state does not keep an object's key order). */
  readonly containers: readonly { readonly name: string; readonly id: string }[];
  /** The services that have a health check and must be `healthy`. */
  readonly healthChecked: readonly string[];
  /** The long-lived services, kept across releases. */
  readonly kept: readonly string[];
  /** How long a service may be starting, restarting or unhealthy before the check fails. */
  readonly timeoutSeconds: number;
}

/** One service as Docker sees it. */
export interface ServiceState {
  readonly name: string;
  readonly container: string;
  /** Docker's state: running, exited, restarting... */
  readonly status: string;
  /** healthy, unhealthy or starting; null without a health check. */
  readonly health: string | null;
  /** When the container (last) started, as Docker records it. */
  readonly startedAt: string;
  readonly restarts: number;
  readonly imageId: string;
  /** Kept across releases (long-lived). */
  readonly kept: boolean;
}

export interface ServicesCheckResult {
  readonly passed: true;
  readonly services: readonly ServiceState[];
  readonly elapsedMs: number;
}

interface Inspected {
  Id: string;
  Image: string;
  RestartCount: number;
  State: { Status: string; StartedAt: string; Health?: { Status: string } };
}

/** `docker inspect` of the containers, in the order given; throws naming what could not be read. */
export function inspectContainers(dockerHost: DockerEndpoint, ids: readonly string[]): Promise<Inspected[]> {
  return new Promise((resolve, reject) => {
    execFile(
      "docker",
      ["inspect", ...ids],
      { env: dockerCliEnv(dockerHost), maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        if (err) {
          reject(new Error(`docker inspect failed: ${(stderr || err.message).trim().slice(0, 300)}`));
          return;
        }
        resolve(JSON.parse(stdout) as Inspected[]);
      },
    );
  });
}

/**
 * Why a service's state fails the release, or undefined when it is fine; `final` when waiting
 * cannot help (the container exited or is gone), so the check fails at once.
 */
export function stateProblem(
  state: ServiceState,
  healthChecked: boolean,
): { problem: string; final: boolean } | undefined {
  if (state.status !== "running")
    return {
      problem: `service ${state.name} is ${state.status}, not running`,
      final: state.status !== "restarting",
    };
  if (healthChecked && state.health !== "healthy")
    return {
      problem: `service ${state.name} is ${state.health ?? "without a health status"}, not healthy`,
      final: false,
    };
  return undefined;
}

/**
 * Inspects every service until each runs (and each health-checked one is healthy), for up to the
 * spec's timeout; throws naming each one that is not, at once for one that exited.
 */
export async function runServicesCheck(
  spec: ServicesCheckSpec,
  progress: Progress = quiet,
): Promise<ServicesCheckResult> {
  const started = performance.now();
  const deadline = started + spec.timeoutSeconds * 1000;
  for (;;) {
    const services = await inspectServices(spec);
    const problems = services.flatMap((s) => {
      const found = stateProblem(s, spec.healthChecked.includes(s.name));
      return found ? [{ ...found, container: s.container }] : [];
    });
    if (problems.length === 0) {
      // Running once is not enough: a service that crashes a second after boot shows running
      // between its restarts. Still the same run a few seconds later is.
      await new Promise((resolve) => setTimeout(resolve, STEADY_MS));
      const later = await inspectServices(spec);
      const restarted = later.flatMap((s, i) => {
        const problem = restartProblem(services[i], s);
        return problem ? [{ problem, container: s.container }] : [];
      });
      if (restarted.length > 0) throw failure(spec, restarted, "");
      progress(`services: ${later.map((s) => `${s.name} ${s.health ?? s.status}`).join(", ")}`);
      return { passed: true, services: later, elapsedMs: Math.round(performance.now() - started) };
    }
    if (problems.some((p) => p.final) || performance.now() + 1000 > deadline) {
      throw failure(spec, problems, ` after ${((performance.now() - started) / 1000).toFixed(1)} s`);
    }
    progress(`services: waiting for ${problems.map((p) => p.problem).join("; ")}`);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** The check's failure: each problem, and the logs to read on the host, container by container. */
function failure(
  spec: ServicesCheckSpec,
  problems: readonly { problem: string; container: string }[],
  after: string,
): Error {
  const logs = problems.map((p) => `\`docker logs ${p.container}\``).join(", ");
  return new Error(
    `services check failed${after}: ${problems.map((p) => p.problem).join("; ")}. ` +
      `Next: read the logs (${logs} with DOCKER_HOST=${spec.dockerHost.url}), then fix forward or roll back.`,
  );
}

/** How long every service must stay in the same run before the check passes. */
const STEADY_MS = 3000;

/** Why a service restarted between two looks at it (a crash loop), or undefined when it did not. */
export function restartProblem(before: ServiceState, after: ServiceState): string | undefined {
  if (after.status !== "running")
    return `service ${after.name} is ${after.status} ${STEADY_MS / 1000} s after it was running`;
  if (after.startedAt !== before.startedAt || after.restarts !== before.restarts)
    return `service ${after.name} restarted within ${STEADY_MS / 1000} s (${after.restarts} restarts): it crashes after it starts`;
  return undefined;
}

/** Every service's state as Docker reports it now. */
async function inspectServices(spec: ServicesCheckSpec): Promise<ServiceState[]> {
  const inspected = await inspectContainers(
    spec.dockerHost,
    spec.containers.map((c) => c.id),
  );
  return spec.containers.map(({ name, id: container }, i): ServiceState => {
    const c = inspected[i];
    return {
      name,
      container,
      status: c.State.Status,
      health: c.State.Health?.Status ?? null,
      startedAt: c.State.StartedAt,
      restarts: c.RestartCount,
      imageId: c.Image,
      kept: spec.kept.includes(name),
    };
  });
}
