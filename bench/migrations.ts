// Several hundred migrations applied and reverted: the product's migration engine against one psql
// session running the same files with \i.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { randomBytes } from "node:crypto";
import { loadMigrations, migrate } from "../engines/migrations";
import { query, targetDatabase } from "../tests/support/stack";
import { alternate, ROOT, run, type Figure } from "./lib";

/** `count` golang-migrate migrations with timestamp versions, each a table and an index; every 7th empty. */
function writeMigrations(dir: string, count: number): void {
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
}

export async function migrations(runs: number, count = 346): Promise<Figure[]> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-bench-migrations-"));
  writeMigrations(dir, count);
  const list = loadMigrations(dir);
  const suffix = randomBytes(3).toString("hex");
  const dbs = { engine: `bench_migrations_engine_${suffix}`, psql: `bench_migrations_psql_${suffix}` };
  for (const db of Object.values(dbs)) await query(`CREATE DATABASE ${db}`);
  const admin = targetDatabase();
  const options = {
    connection: { ...admin, database: dbs.engine, sslMode: "disable" as const },
    migrations: list,
    release: "bench",
    table: "rollout_migrations",
    lockTimeoutSeconds: 30,
    migrationLockTimeoutMs: 10_000,
    statementTimeoutSeconds: 900,
  };
  const files = [
    ...list.map((m) => path.join(dir, `${m.name}.up.sql`)),
    ...[...list].reverse().map((m) => path.join(dir, `${m.name}.down.sql`)),
  ];
  try {
    const product = async () => {
      const started = performance.now();
      await migrate({ ...options, target: list.at(-1)!.id });
      await migrate({ ...options, target: "none" });
      return performance.now() - started;
    };
    const plain = async () =>
      (await run("bash", [path.join(ROOT, "bench", "plain", "migrations.sh"), dbs.psql, ...files])).ms;
    const figure = await alternate("migrations", runs, product, plain);
    const empty = list.filter((m) => m.up.trim().startsWith("--")).length;
    return [
      {
        name: `${count} migrations up and down`,
        product: "`migrate` (engines/migrations) to the last, then to none",
        floor:
          "`bench/plain/migrations.sh`: one `psql -X -q -v ON_ERROR_STOP=1` session, `\\i` of every up, then every down",
        ...figure,
        target: 1.5,
        notes: [
          `${count} golang-migrate migrations with timestamp versions, each a table and an index, ${empty} of them empty`,
        ],
      },
    ];
  } finally {
    for (const db of Object.values(dbs)) await query(`DROP DATABASE IF EXISTS ${db} WITH (FORCE)`);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
