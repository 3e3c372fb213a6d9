// Test stacks for integration tests: the real CLI through the Automation API, a file backend of the
// test's own, and the local PostgreSQL and Docker engine that scripts/test.sh starts.
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { Client } from "pg";
import { ROOT } from "./fixtures";

/** The target PostgreSQL, from the libpq variables scripts/test.sh exports. */
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

/** Runs one query as the given user and returns its rows. */
export async function query<T extends Record<string, unknown>>(
  sql: string,
  params: unknown[] = [],
  as: { user: string; password: string } = targetDatabase(),
): Promise<T[]> {
  const db = targetDatabase();
  const client = new Client({ ...db, user: as.user, password: as.password });
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end();
  }
}

export interface TestStack {
  readonly stack: Stack;
  readonly name: string;
  readonly appPort: number;
  readonly appRole: string;
  readonly appPassword: string;
  readonly backendDir: string;
  /** Replaces the non-secret config of the stack. */
  setConfig(config: Record<string, unknown>): Promise<void>;
  /** Destroys what is left, removes the stack, its settings file and its backend. */
  cleanup(): Promise<void>;
}

/** Config for the sample service on this stack's own port, container name and database role. */
export function sampleConfig(t: Pick<TestStack, "name" | "appPort" | "appRole">, image = "sample-app:1.0.0") {
  const db = targetDatabase();
  return {
    "rollout:release": { id: `${t.name}-${image.split(":")[1]}`, image },
    "rollout:database": {
      host: db.host,
      port: db.port,
      database: db.database,
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
        baseImage: process.env.ROLLOUT_BASE_IMAGE ?? "rollout/node-base:local",
      },
    },
    "rollout:checks": [
      {
        name: "health",
        url: `http://127.0.0.1:${t.appPort}/health`,
        expectJson: { status: "ok", version: "{version}" },
        retries: 20,
        retryIntervalMs: 500,
      },
      { name: "health-db", url: `http://127.0.0.1:${t.appPort}/health/db`, expectJson: { status: "ok" } },
    ],
  };
}

/** Creates a fresh stack with a file backend of its own. */
export async function createTestStack(prefix: string): Promise<TestStack> {
  const suffix = randomBytes(3).toString("hex");
  const name = `${prefix}-${suffix}`;
  const backendDir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-backend-"));
  const appPort = await freePort();
  const appRole = `${prefix.replace(/-/g, "_")}_${suffix}`;
  const appPassword = randomBytes(12).toString("hex");
  const envVars: Record<string, string> = {
    PULUMI_BACKEND_URL: `file://${backendDir}`,
    PULUMI_CONFIG_PASSPHRASE: "integration-test",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
  const stack = await LocalWorkspace.createStack({ stackName: name, workDir: ROOT }, { envVars });
  const settingsFile = path.join(ROOT, `Pulumi.${name}.yaml`);
  const handle: TestStack = {
    stack,
    name,
    appPort,
    appRole,
    appPassword,
    backendDir,
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
        fs.rmSync(backendDir, { recursive: true, force: true });
      }
    },
  };
  await stack.setConfig("rollout:databasePassword", { value: targetDatabase().password, secret: true });
  await stack.setConfig("rollout:appDatabasePassword", { value: appPassword, secret: true });
  await handle.setConfig(sampleConfig(handle));
  return handle;
}
