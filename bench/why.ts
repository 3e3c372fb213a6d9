// Why each figure is what it is and where its floor lies, from profiling on this machine; shown
// under the figure in docs/benchmarks.md. The numbers come from the run; the reasons from the
// profile lines each figure carries.
import fs from "node:fs";
import path from "node:path";
import { ROOT, type Figure } from "./lib";

const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Whether Pulumi.yaml runs the program as TypeScript (compiled on every command). */
function typescriptProgram(): boolean {
  return !/typescript:\s*false/.test(fs.readFileSync(path.join(ROOT, "Pulumi.yaml"), "utf8"));
}

export function why(figures: Figure[], rolloutWork: number | undefined): Record<string, string> {
  const by = (name: string) => figures.find((f) => f.name === name);
  const noopUp = by("no-op up");
  const texts: Record<string, string> = {};
  const program = typescriptProgram()
    ? "the program is TypeScript, which the nodejs runtime compiles (ts-node) on every command before it loads"
    : "the program is precompiled JavaScript, so what is left of it is loading its modules";

  texts["no-op preview"] =
    "Why: the profile lines above split one preview of each side. The CLI and the Node.js runtime " +
    "start alike; the product spends its extra time in two places. Program load: " +
    `${program} the SDKs of the docker and postgresql providers, libpg-query and the engines. ` +
    "Registrations and diffs: three provider plugins start (docker, postgresql, and the host of the " +
    "dynamic providers), and each run-once step is a dynamic resource whose provider code is carried " +
    "in state and loaded and diffed there. The floor of this stack is therefore not the bare floor " +
    "program but that program plus the provider plugins (the profile line with the two providers) " +
    "plus the load of the program's own modules; only the compile is avoidable, by shipping the " +
    "program precompiled.";

  if (rolloutWork !== undefined) {
    const rollout = by("rollout minus soak");
    const fixed = rollout ? rollout.productStats.median - rolloutWork : undefined;
    const plain = rollout?.floorStats.median;
    const lowest = noopUp ? noopUp.floorStats.median + rolloutWork : undefined;
    texts["rollout minus soak"] =
      `Why: the work itself, the phases of the report without the soak, took ${s(rolloutWork)}` +
      (fixed === undefined
        ? ""
        : `; the other ${s(fixed)} of the median is the fixed cost of one \`pulumi up\``) +
      " of this stack (CLI, program load, provider plugins, the registrations and their diffs), which " +
      "the no-op up measures" +
      (noopUp ? ` (${s(noopUp.productStats.median)} median)` : "") +
      ". The plain script has no such cost and the sample database is tiny, so the fixed cost sets the ratio. " +
      (lowest !== undefined && plain !== undefined
        ? `Even with the bare floor program's no-op up (${s(noopUp!.floorStats.median)}) as the fixed cost, ` +
          `a rollout through Pulumi would take about ${s(lowest)} here, ${(lowest / plain).toFixed(1)}x the plain script: `
        : "") +
      "the 2x target can hold only when the work dominates the fixed cost, e.g. with a real database, " +
      "where the backup alone takes as long as the plain pg_dump (the backup figure).";
  }

  texts["rollback"] =
    "Why: `npm run rollback` runs the program twice, a preview (shown before it goes ahead, also with " +
    "`--yes`) and the `up`, so it carries the fixed cost of the no-op preview and of the no-op up on " +
    "top of the work: the backup before the down script, the down, the image swap, checks and smoke steps.";

  texts["backup of 1 GB"] =
    "Why: both sides run the same tools and `pg_dump` (compressing on one core) is nearly all of the " +
    "time. The product hashes the dump by reading it once after pg_dump wrote it, as `sha256sum` does, " +
    "and `pg_restore --list` reads only the archive's table of contents. Hashing while dumping is not " +
    "possible for a custom-format dump written to a file: at its end pg_dump seeks back and rewrites " +
    "the table of contents with the data offsets, so the bytes seen while it writes are not the file's. " +
    "Dumping to a pipe instead would keep the hash but lose the offsets, which `pg_restore` needs to " +
    "restore tables selectively or in parallel. The floor is pg_dump plus one read of its output." +
    ((by("backup of 1 GB")?.ratio ?? 1) < 0.9
      ? " A ratio well under 1 is the machine's load moving between runs (see the runs), not a faster dump."
      : "");

  texts[figures.find((f) => f.name.endsWith("migrations up and down"))?.name ?? ""] =
    "Why: the engine sends each migration as one query, in one transaction with its record row; psql " +
    "runs each statement of a file in a transaction of its own, so the engine's overhead (the " +
    "advisory lock, the record table, a transaction a migration) is about what psql spends on its " +
    "per-statement commits. The engine's first run in a process is the slowest (its modules and the " +
    "connection warm up; a rollout runs it once, cold), which the min and max show.";
  return texts;
}
