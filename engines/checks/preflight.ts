// Preflight: what must hold before a rollout changes anything. No Pulumi inside.
import { withSession, type DatabaseConnection } from "../database";
import { quiet, type Progress } from "../progress";
import { runSqlCheck, type SqlCheckResult, type SqlCheckSpec } from "./sql";

/** A SQL gate; forward-only gates do not hold up a rollback. */
export interface PreflightGate extends SqlCheckSpec {
  readonly appliesTo: "forward" | "always";
}

export interface PreflightSpec {
  /** Health URL of the release running now. */
  readonly currentHealthUrl?: string;
  /** Go on when nothing answers there (a first install). */
  readonly allowNoCurrentService: boolean;
  readonly gates: readonly PreflightGate[];
}

/** The rules a preflight runs by: a rollback is the emergency path. */
export interface PreflightPolicy {
  /**
   * A rollback: the release being undone may be down or unhealthy (that is often why), so its
   * health is recorded, not required, and only gates that apply always are judged.
   */
  readonly rollback: boolean;
}

export interface PreflightResult {
  readonly databaseVersion: string;
  readonly currentService: "healthy" | "none running" | "not checked" | "down, not required on a rollback";
  readonly gates: SqlCheckResult[];
  /** Forward-only gates not judged on a rollback. */
  readonly skippedGates: string[];
}

const NOTHING_CHANGED = "nothing has been changed yet";

/**
 * Runs every preflight check in order; throws on the first that fails, saying nothing changed.
 * The database must answer on a rollback too: the backup before the down scripts needs it.
 */
export async function runPreflight(
  connection: DatabaseConnection,
  spec: PreflightSpec,
  policy: PreflightPolicy,
  progress: Progress = quiet,
): Promise<PreflightResult> {
  let databaseVersion: string;
  try {
    databaseVersion = await withSession(connection, "rollout preflight", (session) =>
      session.serverVersion(),
    );
  } catch (err) {
    throw new Error(
      `preflight failed: database ${connection.host}:${connection.port}/${connection.database} is not reachable ` +
        `(${(err as Error).message}); ${NOTHING_CHANGED}. Check the database and rollout:database.`,
      { cause: err },
    );
  }

  let currentService: PreflightResult["currentService"] = "not checked";
  if (spec.currentHealthUrl && policy.rollback) {
    currentService = (await answersHealthy(spec.currentHealthUrl))
      ? "healthy"
      : "down, not required on a rollback";
  } else if (spec.currentHealthUrl) {
    try {
      const response = await fetch(spec.currentHealthUrl, { signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      if (!response.ok) {
        throw new Error(
          `preflight failed: the running service answers ${response.status} at ${spec.currentHealthUrl}; ` +
            `${NOTHING_CHANGED}. Find out why before rolling out over it.`,
        );
      }
      currentService = "healthy";
    } catch (err) {
      const code = (err as { cause?: { code?: string } }).cause?.code;
      if (code === "ECONNREFUSED" && spec.allowNoCurrentService) {
        currentService = "none running";
      } else if (code) {
        throw new Error(
          `preflight failed: nothing answers at ${spec.currentHealthUrl} (${code}); ${NOTHING_CHANGED}. ` +
            `For a first install set rollout:preflight.allowNoCurrentService to true.`,
          { cause: err },
        );
      } else {
        throw err;
      }
    }
  }

  const gates: SqlCheckResult[] = [];
  const skippedGates = policy.rollback
    ? spec.gates.filter((g) => g.appliesTo === "forward").map((g) => g.name)
    : [];
  for (const gate of spec.gates.filter((g) => !skippedGates.includes(g.name))) {
    try {
      gates.push(await runSqlCheck(connection, gate, "preflight gate", progress));
      progress(`preflight gate \`${gate.name}\` holds (${gate.expect})`);
    } catch (err) {
      throw new Error(`${(err as Error).message}; ${NOTHING_CHANGED}`, { cause: err });
    }
  }
  return { databaseVersion, currentService, gates, skippedGates };
}

/** Whether the URL answers 2xx within 10 s; any failure to answer counts as no. */
async function answersHealthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
    await response.arrayBuffer();
    return response.ok;
  } catch {
    return false;
  }
}
