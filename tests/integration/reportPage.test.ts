// The report page in a real headless Chromium (Debian's): a real `up` of the sample service writes
// the report files, and the page they hold renders, names the release and has one timeline bar per
// phase of the report (the stack output, not a list written here). The same checker fails a page
// that lacks a phase. Screenshots go to test-output/.
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { after, before, describe, it } from "node:test";
import { reportHtml, type ReportFilesResult, type RolloutReport } from "../../engines/report";
import { fixtureReport } from "../support/reportFixture";
import { openChromium, reportPageProblems, TEST_OUTPUT } from "../support/reportPage";
import { createTestStack, type TestStack } from "../support/stack";

type Chromium = Awaited<ReturnType<typeof openChromium>>;

/** The page without the timeline element of `phase` (each is one line of markup). */
function withoutPhase(html: string, phase: string): string {
  const line = new RegExp(`^<li class="phase" data-phase="${phase}".*\\n`, "m");
  assert.match(html, line, `the page has a timeline element for ${phase}`);
  return html.replace(line, "");
}

async function screenshot(browser: Chromium, html: string, name: string): Promise<string> {
  fs.mkdirSync(TEST_OUTPUT, { recursive: true });
  const file = path.join(TEST_OUTPUT, `${name}.png`);
  const page = await browser.context.newPage();
  try {
    await page.setContent(html);
    await page.screenshot({ path: file, fullPage: true });
  } finally {
    await page.close();
  }
  return file;
}

describe("the report of a real rollout, in Chromium", () => {
  let t: TestStack;
  let browser: Chromium;
  let report: RolloutReport;
  let summary: string;
  let files: ReportFilesResult;

  before(async () => {
    browser = await openChromium();
    t = await createTestStack("itest-report");
    const up = await t.stack.up({ message: "release 1.0.0" });
    report = up.outputs.report.value as RolloutReport;
    summary = up.outputs.summary.value as string;
    files = up.outputs.reportFiles.value as ReportFilesResult;
  });
  after(async () => {
    try {
      await browser?.close();
    } finally {
      await t?.cleanup();
    }
  });

  it("writes <release>-<time>.md and .html and latest.*, mode 0644, the Markdown being the summary output", () => {
    assert.equal(files.written, true, files.problem);
    assert.equal(files.dir, t.reportDir);
    const names = fs.readdirSync(t.reportDir).sort();
    const stamp = new RegExp(`^${report.release.id.replace(/\./g, "\\.")}-\\d{8}T\\d{6}Z\\.(md|html)$`);
    assert.equal(names.filter((n) => stamp.test(n)).length, 2, names.join(", "));
    assert.ok(names.includes("latest.md") && names.includes("latest.html"), names.join(", "));
    for (const name of names)
      assert.equal(fs.statSync(path.join(t.reportDir, name)).mode & 0o777, 0o644, name);
    assert.equal(fs.readFileSync(files.latestMarkdown, "utf8"), summary);
    assert.equal(fs.readFileSync(files.markdown, "utf8"), summary);
    assert.match(summary, new RegExp(`^# Rollout of ${report.release.id} on ${t.name}$`, "m"));
    for (const c of report.checks) assert.ok(summary.includes(`| ${c.name} | ${c.kind} | passed |`), c.name);
    assert.ok(summary.includes(report.backup!.sha256));
    assert.match(summary, /^- Preflight: database \d+\.\d+/m, "the preflight names the server's version");
  });

  it("renders the page: title, the release, one bar per phase of the report in time and proportion", async (ctx) => {
    const url = pathToFileURL(files.latestHtml).href;
    const page = await browser.context.newPage();
    const requests: string[] = [];
    page.on("request", (r) => requests.push(r.url()));
    try {
      await page.goto(url);
      assert.ok(report.phases.length >= 8, `the report times the phases: ${JSON.stringify(report.phases)}`);
      assert.deepEqual(
        await reportPageProblems(page, { releaseId: report.release.id, phases: report.phases }),
        [],
      );
      assert.deepEqual(requests, [url], "the page loads nothing but itself");
      fs.mkdirSync(TEST_OUTPUT, { recursive: true });
      const file = path.join(TEST_OUTPUT, `report-page-${t.name}.png`);
      await page.screenshot({ path: file, fullPage: true });
      assert.deepEqual([...fs.readFileSync(file).subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47], "a PNG");
      ctx.diagnostic(`screenshot of the report page: ${file}`);
    } finally {
      await page.close();
    }
  });

  it("fails the same page once a phase of the report is taken out of its timeline", async () => {
    const html = fs.readFileSync(files.latestHtml, "utf8");
    const page = await browser.context.newPage();
    try {
      for (const phase of [report.phases[0].phase, "backup", report.phases.at(-1)!.phase]) {
        await page.setContent(withoutPhase(html, phase));
        assert.deepEqual(
          await reportPageProblems(page, { releaseId: report.release.id, phases: report.phases }),
          [`the timeline lacks phase "${phase}"`],
        );
      }
    } finally {
      await page.close();
    }
  });

  it("keeps every secret out of the report files and the summary output", async () => {
    const outputs = await t.stack.outputs();
    assert.equal(outputs.summary.secret, false, "the summary must not be a secret as a whole");
    const texts = [
      ["summary output", outputs.summary.value as string],
      ...fs.readdirSync(t.reportDir).map((n) => [n, fs.readFileSync(path.join(t.reportDir, n), "utf8")]),
    ];
    for (const [where, text] of texts)
      for (const secret of [t.appPassword, t.maintenanceToken, t.smokePassword])
        assert.ok(!text.includes(secret), `a secret is in ${where}`);
  });

  it("writes nothing on an up that changes nothing", async () => {
    const before = fs.readdirSync(t.reportDir).sort();
    await t.stack.up({ expectNoChanges: true, message: "no-op" });
    assert.deepEqual(fs.readdirSync(t.reportDir).sort(), before);
  });
});

describe("the page checker", () => {
  let browser: Chromium;
  const report = fixtureReport();
  const expected = { releaseId: report.release.id, phases: report.phases };
  before(async () => {
    browser = await openChromium();
  });
  after(async () => {
    await browser?.close();
  });

  const problemsOf = async (html: string) => {
    const page = await browser.context.newPage();
    try {
      await page.setContent(html);
      return await reportPageProblems(page, expected);
    } finally {
      await page.close();
    }
  };

  it("passes the page as rendered", async (ctx) => {
    assert.deepEqual(await problemsOf(reportHtml(report)), []);
    ctx.diagnostic(`screenshot: ${await screenshot(browser, reportHtml(report), "report-page-fixture")}`);
  });

  it("fails a page whose timeline lacks a phase, naming it", async () => {
    const html = withoutPhase(reportHtml(report), "checks and smoke tests");
    assert.deepEqual(await problemsOf(html), [`the timeline lacks phase "checks and smoke tests"`]);
  });

  it("fails a page without a timeline, with a phase the report lacks, or with a bar out of proportion", async () => {
    const html = reportHtml(report);
    const noTimeline = html.replace(/<ol class="timeline"[\s\S]*?<\/ol>/, "");
    const problems = await problemsOf(noTimeline);
    assert.equal(problems[0], "the page has no timeline");
    assert.equal(problems.length, 1 + report.phases.length);

    const extra = html.replace('data-phase="soak"', 'data-phase="coffee break"');
    assert.deepEqual(await problemsOf(extra), [
      `the timeline lacks phase "soak"`,
      `the timeline shows phase "coffee break", which the report does not have`,
    ]);

    const wide = html.replace(/(data-phase="backup".*?width:)[\d.]+%/, "$150%");
    const [problem, ...rest] = await problemsOf(wide);
    assert.match(problem, /^the bar of phase "backup" is \d+ px wide, not \d+ px \(its share of the time\)$/);
    assert.deepEqual(rest, []);
  });

  it("fails a page that does not name the release", async () => {
    const html = reportHtml({ ...report, release: { ...report.release, id: "another-release" } });
    assert.deepEqual(await problemsOf(html), [
      `the title "Rollout of another-release on prod" does not name ${report.release.id}`,
      `the heading does not name ${report.release.id}`,
    ]);
  });
});
