// The resource graph of a MySQL stack (rollout:database.engine mysql), on mocks: the app user is a
// recorded SQL step instead of @pulumi/postgresql resources, every step gets the MySQL connection,
// and the service gets a mysql:// DATABASE_URL.
import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { recordRegistrations, secretInput, valueOf, type Registration } from "../support/mocks";
import { loadConfig } from "../../config";
import { minimalRawConfig, ROOT } from "../support/fixtures";

const registrations: Registration[] = recordRegistrations();
// Imported after the mocks are set, so resources register against them.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Rollout } = require("../../rollout") as typeof import("../../rollout");

const SECRETS = { databasePassword: "admin-pw", appDatabasePassword: "app-pw" };

describe("Rollout on a MySQL database", () => {
  let mine: Registration[];

  before(async () => {
    const raw = minimalRawConfig({
      database: { engine: "mysql", host: "127.0.0.1", port: 53306, database: "shop" },
    });
    const config = loadConfig("test", raw, { databasePassword: true, appDatabasePassword: true });
    const rollout = new Rollout("my", {
      config,
      stack: "test",
      secrets: Object.fromEntries(Object.entries(SECRETS).map(([k, v]) => [k, pulumi.secret(v)])),
      projectDir: ROOT,
      now: new Date("2026-11-25T04:00:00Z"),
      dryRun: false,
    });
    await valueOf(rollout.report);
    await valueOf(rollout.reportFiles);
    mine = registrations.filter((r) => r.name === "my" || r.name.startsWith("my-"));
  });

  it("makes the app user with a recorded SQL step and registers no PostgreSQL resource", () => {
    const types = mine.map((r) => `${r.type} ${r.name}`);
    assert.deepEqual(types.filter((t) => /DatabaseObjects|MysqlAppUser|postgresql/.test(t)).sort(), [
      "pulumi-nodejs:dynamic/rollout:MysqlAppUser my-db-app-user-grant",
      "rollout:database:DatabaseObjects my-db",
      "rollout:database:MysqlAppUser my-db-app-user",
    ]);
    const step = mine.find((r) => r.name === "my-db-app-user-grant")!;
    assert.equal(step.inputs.user, "sample_app");
    assert.deepEqual(secretInput(step.inputs.password), { secret: true, value: "app-pw" });
  });

  it("hands preflight the MySQL connection: engine mysql, port and database from config, no sslMode", () => {
    const preflight = mine.find((r) => r.name === "my-preflight-run")!;
    // The connection holds the password, so it travels as one secret.
    assert.deepEqual(secretInput(preflight.inputs.connection), {
      secret: true,
      value: {
        engine: "mysql",
        host: "127.0.0.1",
        port: 53306,
        database: "shop",
        user: "root",
        password: "admin-pw",
      },
    });
  });

  it("gives the service a mysql:// DATABASE_URL as a secret", () => {
    const app = mine.find((r) => r.name === "my-release-app")!;
    const envs = secretInput(app.inputs.envs);
    assert.equal(envs.secret, true);
    const entry = (envs.value as string[]).find((e) => e.startsWith("DATABASE_URL="));
    assert.equal(entry, "DATABASE_URL=mysql://sample_app:app-pw@127.0.0.1:53306/shop");
  });
});
