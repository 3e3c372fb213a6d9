// Figures for docs/migrations.md: apply and revert of a generated set of migrations by the engine,
// against one psql session running the same files. Run: node --import tsx scripts/bench-migrations.ts [N]
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { loadMigrations, migrate } from "../engines/migrations";

const count = Number(process.argv[2] ?? 346);
const admin = {
  host: process.env.PGHOST!,
  port: Number(process.env.PGPORT),
  user: process.env.PGUSER!,
  password: process.env.PGPASSWORD!,
};

async function sql(database: string, text: string) {
  const c = new Client({ ...admin, database });
  await c.connect();
  try {
    return await c.query(text);
  } finally {
    await c.end();
  }
}

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-bench-"));
  for (let i = 0; i < count; i++) {
    const id = String(20240101000000n + BigInt(i) * 100n);
    const empty = i % 7 === 3;
    fs.writeFileSync(
      path.join(dir, `${id}_step_${i}.up.sql`),
      empty
        ? "-- no-op\n"
        : `CREATE TABLE t_${id} (id serial PRIMARY KEY, label text);\nCREATE INDEX ON t_${id} (label);\n`,
    );
    fs.writeFileSync(path.join(dir, `${id}_step_${i}.down.sql`), empty ? "" : `DROP TABLE t_${id};\n`);
  }
  const migrations = loadMigrations(dir);
  const dbs = [
    `bench_engine_${randomBytes(4).toString("hex")}`,
    `bench_psql_${randomBytes(4).toString("hex")}`,
  ];
  for (const db of dbs) await sql("postgres", `CREATE DATABASE ${db}`);
  try {
    const connection = { ...admin, database: dbs[0], sslMode: "disable" as const };
    const options = {
      connection,
      migrations,
      release: "bench",
      table: "rollout_migrations",
      lockTimeoutSeconds: 30,
      migrationLockTimeoutMs: 10_000,
      statementTimeoutSeconds: 900,
    };
    let t = performance.now();
    await migrate({ ...options, target: migrations.at(-1)!.id });
    const engineUp = performance.now() - t;
    t = performance.now();
    await migrate({ ...options, target: "none" });
    const engineDown = performance.now() - t;

    const files = migrations.map((m) => path.join(dir, `${m.name}.up.sql`));
    const downs = [...migrations].reverse().map((m) => path.join(dir, `${m.name}.down.sql`));
    const psql = (list: string[]) => {
      const script = list.map((f) => `\\i ${f}`).join("\n") + "\n";
      const started = performance.now();
      execFileSync("psql", ["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", dbs[1]], {
        input: script,
        env: process.env,
      });
      return performance.now() - started;
    };
    const psqlUp = psql(files);
    const psqlDown = psql(downs);
    const line = (what: string, engine: number, floor: number) =>
      `| ${what} | ${(engine / 1000).toFixed(2)} s | ${(floor / 1000).toFixed(2)} s | ${(engine / floor).toFixed(2)} |`;
    console.log(
      `${count} migrations (${migrations.filter((m) => m.up.trim().startsWith("--")).length} empty)`,
    );
    console.log("| | engine | one psql session | ratio |\n|---|---|---|---|");
    console.log(line("apply all", engineUp, psqlUp));
    console.log(line("revert all", engineDown, psqlDown));
  } finally {
    for (const db of dbs) await sql("postgres", `DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error((err as Error).message);
  process.exit(1);
});
