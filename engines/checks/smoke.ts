// Smoke tests: short HTTP flows with captured values (login -> token -> create -> read -> update ->
// delete), each step with an expected status. No Pulumi inside; serialized by value into a dynamic
// provider, so only Node globals and plain functions.
import { describeField, judgeFields, pick, type FieldExpectation } from "./match";
import { encodeBody, fillSecrets, hide } from "./request";

export { pick } from "./match";

/**
 * One request of a flow. `${var}` in path, headers and string body values expands to a variable;
 * `{secret:NAME}` in headers and body values to a secret of the flow's `secrets`.
 */
export interface SmokeStep {
  readonly name: string;
  readonly method: string;
  /** Path appended to the flow's base URL, e.g. `/items/${itemId}`. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** JSON body. */
  readonly body?: unknown;
  /** Form body (`application/x-www-form-urlencoded`), instead of a JSON one. */
  readonly form?: Record<string, string>;
  readonly expectStatus: number;
  /** JSON fields (dotted paths) and what they must be: a plain value (after expansion) or a matcher. */
  readonly expectJson?: Record<string, FieldExpectation>;
  /** Text the body must contain. */
  readonly expectBodyContains?: readonly string[];
  /** A slower answer fails the step. @default no budget */
  readonly latencyBudgetMs?: number;
  /** Variables to capture from the JSON response: variable name -> dotted path, e.g. `id` or `data.token`. */
  readonly capture?: Record<string, string>;
}

export interface SmokeTestSpec {
  readonly name: string;
  readonly baseUrl: string;
  /** Headers sent with every step (e.g. the maintenance bypass); values may be secrets. */
  readonly headers?: Record<string, string>;
  /** Starting variables (e.g. the login user and password); values may be secrets. */
  readonly vars?: Record<string, string>;
  /** Secrets the steps name with `{secret:NAME}`; never shown in a message. */
  readonly secrets?: Record<string, string>;
  readonly steps: readonly SmokeStep[];
  /** Per-step timeout. */
  readonly stepTimeoutMs: number;
}

export interface SmokeStepResult {
  readonly name: string;
  readonly method: string;
  readonly path: string;
  readonly status: number;
  readonly latencyMs: number;
  /** The step's latency budget, when it has one. */
  readonly latencyBudgetMs?: number;
}

export interface SmokeTestResult {
  readonly name: string;
  readonly passed: true;
  readonly steps: SmokeStepResult[];
  readonly elapsedMs: number;
}

/** Replaces `${name}` with the variable's value; an unknown variable is an error naming it. */
export function expand(text: string, vars: Record<string, string>, where: string): string {
  return text.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_, name: string) => {
    if (!(name in vars)) {
      throw new Error(
        `${where} uses \${${name}}, which no earlier step captured; known: ${Object.keys(vars).join(", ") || "none"}`,
      );
    }
    return vars[name];
  });
}

/** Shows a response body in a message, shortened, with variable values (tokens) not echoed. */
function preview(body: string, secrets: string[]): string {
  return JSON.stringify(hide(body.length > 200 ? `${body.slice(0, 200)}...` : body, secrets));
}

/** The step's expected fields, `${var}` expanded in plain string values. */
function expectations(
  step: SmokeStep,
  vars: Record<string, string>,
  where: string,
): Record<string, FieldExpectation> {
  return Object.fromEntries(
    Object.entries(step.expectJson ?? {}).map(([field, e]) => [
      field,
      typeof e === "string" ? expand(e, vars, where) : e,
    ]),
  );
}

/** Runs the flow; throws naming the test, the step, what was expected and what came back. */
export async function runSmokeTest(spec: SmokeTestSpec): Promise<SmokeTestResult> {
  const started = performance.now();
  const vars: Record<string, string> = { ...spec.vars };
  // Secret values are never shown; variable and captured values (tokens) not echoed from a body.
  const secrets = [...Object.values(spec.headers ?? {}), ...Object.values(spec.secrets ?? {})];
  const hidden = [...Object.values(spec.vars ?? {}), ...secrets];
  const results: SmokeStepResult[] = [];
  for (const step of spec.steps) {
    const where = `smoke test \`${spec.name}\` step \`${step.name}\``;
    const path = expand(step.path, vars, where);
    const fill = (text: string) => fillSecrets(expand(text, vars, where), spec.secrets ?? {}, where);
    const headers: Record<string, string> = { ...spec.headers };
    for (const [k, v] of Object.entries(step.headers ?? {})) headers[k] = fill(v);
    const encoded = encodeBody({ json: step.body, form: step.form }, fill);
    const body = encoded?.text;
    if (encoded) headers["content-type"] = encoded.contentType;
    const stepStarted = performance.now();
    let status: number;
    let text: string;
    try {
      const response = await fetch(`${spec.baseUrl}${path}`, {
        method: step.method,
        headers,
        body,
        redirect: "manual",
        signal: AbortSignal.timeout(spec.stepTimeoutMs),
      });
      status = response.status;
      text = await response.text();
    } catch (err) {
      const cause = (err as { cause?: { code?: string } }).cause;
      throw new Error(
        hide(
          `${where} failed: ${step.method} ${path} expected ${step.expectStatus}; got no response ` +
            `(${cause?.code ?? (err as Error).message}) after ${Math.round(performance.now() - stepStarted)} ms`,
          secrets,
        ),
        { cause: err },
      );
    }
    const latencyMs = Math.round(performance.now() - stepStarted);
    const problems: string[] = [];
    if (status !== step.expectStatus) problems.push(`status ${status}`);
    let json: unknown;
    if (step.expectJson || step.capture) {
      try {
        json = JSON.parse(text);
      } catch {
        problems.push("a body that is not JSON");
      }
    }
    const expectJson = expectations(step, vars, where);
    if (json !== undefined) {
      problems.push(...judgeFields(json, expectJson));
      for (const [name, dotted] of Object.entries(step.capture ?? {})) {
        const value = pick(json, dotted);
        if (value === undefined || value === null || typeof value === "object") {
          problems.push(`no value at \`${dotted}\` to capture as \${${name}}`);
        } else {
          vars[name] = String(value);
          hidden.push(String(value));
        }
      }
    }
    for (const wanted of step.expectBodyContains ?? []) {
      if (!text.includes(wanted)) problems.push(`a body without ${JSON.stringify(wanted)}`);
    }
    if (step.latencyBudgetMs !== undefined && latencyMs > step.latencyBudgetMs) {
      problems.push(`latency ${latencyMs} ms (budget ${step.latencyBudgetMs} ms)`);
    }
    if (problems.length > 0) {
      const fields = Object.entries(expectJson).map(([f, e]) => describeField(f, e));
      const wanted = [
        `status ${step.expectStatus}`,
        ...fields,
        ...(step.expectBodyContains ?? []).map((t) => `body containing ${JSON.stringify(t)}`),
        ...(step.latencyBudgetMs !== undefined ? [`within ${step.latencyBudgetMs} ms`] : []),
      ];
      throw new Error(
        hide(
          `${where} failed: ${step.method} ${path} expected ${wanted.join(", ")}; got ${problems.join(", ")} ` +
            `after ${latencyMs} ms, body ${preview(text, hidden)}`,
          secrets,
        ),
      );
    }
    results.push({
      name: step.name,
      method: step.method,
      path: step.path,
      status,
      latencyMs,
      ...(step.latencyBudgetMs !== undefined ? { latencyBudgetMs: step.latencyBudgetMs } : {}),
    });
  }
  return {
    name: spec.name,
    passed: true,
    steps: results,
    elapsedMs: Math.round(performance.now() - started),
  };
}
