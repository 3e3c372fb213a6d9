// The words and numbers the report's renderers share, so the Markdown summary, the HTML page and
// the notices say the same thing the same way.
import { formatBytes as shortBytes } from "../progress";
import type { RolloutReport } from "./types";
import type { SoakResult } from "../checks/soak";

/** `1.40 MiB (1468006 bytes)`: readable, with the exact figure beside it. */
export function formatBytes(bytes: number): string {
  return bytes < 1024 ? `${bytes} bytes` : `${shortBytes(bytes)} (${bytes} bytes)`;
}

/** Seconds with one decimal: `0.9 s`. */
export function formatSeconds(seconds: number): string {
  return `${seconds.toFixed(1)} s`;
}

/** The time of day of an ISO time, in UTC with milliseconds: `22:00:01.250`. */
export function clock(iso: string): string {
  return new Date(iso).toISOString().slice(11, 23);
}

/** What the image column says: the reference, `none` before a first install. */
export function imageBefore(report: Pick<RolloutReport, "image">): string {
  return report.image.before ?? "none (first install)";
}

/** One line on the schema move: `up to 0003 (applied 1, reverted 0)`. */
export function schemaLine(schema: NonNullable<RolloutReport["schema"]>): string {
  return `${schema.direction} to ${schema.version} (applied ${schema.applied.length}, reverted ${schema.reverted.length})`;
}

/** The first and last moment the phases cover, and the seconds between them. */
export function phaseSpan(phases: RolloutReport["phases"]): { start: number; end: number; seconds: number } {
  if (phases.length === 0) return { start: 0, end: 0, seconds: 0 };
  const start = Math.min(...phases.map((p) => Date.parse(p.startedAt)));
  const end = Math.max(...phases.map((p) => Date.parse(p.finishedAt)));
  return { start, end, seconds: (end - start) / 1000 };
}

/** The headline of every rendering: `Rollout of 2026.11.21-1 on prod` (or "Rollback"). */
export function headline(report: Pick<RolloutReport, "release" | "rollback">): string {
  return `${report.rollback ? "Rollback" : "Rollout"} of ${report.release.id} on ${report.release.stack}`;
}

/** What else the soak judged: its limits against the baseline, and the smoke and log re-runs. */
export function soakAgain(s: SoakResult): string | undefined {
  const parts: string[] = [];
  const b = s.limits?.baseline;
  if (b && s.limits) {
    parts.push(
      `judged against the release before (error rate ${b.errorRate}, p95 ${b.p95Ms} ms over ${b.probes} probes): ` +
        `error rate up to ${s.limits.maxErrorRate}, p95 up to ${s.limits.maxP95Ms} ms`,
    );
  } else if (s.limits) {
    parts.push(
      `no baseline (nothing ran before): absolute limits, error rate up to ${s.limits.maxErrorRate}, p95 up to ${s.limits.maxP95Ms} ms`,
    );
  }
  if (s.smokeRuns !== undefined) parts.push(`smoke flows run again ${s.smokeRuns} times`);
  if (s.logRuns !== undefined) parts.push(`logs judged again ${s.logRuns} times`);
  return parts.length > 0 ? `Soak also: ${parts.join("; ")}.` : undefined;
}
