// The DJ-System example's files must stay what its README says they are: valid stack config with its
// secrets encrypted, the runbook's migration with its verify queries and rollback script, and a
// README that maps every step of the runbook (docs/runbooks.md, D1-D92).
import yaml from "js-yaml";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { describe, it } from "node:test";
import { CONFIG_NAMESPACE, loadConfig } from "../../config";
import { projectFolder } from "../../deploy/cli";
import { loadMigrations } from "../../engines/migrations/files";
import { ROOT } from "../support/fixtures";

const EXAMPLE = path.join(ROOT, "examples", "dj-system");

/** Prod's secrets are set on the operator's machine, not committed: only their names are checked. */
const PROD_SECRETS = [
  "databasePassword",
  "appDatabasePassword",
  "maintenanceToken",
  "smokePassword",
  "approverPassword",
  "webhookUrl",
  "sshPrivateKey",
];

function stackFile(file: string) {
  const { config } = yaml.load(fs.readFileSync(path.join(EXAMPLE, file), "utf8")) as {
    config: Record<string, unknown>;
  };
  const plain: Record<string, unknown> = {};
  const secrets: Record<string, boolean> = {};
  for (const [key, value] of Object.entries(config)) {
    const short = key.slice(CONFIG_NAMESPACE.length + 1);
    // A named secret (`rollout:secrets.<name>`) is known by its name.
    if (value !== null && typeof value === "object" && "secure" in value)
      secrets[short.replace(/^secrets\./, "")] = true;
    else plain[short] = value;
  }
  const present =
    file === "Pulumi.prod.yaml" ? Object.fromEntries(PROD_SECRETS.map((k) => [k, true])) : secrets;
  return { plain, secrets, config: loadConfig("local", plain, present) };
}

describe("examples/dj-system", () => {
  for (const file of ["Pulumi.local.yaml", "v2-production.yaml", "Pulumi.prod.yaml"]) {
    it(`${file} is valid config, and every secret it names is set`, () => {
      const { config, secrets } = stackFile(file);
      assert.equal(config.migrations?.dir, "migrations");
      if (file !== "Pulumi.prod.yaml") {
        // Built here from app/ on the offline base image (prod pulls what CI built).
        assert.equal(config.app.build?.baseImage, "rollout/node-base:20.20.2");
        // Committed encrypted, so the example runs with its documented passphrase.
        for (const key of ["databasePassword", "appDatabasePassword", "maintenanceToken", "smokePassword"])
          assert.ok(secrets[key], `${file} holds rollout:${key} encrypted`);
        assert.ok(secrets.approverPassword, `${file} holds rollout:secrets.approverPassword`);
      }
    });
  }

  it("the runbook's release and prod share the checks, smoke steps and thresholds", () => {
    const local = stackFile("Pulumi.local.yaml").config;
    const prod = stackFile("Pulumi.prod.yaml").config;
    const names = (c: typeof local) => ({
      checks: c.checks.map((x) => x.name),
      sql: c.sqlChecks.map((x) => x.name),
      smoke: c.smokeTests.flatMap((x) => x.steps.map((s) => [s.name, s.expectStatus])),
      soak: { ...c.soak, durationSeconds: undefined },
      commands: c.commands.map((x) => x.name),
    });
    assert.deepEqual(names(prod), names(local));
    assert.equal(prod.window?.enforce, true);
    assert.deepEqual(prod.window?.days, ["mon", "tue", "wed", "thu"]);
    assert.deepEqual(prod.approvals.required, ["tech-lead"]);
    assert.ok(prod.notify);
    assert.deepEqual(local.soak, {
      durationSeconds: 10,
      intervalMs: 500,
      maxErrorRate: 0,
      maxP95Ms: 2000,
      requestTimeoutMs: 5000,
    });
  });

  it("016 is the runbook's migration: verify 4 and 0, its rollback script and the rollback's check", () => {
    const migrations = loadMigrations(path.join(EXAMPLE, "migrations"));
    assert.deepEqual(
      migrations.map((m) => m.name),
      ["015_approval_flow_v2", "016_extend_v1_remove_v2_approval_flow"],
    );
    const m016 = migrations[1];
    assert.deepEqual(
      m016.verify.map((q) => q.expect),
      ["4", "0", "5"],
    );
    assert.match(m016.down ?? "", /CREATE TABLE approval_flow_templates/);
    assert.deepEqual(
      m016.verifyDown?.map((q) => q.expect),
      ["approval_flow_templates", "4", "0"],
    );
    assert.deepEqual(m016.allow, ["drop-table"]);
  });

  it("the README maps every runbook step D1-D92 once", () => {
    const readme = fs.readFileSync(path.join(EXAMPLE, "README.md"), "utf8");
    const rows = [...readme.matchAll(/^\| (D\d+) +\|/gm)].map((m) => m[1]);
    assert.deepEqual(
      rows,
      Array.from({ length: 92 }, (_, i) => `D${i + 1}`),
    );
  });

  it("the deploy commands reach it with --cwd, taken from where the command was started", () => {
    const initCwd = process.env.INIT_CWD;
    try {
      process.env.INIT_CWD = path.join(ROOT, "examples");
      assert.equal(projectFolder("dj-system"), EXAMPLE);
      assert.equal(projectFolder(EXAMPLE), EXAMPLE);
      assert.equal(projectFolder(undefined), ROOT);
      assert.throws(
        () => projectFolder("dj-system/app"),
        (err: Error) =>
          err.message ===
          `--cwd dj-system/app: ${path.join(EXAMPLE, "app")} holds no Pulumi.yaml; give the folder of a project, e.g. --cwd examples/dj-system`,
      );
    } finally {
      if (initCwd === undefined) delete process.env.INIT_CWD;
      else process.env.INIT_CWD = initCwd;
    }
  });
});
