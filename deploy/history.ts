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
      kind: e.kind,
      result: e.result,
      release: releaseOf(e)?.id ?? "-",
      time: new Date(e.startTime).toISOString(),
      message: e.message,
    }));
}

export interface RollbackChoice {
  /** The latest update, whose release is being rolled back. */
  readonly current: { readonly version: number; readonly result: string; readonly release: ReleaseValue };
  /** The successful update whose release value comes back. */
  readonly target: { readonly version: number; readonly release: ReleaseValue };
}

/**
 * Chooses the update to roll back to: `to` when given, which must be a successful update, or else
 * the last successful update before the current one whose release differs from the current one.
 * Throws with what was found and what to do, before anything changes.
 */
export function chooseRollbackTarget(rawHistory: readonly HistoryEntry[], to?: number): RollbackChoice {
  const history = numbered(rawHistory);
  const updates = history.filter((e) => e.kind === "update").sort((a, b) => b.version - a.version);
  const latest = updates[0];
  const latestRelease = latest ? releaseOf(latest) : undefined;
  if (!latest || !latestRelease) {
    throw new Error("the stack has no update with a release to roll back from; run `pulumi up` first");
  }
  const successful = updates.filter((e) => e.result === "succeeded" && releaseOf(e));
  const list = successful.map((e) => `${e.version} (${releaseOf(e)!.id})`).join(", ") || "none";
  let target: HistoryEntry | undefined;
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
  } else {
    target = successful.find((e) => e.version < latest.version && releaseOf(e)!.id !== latestRelease.id);
    if (!target) {
      throw new Error(
        `no successful update before update ${latest.version} has a release other than ${latestRelease.id}; ` +
          `nothing to roll back to (successful updates: ${list})`,
      );
    }
  }
  const targetRelease = releaseOf(target)!;
  if (
    targetRelease.id === latestRelease.id &&
    targetRelease.image === latestRelease.image &&
    targetRelease.schemaTarget === latestRelease.schemaTarget
  ) {
    throw new Error(
      `update ${target.version} has the release that is current (${latestRelease.id}); pick an earlier one`,
    );
  }
  return {
    current: { version: latest.version, result: latest.result, release: latestRelease },
    target: { version: target.version, release: targetRelease },
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
