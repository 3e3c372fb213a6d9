// The report page in a real headless Chromium (Debian's /usr/bin/chromium, which scripts/test.sh
// installs when missing) through playwright-core, and the checker the page tests share: the page
// renders, names the release, and its timeline has one drawn bar per phase of the report, in time
// order and in proportion to the phase's time.
import { chromium, type BrowserContext, type Page } from "playwright-core";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { PhaseTiming } from "../../engines/report";
import { ROOT } from "./fixtures";

export const CHROMIUM = process.env.ROLLOUT_CHROMIUM ?? "/usr/bin/chromium";

/** Where page tests put what a person may want to look at (screenshots); gitignored. */
export const TEST_OUTPUT = path.join(ROOT, "test-output");

/** Chromium with a fresh profile and nothing that talks to the network on its own. */
export async function openChromium(): Promise<{ context: BrowserContext; close: () => Promise<void> }> {
  if (!fs.existsSync(CHROMIUM)) {
    throw new Error(
      `no Chromium at ${CHROMIUM}; run the tests through \`npm test\` (scripts/test.sh installs it) or \`apt-get install -y chromium\``,
    );
  }
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-chromium-"));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1200, height: 900 },
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
  return {
    context,
    close: async () => {
      try {
        await context.close();
      } finally {
        fs.rmSync(profile, { recursive: true, force: true });
      }
    },
  };
}

/** What the page must show. */
export interface ExpectedPage {
  readonly releaseId: string;
  /** The report's phases, in its order (by start time). */
  readonly phases: readonly PhaseTiming[];
}

interface DrawnPhase {
  phase: string;
  left: number;
  width: number;
  height: number;
  trackWidth: number;
}

/**
 * Every way the loaded page falls short of the report, one sentence each; empty when it is right.
 * A bar may be wider than its share only by the page's minimum bar width (3 px).
 */
export async function reportPageProblems(page: Page, expected: ExpectedPage): Promise<string[]> {
  const problems: string[] = [];
  const title = await page.title();
  if (!title.includes(expected.releaseId))
    problems.push(`the title ${JSON.stringify(title)} does not name ${expected.releaseId}`);
  const heading = page.locator("h1");
  if ((await heading.count()) !== 1 || !(await heading.isVisible()))
    problems.push("the page shows no heading");
  else if (!(await heading.innerText()).includes(expected.releaseId))
    problems.push(`the heading does not name ${expected.releaseId}`);

  const drawn: DrawnPhase[] = await page.$$eval("#timeline [data-phase]", (items) =>
    items.map((item) => {
      const bar = item.querySelector(".bar")?.getBoundingClientRect();
      const track = item.querySelector(".track")?.getBoundingClientRect();
      return {
        phase: item.getAttribute("data-phase") ?? "",
        left: bar && track ? bar.left - track.left : -1,
        width: bar?.width ?? 0,
        height: bar?.height ?? 0,
        trackWidth: track?.width ?? 0,
      };
    }),
  );
  if (drawn.length === 0) problems.push("the page has no timeline");
  const names = expected.phases.map((p) => p.phase);
  for (const name of names) {
    const count = drawn.filter((d) => d.phase === name).length;
    if (count === 0) problems.push(`the timeline lacks phase "${name}"`);
    else if (count > 1) problems.push(`the timeline shows phase "${name}" ${count} times`);
  }
  for (const d of drawn) {
    if (!names.includes(d.phase))
      problems.push(`the timeline shows phase "${d.phase}", which the report does not have`);
  }

  const start = Math.min(...expected.phases.map((p) => Date.parse(p.startedAt)));
  const end = Math.max(...expected.phases.map((p) => Date.parse(p.finishedAt)));
  let previous: DrawnPhase | undefined;
  for (const p of expected.phases) {
    const d = drawn.find((x) => x.phase === p.phase);
    if (!d) continue;
    if (d.width < 1 || d.height < 1 || d.trackWidth <= 0) {
      problems.push(`the bar of phase "${p.phase}" is not drawn`);
      continue;
    }
    const share = end > start ? (Date.parse(p.finishedAt) - Date.parse(p.startedAt)) / (end - start) : 0;
    const offset = end > start ? (Date.parse(p.startedAt) - start) / (end - start) : 0;
    const tolerance = 0.01 * d.trackWidth + 3;
    if (Math.abs(d.width - share * d.trackWidth) > tolerance)
      problems.push(
        `the bar of phase "${p.phase}" is ${d.width.toFixed(0)} px wide, not ${(share * d.trackWidth).toFixed(0)} px (its share of the time)`,
      );
    if (Math.abs(d.left - offset * d.trackWidth) > tolerance)
      problems.push(
        `the bar of phase "${p.phase}" starts at ${d.left.toFixed(0)} px, not ${(offset * d.trackWidth).toFixed(0)} px`,
      );
    if (previous && d.left + 0.5 < previous.left)
      problems.push(
        `the bar of phase "${p.phase}" starts before the bar of "${previous.phase}", which ran first`,
      );
    previous = d;
  }
  return problems;
}
