// `npm run bench`: every figure of docs/benchmarks.md, measured in one run.
//   npm run bench [-- --runs N] [--only NAME[,NAME]]
// NAME: engine (no-op preview and up), rollout (rollout and rollback), backup, mysql-backup,
// migrations.
// A run of every figure rewrites docs/benchmarks.md; a run with --only prints the Markdown only.
import fs from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { format, resolveConfig } from "prettier";
import type { TestStack } from "../tests/support/stack";
import { backup1gb } from "./backup";
import { engineFloor } from "./engine";
import { log, ROOT, run, type Figure } from "./lib";
import { migrations } from "./migrations";
import { mysqlBackup1gb } from "./mysqlBackup";
import { loadAverage, markdown, verdict } from "./report";
import { rolloutAndRollback } from "./rollout";
import { benchEnv, createBenchStack, devLikeConfig } from "./stack";
import { why } from "./why";

const NAMES = ["engine", "rollout", "backup", "mysql-backup", "migrations"] as const;
type Name = (typeof NAMES)[number];

async function main() {
  const { values } = parseArgs({
    options: { runs: { type: "string", default: "3" }, only: { type: "string" } },
  });
  const runs = Number(values.runs);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`--runs ${values.runs} is not a whole number of runs; use e.g. --runs 3`);
  const only = values.only?.split(",").map((n) => n.trim()) ?? [...NAMES];
  const unknown = only.filter((n) => !(NAMES as readonly string[]).includes(n));
  if (unknown.length > 0)
    throw new Error(`--only ${unknown.join(",")}: not a figure; use one of ${NAMES.join(", ")}`);
  const wanted = (n: Name) => only.includes(n);

  const started = new Date();
  const loadStart = loadAverage();
  log(`load average ${loadStart}; ${runs} runs a side; figures: ${only.join(", ")}`);
  const figures: Figure[] = [];
  let t: TestStack | undefined;
  let rolloutWork: number | undefined;
  try {
    if (wanted("rollout") || wanted("engine")) {
      t = await createBenchStack();
      log(`bench stack ${t.name}: first rollout of 1.0.0 (not measured)`);
      await t.setConfig(devLikeConfig(t, "1.0.0", `${t.name}-1.0.0`));
      await run("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", t.name], {
        env: benchEnv(t),
      });
      if (wanted("rollout")) {
        const rollout = await rolloutAndRollback(t, runs);
        figures.push(...rollout.figures);
        rolloutWork = rollout.workMs;
      }
      if (wanted("engine")) figures.unshift(...(await engineFloor(t, runs)));
    }
    if (wanted("backup")) figures.push(...(await backup1gb(runs)));
    if (wanted("mysql-backup")) figures.push(...(await mysqlBackup1gb(runs)));
    if (wanted("migrations")) figures.push(...(await migrations(runs)));
  } finally {
    if (t) {
      log(`destroying bench stack ${t.name}`);
      await t.cleanup();
    }
  }
  const raw = markdown({
    started,
    finished: new Date(),
    loadStart,
    loadEnd: loadAverage(),
    runs,
    // As it was started: through npm (bench/bench.sh, which sets up first) or straight.
    command: `${process.env.npm_lifecycle_event === "bench" ? "npm run bench --" : "node --import tsx bench/run.ts"} --runs ${runs}${values.only ? ` --only ${values.only}` : ""}`,
    figures,
    why: why(figures, rolloutWork),
  });
  // Formatted as `npm run lint` checks it.
  const file = path.join(ROOT, "docs", "benchmarks.md");
  const doc = await format(raw, { ...(await resolveConfig(file)), filepath: file });
  for (const f of figures) log(`${f.name}: ratio ${f.ratio.toFixed(2)} (${verdict(f)})`);
  if (values.only === undefined) {
    fs.writeFileSync(file, doc);
    log("wrote docs/benchmarks.md");
  } else {
    process.stdout.write(doc);
  }
}

main().catch((err: unknown) => {
  console.error((err as Error).message.slice(0, 6000));
  process.exit(1);
});
