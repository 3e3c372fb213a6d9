// Reading `pulumi stack history` for rollback: which update is current, which one to go back to.
// Pure: the CLI passes in what the Automation API returned.
import { CONFIG_NAMESPACE, type ReleaseConfig } from "../config";

/** The fields of an update summary that rollback needs. */
export interface HistoryEntry {
  readonly version: number;
  readonly kind: string;
  readonly result: string;
  readonly message: string;
  readonly startTime: Date | string;
  readonly config: Record<string, { readonly value: string; readonly secret: boolean }>;
}

/** The release value as stack config holds it. */
export type ReleaseValue = ReleaseConfig;

/** What a rollback update records about itself (rollout:rollback in its config). */
export interface RollbackMark {
  readonly undoes: string;
  readonly toUpdate: number;
  readonly reason?: string;
}

/** The rollback an update was, or undefined for a forward update. */
export function rollbackOf(entry: HistoryEntry): RollbackMark | undefined {
  const raw = entry.config[`${CONFIG_NAMESPACE}:rollback`]?.value;
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<RollbackMark>;
    return typeof value.undoes === "string" && typeof value.toUpdate === "number"
      ? { undoes: value.undoes, toUpdate: value.toUpdate, reason: value.reason }
      : undefined;
  } catch {
    return undefined;
  }
}

/** One line of the history listing. */
export interface HistoryLine {
  readonly version: number;
  readonly kind: string;
  readonly result: string;
  readonly release: string;
  readonly time: string;
  readonly message: string;
}

/**
 * The history with a usable number on every entry. Pulumi Cloud numbers updates; the file backend
 * reports 0 for all of them, so there the entries are numbered 1, 2, ... oldest first, which is
 * the number `npm run history` shows and `--to` takes.
 */
export function numbered(history: readonly HistoryEntry[]): HistoryEntry[] {
  const versions = new Set(history.map((e) => e.version));
  if (history.every((e) => e.version > 0) && versions.size === history.length) return [...history];
  // The CLI lists newest first; older entries get lower numbers, ties keep that order.
  const oldestFirst = history
    .map((entry, index) => ({ entry, index }))
    .sort(
      (a, b) =>
        new Date(a.entry.startTime).getTime() - new Date(b.entry.startTime).getTime() || b.index - a.index,
    );
  return oldestFirst.map(({ entry }, i) => ({ ...entry, version: i + 1 }));
}

/** The release value an update ran with, or undefined when its config had none. */
export function releaseOf(entry: HistoryEntry): ReleaseValue | undefined {
  const raw = entry.config[`${CONFIG_NAMESPACE}:release`]?.value;
  if (!raw) return undefined;
  try {
    const value = JSON.parse(raw) as Partial<ReleaseValue>;
    if (typeof value.id !== "string" || typeof value.image !== "string") return undefined;
    return { id: value.id, image: value.image, schemaTarget: value.schemaTarget };
  } catch {
    return undefined;
  }
}

/** The history newest first, as lines for people. */
export function historyLines(history: readonly HistoryEntry[]): HistoryLine[] {
  return numbered(history)
    .sort((a, b) => b.version - a.version)
    .map((e) => ({
      version: e.version,
      kind: e.kind === "update" && rollbackOf(e) ? "rollback" : e.kind,
      result: e.result,
      release: releaseOf(e)?.id ?? "-",
      time: new Date(e.startTime).toISOString(),
      message: e.message,
    }));
}

export interface RollbackChoice {
  /** The latest update, whose release is being rolled back. */
  readonly current: { readonly version: number; readonly result: string; readonly release: ReleaseValue };
  /** The successful update whose config comes back. */
  readonly target: { readonly version: number; readonly release: ReleaseValue };
  /** That update's stack config, as history recorded it (secret values hidden). */
  readonly targetConfig: HistoryEntry["config"];
  /** The release being undone: the current one, or the one a failed rollback was undoing. */
  readonly undoes: string;
  /** Set when this run retries a rollback that failed: it keeps that rollback's target. */
  readonly retryOf?: number;
}

/**
 * Chooses the update to roll back to, before anything changes (throws with what was found and
 * what to do):
 * - `to` when given: a successful update whose release is not the current one;
 * - after a failed rollback: the same target again (a retry must not go one release further back);
 * - after a successful rollback: nothing without `to` (a second rollback would bring back the
 *   release that was just undone, or go further back than anyone asked);
 * - else the last successful forward update before the current one whose release differs from the
 *   current one and was never undone by a rollback.
 */
export function chooseRollbackTarget(rawHistory: readonly HistoryEntry[], to?: number): RollbackChoice {
  const history = numbered(rawHistory);
  const updates = history.filter((e) => e.kind === "update").sort((a, b) => b.version - a.version);
  const latest = updates[0];
  const latestRelease = latest ? releaseOf(latest) : undefined;
  if (!latest || !latestRelease) {
    throw new Error("the stack has no update with a release to roll back from; run `pulumi up` first");
  }
  const latestMark = rollbackOf(latest);
  const successful = updates.filter((e) => e.result === "succeeded" && releaseOf(e));
  const list = successful.map((e) => `${e.version} (${releaseOf(e)!.id})`).join(", ") || "none";
  const current = { version: latest.version, result: latest.result, release: latestRelease };
  const undoes = latestMark && latest.result !== "succeeded" ? latestMark.undoes : latestRelease.id;

  let target: HistoryEntry | undefined;
  let retryOf: number | undefined;
  if (to !== undefined) {
    target = history.find((e) => e.version === to);
    if (!target)
      throw new Error(`there is no update ${to} in the stack history; successful updates: ${list}`);
    if (target.kind !== "update") {
      throw new Error(`update ${to} was a ${target.kind}, not an update; successful updates: ${list}`);
    }
    if (target.result !== "succeeded") {
      throw new Error(
        `update ${to} ${target.result === "failed" ? "failed" : `is ${target.result}`}: its release never ran ` +
          `to the end, so it is no state to go back to; successful updates: ${list}`,
      );
    }
    if (!releaseOf(target))
      throw new Error(`update ${to} has no rollout:release in its config; successful updates: ${list}`);
  } else if (latestMark && latest.result !== "succeeded") {
    target = history.find((e) => e.version === latestMark.toUpdate && e.result === "succeeded");
    if (!target || !releaseOf(target)) {
      throw new Error(
        `update ${latest.version} was a rollback to update ${latestMark.toUpdate} that did not finish, and that update ` +
          `is not a successful one in the history; name the update to go back to with --to (successful updates: ${list})`,
      );
    }
    retryOf = latest.version;
  } else if (latestMark) {
    throw new Error(
      `update ${latest.version} already rolled ${latestMark.undoes} back to ${latestRelease.id}; rolling back again ` +
        `would go further back than that, so name the update to go back to with --to (successful updates: ${list})`,
    );
  } else {
    const undone = new Set(history.map(rollbackOf).flatMap((m) => (m ? [m.undoes] : [])));
    target = successful.find((e) => {
      const release = releaseOf(e)!;
      return (
        e.version < latest.version &&
        !rollbackOf(e) &&
        release.id !== latestRelease.id &&
        !undone.has(release.id)
      );
    });
    if (!target) {
      throw new Error(
        `no successful update before update ${latest.version} has a release other than ${latestRelease.id}; ` +
          `nothing to roll back to (successful updates: ${list}` +
          `${undone.size > 0 ? `; releases undone by a rollback are not chosen without --to: ${[...undone].join(", ")}` : ""})`,
      );
    }
  }
  const targetRelease = releaseOf(target)!;
  if (
    retryOf === undefined &&
    targetRelease.id === latestRelease.id &&
    targetRelease.image === latestRelease.image &&
    targetRelease.schemaTarget === latestRelease.schemaTarget
  ) {
    throw new Error(
      `update ${target.version} has the release that is current (${latestRelease.id}); pick an earlier one`,
    );
  }
  return {
    current,
    target: { version: target.version, release: targetRelease },
    targetConfig: target.config,
    undoes,
    ...(retryOf === undefined ? {} : { retryOf }),
  };
}

/** Parses a duration such as `90s`, `15m`, `4h`, `1h30m` into seconds. */
export function parseDuration(text: string): number {
  const match = /^(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/.exec(text.trim());
  if (!match || text.trim() === "") {
    throw new Error(`duration ${JSON.stringify(text)} is not valid; write it like 90s, 15m, 4h or 1h30m`);
  }
  const [, h, m, s] = match;
  const seconds = Number(h ?? 0) * 3600 + Number(m ?? 0) * 60 + Number(s ?? 0);
  if (seconds === 0) throw new Error(`duration ${JSON.stringify(text)} is zero; give a positive duration`);
  return seconds;
}
