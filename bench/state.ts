// Figures for docs/migrations.md measured through the real CLI on a test stack (the sample service
// plus generated migrations): preview time and length at 10 vs N migrations, and the size of one
// checkpoint and of the state folder after a few updates. Run from the tree whose code is measured:
//   node --import tsx bench/state.ts [N]
import fs from "node:fs";
import path from "node:path";
import { createTestStack, sampleConfig, type TestStack } from "../tests/support/stack";

const count = Number(process.argv[2] ?? 346);

/** Migrations 0005..n after the sample's 0001..0004, each a table and an index. */
function writeMigrations(t: TestStack, n: number): void {
  for (let i = 5; i <= n; i++) {
    const id = String(i).padStart(4, "0");
    fs.writeFileSync(
      path.join(t.migrationsDir, `${id}_table_${i}.up.sql`),
      `CREATE TABLE t_${id} (id serial PRIMARY KEY, label text);\nCREATE INDEX t_${id}_label ON t_${id} (label);\n`,
    );
    fs.writeFileSync(path.join(t.migrationsDir, `${id}_table_${i}.down.sql`), `DROP TABLE t_${id};\n`);
  }
}

function sizeOf(p: string): number {
  const s = fs.statSync(p);
  return s.isDirectory() ? fs.readdirSync(p).reduce((sum, f) => sum + sizeOf(path.join(p, f)), 0) : s.size;
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`;

async function main() {
  const t = await createTestStack("bench-state");
  const backend = new URL(t.backendUrl).pathname;
  const checkpoint = () => {
    const dir = path.join(backend, ".pulumi", "stacks");
    const found = fs
      .readdirSync(dir, { recursive: true, encoding: "utf8" })
      .find((f) => f.endsWith(`${t.name}.json`));
    return path.join(dir, found!);
  };
  /** The checkpoint's size and the Schema resource's share of it (its own code aside). */
  const weigh = () => {
    const file = checkpoint();
    const state = JSON.parse(fs.readFileSync(file, "utf8")) as {
      checkpoint: { latest: { resources: { type: string; inputs?: object; outputs?: object }[] } };
    };
    const schema = state.checkpoint.latest.resources.find((r) => r.type.endsWith("/rollout:Schema"))!;
    const strip = (o: object = {}) => JSON.stringify({ ...o, __provider: undefined }).length;
    return `${mb(sizeOf(file))} (Schema resource ${mb(strip(schema.inputs) + strip(schema.outputs))})`;
  };
  const at = async (target: string) => {
    const config = sampleConfig(t, "1.2.0");
    config["rollout:release"].schemaTarget = target;
    await t.setConfig(config);
  };
  const rows: string[] = [];
  try {
    const pad = (n: number) => String(n).padStart(4, "0");
    // Preview, then up, at each step: folder of 10, folder of `count` with all but 10 pending, the
    // last 10 (a 10-migration release in the big folder), and a revert of 6.
    const steps: [folder: number, target: number, what: string][] = [
      [10, 10, `preview, 10 pending, folder of 10`],
      [count, count - 10, `preview, ${count - 20} pending, folder of ${count}`],
      [count, count, `preview, 10 pending, folder of ${count}`],
      [count, count - 6, `preview, 6 to revert, folder of ${count}`],
    ];
    for (const [folder, target, what] of steps) {
      writeMigrations(t, folder);
      await at(pad(target));
      const started = performance.now();
      const preview = await t.stack.preview({ diff: true });
      const seconds = (performance.now() - started) / 1000;
      rows.push(`| ${what} | ${seconds.toFixed(1)} s | ${preview.stdout.split("\n").length} lines |`);
      await t.stack.up({ onOutput: () => undefined });
      rows.push(`| checkpoint at ${pad(target)} | ${weigh()} | |`);
    }
    rows.push(`| state folder after 4 updates | ${mb(sizeOf(path.join(backend, ".pulumi")))} | |`);
    console.log(`| ${count} migrations | value | |\n|---|---|---|\n${rows.join("\n")}`);
  } finally {
    await t.cleanup();
  }
}

main().catch((err: unknown) => {
  console.error((err as Error).message.slice(0, 3000));
  process.exit(1);
});
