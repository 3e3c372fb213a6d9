// Test stacks for integration tests: the real CLI through the Automation API, a file backend of the
// test's own, and the local PostgreSQL and Docker engine that scripts/test.sh starts. Every stack
// gets its own database, role, container names, port, backup folder and copy of the migrations.
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { hashSources } from "../../engines/image/sources";
import { ROOT } from "./fixtures";

/** The target PostgreSQL server, from the libpq variables scripts/test.sh exports. */
export function targetDatabase() {
  const missing = ["PGHOST", "PGPORT", "PGUSER", "PGPASSWORD", "PGDATABASE"].filter((k) => !process.env[k]);
  if (missing.length > 0) {
    throw new Error(
      `integration tests need ${missing.join(", ")}; run them through \`npm test\` (scripts/test.sh), which starts PostgreSQL`,
    );
  }
  return {
    host: process.env.PGHOST!,
    port: Number(process.env.PGPORT),
    user: process.env.PGUSER!,
    password: process.env.PGPASSWORD!,
    database: process.env.PGDATABASE!,
  };
}

/** A TCP port on 127.0.0.1 that nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as net.AddressInfo).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** Runs one query and returns its rows; by default as the admin on the server's default database. */
export async function query<T extends Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
  as: { user?: string; password?: string; database?: string } = {},
): Promise<T[]> {
  const db = targetDatabase();
  const client = new Client({ ...db, ...as });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export const docker = (...args: string[]) => execFileSync("docker", args, { encoding: "utf8" }).trim();

/** The state of a container by exact name, or "" when there is none. */
export const containerState = (name: string) =>
  docker("ps", "-a", "--filter", `name=^/${name}$`, "--format", "{{.State}}");

export interface TestStack {
  readonly stack: Stack;
  readonly name: string;
  /** The project folder (holding Pulumi.yaml): the repository's, or an example's. */
  readonly workDir: string;
  readonly appPort: number;
  readonly appRole: string;
  readonly appPassword: string;
  /** This stack's own database on the local server. */
  readonly database: string;
  readonly backupDir: string;
  /** This stack's report folder (`rollout:report.dir`). */
  readonly reportDir: string;
  /** A copy of sample-app/migrations that the test may change. */
  readonly migrationsDir: string;
  readonly maintenanceToken: string;
  /** The smoke user's password (secret `rollout:smokePassword`). */
  readonly smokePassword: string;
  /** PULUMI_BACKEND_URL of this stack's own file backend. */
  readonly backendUrl: string;
  /** Replaces the non-secret config of the stack. */
  setConfig(config: Record<string, unknown>): Promise<void>;
  /** Destroys what is left and removes the stack, its files, database, role and volume. */
  cleanup(): Promise<void>;
}

/** The sample releases; 1.2.1 is broken on purpose (its /health/db answers 500). */
export type Release = "1.0.0" | "1.1.0" | "1.2.0" | "1.2.1";
const TARGET: Record<Release, string> = {
  "1.0.0": "0002",
  "1.1.0": "0003",
  "1.2.0": "0004",
  "1.2.1": "0004",
};

/**
 * The image repository the test stacks build the sample service into: its own, so a test's tags
 * never name the dev stack's builds, and named by the sample service's sources, so a changed
 * service gets new tags instead of being refused by an engine still holding the old builds (one
 * tag names one build). `ROLLOUT_TEST_IMAGE` names another.
 */
export const TEST_IMAGE =
  process.env.ROLLOUT_TEST_IMAGE ?? `rollout-itest-app-${hashSources(ROOT, ["sample-app"]).slice(0, 12)}`;

/** The whole rollout of the sample service on this stack, as the dev stack has it, with short waits. */
export function sampleConfig(t: TestStack, release: Release = "1.0.0", id = `${t.name}-${release}`) {
  const db = targetDatabase();
  const base = `http://127.0.0.1:${t.appPort}`;
  return {
    "rollout:release": { id, image: `${TEST_IMAGE}:${release}`, schemaTarget: TARGET[release] },
    "rollout:database": {
      host: db.host,
      port: db.port,
      database: t.database,
      adminUser: db.user,
      sslMode: "disable",
    },
    "rollout:app": {
      name: t.name,
      port: t.appPort,
      databaseRole: t.appRole,
      build: {
        context: "sample-app",
        prepareCommand: "node build.mjs",
        prepareInputs: ["src", "build.mjs"],
        // As in Pulumi.dev.yaml: one tag names one build on the shared engine.
        baseImage: "rollout/node-base:local",
      },
      env: { SEED_USER: "smoke" },
      secretEnv: { MAINTENANCE_TOKEN: "maintenanceToken", SEED_PASSWORD: "smokePassword" },
      stateVolume: { containerPath: "/state" },
    },
    "rollout:migrations": { dir: t.migrationsDir, lockTimeoutSeconds: 5 },
    "rollout:backup": { dir: t.backupDir, minBytes: 512, restoreTest: true, keep: 5 },
    "rollout:report": { dir: t.reportDir },
    "rollout:preflight": { currentHealthUrl: `${base}/health`, allowNoCurrentService: true, gates: [] },
    "rollout:maintenance": {
      url: `${base}/admin/maintenance`,
      bypassHeader: "x-maintenance-bypass",
      allowUnreachable: true,
    },
    "rollout:checks": <Record<string, unknown>[]>[
      {
        name: "health",
        url: `${base}/health`,
        expectJson: { status: "ok", version: "{version}" },
        retries: 20,
        retryIntervalMs: 500,
      },
      { name: "health-db", url: `${base}/health/db`, expectJson: { status: "ok" } },
    ],
    "rollout:sqlChecks": [
      { name: "schema-version", sql: "SELECT max(id) FROM rollout_migrations", expect: "{schemaTarget}" },
    ],
    "rollout:smokeTests": [
      {
        name: "crud",
        baseUrl: base,
        vars: { user: "smoke", password: { secret: "smokePassword" } },
        steps: [
          {
            name: "login",
            method: "POST",
            path: "/login",
            body: { username: "${user}", password: "${password}" },
            expectStatus: 200,
            capture: { token: "token" },
          },
          {
            name: "create",
            method: "POST",
            path: "/items",
            headers: { authorization: "Bearer ${token}" },
            body: { title: "smoke" },
            expectStatus: 201,
            capture: { id: "id" },
          },
          {
            name: "read",
            path: "/items/${id}",
            headers: { authorization: "Bearer ${token}" },
            expectStatus: 200,
            expectJson: { title: "smoke" },
          },
          {
            name: "delete",
            method: "DELETE",
            path: "/items/${id}",
            headers: { authorization: "Bearer ${token}" },
            expectStatus: 204,
          },
        ],
      },
    ],
    "rollout:soak": { durationSeconds: 2, intervalMs: 200, maxErrorRate: 0.05, maxP95Ms: 500 },
  };
}

/**
 * Creates a fresh stack with a file backend, database and folders of its own, and the sample config;
 * in the repository's project, or in another project folder (`workDir`, e.g. an example's).
 */
export async function createTestStack(prefix: string, workDir = ROOT): Promise<TestStack> {
  const suffix = randomBytes(3).toString("hex");
  const name = `${prefix}-${suffix}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), `rollout-${prefix}-`));
  const backendDir = path.join(work, "backend");
  const backupDir = path.join(work, "backups");
  const reportDir = path.join(work, "reports");
  const migrationsDir = path.join(work, "migrations");
  fs.mkdirSync(backendDir);
  fs.cpSync(path.join(ROOT, "sample-app", "migrations"), migrationsDir, { recursive: true });
  const snake = `${prefix.replace(/-/g, "_")}_${suffix}`;
  const database = `db_${snake}`;
  await query(`CREATE DATABASE ${database}`);
  const appPassword = randomBytes(12).toString("hex");
  const maintenanceToken = randomBytes(12).toString("hex");
  const smokePassword = randomBytes(8).toString("hex");
  let stack: Stack;
  try {
    stack = await LocalWorkspace.createStack(
      { stackName: name, workDir },
      {
        envVars: {
          PULUMI_BACKEND_URL: `file://${backendDir}`,
          PULUMI_CONFIG_PASSPHRASE: "integration-test",
          PULUMI_SKIP_UPDATE_CHECK: "true",
        },
      },
    );
  } catch (err) {
    await query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
    fs.rmSync(work, { recursive: true, force: true });
    throw err;
  }
  const settingsFile = path.join(workDir, `Pulumi.${name}.yaml`);
  const handle: TestStack = {
    stack,
    name,
    workDir,
    appPort: await freePort(),
    appRole: `role_${snake}`,
    appPassword,
    database,
    backupDir,
    reportDir,
    migrationsDir,
    maintenanceToken,
    smokePassword,
    backendUrl: `file://${backendDir}`,
    async setConfig(config) {
      // Written to the stack file directly so objects and arrays keep their shape; secrets stay as set.
      const settings = await stack.workspace.stackSettings(name);
      const secrets = Object.fromEntries(
        Object.entries(settings.config ?? {}).filter(
          ([, v]) => typeof v === "object" && v !== null && "secure" in v,
        ),
      );
      await stack.workspace.saveStackSettings(name, { ...settings, config: { ...secrets, ...config } });
    },
    async cleanup() {
      try {
        await stack.destroy({ onOutput: () => undefined });
        await stack.workspace.removeStack(name);
      } finally {
        fs.rmSync(settingsFile, { force: true });
        fs.rmSync(work, { recursive: true, force: true });
        // A test that sets its own config without rollout:report writes to the default folder.
        fs.rmSync(path.join(workDir, "reports", name), { recursive: true, force: true });
        await query(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
        await query(`DROP ROLE IF EXISTS ${handle.appRole}`);
        // Leftovers of a failed test; absent ones are fine.
        for (const args of [
          ["rm", "-f", `${name}-app`],
          ["volume", "rm", "-f", `${name}-state`],
        ]) {
          try {
            execFileSync("docker", args, { stdio: "ignore" });
          } catch {
            // already gone
          }
        }
      }
    },
  };
  await stack.setConfig("rollout:databasePassword", { value: targetDatabase().password, secret: true });
  await stack.setConfig("rollout:appDatabasePassword", { value: appPassword, secret: true });
  await stack.setConfig("rollout:maintenanceToken", { value: maintenanceToken, secret: true });
  await stack.setConfig("rollout:smokePassword", { value: smokePassword, secret: true });
  await handle.setConfig(sampleConfig(handle));
  return handle;
}
