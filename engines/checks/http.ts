// HTTP check execution, with no Pulumi inside: the dynamic provider in HealthCheck.ts calls it during
// `up`, and the unit tests call it against a local server. Dynamic providers are serialized by value,
// so this module uses only Node globals (fetch, performance, AbortSignal) and plain functions.
import { quiet, type Progress } from "../progress";
import { describeField, judgeFields, type FieldExpectation } from "./match";
import { encodeBody, fillSecrets, hide, type RequestBody } from "./request";

/** What one HTTP check expects. */
export interface HttpCheckSpec {
  /** Name used in messages and the report. */
  readonly name: string;
  readonly url: string;
  readonly method: string;
  /** Header values; `{secret:NAME}` in them is filled from `secrets`. Sent, never reported. */
  readonly headers?: Record<string, string>;
  /** A JSON or form body; `{secret:NAME}` in its strings is filled from `secrets`. */
  readonly body?: RequestBody;
  /** The values of the secrets the headers and body name; they never appear in a message. */
  readonly secrets?: Record<string, string>;
  readonly expectStatus: number;
  /** JSON fields (dotted paths) and what they must be: a plain value, or a matcher. */
  readonly expectJson: Record<string, FieldExpectation>;
  /** Text the body must contain, each of them. */
  readonly expectBodyContains?: string | readonly string[];
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
  const secrets = Object.values(spec.secrets ?? {});
  if (Object.keys(spec.expectJson).length > 0) {
    let json: unknown;
    let parsed = true;
    try {
      json = JSON.parse(bodyText);
    } catch {
      parsed = false;
      problems.push(`a body that is not JSON: ${JSON.stringify(hide(bodyText.slice(0, 120), secrets))}`);
    }
    if (parsed) problems.push(...judgeFields(json, spec.expectJson).map((p) => hide(p, secrets)));
  }
  for (const text of containsOf(spec)) {
    if (!bodyText.includes(text)) problems.push(`a body without ${JSON.stringify(text)}`);
  }
  if (latencyMs > spec.latencyBudgetMs) {
    problems.push(`latency ${latencyMs} ms (budget ${spec.latencyBudgetMs} ms)`);
  }
  return problems.length === 0 ? undefined : problems.join(", ");
}

function containsOf(spec: Pick<HttpCheckSpec, "expectBodyContains">): readonly string[] {
  const contains = spec.expectBodyContains;
  return contains === undefined ? [] : typeof contains === "string" ? [contains] : contains;
}

/** A one-line statement of what the check expects, for failure messages. */
export function describeExpectation(spec: HttpCheckSpec): string {
  const parts = [`status ${spec.expectStatus}`];
  for (const [field, value] of Object.entries(spec.expectJson)) parts.push(describeField(field, value));
  for (const text of containsOf(spec)) parts.push(`body containing ${JSON.stringify(text)}`);
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
  const where = `health check \`${spec.name}\``;
  const fill = (text: string) => fillSecrets(text, spec.secrets ?? {}, where);
  const headers: Record<string, string> = {};
  for (const [k, v] of Object.entries(spec.headers ?? {})) headers[k] = fill(v);
  const body = spec.body ? encodeBody(spec.body, fill) : undefined;
  if (body && !Object.keys(headers).some((k) => k.toLowerCase() === "content-type")) {
    headers["content-type"] = body.contentType;
  }
  while (attempts <= spec.retries) {
    attempts++;
    const attemptStarted = performance.now();
    const remainingMs = Math.max(1, Math.round(deadline - attemptStarted));
    try {
      const response = await fetch(spec.url, {
        method: spec.method,
        headers,
        body: body?.text,
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
