// The report for people: the Markdown summary, the HTML page, the notice's facts and blocks, and the
// files. Pure functions over a whole report; the page in a real browser is in
// tests/integration/reportPage.test.ts.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { STEPS } from "../../components/tokens";
import { runsSince } from "../../deploy/state";
import { slackPayload } from "../../engines/notify";
import {
  esc,
  fileTime,
  noticeFacts,
  reportHtml,
  reportMarkdown,
  writeReportFiles,
  type RolloutReport,
} from "../../engines/report";
import { fixtureReport, HOSTILE } from "../support/reportFixture";

const report = fixtureReport();

describe("reportMarkdown", () => {
  const md = reportMarkdown(report);

  it("has every section, in order", () => {
    const headings = md.split("\n").filter((l) => l.startsWith("#"));
    assert.deepEqual(headings, [
      "# Rollout of 2026.11.21-1 on prod",
      "## Gates",
      "## Backup",
      "## Migrations",
      "## Images",
      "## Checks",
      "## Commands",
      "## Phases",
    ]);
  });

  it("names the release, the gates, the backup with size and sha256, migrations and images", () => {
    assert.match(md, /^- Release: 2026\.11\.21-1, digest ead1ae2cad7b/m);
    assert.match(md, /^- Window: inside the maintenance window .* \(enforced\)$/m);
    assert.match(md, /^- Approvals: required tech-lead, dba; given tech-lead by alice, dba by bob$/m);
    assert.ok(md.includes(`| 1.40 MiB (1468006 bytes) | ${"9f8e".repeat(16)} | 4 | yes | 0.9 s |`), md);
    assert.match(md, /^- Schema: up to 0003 \(applied 1, reverted 0\)$/m);
    assert.match(md, /^- Applied: 0003\\_add\\_item\\_status$/m);
    assert.match(md, /^- Reverted: none$/m);
    assert.match(md, /^\| before \| sample-app:1\.0\.0 \|$/m);
    assert.match(
      md,
      new RegExp(`^\\| after \\| sample-app:1\\.1\\.0 \\(sha256:${"a".repeat(64)}\\) \\|$`, "m"),
    );
  });

  it("lists every check with expected, observed and latency, and every phase with its times", () => {
    assert.match(
      md,
      /^\| health \| http \| passed \| status 200, status="ok", version="1\.1\.0", within 1000 ms \| HTTP 200 \| 12 ms \| 1 \|$/m,
    );
    assert.match(md, /^\| crud \| create \| 201 \| 7 ms \|$/m);
    assert.match(md, /^Soak: 25 probes over 5\.0 s, 0 errors \(rate 0\), p50 2 ms, p95 4 ms, max 6 ms$/m);
    for (const p of report.phases) {
      assert.match(
        md,
        new RegExp(
          `^\\| ${p.phase} \\| 22:00:\\d\\d\\.\\d{3} \\| 22:00:\\d\\d\\.\\d{3} \\| ${p.seconds.toFixed(1)} s \\|$`,
          "m",
        ),
      );
    }
    assert.match(md, /^From the first phase to the last: 10\.9 s\.$/m);
  });

  it("escapes markup in values, so a value cannot add a column, a link or HTML", () => {
    // A command's output is shown as it was in a fenced code block, where Markdown renders nothing.
    const prose = md.replace(/^(`{3,})\n[\s\S]*?\n\1$/gm, "");
    assert.ok(!prose.includes("<script>"), "raw HTML passed through");
    assert.ok(!prose.includes("[link](http"), "a raw link passed through");
    const row = md.split("\n").find((l) => l.startsWith("| odd-value |"));
    assert.ok(row, md);
    // Seven columns: the `|` inside the value is escaped.
    assert.equal(row.split(/(?<!\\)\|/).length - 2, 7, row);
    assert.ok(
      row.includes(
        '\\<script\\>alert("x")\\</script\\> \\| \\*not bold\\* &amp; \\[link\\](http://127.0.0.1:1/)',
      ),
      row,
    );
  });

  it("says so when a part is not configured, and shows a rollback", () => {
    const bare: RolloutReport = {
      ...report,
      backup: null,
      schema: null,
      checks: [],
      smokeTests: [],
      soak: null,
      maintenance: null,
      image: { ...report.image, before: null },
      rollback: { undoes: "2026.11.22-1", toUpdate: 7, reason: "checkout broken", restored: null },
    };
    const text = reportMarkdown(bare);
    assert.match(text, /^# Rollback of 2026\.11\.21-1 on prod$/m);
    assert.match(text, /^- Rolls back 2026\.11\.22-1 to update 7: checkout broken$/m);
    for (const line of ["No backup configured.", "No migrations configured.", "No checks configured."])
      assert.ok(text.includes(line), line);
    assert.match(text, /^\| before \| none \(first install\) \|$/m);
    assert.match(text, /^- Maintenance: not configured$/m);
  });
});

describe("reportHtml", () => {
  const html = reportHtml(report);

  it("is one self-contained page: inline CSS, no script, nothing loaded from elsewhere", () => {
    assert.match(html, /^<!doctype html>/);
    assert.match(
      html,
      /<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'">/,
    );
    for (const ref of ["<script", " src=", " href=", "url(", "@import", "<link"])
      assert.ok(!html.includes(ref), `the page holds ${ref}`);
    assert.match(html, /<title>Rollout of 2026\.11\.21-1 on prod<\/title>/);
  });

  it("escapes every value", () => {
    assert.ok(!html.includes(HOSTILE));
    assert.ok(html.includes(esc(HOSTILE)));
    assert.equal(esc(`<a href="x">'&'</a>`), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
  });

  it("draws one timeline element per phase, placed and sized by its share of the time", () => {
    const items = [
      ...html.matchAll(/<li class="phase" data-phase="([^"]+)"[^\n]*style="left:([\d.]+)%;width:([\d.]+)%"/g),
    ];
    assert.deepEqual(
      items.map((m) => m[1]),
      report.phases.map((p) => p.phase),
    );
    const total = 10.9;
    for (const [i, p] of report.phases.entries()) {
      const started = (Date.parse(p.startedAt) - Date.parse(report.phases[0].startedAt)) / 1000;
      assert.equal(items[i][2], ((started / total) * 100).toFixed(2), `${p.phase} offset`);
      assert.equal(items[i][3], ((p.seconds / total) * 100).toFixed(2), `${p.phase} width`);
    }
  });

  it("has the sections of the summary: gates, backup, migrations, images, checks with expected values", () => {
    for (const id of [
      "timeline",
      "gates",
      "backup",
      "migrations",
      "images",
      "checks",
      "smoke-tests",
      "soak",
      "phases",
    ])
      assert.match(html, new RegExp(`id="${id}"`), id);
    assert.ok(
      html.includes(
        `<td>status 200, status=&quot;ok&quot;, version=&quot;1.1.0&quot;, within 1000 ms</td><td>HTTP 200</td><td>12 ms</td>`,
      ),
    );
    assert.ok(html.includes(`<code>${"9f8e".repeat(16)}</code>`));
  });
});

describe("the notice's facts and Slack blocks", () => {
  it("sums the report up as labelled facts", () => {
    const facts = Object.fromEntries(noticeFacts(report).map((f) => [f.label, f.value]));
    assert.deepEqual(Object.keys(facts), [
      "Release",
      "Override",
      "Image",
      "Backup",
      "Migrations",
      "Checks",
      "Smoke tests",
      "Soak",
      "Phases",
    ]);
    assert.equal(facts.Image, "sample-app:1.0.0 -> sample-app:1.1.0");
    assert.equal(
      facts.Backup,
      `1.40 MiB (1468006 bytes), sha256 ${"9f8e".repeat(16)}, 4 tables, restore tested`,
    );
    assert.equal(facts.Migrations, "up to 0003 (applied 1, reverted 0): +0003_add_item_status");
    assert.match(facts.Phases, /^10\.9 s: preflight 0\.1 s, maintenance on 0\.1 s, backup 0\.9 s, /);
  });

  it("leaves out what is not known yet instead of guessing it", () => {
    const facts = noticeFacts({ release: report.release, image: { after: "sample-app:1.1.0" } });
    assert.deepEqual(facts, [
      { label: "Release", value: `2026.11.21-1 (digest ${report.release.digest})` },
      { label: "Image", value: "sample-app:1.1.0" },
    ]);
  });

  it("sends a header, the summary, the facts as mrkdwn fields and a context line, with `text` as the fallback", () => {
    const payload = slackPayload({
      event: "success",
      stack: "prod",
      release: "2026.11.21-1",
      summary: "sample-app:1.1.0 is live <@here>",
      facts: noticeFacts(report),
    }) as {
      text: string;
      blocks: {
        type: string;
        text?: { type: string; text: string };
        fields?: { type: string; text: string }[];
        elements?: { text: string }[];
      }[];
    };
    assert.deepEqual(
      payload.blocks.map((b) => b.type),
      ["header", "section", "section", "context"],
    );
    assert.deepEqual(payload.blocks[0].text, {
      type: "plain_text",
      text: ":white_check_mark: rollout success: release 2026.11.21-1 on prod",
      emoji: true,
    });
    // `<` and `>` are mrkdwn's link syntax: escaped, so a value cannot ping a channel.
    assert.equal(payload.blocks[1].text?.text, "sample-app:1.1.0 is live &lt;@here&gt;");
    const fields = payload.blocks[2].fields ?? [];
    assert.equal(fields.length, 9);
    assert.ok(fields.every((f) => f.type === "mrkdwn"));
    assert.equal(fields[2].text, "*Image*\nsample-app:1.0.0 -&gt; sample-app:1.1.0");
    assert.ok(fields[1].text.includes("&lt;script&gt;") && !fields[1].text.includes("<script>"));
    assert.equal(payload.blocks[3].elements?.[0].text, "stack prod · release 2026.11.21-1 · success");
    assert.match(
      payload.text,
      /^:white_check_mark: rollout success: release 2026\.11\.21-1 on prod\nsample-app:1\.1\.0 is live <@here>\nRelease: 2026\.11\.21-1/,
    );
    assert.match(payload.text, /\nBackup: 1\.40 MiB/);
  });

  it("keeps within Slack's limits: 10 fields, 2000 characters a field, 150 in the header", () => {
    const many = Array.from({ length: 12 }, (_, i) => ({ label: `fact ${i}`, value: "x".repeat(3000) }));
    const payload = slackPayload({
      event: "failure",
      stack: "s".repeat(200),
      release: "r",
      summary: "failed",
      facts: many,
    }) as {
      blocks: { text?: { text: string }; fields?: { text: string }[] }[];
    };
    assert.equal(payload.blocks[0].text?.text.length, 150);
    assert.equal(payload.blocks[2].fields?.length, 10);
    assert.ok(payload.blocks[2].fields?.every((f) => f.text.length === 2000));
  });

  it("sends no blocks of facts when there are none, as before", () => {
    const payload = slackPayload({
      event: "start",
      stack: "prod",
      release: "r1",
      summary: "sample-app:1.1.0",
    }) as {
      text: string;
      blocks: { type: string }[];
    };
    assert.deepEqual(
      payload.blocks.map((b) => b.type),
      ["header", "section", "context"],
    );
    assert.equal(payload.text, ":construction: rollout start: release r1 on prod\nsample-app:1.1.0");
  });
});

describe("writeReportFiles", () => {
  const at = new Date("2026-11-21T22:00:05.123Z");

  it("writes <release>-<time>.md and .html and latest.md/.html, mode 0644, creating the folder", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-report-"));
    const umask = process.umask(0o077);
    try {
      const dir = path.join(work, "reports", "prod");
      const result = writeReportFiles(dir, report, at);
      assert.equal(result.written, true);
      assert.equal(fileTime(at), "20261121T220005Z");
      assert.deepEqual(fs.readdirSync(dir).sort(), [
        "2026.11.21-1-20261121T220005Z.html",
        "2026.11.21-1-20261121T220005Z.md",
        "latest.html",
        "latest.md",
      ]);
      assert.equal(result.markdown, path.join(dir, "2026.11.21-1-20261121T220005Z.md"));
      for (const file of fs.readdirSync(dir))
        assert.equal(fs.statSync(path.join(dir, file)).mode & 0o777, 0o644, file);
      assert.equal(fs.readFileSync(result.markdown, "utf8"), reportMarkdown(report));
      assert.equal(fs.readFileSync(result.latestHtml, "utf8"), reportHtml(report));
      assert.equal(fs.readFileSync(result.latestMarkdown, "utf8"), fs.readFileSync(result.markdown, "utf8"));
    } finally {
      process.umask(umask);
      fs.rmSync(work, { recursive: true, force: true });
    }
  });

  it("returns the failure instead of throwing when the folder cannot be made", () => {
    const work = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-report-"));
    try {
      const blocker = path.join(work, "reports");
      fs.writeFileSync(blocker, "a file where the folder should be");
      const result = writeReportFiles(path.join(blocker, "prod"), report, at);
      assert.equal(result.written, false);
      assert.match(result.problem ?? "", /^(ENOTDIR|EEXIST) on /);
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe("runsSince (a failed update's notice)", () => {
  const since = "2026-11-21T22:00:00.000Z";
  const run = (step: { dynamicType: string }, finishedAt: string, outputs: Record<string, unknown>) => ({
    type: `pulumi-nodejs:dynamic/rollout:${step.dynamicType}`,
    urn: `urn:${step.dynamicType}:${finishedAt}`,
    outputs: { finishedAt, ...outputs },
  });
  const check = (name: string) => ({
    name,
    url: "http://127.0.0.1:1/health",
    passed: true,
    expected: "status 200, within 1000 ms",
    status: 200,
    latencyMs: 4,
    attempts: 1,
    elapsedMs: 4,
    checkedAt: since,
  });

  it("takes the runs this update finished and leaves out those of earlier updates", () => {
    const deployment = {
      deployment: {
        resources: [
          run(STEPS.backup, "2026-11-21T22:00:01.000Z", {
            result: {
              path: "/b/x.dump",
              bytes: 2048,
              sha256: "d".repeat(64),
              tableCount: 2,
              restoreTested: false,
              durationMs: 300,
            },
          }),
          run(STEPS.schema, "2026-11-21T22:00:02.000Z", {
            version: "0004",
            lastRun: {
              direction: "up",
              applied: [{ id: "0004", name: "0004_rename_item_title" }],
              reverted: [],
              version: "0004",
              durationMs: 9,
            },
          }),
          run(STEPS.healthCheck, "2026-11-21T22:00:03.000Z", { result: check("health") }),
          run(STEPS.healthCheck, "2026-11-20T09:00:00.000Z", { result: check("health-db") }),
        ],
      },
    };
    const done = runsSince(deployment, since);
    assert.equal(done.backup?.sha256, "d".repeat(64));
    assert.deepEqual(done.schema, {
      version: "0004",
      direction: "up",
      applied: ["0004_rename_item_title"],
      reverted: [],
    });
    assert.deepEqual(
      done.checks?.map((c) => [c.name, c.expected, c.observed]),
      [["health", "status 200, within 1000 ms", "HTTP 200"]],
    );
  });

  it("finds nothing when the update failed before any step ran", () => {
    const deployment = {
      deployment: {
        resources: [run(STEPS.backup, "2026-11-20T09:00:00.000Z", { result: { path: "/b/old.dump" } })],
      },
    };
    assert.deepEqual(runsSince(deployment, since), { backup: null, schema: null, checks: [] });
  });
});

describe("backup copies in the report", () => {
  const withCopies: RolloutReport = {
    ...report,
    backup: {
      ...report.backup!,
      copies: [
        {
          location: "s3://bucket/db/",
          key: "prod/a.dump",
          bytes: 2048,
          sha256: "ab".repeat(32),
          verified: true,
        },
        {
          location: "dir:/mnt/disk",
          key: "prod/a.dump",
          bytes: 2048,
          sha256: "cd".repeat(32),
          verified: false,
        },
      ],
    },
  };

  it("lists each copy, where, its size and sha256, and whether it was verified", () => {
    const md = reportMarkdown(withCopies);
    assert.match(
      md,
      /^- s3:\/\/bucket\/db\/ prod\/a\.dump: 2\.00 KiB \(2048 bytes\), sha256 (ab){32}, verified$/m,
    );
    assert.match(
      md,
      /^- dir:\/mnt\/disk prod\/a\.dump: 2\.00 KiB \(2048 bytes\), sha256 (cd){32}, NOT verified$/m,
    );
    const html = reportHtml(withCopies);
    assert.match(html, /<ul id="backup-copies"><li>s3:\/\/bucket\/db\/ <code>prod\/a\.dump<\/code>/);
    assert.ok(!reportMarkdown(report).includes("Copies:"), "no copies, no list");
  });
});

describe("command steps in the report", () => {
  it("lists each command with its point, host, exit code and patterns, and its last output in a block it cannot close", () => {
    const text = reportMarkdown(report);
    assert.match(
      text,
      /^\| pm2-status \| afterServices \| ssh:\/\/deploy@10\.0\.0\.5:22 \| 0 \| 0\.4 s \| 2 \| has \/online\/, lacks \/errored\/ \|$/m,
    );
    const block = /Last output of pm2-status:\n\n(`{3,})\napp online\n(.*)\n\1\n/.exec(text);
    assert.ok(block, text);
    assert.ok(block[1].length > 3, "the fence is longer than the backticks in the output");
    assert.equal(block[2], `\`\`\` ${HOSTILE}`);
  });

  it("shows the output tail as escaped text in the page", () => {
    const html = reportHtml(report);
    assert.match(html, /<table id="commands">/);
    assert.ok(html.includes(`<pre data-command="pm2-status">app online\n\`\`\` ${esc(HOSTILE)}</pre>`));
  });

  it("leaves the section out when the stack has no commands", () => {
    const text = reportMarkdown({ ...report, commands: [] });
    assert.ok(!text.includes("## Commands"));
    assert.ok(!reportHtml({ ...report, commands: [] }).includes("<h2>Commands</h2>"));
  });
});
