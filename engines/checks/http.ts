// HTTP check execution, with no Pulumi inside: the dynamic provider in HealthCheck.ts calls it during
// `up`, and the unit tests call it against a local server. Dynamic providers are serialized by value,
// so this module uses only Node globals (fetch, performance, AbortSignal) and plain functions.
import { quiet, type Progress } from "../progress";

/** What one HTTP check expects. */
export interface HttpCheckSpec {
  /** Name used in messages and the report. */
  readonly name: string;
  readonly url: string;
  readonly method: string;
  /** Header values may be secrets; they are sent, never reported. */
  readonly headers?: Record<string, string>;
  readonly body?: string;
  readonly expectStatus: number;
  /** Top-level JSON fields that must equal these values. */
  readonly expectJson: Record<string, string | number | boolean>;
  readonly expectBodyContains?: string;
  /** A response slower than this fails the attempt. */
  readonly latencyBudgetMs: number;
  /** Extra attempts after the first. */
  readonly retries: number;
  readonly retryIntervalMs: number;
  /** No attempt starts after this many seconds. */
  readonly deadlineSeconds: number;
}

/** The outcome of a passing check, as recorded in state and the report. */
export interface HttpCheckResult {
  readonly name: string;
  readonly url: string;
  readonly passed: true;
  /** What the check expected (describeExpectation), beside what it saw, for the report. */
  readonly expected: string;
  readonly status: number;
  readonly latencyMs: number;
  readonly attempts: number;
  readonly elapsedMs: number;
  readonly checkedAt: string;
}

/** Why one attempt did not pass, or undefined when it passed. */
export function judgeResponse(
  spec: HttpCheckSpec,
  status: number,
  bodyText: string,
  latencyMs: number,
): string | undefined {
  const problems: string[] = [];
  if (status !== spec.expectStatus) problems.push(`status ${status} (expected ${spec.expectStatus})`);
  const fields = Object.entries(spec.expectJson);
  if (fields.length > 0) {
    let json: unknown;
    try {
      json = JSON.parse(bodyText);
    } catch {
      problems.push(`a body that is not JSON: ${JSON.stringify(bodyText.slice(0, 120))}`);
    }
    if (json !== undefined) {
      for (const [field, expected] of fields) {
        const actual =
          json !== null && typeof json === "object" ? (json as Record<string, unknown>)[field] : undefined;
        if (actual !== expected) {
          problems.push(`${field}=${JSON.stringify(actual)} (expected ${JSON.stringify(expected)})`);
        }
      }
    }
  }
  if (spec.expectBodyContains !== undefined && !bodyText.includes(spec.expectBodyContains)) {
    problems.push(`a body without ${JSON.stringify(spec.expectBodyContains)}`);
  }
  if (latencyMs > spec.latencyBudgetMs) {
    problems.push(`latency ${latencyMs} ms (budget ${spec.latencyBudgetMs} ms)`);
  }
  return problems.length === 0 ? undefined : problems.join(", ");
}

/** A one-line statement of what the check expects, for failure messages. */
export function describeExpectation(spec: HttpCheckSpec): string {
  const parts = [`status ${spec.expectStatus}`];
  for (const [field, value] of Object.entries(spec.expectJson))
    parts.push(`${field}=${JSON.stringify(value)}`);
  if (spec.expectBodyContains !== undefined)
    parts.push(`body containing ${JSON.stringify(spec.expectBodyContains)}`);
  parts.push(`within ${spec.latencyBudgetMs} ms`);
  return parts.join(", ");
}

/**
 * Runs the check with retries until it passes or the retries or the deadline run out.
 * Throws an Error naming the check, what was expected, what came back and how long it took.
 */
export async function runHttpCheck(
  spec: HttpCheckSpec,
  progress: Progress = quiet,
): Promise<HttpCheckResult> {
  const started = performance.now();
  const deadline = started + spec.deadlineSeconds * 1000;
  let lastProblem = "no attempt was made";
  let attempts = 0;
  while (attempts <= spec.retries) {
    attempts++;
    const attemptStarted = performance.now();
    const remainingMs = Math.max(1, Math.round(deadline - attemptStarted));
    try {
      const response = await fetch(spec.url, {
        method: spec.method,
        headers: spec.headers,
        body: spec.body,
        redirect: "manual",
        signal: AbortSignal.timeout(Math.min(remainingMs, Math.max(spec.latencyBudgetMs * 5, 5000))),
      });
      const bodyText = await response.text();
      const latencyMs = Math.round(performance.now() - attemptStarted);
      const problem = judgeResponse(spec, response.status, bodyText, latencyMs);
      if (problem === undefined) {
        return {
          name: spec.name,
          url: spec.url,
          passed: true,
          expected: describeExpectation(spec),
          status: response.status,
          latencyMs,
          attempts,
          elapsedMs: Math.round(performance.now() - started),
          checkedAt: new Date().toISOString(),
        };
      }
      lastProblem = `got ${problem}`;
    } catch (err) {
      const cause = (err as { cause?: { code?: string; message?: string } }).cause;
      const reason = cause?.code ?? cause?.message ?? (err as Error).message;
      lastProblem = `got no response (${reason})`;
    }
    if (attempts > spec.retries || performance.now() + spec.retryIntervalMs >= deadline) break;
    progress(`${spec.name}: attempt ${attempts} of ${spec.retries + 1} ${lastProblem}; trying again`);
    await new Promise((resolve) => setTimeout(resolve, spec.retryIntervalMs));
  }
  const elapsedSeconds = ((performance.now() - started) / 1000).toFixed(1);
  throw new Error(
    `health check \`${spec.name}\` failed: ${spec.method} ${spec.url} expected ${describeExpectation(spec)}; ` +
      `${lastProblem} on attempt ${attempts} after ${elapsedSeconds} s. ` +
      `Next: read the service's logs, then fix forward or roll back to the previous release.`,
  );
}
