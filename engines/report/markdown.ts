// The report as Markdown for people: the stack output `summary` and `<release>-<time>.md`. Every
// value passes through `text` or `cell`, so a value cannot break the layout or inject markup.
import {
  clock,
  formatBytes,
  formatSeconds,
  headline,
  imageBefore,
  phaseSpan,
  schemaLine,
  soakAgain,
} from "./format";
import type { RolloutReport } from "./types";

/** A value as inline Markdown text: the characters that make emphasis, links, code or HTML escaped. */
export function text(value: unknown): string {
  return String(value)
    .replace(/[\\`*_[\]<>|#~!]/g, (c) => `\\${c}`)
    .replace(/&/g, "&amp;")
    .replace(/\r?\n/g, " ");
}

/** A table row of escaped cells. */
function row(cells: readonly unknown[]): string {
  return `| ${cells.map(text).join(" | ")} |`;
}

function table(head: readonly string[], rows: readonly (readonly unknown[])[]): string[] {
  return [row(head), `|${head.map(() => " --- ").join("|")}|`, ...rows.map(row)];
}

function gates(r: RolloutReport): string[] {
  const { window, override, approvals } = r.gates;
  const given = approvals.given.map((a) => `${a.role} by ${a.by}`).join(", ");
  return [
    "## Gates",
    "",
    `- Window: ${window ? `${text(window.summary)} (${window.enforced ? "enforced" : "not enforced"})` : "none configured"}`,
    `- Override: ${override ? text(override) : "none"}`,
    `- Approvals: ${approvals.required.length > 0 ? `required ${text(approvals.required.join(", "))}; given ${given ? text(given) : "none"}` : "none required"}`,
    `- Preflight: database ${text(r.preflight.databaseVersion)}, current service ${text(r.preflight.currentService)}, ` +
      `${r.preflight.gates.length} gate${r.preflight.gates.length === 1 ? "" : "s"} held` +
      ((r.preflight.skippedGates ?? []).length > 0
        ? `, skipped ${text(r.preflight.skippedGates.join(", "))}`
        : ""),
    `- Maintenance: ${r.maintenance ? `on ${text(r.maintenance.on.outcome)}, off ${text(r.maintenance.off.outcome)}` : "not configured"}`,
  ];
}

function backup(r: RolloutReport): string[] {
  const b = r.backup;
  if (!b) return ["## Backup", "", "No backup configured."];
  const lines = [
    "## Backup",
    "",
    ...table(
      ["path", "size", "sha256", "tables", "restore tested", "took"],
      [
        [
          b.path,
          formatBytes(b.bytes),
          b.sha256,
          b.tableCount,
          b.restoreTested ? "yes" : "no",
          formatSeconds(b.durationMs / 1000),
        ],
      ],
    ),
  ];
  if (b.crashLeftovers.removed.length > 0)
    lines.push("", `Removed leftovers of killed runs: ${text(b.crashLeftovers.removed.join(", "))}`);
  for (const left of b.crashLeftovers.left)
    lines.push("", `Left ${text(left.item)}: ${text(left.reason)}; remove it with ${text(left.command)}`);
  for (const a of b.archives) {
    lines.push(
      "",
      `Archive ${text(a.name)} of ${text(a.source)}: ${a.files} files (${formatBytes(a.fileBytes)}) in ${text(a.path)}, ` +
        `${formatBytes(a.bytes)}, sha256 ${text(a.sha256)}, ${a.copies.filter((c) => c.verified).length} verified copies`,
    );
  }
  if (b.copies.length > 0) {
    lines.push("", "Copies:", "");
    for (const c of b.copies)
      lines.push(
        `- ${text(c.location)} ${text(c.key)}: ${formatBytes(c.bytes)}, sha256 ${text(c.sha256)}, ${c.verified ? "verified" : "NOT verified"}`,
      );
  }
  return lines;
}

function migrations(r: RolloutReport): string[] {
  const s = r.schema;
  if (!s) return ["## Migrations", "", "No migrations configured."];
  const list = (names: string[]) => (names.length > 0 ? names.map((n) => text(n)).join(", ") : "none");
  return [
    "## Migrations",
    "",
    `- Schema: ${text(schemaLine(s))}`,
    `- Applied: ${list(s.applied)}`,
    `- Reverted: ${list(s.reverted)}`,
  ];
}

function images(r: RolloutReport): string[] {
  return [
    "## Images",
    "",
    ...table(
      ["", "image"],
      [
        ["before", imageBefore(r)],
        ["after", `${r.image.after} (${r.image.id})`],
      ],
    ),
    ...(r.services.length > 0
      ? [
          "",
          ...table(
            ["service", "image before", "image after", "state", "started"],
            r.services.map((s) => [
              s.kept ? `${s.name} (kept)` : s.name,
              s.imageBefore ?? "none",
              `${s.image} (${s.imageId.slice(0, 19)})`,
              s.state,
              s.startedAt,
            ]),
          ),
        ]
      : Object.keys(r.containers).length > 0
        ? ["", ...table(["container", "id"], Object.entries(r.containers))]
        : []),
  ];
}

function checks(r: RolloutReport): string[] {
  const lines = ["## Checks", ""];
  if (r.checks.length === 0) lines.push("No checks configured.");
  else
    lines.push(
      ...table(
        ["check", "kind", "result", "expected", "observed", "latency", "attempts"],
        r.checks.map((c) => [
          c.name,
          c.kind,
          c.passed ? "passed" : "failed",
          c.expected,
          c.observed,
          `${c.latencyMs} ms`,
          c.attempts,
        ]),
      ),
    );
  if (r.smokeTests.length > 0) {
    lines.push(
      "",
      ...table(
        ["smoke test", "step", "status", "latency"],
        r.smokeTests.flatMap((t) => t.steps.map((s) => [t.name, s.name, s.status, `${s.latencyMs} ms`])),
      ),
    );
  }
  if (r.soak) {
    const s = r.soak;
    lines.push(
      "",
      `Soak: ${s.probes} probes over ${formatSeconds(s.durationMs / 1000)}, ${s.errors} errors ` +
        `(rate ${s.errorRate}), p50 ${s.p50Ms} ms, p95 ${s.p95Ms} ms, max ${s.maxMs} ms`,
    );
    const again = soakAgain(s);
    if (again) lines.push("", again);
  }
  return lines;
}

/** A fenced code block whose fence no line of `lines` can close. */
function codeBlock(lines: readonly string[]): string[] {
  const longest = Math.max(
    0,
    ...lines.map((l) => Math.max(0, ...(l.match(/`+/g) ?? []).map((m) => m.length))),
  );
  const fence = "`".repeat(Math.max(3, longest + 1));
  return [fence, ...lines, fence];
}

function commands(r: RolloutReport): string[] {
  if (r.commands.length === 0) return [];
  const lines = [
    "## Commands",
    "",
    ...table(
      ["command", "at", "host", "exit", "took", "output lines", "patterns"],
      r.commands.map((c) => [
        c.name,
        c.at,
        c.host,
        c.exitCode,
        formatSeconds(c.seconds),
        c.outputLines,
        [...c.matched.map((p) => `has /${p}/`), ...c.absent.map((p) => `lacks /${p}/`)].join(", ") || "none",
      ]),
    ),
  ];
  for (const c of r.commands) {
    if (c.outputTail.length === 0) continue;
    lines.push("", `Last output of ${text(c.name)}:`, "", ...codeBlock(c.outputTail));
  }
  return lines;
}

function phases(r: RolloutReport): string[] {
  const span = phaseSpan(r.phases);
  return [
    "## Phases",
    "",
    ...table(
      ["phase", "started (UTC)", "finished (UTC)", "took"],
      r.phases.map((p) => [p.phase, clock(p.startedAt), clock(p.finishedAt), formatSeconds(p.seconds)]),
    ),
    "",
    `From the first phase to the last: ${formatSeconds(span.seconds)}.`,
  ];
}

/** The whole report as Markdown: release, gates, backup, migrations, images, checks, phases. */
export function reportMarkdown(r: RolloutReport): string {
  const { release } = r;
  const lines = [
    `# ${text(headline(r))}`,
    "",
    `- Release: ${text(release.id)}, digest ${text(release.digest)}`,
    `- Image: ${text(release.image)}`,
    `- Schema target: ${release.schemaTarget ? text(release.schemaTarget) : "none"}`,
  ];
  if (r.rollback) {
    const b = r.rollback;
    lines.push(
      `- Rolls back ${text(b.undoes)} to update ${b.toUpdate}${b.reason ? `: ${text(b.reason)}` : ""}`,
      ...(b.restored ? [`- Restored ${b.restored.tablesRestored} tables from ${text(b.restored.path)}`] : []),
      ...(b.restored?.archives ?? []).map(
        (a) => `- Restored ${a.files} files of archive ${text(a.name)} into ${text(a.target)}`,
      ),
    );
  }
  for (const section of [gates, backup, migrations, images, checks, commands, phases]) {
    const part = section(r);
    if (part.length > 0) lines.push("", ...part);
  }
  return `${lines.join("\n")}\n`;
}
