// The example project folders (examples/<name>/) run the root's program with their own stack file:
// their Pulumi.yaml must declare the same config as the root's (Pulumi makes declared keys
// required), their stack file must be valid config, and it must say what its runbook says.
import yaml from "js-yaml";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import os from "node:os";
import { describe, it } from "node:test";
import { CONFIG_NAMESPACE, loadConfig, probeUrls, watchThresholds } from "../../config";
import { ROOT } from "../support/fixtures";

const readYaml = (file: string) => yaml.load(fs.readFileSync(file, "utf8")) as Record<string, unknown>;

/** A committed stack file of an example, validated as the program would, every secret it names present. */
function exampleStack(example: string, stack: string) {
  const file = readYaml(path.join(ROOT, "examples", example, `Pulumi.${stack}.yaml`));
  const raw = Object.fromEntries(
    Object.entries(file.config as Record<string, unknown>).map(([key, value]) => [
      key.slice(CONFIG_NAMESPACE.length + 1),
      value,
    ]),
  );
  const present = new Proxy({}, { get: () => true });
  return loadConfig(stack, raw, present);
}

/** An example folder is a project of the root's program: the same name, runtime and config. */
function assertRunsRootProgram(dir: string): void {
  const root = readYaml(path.join(ROOT, "Pulumi.yaml"));
  const example = readYaml(path.join(dir, "Pulumi.yaml"));
  assert.deepEqual(example.config, root.config);
  assert.equal(example.name, root.name);
  assert.deepEqual(example.runtime, root.runtime);
  assert.equal(example.main, "main.js");
  assert.match(fs.readFileSync(path.join(dir, "main.js"), "utf8"), /require\("\.\.\/\.\.\/main\.js"\)/);
}

describe("examples/terp", () => {
  const dir = path.join(ROOT, "examples", "terp");

  it("declares the root project's name, runtime and config, and runs the root's program", () =>
    assertRunsRootProgram(dir));

  it("is valid config on MariaDB with the runbook's window, approvals, maintenance API and two backup places", () => {
    const terp = exampleStack("terp", "terp");
    assert.equal(terp.database.engine, "mysql");
    assert.equal(terp.database.port, 53306);
    assert.deepEqual(terp.window, {
      enforce: true,
      days: ["tue", "wed", "thu"],
      start: "22:00",
      end: "02:00",
      timeZone: "America/New_York",
    });
    assert.deepEqual(terp.approvals.required, ["tech-lead", "dba"]);
    assert.equal(terp.maintenance?.enableUrl, "http://127.0.0.1:46510/admin/maintenance/enable");
    assert.equal(terp.maintenance?.disableUrl, "http://127.0.0.1:46510/admin/maintenance/disable");
    assert.deepEqual([terp.maintenance?.onMethod, terp.maintenance?.offMethod], ["POST", "POST"]);
    assert.equal(terp.maintenance?.tokenSecret, "maintenanceToken");
    assert.equal(terp.preflight.allowNoCurrentService, false);
    assert.equal(terp.backup?.restoreTest, true);
    assert.deepEqual(
      terp.backup?.copies.map((c) => c.kind),
      ["s3"],
    );
    assert.equal(terp.backup?.requiredCopies, 2, "the local dump and the S3 copy must both verify");
  });

  it("writes the rollback criteria down as the thresholds the soak and deploy --watch judge", () => {
    const terp = exampleStack("terp", "terp");
    assert.deepEqual(probeUrls(terp), ["http://127.0.0.1:46510/health"]);
    const { maxErrorRate, maxP95Ms } = watchThresholds(terp);
    assert.equal(maxErrorRate, 0.05);
    assert.equal(maxP95Ms, 300);
  });

  it("builds its service from app/ on the offline base image", () => {
    const terp = exampleStack("terp", "terp");
    assert.equal(terp.app.build?.context, "app");
    assert.equal(terp.app.build?.baseImage, "rollout/node-base:20.20.2");
    assert.ok(fs.existsSync(path.join(dir, "app", "Dockerfile")));
    assert.ok(fs.existsSync(path.join(dir, terp.migrations!.dir, "0001_create_terp.up.sql")));
  });
});

describe("examples/warungin", () => {
  const dir = path.join(ROOT, "examples", "warungin");
  const warungin = () => exampleStack("warungin", "production");

  it("declares the root project's name, runtime and config, and runs the root's program", () =>
    assertRunsRootProgram(dir));

  it("runs the runbook's services on the server over SSH, in its order, each health-gated before its dependants", () => {
    const w = warungin();
    assert.equal(w.docker?.host, "ssh://root@198.18.0.2");
    assert.equal(w.docker?.ssh?.keySecret, "serverKey");
    const deps = Object.fromEntries([
      ["app", w.app.dependsOn],
      ...w.services.map((s) => [s.name, s.dependsOn]),
    ]);
    assert.deepEqual(deps, {
      app: ["redis"],
      redis: [],
      frontend: ["redis"],
      nginx: ["app", "frontend"],
      loki: ["nginx"],
      promtail: ["loki"],
      cloudflared: ["nginx"],
    });
    assert.deepEqual(
      w.services.filter((s) => s.keep).map((s) => s.name),
      ["redis", "loki"],
    );
    for (const s of [
      w.app,
      ...w.services.filter((x) => ["redis", "frontend", "nginx", "loki"].includes(x.name)),
    ]) {
      assert.ok(s.healthcheck, "a service others depend on has a health check");
    }
    for (const s of w.services) assert.equal(s.build?.context, "app", s.name);
  });

  it("says what the runbook says: four sign-offs, zero active sessions, the tar of the app directory, the 403", () => {
    const w = warungin();
    assert.deepEqual(w.approvals.required, ["qa-lead", "security-lead", "tech-lead", "product-manager"]);
    assert.equal(w.window?.enforce, true);
    assert.deepEqual(
      w.preflight.gates.map((g) => [g.name, g.expect, g.appliesTo]),
      [["zero-active-sessions", "0", "forward"]],
    );
    const [archive] = w.backup!.archives;
    assert.deepEqual(
      [archive.name, archive.path, archive.host?.host],
      ["app-dir", "/root/New-Warungin", "root@198.18.0.2"],
    );
    assert.equal(w.backup?.restoreTest, true);
    const steps = w.smokeTests[0].steps;
    assert.equal(steps.find((s) => s.name === "other-store-forbidden")?.expectStatus, 403);
    assert.equal(steps.find((s) => s.name === "2fa-not-bypassable")?.expectStatus, 401);
    assert.deepEqual(w.logCheck?.forbid, ["[Ee][Rr][Rr][Oo][Rr]|FATAL"]);
    for (const migration of ["0001_create_warungin", "0002_security_fixes", "0003_store_regions"]) {
      assert.ok(fs.existsSync(path.join(dir, "migrations", `${migration}.down.sql`)), migration);
    }
  });
});

describe("--cwd of the deploy commands", () => {
  it("refuses a folder without a Pulumi.yaml, naming it and the fix, before opening any stack", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-no-project-"));
    try {
      const run = spawnSync(
        process.execPath,
        ["--import", "tsx", path.join(ROOT, "deploy", "cli.ts"), "history", "--stack", "terp", "--cwd", dir],
        { cwd: ROOT, encoding: "utf8", env: { ...process.env, INIT_CWD: ROOT } },
      );
      assert.equal(run.status, 2, run.stderr);
      assert.equal(
        run.stderr.trim(),
        `error: --cwd ${dir}: ${dir} holds no Pulumi.yaml; give the folder of a project, e.g. --cwd examples/dj-system`,
      );
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
