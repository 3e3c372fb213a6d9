// SQL checks and gates: a query whose first value (or whole row set) must equal what is expected,
// polled until a deadline (a gate such as "no active sessions" may take a while to hold). Each query
// runs in a read-only transaction with a statement timeout: a check looks, it never writes, and a
// slow one cannot hold the rollout. No Pulumi inside.
import { openSession, type DatabaseConnection, type SqlSession } from "../database";
import { quiet, throttled, type Progress } from "../progress";

export interface SqlCheckSpec {
  readonly name: string;
  /** A query returning one value in its first column of its first row. */
  readonly sql: string;
  /** The value as text (`String(value)`, NULL as "null"); or `expectRows`. */
  readonly expect?: string;
  /**
   * Every row, in order, as text values (NULL as null): arrays of column values, or objects of
   * column name -> value.
   */
  readonly expectRows?: readonly (readonly (string | null)[])[] | readonly Record<string, string | null>[];
  /** `statement_timeout` of each query. */
  readonly statementTimeoutMs: number;
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

const text = (value: unknown): string | null =>
  value === null || value === undefined
    ? null
    : value instanceof Date
      ? value.toISOString()
      : typeof value === "object"
        ? JSON.stringify(value)
        : String(value);

/** The rows as the check compares them: arrays of text (NULL as null), or objects when expected so. */
export function rowsSeen(
  rows: Record<string, unknown>[],
  asObjects: boolean,
): (string | null)[][] | Record<string, string | null>[] {
  return asObjects
    ? rows.map((row) => sortedKeys(Object.fromEntries(Object.entries(row).map(([k, v]) => [k, text(v)]))))
    : rows.map((row) => Object.values(row).map(text));
}

function sortedKeys<T>(row: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(row).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** What the check expects, as text for messages and the report. */
export function expectedText(spec: Pick<SqlCheckSpec, "expect" | "expectRows">): string {
  if (spec.expectRows === undefined) return spec.expect ?? "";
  return JSON.stringify(
    spec.expectRows.map((row) =>
      Array.isArray(row) ? row : sortedKeys(row as Record<string, string | null>),
    ),
  );
}

/** What the query returned, the way the check compares it. */
function seen(spec: SqlCheckSpec, rows: Record<string, unknown>[]): string {
  if (spec.expectRows === undefined) return firstValue(rows);
  const objects = spec.expectRows.length > 0 && !Array.isArray(spec.expectRows[0]);
  return JSON.stringify(rowsSeen(rows, objects));
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
    const expected = expectedText(spec);
    const maxAttempts = 1 + Math.floor((spec.timeoutSeconds * 1000) / Math.max(1, spec.intervalMs));
    // A gate polled every second for ten minutes says where it stands every few seconds.
    const waiting = throttled(progress, 5000);
    for (;;) {
      attempts++;
      const queryStarted = performance.now();
      try {
        last = seen(spec, await client.readOnlyQuery(spec.sql, spec.statementTimeoutMs));
      } catch (err) {
        const message = (err as Error).message;
        const why = /read[- ]only transaction/i.test(message)
          ? "; a check runs read-only and must not write"
          : /statement timeout|max_statement_time|max_execution_time|maximum statement execution time/i.test(
                message,
              )
            ? `; it ran longer than its statement timeout of ${spec.statementTimeoutMs} ms`
            : "; fix the query";
        throw new Error(`${kind} \`${spec.name}\` failed: the query raised ${message}${why}`, { cause: err });
      }
      const latencyMs = Math.round(performance.now() - queryStarted);
      if (last === expected) {
        return {
          name: spec.name,
          passed: true,
          expected,
          value: last,
          attempts,
          latencyMs,
          elapsedMs: Math.round(performance.now() - started),
        };
      }
      if (performance.now() + spec.intervalMs > deadline) break;
      waiting(
        `${kind} \`${spec.name}\`: attempt ${attempts} of at most ${maxAttempts}, ` +
          `value ${JSON.stringify(last)}, waiting for ${JSON.stringify(expected)}`,
      );
      await new Promise((resolve) => setTimeout(resolve, spec.intervalMs));
    }
    throw new Error(
      `${kind} \`${spec.name}\` failed: expected ${spec.expectRows ? `rows ${expected}` : JSON.stringify(expected)}, got ${spec.expectRows ? `rows ${last}` : JSON.stringify(last)} ` +
        `after ${attempts} attempt${attempts === 1 ? "" : "s"} over ${((performance.now() - started) / 1000).toFixed(1)} s ` +
        `(query: ${spec.sql.replace(/\s+/g, " ").trim()})`,
    );
  } finally {
    await client.end();
  }
}
