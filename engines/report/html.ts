// The report as one self-contained HTML page: inline CSS, no script, no external asset (its
// Content-Security-Policy forbids them), every value escaped. The timeline has one element per
// phase, `data-phase="<name>"`, its bar placed and sized in proportion to the phase's time.
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

const ENTITIES: Record<string, string> = {
  "&": "&amp;",
  "<": "&lt;",
  ">": "&gt;",
  '"': "&quot;",
  "'": "&#39;",
};

/** A value as HTML text or attribute value. */
export function esc(value: unknown): string {
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

const STYLE = `
body { font: 14px/1.45 system-ui, sans-serif; margin: 24px; color: #1d232a; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.facts { color: #46505a; margin: 0 0 12px; } .facts span { margin-right: 16px; }
code { font: 12px ui-monospace, monospace; background: #f1f3f5; padding: 1px 4px; border-radius: 3px; overflow-wrap: anywhere; }
pre { font: 12px ui-monospace, monospace; background: #f1f3f5; padding: 8px; border-radius: 3px; overflow-x: auto; max-width: 960px; }
table { border-collapse: collapse; margin: 4px 0 8px; } th, td { border: 1px solid #d8dde2; padding: 4px 8px; text-align: left; vertical-align: top; }
th { background: #f5f7f9; } .passed { color: #17803d; } .failed { color: #b42318; }
.timeline { list-style: none; padding: 0; margin: 0; max-width: 960px; }
.phase { display: grid; grid-template-columns: 260px 1fr 70px; align-items: center; gap: 8px; min-height: 24px; }
.track { position: relative; height: 14px; background: #eef1f4; border-radius: 3px; }
.bar { position: absolute; top: 0; height: 14px; min-width: 3px; background: #2f6fd6; border-radius: 3px; }
.time { text-align: right; color: #46505a; font-variant-numeric: tabular-nums; }
`;

function tableHtml(head: readonly string[], rows: readonly (readonly string[])[], id: string): string {
  const th = head.map((h) => `<th>${esc(h)}</th>`).join("");
  const body = rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join("")}</tr>`).join("\n");
  return `<table id="${id}"><thead><tr>${th}</tr></thead><tbody>\n${body}\n</tbody></table>`;
}

const code = (value: unknown) => `<code>${esc(value)}</code>`;

/** The timeline: one `<li data-phase>` a line, so each phase is one element and one line of markup. */
function timeline(r: RolloutReport): string {
  const span = phaseSpan(r.phases);
  const total = span.end - span.start;
  const pct = (ms: number) => (total > 0 ? ((ms / total) * 100).toFixed(2) : "0.00");
  const items = r.phases.map((p) => {
    const left = pct(Date.parse(p.startedAt) - span.start);
    const width = pct(Date.parse(p.finishedAt) - Date.parse(p.startedAt));
    return (
      `<li class="phase" data-phase="${esc(p.phase)}" data-started-at="${esc(p.startedAt)}" data-seconds="${esc(p.seconds)}">` +
      `<span class="label">${esc(p.phase)}</span>` +
      `<span class="track"><span class="bar" style="left:${left}%;width:${width}%" title="${esc(`${p.phase}: ${clock(p.startedAt)}-${clock(p.finishedAt)} UTC`)}"></span></span>` +
      `<span class="time">${esc(formatSeconds(p.seconds))}</span></li>`
    );
  });
  return [
    `<ol class="timeline" id="timeline" aria-label="Timeline of the phases">`,
    ...items,
    `</ol>`,
    `<p>From the first phase to the last: ${esc(formatSeconds(span.seconds))}.</p>`,
  ].join("\n");
}

function gates(r: RolloutReport): string {
  const { window, override, approvals } = r.gates;
  const given = approvals.given.map((a) => `${a.role} by ${a.by}`).join(", ");
  const items = [
    `Window: ${window ? `${esc(window.summary)} (${window.enforced ? "enforced" : "not enforced"})` : "none configured"}`,
    `Override: ${override ? esc(override) : "none"}`,
    `Approvals: ${approvals.required.length > 0 ? `required ${esc(approvals.required.join(", "))}; given ${given ? esc(given) : "none"}` : "none required"}`,
    `Preflight: database ${esc(r.preflight.databaseVersion)}, current service ${esc(r.preflight.currentService)}, ${r.preflight.gates.length} gates held` +
      ((r.preflight.skippedGates ?? []).length > 0
        ? `, skipped ${esc(r.preflight.skippedGates.join(", "))}`
        : ""),
    `Maintenance: ${r.maintenance ? `on ${esc(r.maintenance.on.outcome)}, off ${esc(r.maintenance.off.outcome)}` : "not configured"}`,
  ];
  return `<ul id="gates">${items.map((i) => `<li>${i}</li>`).join("")}</ul>`;
}

function backup(r: RolloutReport): string {
  const b = r.backup;
  if (!b) return `<p id="backup">No backup configured.</p>`;
  const left = b.crashLeftovers.left.map(
    (l) => `<p>Left ${esc(l.item)}: ${esc(l.reason)}; remove it with ${code(l.command)}</p>`,
  );
  return [
    tableHtml(
      ["path", "size", "sha256", "tables", "restore tested", "took"],
      [
        [
          code(b.path),
          esc(formatBytes(b.bytes)),
          code(b.sha256),
          esc(b.tableCount),
          b.restoreTested ? "yes" : "no",
          esc(formatSeconds(b.durationMs / 1000)),
        ],
      ],
      "backup",
    ),
    ...(b.crashLeftovers.removed.length > 0
      ? [`<p>Removed leftovers of killed runs: ${esc(b.crashLeftovers.removed.join(", "))}</p>`]
      : []),
    ...left,
    ...(b.copies.length > 0
      ? [
          `<ul id="backup-copies">${b.copies
            .map(
              (c) =>
                `<li>${esc(c.location)} ${code(c.key)}: ${esc(formatBytes(c.bytes))}, sha256 ${code(c.sha256)}, ${c.verified ? "verified" : "<strong>not verified</strong>"}</li>`,
            )
            .join("")}</ul>`,
        ]
      : []),
  ].join("\n");
}

function migrations(r: RolloutReport): string {
  const s = r.schema;
  if (!s) return `<p id="migrations">No migrations configured.</p>`;
  const list = (names: string[]) => (names.length > 0 ? names.map(code).join(", ") : "none");
  return `<ul id="migrations"><li>Schema: ${esc(schemaLine(s))}</li><li>Applied: ${list(s.applied)}</li><li>Reverted: ${list(s.reverted)}</li></ul>`;
}

function images(r: RolloutReport): string {
  const containers = Object.entries(r.containers).map(([k, v]) => [esc(k), code(v)]);
  return [
    tableHtml(
      ["", "image"],
      [
        ["before", code(imageBefore(r))],
        ["after", `${code(r.image.after)} ${code(r.image.id)}`],
      ],
      "images",
    ),
    ...(r.services.length > 0
      ? [
          tableHtml(
            ["service", "image before", "image after", "state", "started"],
            r.services.map((s) => [
              esc(s.kept ? `${s.name} (kept)` : s.name),
              code(s.imageBefore ?? "none"),
              `${code(s.image)} ${code(s.imageId.slice(0, 19))}`,
              esc(s.state),
              esc(s.startedAt),
            ]),
            "services",
          ),
        ]
      : containers.length > 0
        ? [tableHtml(["container", "id"], containers, "containers")]
        : []),
  ].join("\n");
}

function checks(r: RolloutReport): string {
  const parts: string[] = [];
  if (r.checks.length === 0) parts.push(`<p id="checks">No checks configured.</p>`);
  else
    parts.push(
      tableHtml(
        ["check", "kind", "result", "expected", "observed", "latency", "attempts"],
        r.checks.map((c) => [
          esc(c.name),
          esc(c.kind),
          c.passed ? `<span class="passed">passed</span>` : `<span class="failed">failed</span>`,
          esc(c.expected),
          esc(c.observed),
          `${esc(c.latencyMs)} ms`,
          esc(c.attempts),
        ]),
        "checks",
      ),
    );
  if (r.smokeTests.length > 0)
    parts.push(
      tableHtml(
        ["smoke test", "step", "status", "latency"],
        r.smokeTests.flatMap((t) =>
          t.steps.map((s) => [esc(t.name), esc(s.name), esc(s.status), `${esc(s.latencyMs)} ms`]),
        ),
        "smoke-tests",
      ),
    );
  if (r.soak) {
    const s = r.soak;
    parts.push(
      `<p id="soak">Soak: ${esc(s.probes)} probes over ${esc(formatSeconds(s.durationMs / 1000))}, ${esc(s.errors)} errors ` +
        `(rate ${esc(s.errorRate)}), p50 ${esc(s.p50Ms)} ms, p95 ${esc(s.p95Ms)} ms, max ${esc(s.maxMs)} ms</p>`,
    );
    const again = soakAgain(s);
    if (again) parts.push(`<p id="soak-also">${esc(again)}</p>`);
  }
  return parts.join("\n");
}

function commands(r: RolloutReport): string {
  if (r.commands.length === 0) return "";
  const table = tableHtml(
    ["command", "at", "host", "exit", "took", "output lines", "patterns"],
    r.commands.map((c) => [
      code(c.name),
      esc(c.at),
      esc(c.host),
      esc(c.exitCode),
      esc(formatSeconds(c.seconds)),
      esc(c.outputLines),
      esc(
        [...c.matched.map((p) => `has /${p}/`), ...c.absent.map((p) => `lacks /${p}/`)].join(", ") || "none",
      ),
    ]),
    "commands",
  );
  const tails = r.commands
    .filter((c) => c.outputTail.length > 0)
    .map(
      (c) =>
        `<p>Last output of ${code(c.name)}:</p>\n<pre data-command="${esc(c.name)}">${esc(c.outputTail.join("\n"))}</pre>`,
    );
  return `<h2>Commands</h2>\n${[table, ...tails].join("\n")}`;
}

/** The whole report as a self-contained HTML page. */
export function reportHtml(r: RolloutReport): string {
  const { release } = r;
  const rollback = r.rollback
    ? `<p id="rollback">Rolls back ${code(r.rollback.undoes)} to update ${esc(r.rollback.toUpdate)}${r.rollback.reason ? `: ${esc(r.rollback.reason)}` : ""}` +
      `${r.rollback.restored ? `; restored ${esc(r.rollback.restored.tablesRestored)} tables from ${code(r.rollback.restored.path)}` : ""}</p>`
    : "";
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(headline(r))}</title>
<style>${STYLE}</style>
</head>
<body>
<h1 id="release">${esc(headline(r))}</h1>
<p class="facts"><span>release ${code(release.id)}</span><span>digest ${code(release.digest)}</span><span>image ${code(release.image)}</span><span>schema target ${code(release.schemaTarget ?? "none")}</span></p>
${rollback}
<h2>Timeline</h2>
${timeline(r)}
<h2>Gates</h2>
${gates(r)}
<h2>Backup</h2>
${backup(r)}
<h2>Migrations</h2>
${migrations(r)}
<h2>Images</h2>
${images(r)}
<h2>Checks</h2>
${checks(r)}
${commands(r)}
<h2>Phases</h2>
${tableHtml(
  ["phase", "started (UTC)", "finished (UTC)", "took"],
  r.phases.map((p) => [
    esc(p.phase),
    esc(clock(p.startedAt)),
    esc(clock(p.finishedAt)),
    esc(formatSeconds(p.seconds)),
  ]),
  "phases",
)}
</body>
</html>
`;
}
