import yaml from "js-yaml";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { ConfigError, loadConfig } from "../../config";

/** The repository root. */
export const ROOT = path.resolve(__dirname, "..", "..");

/** The smallest valid raw config: release, database, app and one check. */
export function minimalRawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  return {
    release: { id: "2026.11.21-1", image: "sample-app:1.0.0" },
    database: { host: "127.0.0.1", port: 55432, database: "rollout_dev", sslMode: "disable" },
    app: {
      name: "sample-app-test",
      port: 18181,
      databaseRole: "sample_app",
      build: {
        context: "sample-app",
        prepareCommand: "node build.mjs",
        prepareInputs: ["src", "build.mjs"],
        baseImage: "rollout/node-base:local",
      },
    },
    checks: [
      { name: "health", url: "http://127.0.0.1:18181/health", expectJson: { version: "{version}" } },
      { name: "health-db", url: "http://127.0.0.1:18181/health/db", expectJson: { status: "ok" } },
    ],
    ...overrides,
  };
}

/** Every part switched on, as a production stack would have it (offsite copies included). */
export function fullRawConfig(overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const base = minimalRawConfig();
  return {
    ...base,
    release: { id: "2026.11.21-1", image: "sample-app:1.1.0", schemaTarget: "0003" },
    app: {
      ...(base.app as object),
      env: { SEED_USER: "smoke" },
      secretEnv: { MAINTENANCE_TOKEN: "maintenanceToken", SEED_PASSWORD: "smokePassword" },
      stateVolume: { containerPath: "/state" },
    },
    migrations: { dir: "sample-app/migrations" },
    backup: {
      dir: ".local/backups",
      restoreTest: true,
      keep: 3,
      offsite: { bucket: "rollout-backups", prefix: "db/", region: "eu-west-1" },
    },
    window: { days: ["tue", "wed", "thu"], start: "22:00", end: "02:00", timeZone: "America/New_York" },
    approvals: {
      required: ["tech-lead", "dba"],
      given: [
        { role: "tech-lead", by: "alice", release: "2026.11.21-1" },
        { role: "dba", by: "bob", release: "2026.11.21-1" },
      ],
    },
    preflight: {
      currentHealthUrl: "http://127.0.0.1:18181/health",
      gates: [
        { name: "no-sessions", sql: "SELECT count(*) FROM sessions WHERE expires_at > now()", expect: 0 },
      ],
    },
    notify: {},
    maintenance: { url: "http://127.0.0.1:18181/admin/maintenance", bypassHeader: "x-maintenance-bypass" },
    sqlChecks: [
      { name: "schema-version", sql: "SELECT max(id) FROM rollout_migrations", expect: "{schemaTarget}" },
    ],
    smokeTests: [
      {
        name: "crud",
        baseUrl: "http://127.0.0.1:18181",
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
        ],
      },
    ],
    soak: { durationSeconds: 5 },
    ...overrides,
  };
}

/** A committed stack file's config: its plain values by full key, and the keys it holds encrypted. */
export function readStackFile(stack: string): { plain: Record<string, unknown>; secure: string[] } {
  const file = yaml.load(fs.readFileSync(path.join(ROOT, `Pulumi.${stack}.yaml`), "utf8")) as {
    config: Record<string, unknown>;
  };
  const plain: Record<string, unknown> = {};
  const secure: string[] = [];
  for (const [key, value] of Object.entries(file.config)) {
    if (value !== null && typeof value === "object" && "secure" in value) secure.push(key);
    else plain[key] = value;
  }
  return { plain, secure };
}

/** The problems loadConfig names for a config it must refuse; fails the test when it accepts it. */
export function configProblems(raw: Record<string, unknown>, secrets: Record<string, boolean>): string[] {
  try {
    loadConfig("dev", raw, secrets);
  } catch (err) {
    assert.ok(err instanceof ConfigError, `expected a ConfigError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the config to be rejected");
}
