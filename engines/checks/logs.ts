// The log check: the release's containers' logs since the release started must not match any
// forbidden pattern (`ERROR|FATAL` by default) and must contain every required line. Read with the
// docker CLI (`docker logs --since`) on the release's Docker host. No Pulumi inside; serialized by
// value into a dynamic provider, so only Node modules and plain functions.
import { spawn } from "node:child_process";
import { dockerCliEnv, type DockerEndpoint } from "../dockerHost";
import { quiet, type Progress } from "../progress";
import { hide, secretForms } from "./request";

export interface LogCheckSpec {
  readonly name: string;
  /** The Docker host the containers run on (engines/dockerHost.ts). */
  readonly dockerHost: DockerEndpoint;
  /** Container ids (or names) by service name. */
  readonly containers: Record<string, string>;
  /** ISO time the release started; earlier lines are not judged. */
  readonly since: string;
  /** Regular expressions no line may match. */
  readonly forbid: readonly string[];
  /** Regular expressions each of which some line must match. */
  readonly require: readonly string[];
  /** How long to wait for the required lines. */
  readonly timeoutSeconds: number;
  /** Secret values (the services' secret env) never shown in a message. */
  readonly secrets?: readonly string[];
}

export interface LogCheckResult {
  readonly name: string;
  readonly passed: true;
  /** What the check expected, for the report. */
  readonly expected: string;
  /** Lines read, over every container. */
  readonly lines: number;
  readonly since: string;
  readonly attempts: number;
  readonly latencyMs: number;
  readonly elapsedMs: number;
}

/** One container's log lines (stdout and stderr) since `since`; throws naming the container. */
export function containerLogs(
  dockerHost: DockerEndpoint,
  container: string,
  since: string,
): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const child = spawn("docker", ["logs", "--since", since, container], {
      env: dockerCliEnv(dockerHost),
      stdio: ["ignore", "pipe", "pipe"],
    });
    const chunks: Buffer[] = [];
    child.stdout.on("data", (c: Buffer) => chunks.push(c));
    child.stderr.on("data", (c: Buffer) => chunks.push(c));
    child.on("error", (err) => reject(new Error(`could not run docker logs: ${err.message}`)));
    child.on("close", (code) => {
      const text = Buffer.concat(chunks).toString("utf8");
      if (code !== 0) {
        reject(new Error(`docker logs ${container} exited with ${code}: ${text.trim().slice(0, 300)}`));
      } else {
        resolve(text.split("\n").filter((line) => line.trim() !== ""));
      }
    });
  });
}

/** What the logs break: each forbidden line (first three per pattern) and each required line missing. */
export function judgeLogs(
  lines: readonly { service: string; line: string }[],
  forbid: readonly string[],
  require: readonly string[],
): { forbidden: string[]; missing: string[] } {
  const forbidden: string[] = [];
  for (const pattern of forbid) {
    const re = new RegExp(pattern);
    const hits = lines.filter((l) => re.test(l.line));
    for (const hit of hits.slice(0, 3)) {
      const line = hit.line.length > 200 ? `${hit.line.slice(0, 200)}...` : hit.line;
      forbidden.push(`${hit.service}: ${JSON.stringify(line)} matches /${pattern}/`);
    }
    if (hits.length > 3) forbidden.push(`and ${hits.length - 3} more lines matching /${pattern}/`);
  }
  const missing = require.filter((pattern) => !lines.some((l) => new RegExp(pattern).test(l.line)));
  return { forbidden, missing };
}

export function describeLogExpectation(spec: Pick<LogCheckSpec, "forbid" | "require">): string {
  const parts = spec.forbid.map((p) => `no line matching /${p}/`);
  for (const p of spec.require) parts.push(`a line matching /${p}/`);
  return parts.join(", ") || "nothing";
}

/**
 * Reads the logs until the required lines are there or the time runs out; a forbidden line fails
 * at once. Throws naming the check, the lines and what to do.
 */
export async function runLogCheck(spec: LogCheckSpec, progress: Progress = quiet): Promise<LogCheckResult> {
  const started = performance.now();
  const deadline = started + spec.timeoutSeconds * 1000;
  const where = `log check \`${spec.name}\``;
  // Hidden in each line as it is read, before a line is cut or quoted for a message.
  const secrets = secretForms(spec.secrets ?? []);
  for (let attempts = 1; ; attempts++) {
    const readStarted = performance.now();
    const lines: { service: string; line: string }[] = [];
    for (const [service, container] of Object.entries(spec.containers)) {
      let read: string[];
      try {
        read = await containerLogs(spec.dockerHost, container, spec.since);
      } catch (err) {
        throw new Error(`${where} failed: ${(err as Error).message}; check that the Docker host answers`, {
          cause: err,
        });
      }
      lines.push(...read.map((line) => ({ service, line: hide(line, secrets) })));
    }
    const latencyMs = Math.round(performance.now() - readStarted);
    const { forbidden, missing } = judgeLogs(lines, spec.forbid, spec.require);
    if (forbidden.length > 0) {
      throw new Error(
        hide(
          `${where} failed: the logs since ${spec.since} have ${forbidden.join("; ")}. ` +
            `Next: read the service's logs (\`docker logs ${Object.values(spec.containers)[0] ?? ""}\`), then fix forward or roll back.`,
          secrets,
        ),
      );
    }
    if (missing.length === 0) {
      return {
        name: spec.name,
        passed: true,
        expected: describeLogExpectation(spec),
        lines: lines.length,
        since: spec.since,
        attempts,
        latencyMs,
        elapsedMs: Math.round(performance.now() - started),
      };
    }
    if (performance.now() + 1000 > deadline) {
      throw new Error(
        `${where} failed: the logs since ${spec.since} (${lines.length} lines) have no line matching ` +
          `${missing.map((p) => `/${p}/`).join(", ")} after ${((performance.now() - started) / 1000).toFixed(1)} s. ` +
          `Next: read the service's logs, then fix forward or roll back.`,
      );
    }
    progress(
      `${where}: waiting for ${missing.map((p) => `/${p}/`).join(", ")} (${lines.length} lines so far)`,
    );
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}
