// Whole rollouts of the sample service on a real stack: the real CLI through the Automation API,
// real plugins, real PostgreSQL, real Docker engine. The steps build on each other, as releases do.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { readVersionSet } from "../../scripts/versions";
import { ROOT } from "../support/fixtures";
import { declaredSecrets, listFiles, secretLeaks } from "../support/secretScan";
import {
  containerState,
  createTestStack,
  query,
  sampleConfig,
  TEST_IMAGE,
  type TestStack,
} from "../support/stack";

interface Report {
  release: { id: string; image: string; schemaTarget: string };
  gates: { window: { open: boolean } | null; override: string | null };
  preflight: { databaseVersion: string };
  maintenance: { on: { outcome: string }; off: { outcome: string } } | null;
  backup: { path: string; bytes: number; sha256: string; tableCount: number; restoreTested: boolean } | null;
  schema: { version: string; direction: string; applied: string[]; reverted: string[] } | null;
  image: { before: string | null; after: string; id: string };
  checks: { name: string; kind: string; passed: boolean; observed: string; latencyMs: number }[];
  smokeTests: { name: string; steps: { name: string; status: number }[] }[];
  soak: { probes: number; errorRate: number } | null;
  phases: { phase: string; seconds: number }[];
}

const sha256 = (file: string) => createHash("sha256").update(fs.readFileSync(file)).digest("hex");

describe("the pinned toolchain", () => {
  const versions = readVersionSet(ROOT);

  it("runs pulumi v3.248.0", () => {
    assert.equal(
      execFileSync("pulumi", ["version"], { encoding: "utf8" }).trim(),
      `v${versions.pulumi.version}`,
    );
  });

  it("has the docker and postgresql plugins at the pinned versions", () => {
    const plugins = JSON.parse(execFileSync("pulumi", ["plugin", "ls", "--json"], { encoding: "utf8" })) as {
      name: string;
      kind: string;
      version: string;
    }[];
    for (const name of ["docker", "postgresql"]) {
      const version = versions.plugins[name].version;
      assert.ok(
        plugins.some((p) => p.kind === "resource" && p.name === name && p.version === version),
        `plugin ${name} ${version} is not installed: run toolchain/build.sh (found: ${JSON.stringify(plugins)})`,
      );
    }
  });
});

describe("rollouts of the sample service", () => {
  let t: TestStack;
  const schemaVersion = async () =>
    (
      await query<{ v: string | null }>("SELECT max(id) AS v FROM rollout_migrations", [], {
        database: t.database,
      })
    )[0].v;
  const health = async () =>
    (await fetch(`http://127.0.0.1:${t.appPort}/health`)).json() as Promise<Record<string, unknown>>;
  const backups = () => fs.readdirSync(path.join(t.backupDir, t.name)).filter((f) => f.endsWith(".dump"));

  before(async () => {
    t = await createTestStack("itest-rollout");
  });
  after(async () => {
    await t?.cleanup();
  });

  it("1. a fresh rollout of 1.0.0: verified backup, schema at target, 1.0.0 serving, checks passed, full report", async () => {
    const preview = await t.stack.preview({ diff: true });
    assert.match(
      preview.stdout,
      /#001 apply 0001_create_users_and_sessions\s*: \[.*"\s+CREATE TABLE users \("/s,
    );
    assert.equal(containerState(`${t.name}-app`), "", "preview must not start a container");

    const up = await t.stack.up({ message: "release 1.0.0" });
    assert.equal(up.summary.result, "succeeded");
    assert.equal(up.outputs.report.secret, false, "the report must not be a secret as a whole");
    const report = up.outputs.report.value as Report;

    assert.ok(report.backup, "the report names the backup");
    assert.ok(fs.existsSync(report.backup.path), `backup ${report.backup.path} exists`);
    assert.equal(sha256(report.backup.path), report.backup.sha256, "the recorded sha256 is the file's");
    assert.equal(report.backup.restoreTested, true);
    assert.equal(await schemaVersion(), "0002");
    assert.deepEqual(report.schema, {
      version: "0002",
      direction: "up",
      applied: ["0001_create_users_and_sessions", "0002_create_items"],
      reverted: [],
    });
    assert.deepEqual(await health(), { status: "ok", version: "1.0.0", maintenance: false });
    assert.deepEqual(
      report.checks.map((c) => [c.kind, c.name, c.passed, c.observed]),
      [
        ["http", "health", true, "HTTP 200"],
        ["http", "health-db", true, "HTTP 200"],
        ["sql", "schema-version", true, "0002"],
      ],
    );
    assert.deepEqual(
      report.smokeTests[0].steps.map((s) => [s.name, s.status]),
      [
        ["login", 200],
        ["create", 201],
        ["read", 200],
        ["delete", 204],
      ],
    );
    assert.equal(report.maintenance?.on.outcome, "unreachable", "a first install has no service to pause");
    assert.equal(report.maintenance?.off.outcome, "switched");
    assert.ok(report.soak && report.soak.probes > 0 && report.soak.errorRate === 0);
    assert.deepEqual(report.image, { before: null, after: `${TEST_IMAGE}:1.0.0`, id: report.image.id });
    assert.match(report.image.id, /^sha256:[0-9a-f]{64}$/);
    const phases = report.phases.map((p) => p.phase);
    for (const phase of [
      "preflight",
      "maintenance on",
      "backup",
      "schema",
      "checks and smoke tests",
      "soak",
    ]) {
      assert.ok(phases.includes(phase), `phase ${phase} is timed: ${phases.join(", ")}`);
    }
  });

  it("3. an up with nothing changed reports no changes and takes no backup", async () => {
    const before = backups();
    const up = await t.stack.up({ expectNoChanges: true, message: "no-op" });
    assert.deepEqual(Object.keys(up.summary.resourceChanges ?? {}), ["same"]);
    assert.deepEqual(backups(), before);
  });

  it("keeps secrets out of state, history, stack config, the report files and the summary in plain text", async () => {
    // The raw files: `pulumi stack export` through the Automation API decrypts secrets.
    const reports = listFiles(t.reportDir);
    assert.ok(
      reports.some((f) => f.endsWith("latest.md")) && reports.some((f) => f.endsWith("latest.html")),
      `the report files are among ${reports.join(", ")}`,
    );
    const files = [
      path.join(ROOT, `Pulumi.${t.name}.yaml`),
      ...listFiles(new URL(t.backendUrl).pathname),
      ...reports,
    ];
    assert.ok(
      files.some((f) => f.endsWith(`${t.name}.json`)),
      `the state file is among ${files.join(", ")}`,
    );
    const texts = files.map((file) => [file, fs.readFileSync(file, "utf8")] as const);
    texts.push(["the summary output", (await t.stack.outputs()).summary.value as string]);
    // Every secret the stack declares, the admin password included.
    const secrets = await declaredSecrets(t.stack);
    assert.ok(Object.keys(secrets).length >= 4, `the stack's secrets: ${Object.keys(secrets).join(", ")}`);
    assert.deepEqual(secretLeaks(secrets, texts), [], "a secret is in plain text");
  });

  it("2. 1.1.0: the preview shows the new migration's SQL and the image change; up applies them", async () => {
    await t.setConfig(sampleConfig(t, "1.1.0"));
    const preview = await t.stack.preview({ diff: true });
    assert.match(
      preview.stdout,
      /#001 apply 0003_add_item_status\s*: \[.*"\s+ALTER TABLE items ADD COLUMN status text NOT NULL DEFAULT 'open';"/s,
    );
    assert.match(preview.stdout, new RegExp(`${TEST_IMAGE}:1\\.0\\.0"?\\s*=>\\s*"?${TEST_IMAGE}:1\\.1\\.0`));
    const up = await t.stack.up({ message: "release 1.1.0" });
    const report = up.outputs.report.value as Report;
    assert.equal(await schemaVersion(), "0003");
    assert.deepEqual(report.schema?.applied, ["0003_add_item_status"]);
    assert.equal(report.image.before, `${TEST_IMAGE}:1.0.0`);
    assert.equal(report.image.after, `${TEST_IMAGE}:1.1.0`);
    assert.equal(report.maintenance?.on.outcome, "switched");
    assert.equal((await health()).version, "1.1.0");
  });

  it("5. an applied migration edited on disk fails the preview with the checksum message", async () => {
    const file = path.join(t.migrationsDir, "0003_add_item_status.up.sql");
    const original = fs.readFileSync(file, "utf8");
    fs.writeFileSync(file, `${original}\n-- edited after it was applied\n`);
    try {
      await assert.rejects(
        t.stack.preview(),
        /migration `0003_add_item_status` was applied with checksum [0-9a-f]{12}…, the file now hashes to [0-9a-f]{12}…; write a new migration instead of editing an applied one/,
      );
    } finally {
      fs.writeFileSync(file, original);
    }
  });

  it("4. a migration with an SQL error fails naming it and the database error; fixed, the next up succeeds", async () => {
    const broken = path.join(t.migrationsDir, "0005_add_item_notes.up.sql");
    fs.writeFileSync(broken, "ALTER TABLE items ADD COLUMN notes text;\nUPDATE itemz SET notes = '';\n");
    fs.writeFileSync(
      path.join(t.migrationsDir, "0005_add_item_notes.down.sql"),
      "ALTER TABLE items DROP COLUMN notes;\n",
    );
    const config = sampleConfig(t, "1.2.0");
    config["rollout:release"].schemaTarget = "0005";
    await t.setConfig(config);
    await assert.rejects(t.stack.up({ message: "release 1.2.0 with a broken migration" }), (err: Error) => {
      assert.match(
        err.message,
        /applying migration `0005_add_item_notes` failed: relation "itemz" does not exist/,
      );
      return true;
    });
    // 0004 went in and stays recorded; 0005 rolled back entirely (its column is not there).
    assert.equal(await schemaVersion(), "0004");
    const notes = await query(
      "SELECT 1 FROM information_schema.columns WHERE table_name = 'items' AND column_name = 'notes'",
      [],
      {
        database: t.database,
      },
    );
    assert.equal(notes.length, 0);
    assert.equal((await health()).maintenance, true, "maintenance stays on after a failure");

    fs.writeFileSync(broken, "ALTER TABLE items ADD COLUMN notes text;\nUPDATE items SET notes = '';\n");
    await t.stack.up({ message: "release 1.2.0, migration fixed" });
    assert.equal(await schemaVersion(), "0005");
    assert.deepEqual(await health(), { status: "ok", version: "1.2.0", maintenance: false });
  });

  it("6. a failing health check fails the update naming it, expected and received; maintenance stays on", async () => {
    const config = sampleConfig(t, "1.2.0", `${t.name}-1.2.0-b`);
    config["rollout:release"].schemaTarget = "0005";
    config["rollout:checks"][0] = {
      ...config["rollout:checks"][0],
      expectJson: { status: "ok", version: "9.9.9" },
      retries: 1,
    };
    await t.setConfig(config);
    await assert.rejects(t.stack.up({ message: "bad check" }), (err: Error) => {
      assert.match(
        err.message,
        /health check `health` failed: GET http:\/\/127\.0\.0\.1:\d+\/health expected status 200, status="ok", version="9\.9\.9", within 1000 ms; got version="1\.2\.0" \(expected "9\.9\.9"\) on attempt 2/,
      );
      return true;
    });
    assert.equal((await health()).maintenance, true);
  });

  it("8. a backup that fails verification stops the rollout before any migration runs", async () => {
    const config = sampleConfig(t, "1.2.0", `${t.name}-bad-backup`);
    config["rollout:release"].schemaTarget = "0004";
    config["rollout:backup"] = { ...config["rollout:backup"], minBytes: 1_000_000_000 };
    await t.setConfig(config);
    await assert.rejects(
      t.stack.up({ message: "backup floor too high" }),
      /under the floor of 1000000000 bytes/,
    );
    assert.equal(await schemaVersion(), "0005", "no migration may run after a failed backup");
  });

  it("7. outside an enforced window `up` refuses with the window message and preview warns", async () => {
    const now = new Date();
    const opens = new Date(now.getTime() + 3 * 3600_000);
    const hhmm = (d: Date) => d.toISOString().slice(11, 16);
    const day = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"][opens.getUTCDay()];
    const config = {
      ...sampleConfig(t, "1.2.0", `${t.name}-window`),
      "rollout:window": {
        days: [day],
        start: hhmm(opens),
        end: hhmm(new Date(opens.getTime() + 3600_000)),
        timeZone: "UTC",
      },
    };
    config["rollout:release"].schemaTarget = "0005";
    await t.setConfig(config);
    const preview = await t.stack.preview();
    assert.match(preview.stdout, /warning: refusing to roll out: outside the maintenance window/);
    await assert.rejects(
      t.stack.up({ message: "outside the window" }),
      /refusing to roll out: outside the maintenance window \(\w+ \d\d:\d\d-\d\d:\d\d UTC\)/,
    );
  });

  it("records one history entry per update, with its message", async () => {
    const history = await t.stack.history();
    const messages = history.filter((h) => h.kind === "update").map((h) => h.message);
    for (const m of ["release 1.0.0", "release 1.1.0", "release 1.2.0, migration fixed"])
      assert.ok(messages.includes(m), m);
  });
});

describe("bad config", () => {
  let t: TestStack;
  before(async () => {
    t = await createTestStack("itest-badcfg");
  });
  after(async () => {
    await t?.cleanup();
  });

  it("9. a missing key, a wrong type and a bad time zone give one clear error and create nothing", async () => {
    const config: Record<string, unknown> = {
      ...sampleConfig(t),
      "rollout:window": { days: ["tue"], start: "22:00", end: "02:00", timeZone: "Europe/Atlantis" },
    };
    (config["rollout:database"] as Record<string, unknown>).port = "fifty";
    delete (config["rollout:app"] as Record<string, unknown>).databaseRole;
    await t.setConfig(config);
    await assert.rejects(t.stack.up({ message: "bad config" }), (err: Error) => {
      assert.match(err.message, /stack config for `itest-badcfg-\w+` is invalid \(3 problems\)/);
      assert.match(
        err.message,
        /rollout:database\.port is invalid \(expected number, received string\): got "fifty"/,
      );
      assert.match(err.message, /rollout:app\.databaseRole is missing/);
      assert.match(
        err.message,
        /rollout:window\.timeZone is invalid \(timeZone "Europe\/Atlantis" is not an IANA time zone/,
      );
      return true;
    });
    const state = (await t.stack.exportStack()) as { deployment?: { resources?: { type: string }[] } };
    const created = (state.deployment?.resources ?? []).filter((r) => r.type !== "pulumi:pulumi:Stack");
    assert.deepEqual(created, [], "nothing but the stack itself may be recorded");
    assert.equal(containerState(`${t.name}-app`), "");
  });
});
