// docs/benchmarks.md: the figures of one run, the machine, and the commands behind each side.
import { execFileSync } from "node:child_process";
import os from "node:os";
import type { Figure, Stats } from "./lib";

const s = (ms: number) => (ms / 1000).toFixed(2);
const triple = (x: Stats) => `${s(x.min)} / ${s(x.median)} / ${s(x.max)}`;

function version(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] })
      .trim()
      .split("\n")[0];
  } catch {
    return "not found";
  }
}

export function machine(): string[] {
  const cpus = os.cpus();
  return [
    `- CPU: ${cpus.length} x ${cpus[0]?.model ?? "unknown"}; memory ${(os.totalmem() / 1024 ** 3).toFixed(0)} GiB; ${os.type()} ${os.release()}`,
    `- Node.js ${process.version}; Pulumi CLI ${version("pulumi", ["version"])}; ${version("psql", ["--version"])}; ${version("docker", ["version", "--format", "Docker {{.Server.Version}}"])}`,
  ];
}

export const loadAverage = () =>
  os
    .loadavg()
    .map((l) => l.toFixed(2))
    .join(", ");

export interface Run {
  readonly started: Date;
  readonly finished: Date;
  readonly loadStart: string;
  readonly loadEnd: string;
  readonly runs: number;
  readonly command: string;
  readonly figures: Figure[];
  /** Hand-written reasons for the targets, by figure name; shown under the table. */
  readonly why: Record<string, string>;
}

export function verdict(f: Figure): string {
  if (f.target === undefined) return "no target";
  return f.ratio <= f.target ? `within ${f.target}x: met` : `within ${f.target}x: **missed**`;
}

export function markdown(r: Run): string {
  const minutes = ((r.finished.getTime() - r.started.getTime()) / 60000).toFixed(1);
  const lines = [
    "# Benchmarks",
    "",
    `Written by \`${r.command}\` (\`bench/\`; not part of \`npm test\`). Each figure compares the product with`,
    "a floor that does the same work, measured in one run with the two sides alternating",
    `(product first in odd runs, floor first in even ones), ${r.runs} runs a side; times are min / median / max`,
    "in seconds and the ratio is of the medians. Targets are issue 12's.",
    "",
    "## The run",
    "",
    `- ${r.started.toISOString()} to ${r.finished.toISOString()} (${minutes} min)`,
    `- load average (1, 5, 15 min) at the start ${r.loadStart}, at the end ${r.loadEnd}; the machine is`,
    "  shared with other builds and test runs, so absolute times are noisy and the ratios less so",
    ...machine(),
    "- the bench stack is a stack of this program configured like the dev stack (Pulumi.dev.yaml's",
    "  settings: gates, backup with restore test, checks, smoke steps, 5 s soak) with names of its own",
    "  (`bench-<random>`: its database, role, container, port, image repository `rollout-bench-app` and",
    "  file backend), created by the run and destroyed after it",
    "",
    "## Figures",
    "",
    "| figure | product: min / median / max (s) | floor: min / median / max (s) | ratio | target |",
    "| --- | --- | --- | --- | --- |",
    ...r.figures.map(
      (f) =>
        `| ${f.name} | ${triple(f.productStats)} | ${triple(f.floorStats)} | ${f.ratio.toFixed(2)} | ${verdict(f)} |`,
    ),
    "",
    "## What each side runs",
    "",
  ];
  for (const f of r.figures) {
    lines.push(`### ${f.name}`, "", `- product: ${f.product}`, `- floor: ${f.floor}`);
    for (const note of f.notes ?? []) lines.push(`- ${note}`);
    lines.push(
      `- runs (s): product ${f.productStats.runs.map(s).join(", ")}; floor ${f.floorStats.runs.map(s).join(", ")}`,
    );
    if (r.why[f.name]) lines.push("", r.why[f.name]);
    lines.push("");
  }
  return lines.join("\n");
}
