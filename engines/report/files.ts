// The report files under the stack's report folder: `<release>-<time>.md` and `.html` for each run
// that changed the report, and `latest.md` / `latest.html` beside them. Called by a dynamic
// provider (components/steps.ts), so plain functions and Node modules only. A failure to write is
// returned, not thrown: the release it reports on has already succeeded.
import fs from "node:fs";
import path from "node:path";
import { reportHtml } from "./html";
import { reportMarkdown } from "./markdown";
import type { RolloutReport } from "./types";

export interface ReportFilesResult {
  /** The folder, absolute. */
  readonly dir: string;
  readonly markdown: string;
  readonly html: string;
  readonly latestMarkdown: string;
  readonly latestHtml: string;
  /** False when a file could not be written; `problem` then says why. */
  readonly written: boolean;
  readonly problem?: string;
}

/** `20261121T220000Z`, the time part of the report's file names. */
export function fileTime(at: Date): string {
  return at
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d+Z$/, "Z");
}

/** Written beside the target and renamed over it, so a reader never sees half a file. Mode 0644. */
function writeFile(file: string, content: string): void {
  const partial = `${file}.partial`;
  fs.writeFileSync(partial, content, { mode: 0o644 });
  // The process umask may have narrowed the mode: people and web servers read these files.
  fs.chmodSync(partial, 0o644);
  fs.renameSync(partial, file);
}

/** Renders the report and writes its four files into `dir` (created when missing). */
export function writeReportFiles(dir: string, report: RolloutReport, at = new Date()): ReportFilesResult {
  const base = `${report.release.id}-${fileTime(at)}`;
  const files = {
    dir,
    markdown: path.join(dir, `${base}.md`),
    html: path.join(dir, `${base}.html`),
    latestMarkdown: path.join(dir, "latest.md"),
    latestHtml: path.join(dir, "latest.html"),
  };
  try {
    const markdown = reportMarkdown(report);
    const html = reportHtml(report);
    fs.mkdirSync(dir, { recursive: true, mode: 0o755 });
    writeFile(files.markdown, markdown);
    writeFile(files.html, html);
    writeFile(files.latestMarkdown, markdown);
    writeFile(files.latestHtml, html);
    return { ...files, written: true };
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    return { ...files, written: false, problem: e.code ? `${e.code} on ${e.path ?? dir}` : e.message };
  }
}
