// A release rollout (1.0.0 -> 1.1.0: backup with restore test, one migration, image swap, checks,
// smoke steps) and its rollback, each through the product on the bench stack and as the plain
// script on a service of its own on the same PostgreSQL server and Docker engine.
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { escapeIdentifier, escapeLiteral } from "pg";
import { freePort, query, type TestStack } from "../tests/support/stack";
import { log, ROOT, run, seconds, stats, type Figure } from "./lib";
import { benchEnv, BENCH_IMAGE, devLikeConfig, RELEASES, type BenchRelease } from "./stack";

interface Phase {
  phase: string;
  seconds: number;
}

/** The soak's share of the last update and the report's phases, from the `report` stack output. */
async function lastReport(t: TestStack): Promise<{ soakMs: number; phases: Phase[] }> {
  const out = await run("pulumi", ["stack", "output", "report", "--json", "--stack", t.name], {
    env: benchEnv(t),
  });
  const report = JSON.parse(out.output) as { phases: Phase[] };
  const soak = report.phases.find((p) => p.phase === "soak");
  return { soakMs: (soak?.seconds ?? 0) * 1000, phases: report.phases };
}

/** The bench stack's side: `pulumi up` of a new release, and `npm run rollback`. */
function productSide(t: TestStack) {
  const env = benchEnv(t);
  let lastPhases: Phase[] = [];
  return {
    async rollout(i: number): Promise<number> {
      await t.setConfig(devLikeConfig(t, "1.1.0", `${t.name}-1.1.0-${i}`));
      const up = await run(
        "pulumi",
        ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", t.name, "--message", `bench ${i}`],
        { env },
      );
      const report = await lastReport(t);
      lastPhases = report.phases;
      return up.ms - report.soakMs;
    },
    async rollback(): Promise<number> {
      const back = await run("bash", ["scripts/ops.sh", "rollback", "--stack", t.name, "--yes"], { env });
      const report = await lastReport(t);
      return back.ms - report.soakMs;
    },
    phases: () => lastPhases,
  };
}

/** A service of its own that the plain scripts roll out: database, role, container, port. */
export async function plainService(imageRepository = BENCH_IMAGE) {
  const suffix = randomBytes(3).toString("hex");
  const name = `bench-plain-${suffix}`;
  const db = `bench_plain_${suffix}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-bench-plain-"));
  const env: NodeJS.ProcessEnv = {
    PLAIN_DB: db,
    PLAIN_ROLE: db,
    PLAIN_ROLE_PASSWORD: randomBytes(12).toString("hex"),
    PLAIN_NAME: name,
    PLAIN_PORT: String(await freePort()),
    PLAIN_TOKEN: randomBytes(12).toString("hex"),
    PLAIN_SMOKE_PASSWORD: randomBytes(8).toString("hex"),
    PLAIN_BACKUP_DIR: path.join(work, "backups"),
    PLAIN_MIGRATIONS: path.join(ROOT, "sample-app", "migrations"),
  };
  await query(`CREATE DATABASE ${escapeIdentifier(db)}`);
  await query(
    `CREATE ROLE ${escapeIdentifier(db)} LOGIN PASSWORD ${escapeLiteral(env.PLAIN_ROLE_PASSWORD!)}`,
  );
  await query(
    "CREATE TABLE plain_migrations (id text PRIMARY KEY, name text NOT NULL, at timestamptz DEFAULT now())",
    [],
    {
      database: db,
    },
  );
  let at: BenchRelease | "none" = "none";
  const go = async (script: string, release: BenchRelease) => {
    const to = RELEASES[release];
    const from = at === "none" ? "none" : RELEASES[at];
    const ms = (
      await run("bash", [path.join(ROOT, "bench", "plain", script)], {
        env: {
          ...env,
          PLAIN_IMAGE: `${imageRepository}:${release}`,
          PLAIN_VERSION: release,
          PLAIN_FROM: from,
          PLAIN_TO: to,
        },
      })
    ).ms;
    at = release;
    return ms;
  };
  return {
    rollout: (release: BenchRelease) => go("rollout.sh", release),
    wayBack: (release: BenchRelease) => go("way-back.sh", release),
    async cleanup() {
      for (const args of [
        ["rm", "-f", `${name}-app`],
        ["volume", "rm", "-f", `${name}-state`],
      ]) {
        await run("docker", args).catch(() => undefined);
      }
      await query(`DROP DATABASE IF EXISTS ${escapeIdentifier(db)} WITH (FORCE)`);
      await query(`DROP ROLE IF EXISTS ${escapeIdentifier(db)}`);
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}

/**
 * Rollout minus soak and rollback, product against the plain scripts. The bench stack is at 1.0.0;
 * one unmeasured cycle first (it builds the 1.1.0 image, which later runs reuse, as the plain
 * script does), then `runs` cycles, alternating which side goes first.
 */
export async function rolloutAndRollback(
  t: TestStack,
  runs: number,
): Promise<{ figures: Figure[]; workMs: number }> {
  const product = productSide(t);
  const plain = await plainService();
  try {
    await plain.rollout("1.0.0");
    log("rollout: warm-up cycle (not measured)");
    await product.rollout(0);
    await product.rollback();
    await plain.rollout("1.1.0");
    await plain.wayBack("1.0.0");
    const p = { up: [] as number[], back: [] as number[] };
    const f = { up: [] as number[], back: [] as number[] };
    for (let i = 1; i <= runs; i++) {
      const steps: [string, () => Promise<number>, number[]][] = [
        ["product rollout", () => product.rollout(i), p.up],
        ["plain rollout", () => plain.rollout("1.1.0"), f.up],
        ["product rollback", () => product.rollback(), p.back],
        ["plain way back", () => plain.wayBack("1.0.0"), f.back],
      ];
      // Odd runs product first, even runs plain first; each side's rollout precedes its rollback.
      const order = i % 2 === 1 ? steps : [steps[1], steps[0], steps[3], steps[2]];
      for (const [label, step, into] of order) {
        const ms = await step();
        into.push(ms);
        log(`rollout: run ${i}/${runs} ${label} ${seconds(ms)}`);
      }
    }
    const phases = product
      .phases()
      .map((ph) => `${ph.phase} ${ph.seconds.toFixed(1)} s`)
      .join(", ");
    const figure = (
      name: string,
      productText: string,
      floorText: string,
      a: number[],
      b: number[],
      target?: number,
      notes?: string[],
    ): Figure => {
      const productStats = stats(a);
      const floorStats = stats(b);
      return {
        name,
        product: productText,
        floor: floorText,
        productStats,
        floorStats,
        ratio: productStats.median / floorStats.median,
        target,
        notes,
      };
    };
    const workMs = product
      .phases()
      .filter((ph) => ph.phase !== "soak")
      .reduce((sum, ph) => sum + ph.seconds * 1000, 0);
    const figures = [
      figure(
        "rollout minus soak",
        "`pulumi up --yes --skip-preview` of release 1.1.0 on the bench stack, minus the soak phase of its report",
        "`bench/plain/rollout.sh`",
        p.up,
        f.up,
        2,
        [`phases of the last measured rollout (from its report): ${phases}`],
      ),
      figure(
        "rollback",
        "`npm run rollback -- --yes` (preview and up of 1.0.0), minus the soak phase of its report",
        "`bench/plain/way-back.sh`",
        p.back,
        f.back,
      ),
    ];
    return { figures, workMs };
  } finally {
    await plain.cleanup();
  }
}
