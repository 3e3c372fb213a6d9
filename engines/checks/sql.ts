// SQL checks and gates: a query whose first value must equal an expected value, polled until a
// deadline (a gate such as "no active sessions" may take a while to hold). No Pulumi inside.
import { openSession, type DatabaseConnection, type SqlSession } from "../database";
import { quiet, throttled, type Progress } from "../progress";

export interface SqlCheckSpec {
  readonly name: string;
  /** A query returning one value in its first column of its first row. */
  readonly sql: string;
  /** The value as text (`String(value)`, NULL as "null"). */
  readonly expect: string;
  /** Keep polling until this many seconds have passed. 0 = one try. */
  readonly timeoutSeconds: number;
  readonly intervalMs: number;
}

export interface SqlCheckResult {
  readonly name: string;
  readonly passed: true;
  /** The expected value, beside the value seen, for the report. */
  readonly expected: string;
  readonly value: string;
  readonly attempts: number;
  readonly latencyMs: number;
  readonly elapsedMs: number;
}

/** The first column of the first row as text, the way checks compare it. */
export function firstValue(rows: Record<string, unknown>[]): string {
  if (rows.length === 0) return "no rows";
  const value = Object.values(rows[0])[0];
  return value === null || value === undefined ? "null" : String(value);
}

/**
 * Runs the query until it returns the expected value or the time runs out.
 * @param kind "check" or "gate", for messages.
 */
export async function runSqlCheck(
  connection: DatabaseConnection,
  spec: SqlCheckSpec,
  kind = "SQL check",
  progress: Progress = quiet,
): Promise<SqlCheckResult> {
  const started = performance.now();
  const deadline = started + spec.timeoutSeconds * 1000;
  let client: SqlSession;
  try {
    client = await openSession(connection, `rollout ${kind}`);
  } catch (err) {
    throw new Error(
      `${kind} \`${spec.name}\` could not connect to ${connection.host}:${connection.port}/${connection.database}: ` +
        `${(err as Error).message}; check that the database is up and reachable from here`,
      { cause: err },
    );
  }
  try {
    let attempts = 0;
    let last = "";
    const maxAttempts = 1 + Math.floor((spec.timeoutSeconds * 1000) / Math.max(1, spec.intervalMs));
    // A gate polled every second for ten minutes says where it stands every few seconds.
    const waiting = throttled(progress, 5000);
    for (;;) {
      attempts++;
      const queryStarted = performance.now();
      try {
        last = firstValue(await client.query(spec.sql));
      } catch (err) {
        throw new Error(
          `${kind} \`${spec.name}\` failed: the query raised ${(err as Error).message}; fix the query`,
          { cause: err },
        );
      }
      const latencyMs = Math.round(performance.now() - queryStarted);
      if (last === spec.expect) {
        return {
          name: spec.name,
          passed: true,
          expected: spec.expect,
          value: last,
          attempts,
          latencyMs,
          elapsedMs: Math.round(performance.now() - started),
        };
      }
      if (performance.now() + spec.intervalMs > deadline) break;
      waiting(
        `${kind} \`${spec.name}\`: attempt ${attempts} of at most ${maxAttempts}, ` +
          `value ${JSON.stringify(last)}, waiting for ${JSON.stringify(spec.expect)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, spec.intervalMs));
    }
    throw new Error(
      `${kind} \`${spec.name}\` failed: expected ${JSON.stringify(spec.expect)}, got ${JSON.stringify(last)} ` +
        `after ${attempts} attempt${attempts === 1 ? "" : "s"} over ${((performance.now() - started) / 1000).toFixed(1)} s ` +
        `(query: ${spec.sql.replace(/\s+/g, " ").trim()})`,
    );
  } finally {
    await client.end();
  }
}
