// The report's summary as the facts of a notice (Slack fields): release, gates, backup, migrations,
// images, checks, phases. A notice sent before the report is complete (the in-program success
// notice, a failure) gives the parts it knows; absent parts are left out, never guessed.
import type { NoticeFact } from "../notify";
import { formatBytes, formatSeconds, phaseSpan, schemaLine } from "./format";
import type { RolloutReport } from "./types";

/** What a notice knows of a rollout: the release, and whichever parts of the report have run. */
export type ReportSoFar = Pick<RolloutReport, "release"> &
  Partial<
    Pick<RolloutReport, "rollback" | "gates" | "backup" | "schema" | "checks" | "smokeTests" | "soak">
  > & {
    /** `before` is absent when it is not known yet (the release marker runs last). */
    readonly image?: { readonly before?: string | null; readonly after: string };
    readonly phases?: RolloutReport["phases"];
  };

/** The report's summary as at most 10 labelled facts, the most useful to an operator first. */
export function noticeFacts(r: ReportSoFar): NoticeFact[] {
  const { id, digest } = r.release;
  const facts: NoticeFact[] = [{ label: "Release", value: digest ? `${id} (digest ${digest})` : id }];
  if (r.rollback)
    facts.push({
      label: "Rollback",
      value: `undoes ${r.rollback.undoes}, back to update ${r.rollback.toUpdate}${r.rollback.reason ? `: ${r.rollback.reason}` : ""}`,
    });
  if (r.gates?.override) facts.push({ label: "Override", value: r.gates.override });
  if (r.image) {
    const before = r.image.before === undefined ? undefined : (r.image.before ?? "none (first install)");
    facts.push({ label: "Image", value: before ? `${before} -> ${r.image.after}` : r.image.after });
  }
  if (r.backup)
    facts.push({
      label: "Backup",
      value: `${formatBytes(r.backup.bytes)}, sha256 ${r.backup.sha256}, ${r.backup.tableCount} tables${r.backup.restoreTested ? ", restore tested" : ""}`,
    });
  if (r.schema) {
    const moved = [...r.schema.applied.map((m) => `+${m}`), ...r.schema.reverted.map((m) => `-${m}`)];
    facts.push({
      label: "Migrations",
      value: `${schemaLine(r.schema)}${moved.length > 0 ? `: ${moved.join(", ")}` : ""}`,
    });
  }
  if (r.checks && r.checks.length > 0)
    facts.push({
      label: "Checks",
      value: r.checks
        .map((c) => `${c.passed ? "ok" : "FAILED"} ${c.name}: ${c.observed} in ${c.latencyMs} ms`)
        .join("; "),
    });
  if (r.smokeTests && r.smokeTests.length > 0)
    facts.push({
      label: "Smoke tests",
      value: r.smokeTests.map((t) => `${t.name}: ${t.steps.length} steps`).join("; "),
    });
  if (r.soak)
    facts.push({
      label: "Soak",
      value: `${r.soak.probes} probes, ${r.soak.errors} errors, p95 ${r.soak.p95Ms} ms`,
    });
  if (r.phases && r.phases.length > 0)
    facts.push({
      label: "Phases",
      value: `${formatSeconds(phaseSpan(r.phases).seconds)}: ${r.phases.map((p) => `${p.phase} ${formatSeconds(p.seconds)}`).join(", ")}`,
    });
  return facts.slice(0, 10);
}
