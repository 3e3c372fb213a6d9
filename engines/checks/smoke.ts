// Smoke tests: short HTTP flows with captured values (login -> token -> create -> read -> update ->
// delete), each step with an expected status. No Pulumi inside; serialized by value into a dynamic
// provider, so only Node globals and plain functions.

/** One request of a flow. `${var}` in path, headers and string body values expands to a variable. */
export interface SmokeStep {
  readonly name: string;
  readonly method: string;
  /** Path appended to the flow's base URL, e.g. `/items/${itemId}`. */
  readonly path: string;
  readonly headers?: Record<string, string>;
  /** JSON body. */
  readonly body?: unknown;
  readonly expectStatus: number;
  /** Top-level JSON fields the response must carry with these values (after expansion). */
  readonly expectJson?: Record<string, string | number | boolean>;
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

function expandDeep(value: unknown, vars: Record<string, string>, where: string): unknown {
  if (typeof value === "string") return expand(value, vars, where);
  if (Array.isArray(value)) return value.map((v) => expandDeep(v, vars, where));
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, expandDeep(v, vars, where)]));
  }
  return value;
}

/** The value at a dotted path (`data.items.0.id`) of a JSON value, or undefined. */
export function pick(value: unknown, dotted: string): unknown {
  let current = value;
  for (const part of dotted.split(".")) {
    if (current === null || typeof current !== "object") return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Shows a response body in a message, shortened, with variable values (tokens) not echoed. */
function preview(body: string, secrets: string[]): string {
  let shown = body.length > 200 ? `${body.slice(0, 200)}...` : body;
  for (const secret of secrets) if (secret.length >= 4) shown = shown.split(secret).join("[secret]");
  return JSON.stringify(shown);
}

/** Runs the flow; throws naming the test, the step, what was expected and what came back. */
export async function runSmokeTest(spec: SmokeTestSpec): Promise<SmokeTestResult> {
  const started = performance.now();
  const vars: Record<string, string> = { ...spec.vars };
  const hidden = [...Object.values(spec.vars ?? {}), ...Object.values(spec.headers ?? {})];
  const results: SmokeStepResult[] = [];
  for (const step of spec.steps) {
    const where = `smoke test \`${spec.name}\` step \`${step.name}\``;
    const path = expand(step.path, vars, where);
    const headers: Record<string, string> = { ...spec.headers };
    for (const [k, v] of Object.entries(step.headers ?? {})) headers[k] = expand(v, vars, where);
    let body: string | undefined;
    if (step.body !== undefined) {
      body = JSON.stringify(expandDeep(step.body, vars, where));
      headers["content-type"] = "application/json";
    }
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
        `${where} failed: ${step.method} ${path} expected ${step.expectStatus}; got no response ` +
          `(${cause?.code ?? (err as Error).message}) after ${Math.round(performance.now() - stepStarted)} ms`,
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
    if (json !== undefined) {
      for (const [field, expected] of Object.entries(step.expectJson ?? {})) {
        const want = typeof expected === "string" ? expand(expected, vars, where) : expected;
        const got = pick(json, field);
        if (got !== want) problems.push(`${field}=${JSON.stringify(got)} (expected ${JSON.stringify(want)})`);
      }
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
    if (problems.length > 0) {
      throw new Error(
        `${where} failed: ${step.method} ${path} expected status ${step.expectStatus}` +
          `${step.expectJson ? ` and ${JSON.stringify(step.expectJson)}` : ""}; got ${problems.join(", ")} ` +
          `after ${latencyMs} ms, body ${preview(text, hidden)}`,
      );
    }
    results.push({ name: step.name, method: step.method, path: step.path, status, latencyMs });
  }
  return {
    name: spec.name,
    passed: true,
    steps: results,
    elapsedMs: Math.round(performance.now() - started),
  };
}
