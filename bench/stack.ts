// The bench stack: a stack of the project's own program configured like the dev stack
// (Pulumi.dev.yaml's settings: soak, checks, smoke steps, gates, backup with restore test), with
// names of its own: its own database, role, container, port, image repository, backups and file
// backend, so it never touches the dev stack.
import yaml from "js-yaml";
import fs from "node:fs";
import path from "node:path";
import { createTestStack, type TestStack } from "../tests/support/stack";
import { ROOT } from "./lib";

/** The image repository the bench stack builds the sample service into. */
export const BENCH_IMAGE = "rollout-bench-app";

/** The sample releases the bench moves between, with the schema target each one needs. */
export const RELEASES = { "1.0.0": "0002", "1.1.0": "0003" } as const;
export type BenchRelease = keyof typeof RELEASES;

/** Pulumi.dev.yaml's plain config with the dev stack's names replaced by the bench stack's. */
export function devLikeConfig(t: TestStack, release: BenchRelease, id: string): Record<string, unknown> {
  const dev = yaml.load(fs.readFileSync(path.join(ROOT, "Pulumi.dev.yaml"), "utf8")) as {
    config: Record<string, unknown>;
  };
  const plain = Object.fromEntries(
    Object.entries(dev.config).filter(([, v]) => !(typeof v === "object" && v !== null && "secure" in v)),
  );
  // Every URL of the dev stack names its port; the bench stack's app listens on its own.
  const text = JSON.stringify(plain).replaceAll("127.0.0.1:18080", `127.0.0.1:${t.appPort}`);
  const config = JSON.parse(text) as Record<string, Record<string, unknown>>;
  config["rollout:release"] = { id, image: `${BENCH_IMAGE}:${release}`, schemaTarget: RELEASES[release] };
  config["rollout:database"] = { ...config["rollout:database"], database: t.database };
  config["rollout:app"] = {
    ...config["rollout:app"],
    name: t.name,
    port: t.appPort,
    databaseRole: t.appRole,
  };
  config["rollout:migrations"] = { ...config["rollout:migrations"], dir: t.migrationsDir };
  config["rollout:backup"] = { ...config["rollout:backup"], dir: t.backupDir };
  const result = JSON.stringify(config);
  if (["18080", "rollout_dev", "sample-app-dev", ".local/backups"].some((name) => result.includes(name))) {
    throw new Error("Pulumi.dev.yaml names the dev stack somewhere bench/stack.ts does not rename");
  }
  return config;
}

/** A new bench stack (state, database, role, folders of its own), not yet rolled out. */
export function createBenchStack(): Promise<TestStack> {
  return createTestStack("bench");
}

/** Environment for the pulumi CLI on this stack's own file backend. */
export function benchEnv(t: TestStack): NodeJS.ProcessEnv {
  return {
    PULUMI_BACKEND_URL: t.backendUrl,
    PULUMI_CONFIG_PASSPHRASE: "integration-test",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
}
