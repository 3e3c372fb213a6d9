import assert from "node:assert/strict";
import { before, describe, it } from "node:test";
import * as pulumi from "@pulumi/pulumi";
import { recordRegistrations, secretInput, valueOf, type Registration } from "../support/mocks";
import path from "node:path";
import { loadConfig } from "../../config";
import { loadMigrations } from "../../engines/migrations";
import { reportHtml } from "../../engines/report";
import { fullRawConfig, minimalRawConfig, ROOT } from "../support/fixtures";

const registrations: Registration[] = recordRegistrations();
// Imported after the mocks are set, so resources register against them.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const { Rollout, releaseDigest, Wiring } = require("../../rollout") as typeof import("../../rollout");
type Report = import("../../rollout").RolloutReport;

const ALL_SECRETS = {
  databasePassword: "admin-pw",
  appDatabasePassword: "app-pw",
  maintenanceToken: "maint-token",
  webhookUrl: "http://127.0.0.1:9/hook",
  smokePassword: "smoke-pw",
  s3AccessKey: "s3-key-id",
  s3SecretKey: "s3-secret-key",
  sshPrivateKey: "-----BEGIN OPENSSH PRIVATE KEY-----\nssh-key-body\n-----END OPENSSH PRIVATE KEY-----\n",
};
// Tuesday 23:00 in New York: inside the fixture's window.
const IN_WINDOW = new Date("2026-11-25T04:00:00Z");
const OUT_OF_WINDOW = new Date("2026-11-24T04:00:00Z");

const present = Object.fromEntries(Object.keys(ALL_SECRETS).map((k) => [k, true]));

/** The digest of the release `raw` describes, as the rollout computes it. */
function digestOf(raw: Record<string, unknown>): string {
  const config = loadConfig("test", { ...raw, approvals: undefined }, present);
  const migrations = config.migrations
    ? loadMigrations(path.resolve(ROOT, config.migrations.dir))
    : undefined;
  return releaseDigest(config, migrations, Wiring.sourceHashes(config, ROOT));
}

/** `raw` with every approval that names no digest naming this release's digest. */
function approved(raw: Record<string, unknown>): Record<string, unknown> {
  const approvals = raw.approvals as { required: string[]; given: Record<string, unknown>[] } | undefined;
  if (!approvals || approvals.given.every((a) => a.digest)) return raw;
  const digest = digestOf(raw);
  return { ...raw, approvals: { ...approvals, given: approvals.given.map((a) => ({ digest, ...a })) } };
}

function newRollout(
  name: string,
  raw: Record<string, unknown>,
  opts: { now?: Date; dryRun?: boolean; secrets?: Partial<typeof ALL_SECRETS> } = {},
) {
  const config = loadConfig("test", approved(raw), present);
  const secrets = Object.fromEntries(
    Object.entries({ ...ALL_SECRETS, ...opts.secrets }).map(([k, v]) => [k, pulumi.secret(v)]),
  );
  return new Rollout(name, {
    config,
    stack: "test",
    secrets,
    projectDir: ROOT,
    now: opts.now ?? IN_WINDOW,
    dryRun: opts.dryRun ?? false,
  });
}

const summary = (regs: Registration[]) => regs.map((r) => `${r.type} ${r.name}`).sort();
const byName = (regs: Registration[], name: string) => {
  const found = regs.find((r) => r.name === name);
  assert.ok(found, `no resource named ${name}; have: ${regs.map((r) => r.name).join(", ")}`);
  return found;
};

describe("Rollout with the minimal config", () => {
  let mine: Registration[];
  let report: Report;

  before(async () => {
    const rollout = newRollout("m", minimalRawConfig());
    report = await valueOf(rollout.report);
    // The report files step registers once the report it writes has resolved.
    await valueOf(rollout.reportFiles);
    mine = registrations.filter((r) => r.name === "m" || r.name.startsWith("m-"));
  });

  it("registers exactly the core resources, with every optional part left out", () => {
    assert.deepEqual(
      summary(mine),
      [
        "docker:index/container:Container m-release-app",
        "pulumi-nodejs:dynamic/rollout:ImageBuild m-release-image",
        "postgresql:index/defaultPrivileges:DefaultPrivileges m-db-default-sequences",
        "postgresql:index/defaultPrivileges:DefaultPrivileges m-db-default-tables",
        "postgresql:index/grant:Grant m-db-connect",
        "postgresql:index/grant:Grant m-db-schema-usage",
        "postgresql:index/grant:Grant m-db-sequences",
        "postgresql:index/grant:Grant m-db-tables",
        "postgresql:index/role:Role m-db-app-role",
        "pulumi-nodejs:dynamic/rollout:HttpCheck m-check-health-db-run",
        "pulumi-nodejs:dynamic/rollout:HttpCheck m-check-health-run",
        "pulumi-nodejs:dynamic/rollout:Preflight m-preflight-run",
        "pulumi-nodejs:dynamic/rollout:ReleaseMarker m-marker-record",
        "pulumi-nodejs:dynamic/rollout:ServicesCheck m-services-run",
        "rollout:checks:ServicesCheck m-services",
        "pulumi:providers:docker m-release-docker",
        "pulumi:providers:postgresql m-db-admin",
        "rollout:checks:HealthCheck m-check-health",
        "rollout:checks:HealthCheck m-check-health-db",
        "rollout:database:DatabaseObjects m-db",
        "rollout:index:ReleaseMarker m-marker",
        "rollout:index:Rollout m",
        "rollout:preflight:Preflight m-preflight",
        "rollout:release:ContainerRelease m-release",
        "pulumi-nodejs:dynamic/rollout:ReportFiles m-report-write",
        "rollout:report:ReportFiles m-report",
      ].sort(),
    );
  });

  it("builds the image from the context with the offline base and the release's version", () => {
    const spec = byName(mine, "m-release-image").inputs.spec as Record<string, unknown>;
    assert.equal(spec.tag, "sample-app:1.0.0");
    assert.equal(spec.context, `${ROOT}/sample-app`);
    assert.equal(spec.dockerfile, "Dockerfile");
    assert.equal(spec.prepareCommand, "node build.mjs");
    assert.deepEqual(spec.dockerHost, { url: "unix:///var/run/docker.sock" });
    assert.deepEqual(spec.buildArgs, { BASE_IMAGE: "rollout/node-base:local", APP_VERSION: "1.0.0" });
    // The content hash of the sources decides when the image is rebuilt.
    assert.match(spec.sourceHash as string, /^[0-9a-f]{64}$/);
  });

  it("runs the container on host networking from the built image, with the database URL as a secret", () => {
    const container = byName(mine, "m-release-app");
    assert.equal(container.inputs.name, "sample-app-test-app");
    assert.equal(container.inputs.networkMode, "host");
    assert.equal(container.inputs.image, `sha256:${"a".repeat(64)}`);
    const { secret, value } = secretInput(container.inputs.envs);
    assert.equal(secret, true, "env holding DATABASE_URL must be sent as a secret");
    const envs = value as string[];
    assert.ok(envs.includes("PORT=18181"));
    // The URL carries the role name from the Role resource: data flow orders role -> container.
    assert.ok(
      envs.includes(
        "DATABASE_URL=postgresql://sample_app:app-pw@127.0.0.1:55432/rollout_dev?sslmode=disable",
      ),
    );
    const labels = container.inputs.labels as { label: string; value: string }[];
    assert.deepEqual(labels.slice(0, 2), [
      { label: "rollout.release", value: "2026.11.21-1" },
      { label: "rollout.stack", value: "test" },
    ]);
  });

  it("keeps plain env reviewable beside secret env: plain values and secret names as labels, no secret value", () => {
    const container = byName(mine, "m-release-app");
    const labels = container.inputs.labels as { label: string; value: string }[];
    assert.ok(
      !secretInput(container.inputs.labels).secret,
      "labels stay plain, so a preview shows their diff",
    );
    const byLabel = Object.fromEntries(labels.map((l) => [l.label, l.value]));
    assert.equal(byLabel["rollout.env.PORT"], "18181");
    assert.equal(byLabel["rollout.env.HOST"], "127.0.0.1");
    assert.equal(byLabel["rollout.secret-env"], "DATABASE_URL");
    assert.ok(!JSON.stringify(labels).includes("app-pw"), "no secret value is in a label");
  });

  it("percent-encodes the app role's password in DATABASE_URL, so it parses back unchanged", async () => {
    const password = "p@ss:w/rd%20#?&=x";
    await valueOf(newRollout("u", minimalRawConfig(), { secrets: { appDatabasePassword: password } }).report);
    const envs = secretInput(byName(registrations, "u-release-app").inputs.envs).value as string[];
    const entry = envs.find((e) => e.startsWith("DATABASE_URL="));
    assert.ok(entry, JSON.stringify(envs));
    const url = new URL(entry.slice("DATABASE_URL=".length));
    assert.equal(decodeURIComponent(url.password), password);
    assert.equal(decodeURIComponent(url.username), "sample_app");
    assert.equal(url.host, "127.0.0.1:55432");
    assert.equal(url.pathname, "/rollout_dev");
    assert.equal(url.searchParams.get("sslmode"), "disable");
  });

  it("keys every check to the release's content, the containers and this run's preflight, and expands {version}", () => {
    for (const check of mine.filter((r) => r.type === "pulumi-nodejs:dynamic/rollout:HttpCheck")) {
      // Data flow from the containers orders containers -> checks; the preflight's run time makes
      // every run that started a release (or a rollback) check it again.
      assert.deepEqual(check.inputs.triggers, [
        digestOf(minimalRawConfig()),
        `sha256:${"a".repeat(64)}`,
        JSON.stringify({ app: "m-release-app-id" }),
        "2026-11-21T22:00:01.000Z",
        "no maintenance",
      ]);
    }
    const spec = byName(mine, "m-check-health-run").inputs.spec as { expectJson: unknown };
    assert.deepEqual(spec.expectJson, { version: "1.0.0" });
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
    const role = byName(mine, "m-db-app-role");
    assert.equal(role.inputs.login, true);
    assert.deepEqual(secretInput(role.inputs.password), { secret: true, value: "app-pw" });
  });

  it("reports the release, image and every check, with null for the parts left out", () => {
    assert.deepEqual(report.release, {
      id: "2026.11.21-1",
      digest: digestOf(minimalRawConfig()),
      image: "sample-app:1.0.0",
      schemaTarget: undefined,
      stack: "test",
    });
    assert.deepEqual(report.image, {
      before: null,
      after: "sample-app:1.0.0",
      id: `sha256:${"a".repeat(64)}`,
    });
    assert.deepEqual(
      report.checks.map((c) => [c.name, c.kind, c.passed, c.observed]),
      [
        ["health", "http", true, "HTTP 200"],
        ["health-db", "http", true, "HTTP 200"],
      ],
    );
    assert.equal(report.backup, null);
    assert.equal(report.schema, null);
    assert.equal(report.maintenance, null);
    assert.equal(report.soak, null);
    assert.equal(report.gates.window, null);
  });

  it("pulls and keeps a registry image when no build is configured", async () => {
    const raw = minimalRawConfig();
    const app = { ...(raw.app as Record<string, unknown>) };
    delete app.build;
    const r = await valueOf(
      newRollout("p", { ...raw, app, release: { id: "p", image: "registry.example.com/app:2.0.0" } }).report,
    );
    const regs = registrations.filter((x) => x.name.startsWith("p-"));
    assert.equal(regs.filter((x) => x.type === "pulumi-nodejs:dynamic/rollout:ImageBuild").length, 0);
    const remote = regs.filter((x) => x.type === "docker:index/remoteImage:RemoteImage");
    assert.equal(remote.length, 1);
    assert.equal(remote[0].inputs.name, "registry.example.com/app:2.0.0");
    assert.equal(remote[0].inputs.keepLocally, true);
    assert.equal(r.image.id, `sha256:${"b".repeat(64)}`);
  });
});

describe("Rollout with services beside the app", () => {
  let mine: Registration[];
  let report: Report;
  const base = minimalRawConfig();
  const raw = {
    ...base,
    app: { ...(base.app as object), dependsOn: ["redis"], healthcheck: { command: ["node", "-e", "1"] } },
    services: [
      { name: "nginx", image: "nginx:1.27.3", dependsOn: ["app"], command: ["nginx", "-g", "daemon off;"] },
      {
        name: "redis",
        image: "redis:7.2.4",
        keep: true,
        secretEnv: { REDIS_PASSWORD: "smokePassword" },
        volumes: [{ name: "redis-data", containerPath: "/data" }],
        healthcheck: { command: "redis-cli ping | grep PONG", waitSeconds: 30 },
      },
    ],
  };

  before(async () => {
    const rollout = newRollout("s", raw);
    report = await valueOf(rollout.report);
    await valueOf(rollout.reportFiles);
    mine = registrations.filter((r) => r.name.startsWith("s-"));
  });

  it("registers the containers in start order: each after what it depends on", () => {
    const containers = mine.filter((r) => r.type === "docker:index/container:Container").map((r) => r.name);
    assert.deepEqual(containers, ["s-release-redis", "s-release-app", "s-release-nginx"]);
  });

  it("pulls each service's own image and keeps it, under names of its own beside the app's", () => {
    const remote = mine.filter((r) => r.type === "docker:index/remoteImage:RemoteImage");
    assert.deepEqual(
      remote.map((r) => [r.name, r.inputs.name, r.inputs.keepLocally]),
      [
        ["s-release-redis-image", "redis:7.2.4", true],
        ["s-release-nginx-image", "nginx:1.27.3", true],
      ],
    );
    // The app's build keeps the name it had alone, so existing stacks see no rename.
    assert.ok(byName(mine, "s-release-image"));
  });

  it("gates on a health check: Docker runs it and the start waits for healthy", () => {
    const redis = byName(mine, "s-release-redis");
    assert.deepEqual(redis.inputs.healthcheck, {
      tests: ["CMD-SHELL", "redis-cli ping | grep PONG"],
      interval: "2s",
      timeout: "5s",
      retries: 3,
      startPeriod: "0s",
    });
    assert.equal(redis.inputs.wait, true);
    assert.equal(redis.inputs.waitTimeout, 30);
    const app = byName(mine, "s-release-app");
    assert.deepEqual((app.inputs.healthcheck as { tests: string[] }).tests, ["CMD", "node", "-e", "1"]);
    const nginx = byName(mine, "s-release-nginx");
    assert.equal(nginx.inputs.healthcheck, undefined);
    assert.equal(nginx.inputs.wait, undefined);
    assert.deepEqual(nginx.inputs.command, ["nginx", "-g", "daemon off;"]);
  });

  it("gives a kept service no per-release label, so a new release leaves it running", () => {
    const labels = (name: string) =>
      (byName(mine, name).inputs.labels as { label: string; value: string }[]).map((l) => l.label);
    assert.ok(!labels("s-release-redis").includes("rollout.release"));
    assert.ok(labels("s-release-redis").includes("rollout.kept"));
    assert.ok(labels("s-release-nginx").includes("rollout.release"));
  });

  it("sends a service's secret env only as a secret, and mounts its named volume", () => {
    const redis = byName(mine, "s-release-redis");
    const { secret, value } = secretInput(redis.inputs.envs);
    assert.equal(secret, true);
    assert.deepEqual(value, ["REDIS_PASSWORD=smoke-pw"]);
    assert.deepEqual(redis.inputs.volumes, [
      { volumeName: "sample-app-test-redis-data", containerPath: "/data" },
    ]);
  });

  it("checks every service's state on the Docker host, the health-checked ones healthy", () => {
    const spec = byName(mine, "s-services-run").inputs.spec as Record<string, unknown>;
    assert.deepEqual(
      (spec.containers as { name: string }[]).map((c) => c.name),
      ["redis", "app", "nginx"],
    );
    assert.deepEqual(spec.healthChecked, ["app", "redis"]);
    assert.deepEqual(spec.kept, ["redis"]);
    // As long as the slowest health check may take: redis waits 30 s, the app 120 s by default.
    assert.equal(spec.timeoutSeconds, 120);
  });

  it("records each service's image for the way back, and reports every service with its state", async () => {
    const marker = byName(mine, "s-marker-record");
    assert.deepEqual(marker.inputs.services, {
      nginx: { image: "nginx:1.27.3", imageId: `sha256:${"b".repeat(64)}` },
      redis: { image: "redis:7.2.4", imageId: `sha256:${"b".repeat(64)}` },
    });
    assert.deepEqual(
      report.services.map((s) => [s.name, s.image, s.state, s.kept]),
      [
        ["redis", "redis:7.2.4", "running, healthy", true],
        ["app", "sample-app:1.0.0", "running, healthy", false],
        ["nginx", "nginx:1.27.3", "running", false],
      ],
    );
    assert.match(reportHtml(report), /id="services"/);
  });

  it("runs in a rollback exactly the image ids the target update ran", async () => {
    const ids = { redis: `sha256:${"c".repeat(64)}`, nginx: `sha256:${"d".repeat(64)}` };
    const r = newRollout("sr", {
      ...raw,
      rollback: { undoes: "2026.11.28-1", toUpdate: 3, reason: "broken", imageIds: ids },
    });
    await valueOf(r.report);
    const regs = registrations.filter((x) => x.name.startsWith("sr-"));
    assert.equal(byName(regs, "sr-release-redis").inputs.image, ids.redis);
    assert.equal(byName(regs, "sr-release-nginx").inputs.image, ids.nginx);
  });

  it("gives a stack without services the digest it had before services existed", () => {
    const plain = minimalRawConfig();
    const withNone = { ...plain, services: [] };
    assert.equal(digestOf(withNone), digestOf(plain));
    assert.notEqual(digestOf(raw), digestOf({ ...raw, services: [raw.services[1]] }));
    // A pulled image's release, as the program computed it before services and Docker logins
    // existed: an upgrade must not void the approvals that name it.
    const app = { ...(plain.app as Record<string, unknown>) };
    delete app.build;
    assert.equal(
      digestOf({ ...plain, app, release: { id: "2026.11.21-1", image: "registry.example.com/app:2.0.0" } }),
      "41606c399cf734b5d7bf6e94594a8628df65966b1a6e22e0442ae670eece9179",
    );
  });
});

describe("Rollout soaking against a baseline, the smoke flows and logs again", () => {
  const soak = { durationSeconds: 60, smokeEverySeconds: 10, logsEverySeconds: 15, baseline: {} };

  it("probes the release running now after the preflight, and hands the soak its figures and the flows", async () => {
    const r = newRollout("bl", { ...fullRawConfig(), soak, logCheck: {} });
    await valueOf(r.report);
    const regs = registrations.filter((x) => x.name.startsWith("bl-"));
    const baseline = byName(regs, "bl-baseline-run");
    assert.deepEqual((baseline.inputs.spec as { probes: number; allowNoCurrentService: boolean }).probes, 20);
    const spec = secretInput(byName(regs, "bl-soak-run").inputs.spec).value as {
      baseline: { result: { p95Ms: number }; maxP95Increase: number };
      smoke: { everySeconds: number; tests: { name: string }[] };
      logs: { everySeconds: number; check: { forbid: string[] } };
    };
    assert.equal(spec.baseline.result.p95Ms, 4, "the baseline step's result");
    assert.equal(spec.baseline.maxP95Increase, 0.5);
    assert.deepEqual([spec.smoke.everySeconds, spec.smoke.tests.map((t) => t.name)], [10, ["crud"]]);
    assert.deepEqual([spec.logs.everySeconds, spec.logs.check.forbid], [15, ["ERROR|FATAL"]]);
  });

  it("measures no baseline for a rollback: the release it undoes is no measure", async () => {
    const r = newRollout("blr", {
      ...fullRawConfig(),
      soak,
      logCheck: {},
      rollback: { undoes: "2026.11.28-1", toUpdate: 3, reason: "broken" },
    });
    await valueOf(r.report);
    const regs = registrations.filter((x) => x.name.startsWith("blr-"));
    assert.equal(
      regs.find((x) => x.name === "blr-baseline-run"),
      undefined,
    );
    const spec = secretInput(byName(regs, "blr-soak-run").inputs.spec).value as {
      baseline: { result: unknown };
    };
    assert.equal(spec.baseline.result, null, "the soak falls back to the absolute limits");
  });
});

describe("Rollout with every part on", () => {
  let mine: Registration[];
  let report: Report;

  before(async () => {
    const rollout = newRollout("f", fullRawConfig());
    report = await valueOf(rollout.report);
    await valueOf(rollout.reportFiles);
    mine = registrations.filter((r) => r.name === "f" || r.name.startsWith("f-"));
  });

  it("adds the runbook steps: announcements, maintenance, backup with an offsite copy, schema, SQL and smoke checks, soak", () => {
    const dynamic = mine
      .filter((r) => r.type.startsWith("pulumi-nodejs:dynamic/"))
      .map((r) => r.name)
      .sort();
    assert.deepEqual(dynamic, [
      "f-announce-start-send",
      "f-announce-success-send",
      "f-backup-dump",
      "f-check-health-db-run",
      "f-check-health-run",
      "f-maintenance-off-switch",
      "f-maintenance-on-switch",
      "f-marker-record",
      "f-preflight-run",
      "f-release-image",
      "f-report-write",
      "f-schema-state",
      "f-services-run",
      "f-smoke-crud-run",
      "f-soak-run",
      "f-sqlcheck-schema-version-run",
    ]);
    assert.equal(mine.filter((r) => r.type === "aws:s3/bucketObjectv2:BucketObjectv2").length, 1);
    assert.equal(mine.filter((r) => r.type === "docker:index/volume:Volume").length, 1);
    assert.equal(mine.length, 47);
  });

  it("hands the schema every migration with its SQL, the target and the release", () => {
    const schema = byName(mine, "f-schema-state");
    assert.equal(schema.inputs.target, "0003");
    assert.equal(schema.inputs.release, "2026.11.21-1");
    const migrations = schema.inputs.migrations as {
      id: string;
      up: string;
      down: string;
      checksum: string;
    }[];
    assert.deepEqual(
      migrations.map((m) => m.id),
      ["0001", "0002", "0003", "0004"],
    );
    assert.match(migrations[2].up, /ALTER TABLE items ADD COLUMN status/);
    assert.match(migrations[2].down, /ALTER TABLE items DROP COLUMN status/);
    assert.match(migrations[2].checksum, /^[0-9a-f]{64}$/);
    const connection = secretInput(schema.inputs.connection);
    assert.equal(connection.secret, true, "the connection holds the admin password");
    assert.equal((connection.value as { password: string }).password, "admin-pw");
  });

  it("takes the backup into the stack's folder with retention and the restore test", () => {
    const dump = byName(mine, "f-backup-dump");
    assert.equal(dump.inputs.dir, `${ROOT}/.local/backups`);
    assert.equal(dump.inputs.stack, "test");
    assert.equal(dump.inputs.release, "2026.11.21-1");
    assert.equal(dump.inputs.restoreTest, true);
    assert.equal(dump.inputs.keep, 3);
    const copy = byName(mine, "f-backup-offsite");
    assert.equal(copy.inputs.bucket, "rollout-backups");
    assert.equal(copy.inputs.key, "db/test/test_r_20261121T220000Z.dump");
    assert.equal(copy.inputs.serverSideEncryption, "AES256");
  });

  it("sends the maintenance token and the smoke password only as secrets", () => {
    for (const name of ["f-maintenance-on-switch", "f-maintenance-off-switch"]) {
      const { secret, value } = secretInput(byName(mine, name).inputs.call);
      assert.equal(secret, true, `${name} call must be secret`);
      assert.equal((value as { token: string }).token, "maint-token");
    }
    const smoke = secretInput(byName(mine, "f-smoke-crud-run").inputs.spec);
    assert.equal(smoke.secret, true);
    const spec = smoke.value as { vars: Record<string, string>; headers: Record<string, string> };
    assert.deepEqual(spec.vars, { user: "smoke", password: "smoke-pw" });
    assert.deepEqual(spec.headers, { "x-maintenance-bypass": "maint-token" });
    const env = secretInput(byName(mine, "f-release-app").inputs.envs);
    assert.ok((env.value as string[]).includes("MAINTENANCE_TOKEN=maint-token"));
    assert.equal(env.secret, true);
  });

  it("sends the maintenance switch the inputs it always had, so an unchanged release does not switch again", () => {
    for (const name of ["f-maintenance-on-switch", "f-maintenance-off-switch"]) {
      const { inputs } = byName(mine, name);
      const { value } = secretInput(inputs.call);
      assert.deepEqual(Object.keys(value as object).sort(), [
        "allowUnreachable",
        "method",
        "timeoutMs",
        "token",
        "url",
      ]);
      assert.deepEqual(inputs.policy, { rollback: false, tokenKey: "rollout:maintenanceToken" });
    }
  });

  it("keeps every secret out of the summary, the page and the notices' facts", async () => {
    const rollout = newRollout("fs", fullRawConfig());
    const [summary, page] = [await valueOf(rollout.summary), reportHtml(await valueOf(rollout.report))];
    const notices = JSON.stringify(
      registrations
        .filter((r) => r.name.startsWith("fs-announce"))
        .map((r) => secretInput(r.inputs.notification)),
    );
    assert.match(summary, /^# Rollout of 2026\.11\.21-1 on test$/m);
    assert.match(notices, /"label":"Backup"/, "the success notice was registered with its facts");
    for (const secret of Object.values(ALL_SECRETS)) {
      assert.ok(!summary.includes(secret), `the summary holds ${secret}`);
      assert.ok(!page.includes(secret), `the page holds ${secret}`);
      assert.ok(!notices.includes(secret), `a notice holds ${secret}`);
    }
  });

  it("writes the report files into reports/<stack> by default, from the report itself", () => {
    const files = byName(mine, "f-report-write");
    assert.equal(files.inputs.dir, path.join(ROOT, "reports", "test"));
    // As sent to the engine: undefined fields are dropped.
    assert.deepEqual(files.inputs.report, JSON.parse(JSON.stringify(report)));
  });

  it("gives the success notice what is known when it runs: release, backup, migrations, image, checks, phases", () => {
    const { secret, value } = secretInput(byName(mine, "f-announce-success-send").inputs.notification);
    assert.equal(secret, false);
    const facts = Object.fromEntries(
      (value as { facts: { label: string; value: string }[] }).facts.map((f) => [f.label, f.value]),
    );
    assert.deepEqual(Object.keys(facts), [
      "Release",
      "Image",
      "Backup",
      "Migrations",
      "Checks",
      "Smoke tests",
      "Soak",
      "Phases",
    ]);
    assert.match(facts.Backup, new RegExp(`sha256 ${"c".repeat(64)}`));
    assert.equal(facts.Migrations, "up to 0003 (applied 1, reverted 0): +0003_x");
    assert.equal(facts.Image, "sample-app:1.1.0");
    assert.match(
      facts.Checks,
      /^ok health: HTTP 200 in 3 ms; ok health-db: HTTP 200 in 3 ms; ok schema-version: 0003/,
    );
    assert.match(facts.Phases, /preflight 1\.0 s, .*soak 1\.0 s$/);
  });

  it("expands {schemaTarget} in SQL check expectations", () => {
    const spec = byName(mine, "f-sqlcheck-schema-version-run").inputs.spec as { expect: string };
    assert.equal(spec.expect, "0003");
  });

  it("reports window, approvals, backup, schema, checks, smoke, soak and ordered phase timings", () => {
    assert.equal(report.gates.window?.open, true);
    assert.equal(report.gates.window?.enforced, true);
    assert.deepEqual(report.gates.approvals, {
      required: ["tech-lead", "dba"],
      given: [
        { role: "tech-lead", by: "alice" },
        { role: "dba", by: "bob" },
      ],
    });
    assert.equal(report.backup?.sha256, "c".repeat(64));
    // What killed runs had left: the removed and, with the command that removes it, the rest.
    assert.deepEqual(report.backup?.crashLeftovers.removed, [
      "/backups/test/test_r_20261120T220000Z.dump.partial",
    ]);
    assert.match(
      report.backup?.crashLeftovers.left[0].command ?? "",
      /^psql '.*' -c 'DROP DATABASE "rollout_restore_test_/,
    );
    assert.deepEqual(report.schema, { version: "0003", direction: "up", applied: ["0003_x"], reverted: [] });
    assert.deepEqual(
      report.checks.map((c) => `${c.kind}:${c.name}:${c.observed}`),
      ["http:health:HTTP 200", "http:health-db:HTTP 200", "sql:schema-version:0003"],
    );
    assert.equal(report.smokeTests[0].steps[0].status, 200);
    assert.equal(report.soak?.p95Ms, 4);
    assert.deepEqual(report.announcements.start.event, "start");
    assert.deepEqual(
      report.phases.map((p) => p.phase),
      [
        "preflight",
        "announce start",
        "maintenance on",
        "backup",
        "schema",
        "database objects and containers",
        "checks and smoke tests",
        "maintenance off",
        "soak",
      ],
    );
  });
});

describe("Rollout program-time gates", () => {
  it("refuses `up` outside an enforced window, naming the window and the next opening", () => {
    assert.throws(
      () => newRollout("w1", fullRawConfig(), { now: OUT_OF_WINDOW }),
      /refusing to roll out: outside the maintenance window \(tue,wed,thu 22:00-02:00 America\/New_York\): it is now 2026-11-23T23:00:00-05:00; the next window opens at 2026-11-24T22:00:00-05:00, in 1380 min\. Wait for the window, or set rollout:override to \{reason: a written reason \(it lands in the report\), release: "2026\.11\.21-1", expires: an ISO time with a zone\}\./,
    );
    assert.equal(
      registrations.filter((r) => r.name.startsWith("w1-")).length,
      0,
      "nothing may be registered",
    );
  });

  it("only warns on preview outside the window", async () => {
    const r = await valueOf(newRollout("w2", fullRawConfig(), { now: OUT_OF_WINDOW, dryRun: true }).report);
    assert.equal(r.gates.window?.open, false);
  });

  const override = {
    reason: "security fix CVE-2026-1234, approved by CTO",
    release: "2026.11.21-1",
    expires: "2026-11-24T06:00:00Z",
  };

  it("goes ahead outside the window with a written override, which lands in the report", async () => {
    const r = await valueOf(newRollout("w3", fullRawConfig({ override }), { now: OUT_OF_WINDOW }).report);
    assert.equal(r.gates.override, "security fix CVE-2026-1234, approved by CTO");
  });

  it("refuses an override written for another release, before creating anything", () => {
    assert.throws(
      () =>
        newRollout("w4", fullRawConfig({ override: { ...override, release: "2026.11.14-1" } }), {
          now: OUT_OF_WINDOW,
        }),
      {
        message:
          'refusing the override: rollout:override.release is "2026.11.14-1", but the release is "2026.11.21-1". ' +
          'Set rollout:override.release to "2026.11.21-1" and rollout:override.expires to a time ahead (ISO with a zone), ' +
          "or remove rollout:override (`pulumi config rm rollout:override`).",
      },
    );
    assert.equal(registrations.filter((r) => r.name.startsWith("w4-")).length, 0);
  });

  it("refuses an expired override, even inside the window", () => {
    // Inside the window the override is not needed, but a stale one must not wait in config for a
    // later release.
    assert.throws(
      () =>
        newRollout("w5", fullRawConfig({ override: { ...override, expires: "2026-11-24T02:00:00-05:00" } })),
      {
        message:
          "refusing the override: rollout:override.expires is 2026-11-24T02:00:00-05:00, which has passed " +
          '(it is now 2026-11-25T04:00:00.000Z). Set rollout:override.release to "2026.11.21-1" and ' +
          "rollout:override.expires to a time ahead (ISO with a zone), or remove rollout:override (`pulumi config rm rollout:override`).",
      },
    );
    assert.equal(registrations.filter((r) => r.name.startsWith("w5-")).length, 0);
  });

  it("counts an override only until the second it expires", () => {
    const expires = new Date(OUT_OF_WINDOW.getTime() + 1000).toISOString();
    newRollout("w6", fullRawConfig({ override: { ...override, expires } }), { now: OUT_OF_WINDOW });
    assert.throws(
      () =>
        newRollout("w7", fullRawConfig({ override: { ...override, expires } }), {
          now: new Date(OUT_OF_WINDOW.getTime() + 1000),
        }),
      /refusing the override: rollout:override\.expires is .* which has passed/,
    );
  });

  it("only warns on preview about a stale override, and does not count it", async () => {
    const r = await valueOf(
      newRollout("w8", fullRawConfig({ override: { ...override, release: "other" } }), {
        now: OUT_OF_WINDOW,
        dryRun: true,
      }).report,
    );
    assert.equal(r.gates.window?.open, false);
  });

  it("refuses `up` without every required approval for this release", () => {
    assert.throws(
      () =>
        newRollout(
          "a1",
          fullRawConfig({
            approvals: {
              required: ["tech-lead", "dba"],
              given: [{ role: "dba", by: "bob", release: "2026.11.21-1" }],
            },
          }),
        ),
      /refusing to roll out: approval by `tech-lead` for release 2026\.11\.21-1 \(digest [0-9a-f]{12}\) is missing; add \{role: tech-lead, by: <name>, release: "2026\.11\.21-1", digest: "[0-9a-f]{12}"\}/,
    );
  });

  it("refuses a migrations folder with a problem before creating anything", () => {
    assert.throws(
      () => newRollout("mf", fullRawConfig({ migrations: { dir: "no/such/folder" } })),
      /no\/such\/folder/,
    );
    assert.equal(registrations.filter((r) => r.name.startsWith("mf-")).length, 0);
  });

  it("refuses a schema target that is not a migration", () => {
    assert.throws(
      () =>
        newRollout(
          "st",
          fullRawConfig({ release: { id: "2026.11.21-1", image: "sample-app:1.1.0", schemaTarget: "0099" } }),
        ),
      /schema target "0099" is not a migration in the folder; use one of: 0000, 0001, 0002, 0003, 0004/,
    );
  });
});

describe("Rollout as a rollback (rollout:rollback set by `npm run rollback`)", () => {
  const rollbackOf = (extra: Record<string, unknown> = {}) => ({
    undoes: "2026.11.28-1",
    toUpdate: 7,
    ...extra,
  });

  it("goes ahead outside the window with a reason, which lands in the report", async () => {
    const r = await valueOf(
      newRollout("rb1", fullRawConfig({ rollback: rollbackOf({ reason: "checkout broken since 02:10" }) }), {
        now: OUT_OF_WINDOW,
      }).report,
    );
    assert.deepEqual(r.rollback, {
      undoes: "2026.11.28-1",
      toUpdate: 7,
      reason: "checkout broken since 02:10",
      restored: null,
    });
    assert.equal(r.gates.window?.open, false);
  });

  it("refuses outside the window without a reason, saying how to give one", () => {
    assert.throws(
      () => newRollout("rb2", fullRawConfig({ rollback: rollbackOf() }), { now: OUT_OF_WINDOW }),
      /refusing to roll back 2026\.11\.28-1 outside the window without a reason: outside the maintenance window .*npm run rollback -- --reason '<why>'/,
    );
    assert.equal(registrations.filter((r) => r.name.startsWith("rb2-")).length, 0);
  });

  it("does not judge approvals again: the release it goes back to held them when it ran", async () => {
    const raw = fullRawConfig({
      rollback: rollbackOf(),
      approvals: { required: ["tech-lead", "dba"], given: [] },
    });
    const r = await valueOf(newRollout("rb3", raw).report);
    assert.equal(r.rollback?.undoes, "2026.11.28-1");
  });

  it("runs preflight and maintenance by the rollback's rules, which are not a reason to run again", async () => {
    await valueOf(newRollout("rb4", fullRawConfig({ rollback: rollbackOf() })).report);
    const preflight = byName(registrations, "rb4-preflight-run");
    assert.deepEqual(preflight.inputs.policy, { rollback: true });
    assert.equal(preflight.inputs.digest, digestOf(fullRawConfig({ rollback: rollbackOf() })));
    for (const name of ["rb4-maintenance-on-switch", "rb4-maintenance-off-switch"]) {
      assert.deepEqual(byName(registrations, name).inputs.policy, {
        rollback: true,
        tokenKey: "rollout:maintenanceToken",
      });
    }
    // A forward release runs by the forward rules.
    assert.deepEqual(byName(registrations, "f-preflight-run").inputs.policy, { rollback: false });
  });

  it("restores the chosen backup under the migration lock before the schema moves, when asked", async () => {
    const restoreBackup = { path: "/backups/test/test_r_20261121T220000Z.dump", sha256: "d".repeat(64) };
    await valueOf(newRollout("rb5", fullRawConfig({ rollback: rollbackOf({ restoreBackup }) })).report);
    const restore = byName(registrations, "rb5-restore-restore");
    assert.equal(restore.type, "pulumi-nodejs:dynamic/rollout:DatabaseRestore");
    assert.equal(restore.inputs.path, restoreBackup.path);
    assert.equal(restore.inputs.sha256, restoreBackup.sha256);
    assert.equal(restore.inputs.table, "rollout_migrations");
    assert.equal(registrations.filter((r) => r.name === "f-restore-restore").length, 0, "no restore forward");
  });

  it("refuses a rollback marker that undoes the release it rolls out", () => {
    assert.throws(
      () => newRollout("rb6", fullRawConfig({ rollback: rollbackOf({ undoes: "2026.11.21-1" }) })),
      /rollout:rollback says this update undoes release 2026\.11\.21-1, which is the release it rolls out; .*pulumi config rm rollout:rollback/,
    );
  });
});

describe("release identity is its content", () => {
  it("gives another image under the same release id another digest, so an approval of the old one does not count", () => {
    const before = digestOf(fullRawConfig());
    const image = { id: "2026.11.21-1", image: "sample-app:1.2.0", schemaTarget: "0003" };
    assert.notEqual(digestOf(fullRawConfig({ release: image })), before);
    const approvals = {
      required: ["dba"],
      given: [{ role: "dba", by: "bob", release: "2026.11.21-1", digest: before.slice(0, 12) }],
    };
    assert.throws(
      () => newRollout("id1", fullRawConfig({ release: image, approvals })),
      /approval by `dba` for release 2026\.11\.21-1 \(digest [0-9a-f]{12}\) is missing \(found only: bob for 2026\.11\.21-1 .*an approval of other content does not count\)/,
    );
  });

  it("changes with a migration's content up to the target, and not with checks", () => {
    const before = digestOf(fullRawConfig());
    assert.equal(digestOf(fullRawConfig({ soak: { durationSeconds: 60 } })), before);
    assert.notEqual(
      digestOf(
        fullRawConfig({ release: { id: "2026.11.21-1", image: "sample-app:1.1.0", schemaTarget: "0004" } }),
      ),
      before,
    );
  });
});

describe("Rollout with backup copies", () => {
  const backup = (extra: Record<string, unknown>) => ({
    dir: ".local/backups",
    minBytes: 1024,
    expectTables: [],
    restoreTest: false,
    keep: 3,
    ...extra,
  });

  it("gives a stack without copies the backup inputs it had before copies existed", async () => {
    await valueOf(newRollout("nc", fullRawConfig()).report);
    const dump = byName(
      registrations.filter((r) => r.name.startsWith("nc-")),
      "nc-backup-dump",
    );
    assert.equal("copies" in dump.inputs, false);
    assert.equal("requiredCopies" in dump.inputs, false);
  });

  it("hands the backup step each place, the S3 keys only as secrets, and requiredCopies", async () => {
    const raw = fullRawConfig({
      backup: backup({
        copies: [
          {
            kind: "s3",
            endpoint: "http://127.0.0.1:59000",
            region: "us-east-1",
            bucket: "b-1",
            prefix: "db/",
          },
          { kind: "dir", path: ".local/second-disk", keep: 4 },
        ],
        requiredCopies: 2,
      }),
    });
    await valueOf(newRollout("wc", raw).report);
    const dump = byName(
      registrations.filter((r) => r.name.startsWith("wc-")),
      "wc-backup-dump",
    );
    // A secret inside a property makes the whole property a secret on the wire.
    const copies = secretInput(dump.inputs.copies);
    assert.equal(copies.secret, true, "the copies hold the S3 keys");
    const [s3, dir] = copies.value as Record<string, unknown>[];
    assert.deepEqual(
      { ...s3, accessKeyId: undefined, secretAccessKey: undefined },
      {
        kind: "s3",
        endpoint: "http://127.0.0.1:59000",
        region: "us-east-1",
        bucket: "b-1",
        prefix: "db/",
        keep: 10,
        accessKeyId: undefined,
        secretAccessKey: undefined,
      },
    );
    assert.equal(secretInput(s3.accessKeyId).value, "s3-key-id");
    assert.equal(secretInput(s3.secretAccessKey).value, "s3-secret-key");
    assert.deepEqual(dir, { kind: "dir", path: `${ROOT}/.local/second-disk`, keep: 4 });
    assert.equal(dump.inputs.requiredCopies, 2);
  });

  it("hands the backup step an SSH copy and the archives, the SSH key only as a secret", async () => {
    const host = { host: "backup@10.0.0.9", keySecret: "sshPrivateKey", hostKey: "ssh-ed25519 AAAAC3Nza" };
    const raw = fullRawConfig({
      backup: backup({
        copies: [{ kind: "ssh", ...host, port: 2222, path: "/srv/backups" }],
        archives: [
          { name: "uploads", path: "/srv/app/uploads", host, excludes: ["cache"] },
          { name: "config", path: "/etc/app", minFiles: 2 },
        ],
      }),
    });
    await valueOf(newRollout("wa", raw).report);
    const dump = byName(
      registrations.filter((r) => r.name.startsWith("wa-")),
      "wa-backup-dump",
    );
    const copies = secretInput(dump.inputs.copies);
    assert.equal(copies.secret, true, "the copies hold the SSH key");
    const [ssh] = copies.value as Record<string, unknown>[];
    assert.deepEqual(
      { ...ssh, privateKey: undefined },
      {
        kind: "ssh",
        host: "backup@10.0.0.9",
        port: 2222,
        hostKey: "ssh-ed25519 AAAAC3Nza",
        path: "/srv/backups",
        keep: 10,
        privateKey: undefined,
      },
    );
    assert.equal(secretInput(ssh.privateKey).value, ALL_SECRETS.sshPrivateKey);
    const archives = secretInput(dump.inputs.archives);
    assert.equal(archives.secret, true, "an archive's host holds the SSH key");
    const [uploads, config] = archives.value as Record<string, unknown>[];
    assert.deepEqual(
      { ...uploads, host: { ...(uploads.host as object), privateKey: undefined } },
      {
        name: "uploads",
        path: "/srv/app/uploads",
        host: { host: "backup@10.0.0.9", port: 22, hostKey: "ssh-ed25519 AAAAC3Nza", privateKey: undefined },
        excludes: ["cache"],
        minFiles: 1,
      },
    );
    assert.equal(
      secretInput((uploads.host as Record<string, unknown>).privateKey).value,
      ALL_SECRETS.sshPrivateKey,
    );
    assert.deepEqual(config, { name: "config", path: "/etc/app", excludes: [], minFiles: 2 });
  });
});

describe("Rollout with command steps", () => {
  let mine: Registration[];
  let report: Report;
  const raw = minimalRawConfig({
    commands: [
      {
        name: "review-sql",
        at: "beforeBackup",
        run: "alembic upgrade head --sql",
        runsWhen: "onChange",
        cwd: "sample-app",
      },
      {
        name: "pm2-restart",
        at: "afterServices",
        run: ["pm2", "restart", "app"],
        env: { NODE_ENV: "production" },
        secretEnv: { API_TOKEN: "smokePassword" },
        outputMustContain: ["online"],
        revert: ["pm2", "stop", "app"],
      },
    ],
  });

  before(async () => {
    const rollout = newRollout("c", raw);
    report = await valueOf(rollout.report);
    await valueOf(rollout.reportFiles);
    mine = registrations.filter((r) => r.name.startsWith("c-"));
  });

  it("registers one command step a config entry", () => {
    assert.deepEqual(
      summary(mine.filter((r) => r.type.includes("ommand"))),
      [
        "pulumi-nodejs:dynamic/rollout:Command c-command-pm2-restart-run",
        "pulumi-nodejs:dynamic/rollout:Command c-command-review-sql-run",
        "rollout:commands:Command c-command-pm2-restart",
        "rollout:commands:Command c-command-review-sql",
      ].sort(),
    );
  });

  it("keys an every-release step to the release and the containers, an on-change step to nothing but itself", () => {
    const check = byName(mine, "c-check-health-run");
    assert.deepEqual(byName(mine, "c-command-pm2-restart-run").inputs.triggers, check.inputs.triggers);
    assert.deepEqual(byName(mine, "c-command-review-sql-run").inputs.triggers, []);
  });

  it("sends secret env values only as a secret, and the spec and revert without them", () => {
    const run = byName(mine, "c-command-pm2-restart-run").inputs;
    const secrets = secretInput(run.secrets);
    assert.equal(secrets.secret, true);
    assert.deepEqual(secrets.value, { env: { API_TOKEN: "smoke-pw" } });
    assert.ok(!JSON.stringify(run.spec).includes("smoke-pw"));
    assert.deepEqual(run.revert, ["pm2", "stop", "app"]);
    assert.deepEqual(byName(mine, "c-command-review-sql-run").inputs.secrets, { env: {} });
    assert.equal(
      (byName(mine, "c-command-review-sql-run").inputs.spec as { cwd: string }).cwd,
      path.join(ROOT, "sample-app"),
    );
  });

  it("lists each command in the report with the point it ran at", () => {
    assert.deepEqual(
      report.commands.map((c) => [c.name, c.at, c.host, c.exitCode]),
      [
        ["review-sql", "beforeBackup", "local", 0],
        ["pm2-restart", "afterServices", "local", 0],
      ],
    );
    assert.match(reportHtml(report), /<table id="commands">/);
  });
});

describe("Rollout with named secrets in checks and a log check", () => {
  it("hands a check's named secret over only as a secret, leaves a check without one plain, and adds the log check", async () => {
    const raw = minimalRawConfig({
      checks: [
        {
          name: "api",
          url: "http://127.0.0.1:18181/api",
          headers: { authorization: "Bearer {secret:apiToken}" },
          expectJson: { items: { type: "array", minLength: 1 } },
        },
        { name: "plain", url: "http://127.0.0.1:18181/health" },
      ],
      logCheck: {},
    });
    const config = loadConfig("test", raw, { ...present, apiToken: true });
    const secrets = Object.fromEntries(
      Object.entries({ ...ALL_SECRETS, apiToken: "the-api-token" }).map(([k, v]) => [k, pulumi.secret(v)]),
    );
    const rollout = new Rollout("ns", {
      config,
      stack: "test",
      secrets,
      projectDir: ROOT,
      now: IN_WINDOW,
      dryRun: false,
    });
    await valueOf(rollout.report);
    const api = secretInput(byName(registrations, "ns-check-api-run").inputs.spec);
    assert.equal(api.secret, true, "a spec holding a secret is sent as a secret");
    const spec = api.value as { headers: Record<string, string>; secrets: Record<string, string> };
    assert.deepEqual(spec.headers, { authorization: "Bearer {secret:apiToken}" });
    assert.deepEqual(spec.secrets, { apiToken: "the-api-token" });
    const plain = secretInput(byName(registrations, "ns-check-plain-run").inputs.spec);
    assert.equal(plain.secret, false);
    assert.ok(!JSON.stringify(plain.value).includes("the-api-token"));
    const logs = secretInput(byName(registrations, "ns-logcheck-logs-run").inputs.spec);
    assert.equal(
      logs.secret,
      true,
      "the log check holds the service's secrets, to keep them out of its messages",
    );
    assert.deepEqual((logs.value as { forbid: string[] }).forbid, ["ERROR|FATAL"]);
  });
});

describe("Rollout on a Docker host over SSH", () => {
  it("gives the provider, the image build and the log check the host's files, never the key", async () => {
    const hostKey = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPtGzcaO6PjkloAtRoxulsRnDVPA6M3+B5PL8KApTjVp";
    const raw = minimalRawConfig({
      docker: { host: "ssh://deploy@198.18.0.2", ssh: { keySecret: "sshPrivateKey", hostKey } },
      logCheck: {},
    });
    const rollout = newRollout("dh", raw);
    await valueOf(rollout.report);
    const build = secretInput(byName(registrations, "dh-release-image").inputs.spec);
    assert.equal(build.secret, false, "the build spec holds no secret, so its diff stays readable");
    const host = (build.value as { dockerHost: { url: string; sshFolder: string } }).dockerHost;
    assert.equal(host.url, "ssh://deploy@198.18.0.2");
    assert.match(host.sshFolder, /\/rollout-docker-[0-9a-f]{16}$/);
    const logs = secretInput(byName(registrations, "dh-logcheck-logs-run").inputs.spec);
    assert.deepEqual((logs.value as { dockerHost: unknown }).dockerHost, host);
    const provider = registrations.find(
      (r) => r.type === "pulumi:providers:docker" && r.name === "dh-release-docker",
    );
    assert.ok(provider, "the release's docker provider is registered");
    assert.equal(provider.inputs.host, "ssh://deploy@198.18.0.2");
    // Provider inputs travel as strings: the list is JSON.
    const sshOpts = JSON.parse(provider.inputs.sshOpts as string) as string[];
    assert.ok(sshOpts.includes("StrictHostKeyChecking=yes"));
    assert.ok(sshOpts.includes(`UserKnownHostsFile=${host.sshFolder}/known_hosts`));
    for (const r of registrations.filter((r) => r.name.startsWith("dh-"))) {
      assert.ok(!JSON.stringify(r.inputs).includes("ssh-key-body"), `${r.type} ${r.name} holds no key`);
    }
  });
});
