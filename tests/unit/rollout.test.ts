import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { recordRegistrations, secretInput, valueOf, type Registration } from "../support/mocks";
import { ROOT, sampleRawConfig } from "../support/fixtures";

const registrations: Registration[] = recordRegistrations();
// Imported after the mocks are set, so resources register against them.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { loadConfig, Rollout } = require("../../components") as typeof import("../../components");

function newRollout(name: string, raw = sampleRawConfig()) {
  const config = loadConfig("test", raw, { databasePassword: true, appDatabasePassword: true });
  return new Rollout(name, {
    config,
    stack: "test",
    databasePassword: pulumi.secret("admin-pw"),
    appDatabasePassword: pulumi.secret("app-pw"),
    projectDir: ROOT,
  });
}

describe("Rollout resource graph", () => {
  let report: Awaited<ReturnType<typeof valueOf<import("../../components").RolloutReport>>>;
  let mine: Registration[];

  before(async () => {
    const rollout = newRollout("r1");
    report = await valueOf(rollout.report);
    mine = registrations.filter((r) => r.name.startsWith("r1"));
  });

  it("registers exactly the expected resources", () => {
    const got = mine.map((r) => `${r.type} ${r.name}`).sort();
    const expected = [
      "command:local:Command r1-release-prepare",
      "docker:index/container:Container r1-release-app",
      "docker:index/image:Image r1-release-image",
      "pulumi-nodejs:dynamic/rollout:HttpCheck r1-check-health-db-run",
      "pulumi-nodejs:dynamic/rollout:HttpCheck r1-check-health-run",
      "pulumi:providers:docker r1-release-docker",
      "pulumi:providers:postgresql r1-db-admin",
      "postgresql:index/defaultPrivileges:DefaultPrivileges r1-db-default-sequences",
      "postgresql:index/defaultPrivileges:DefaultPrivileges r1-db-default-tables",
      "postgresql:index/grant:Grant r1-db-connect",
      "postgresql:index/grant:Grant r1-db-schema-usage",
      "postgresql:index/grant:Grant r1-db-sequences",
      "postgresql:index/grant:Grant r1-db-tables",
      "postgresql:index/role:Role r1-db-app-role",
      "rollout:checks:HealthCheck r1-check-health",
      "rollout:checks:HealthCheck r1-check-health-db",
      "rollout:database:DatabaseObjects r1-db",
      "rollout:index:Rollout r1",
      "rollout:release:ContainerRelease r1-release",
    ];
    assert.deepEqual(got, expected.sort());
  });

  it("builds the image from the context with the offline base and the release's version", () => {
    const image = mine.find((r) => r.type === "docker:index/image:Image")!;
    assert.equal(image.inputs.imageName, "sample-app:1.0.0");
    assert.equal(image.inputs.skipPush, true);
    const build = image.inputs.build as Record<string, unknown>;
    assert.equal(build.context, `${ROOT}/sample-app`);
    assert.equal(build.builderVersion, "BuilderV1");
    assert.equal(build.network, "host");
    assert.deepEqual(build.args, { BASE_IMAGE: "rollout/node-base:local", APP_VERSION: "1.0.0" });
  });

  it("reruns the prepare step only when its inputs change (content hash trigger)", () => {
    const prepare = mine.find((r) => r.type === "command:local:Command")!;
    assert.equal(prepare.inputs.create, "node build.mjs");
    const triggers = prepare.inputs.triggers as string[];
    assert.equal(triggers.length, 1);
    assert.match(triggers[0], /^[0-9a-f]{64}$/);
  });

  it("runs the container on host networking from the built image, with the database URL as a secret", async () => {
    const container = mine.find((r) => r.type === "docker:index/container:Container")!;
    assert.equal(container.inputs.name, "sample-app-test-app");
    assert.equal(container.inputs.networkMode, "host");
    assert.equal(container.inputs.image, `sha256:${"a".repeat(64)}`);
    const { secret, value } = secretInput(container.inputs.envs);
    assert.equal(secret, true, "env holding DATABASE_URL must be sent as a secret");
    const envs = value as string[];
    assert.ok(envs.includes("PORT=18181"));
    // The database URL carries the role name from the Role resource: data flow orders role -> container.
    const dbUrl = envs.find((e) => e.startsWith("DATABASE_URL="));
    assert.equal(
      dbUrl,
      "DATABASE_URL=postgresql://sample_app:app-pw@127.0.0.1:55432/rollout_dev?sslmode=disable",
    );
    assert.deepEqual(container.inputs.labels, [
      { label: "rollout.release", value: "2026.11.21-1" },
      { label: "rollout.stack", value: "test" },
    ]);
  });

  it("keys every check to the release and the containers, and expands {version}", () => {
    const checks = mine.filter((r) => r.type === "pulumi-nodejs:dynamic/rollout:HttpCheck");
    for (const check of checks) {
      const triggers = check.inputs.triggers as string[];
      assert.equal(triggers[0], "2026.11.21-1");
      assert.equal(triggers[1], `sha256:${"a".repeat(64)}`);
      assert.equal(triggers[2], JSON.stringify({ app: "r1-release-app-id" }));
    }
    const health = checks.find((c) => c.name === "r1-check-health-run")!;
    assert.deepEqual((health.inputs.spec as { expectJson: unknown }).expectJson, { version: "1.0.0" });
  });

  it("grants the app role CONNECT, USAGE and table/sequence rights now and by default", () => {
    const grants = mine.filter((r) => r.type === "postgresql:index/grant:Grant");
    assert.deepEqual(grants.map((g) => [g.inputs.objectType, g.inputs.privileges]).sort(), [
      ["database", ["CONNECT"]],
      ["schema", ["USAGE"]],
      ["sequence", ["USAGE", "SELECT", "UPDATE"]],
      ["table", ["SELECT", "INSERT", "UPDATE", "DELETE"]],
    ]);
    for (const g of grants) assert.equal(g.inputs.role, "sample_app");
    const role = mine.find((r) => r.type === "postgresql:index/role:Role")!;
    assert.equal(role.inputs.login, true);
    assert.deepEqual(secretInput(role.inputs.password), { secret: true, value: "app-pw" });
    assert.equal(role.inputs.name, "sample_app");
  });

  it("exports a report with the release, image and every check", () => {
    assert.deepEqual(report, {
      release: { id: "2026.11.21-1", image: "sample-app:1.0.0", stack: "test" },
      image: { reference: "sample-app:1.0.0", id: `sha256:${"a".repeat(64)}` },
      containers: { app: "r1-release-app-id" },
      checks: [
        { name: "health", passed: true, status: 200, latencyMs: 3, attempts: 1 },
        { name: "health-db", passed: true, status: 200, latencyMs: 3, attempts: 1 },
      ],
    });
  });

  it("pulls and keeps a registry image when no build is configured", async () => {
    const raw = sampleRawConfig();
    const app = { ...(raw.app as Record<string, unknown>) };
    delete app.build;
    const rollout = newRollout("r2", {
      ...raw,
      app,
      release: { id: "r2", image: "registry.example.com/app:2.0.0" },
    });
    const r = await valueOf(rollout.report);
    const mineR2 = registrations.filter((x) => x.name.startsWith("r2"));
    assert.equal(mineR2.filter((x) => x.type === "docker:index/image:Image").length, 0);
    assert.equal(mineR2.filter((x) => x.type === "command:local:Command").length, 0);
    const remote = mineR2.filter((x) => x.type === "docker:index/remoteImage:RemoteImage");
    assert.equal(remote.length, 1);
    assert.equal(remote[0].inputs.name, "registry.example.com/app:2.0.0");
    assert.equal(remote[0].inputs.keepLocally, true);
    assert.equal(r.image.id, `sha256:${"b".repeat(64)}`);
  });
});
