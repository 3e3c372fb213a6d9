// The TERP example (examples/terp) through the real CLI (Automation API) in its own project folder,
// with its committed stack file as the config and only what must differ on a test machine changed:
// names, the port, its own database, bucket and folders, and the window, which is the runbook's
// Tuesday-Thursday night in the README and open now here (still enforced). Like its production:
// tech-lead and dba approvals naming the release digest, the maintenance API with its bearer token
// required, the current service required after the first release, the dump verified locally and in
// S3, notices to a webhook. Release 1 goes up; a broken release fails its smoke test and leaves
// maintenance on; `npm run rollback --cwd examples/terp` brings release 1 back and it answers.
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import {
  CreateBucketCommand,
  DeleteBucketCommand,
  DeleteObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import yaml from "js-yaml";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { hashSources } from "../../engines/image/sources";
import { cli, tail, webhookListener } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { createMysqlDatabase, mysqlQuery, targetMysql } from "../support/mysql";
import { approved, enforcedWindow } from "../support/prodLike";

const EXAMPLE = path.join(ROOT, "examples", "terp");
/** The example's own address, replaced by the test's in every URL of its config. */
const EXAMPLE_BASE = "http://127.0.0.1:46510";
/** In this test's port range, away from the example's own port. */
const PORT = 46551;
const IMAGE = `rollout-itest-terp-${hashSources(EXAMPLE, ["app/src", "app/build.mjs", "app/Dockerfile"]).slice(0, 12)}`;
const PASSPHRASE = "integration-test";

type Config = Record<string, unknown>;

function s3() {
  const missing = ["ROLLOUT_S3_ENDPOINT", "ROLLOUT_S3_ACCESS_KEY", "ROLLOUT_S3_SECRET_KEY"].filter(
    (k) => !process.env[k],
  );
  if (missing.length > 0)
    throw new Error(`this test needs ${missing.join(", ")}; run \`eval "$(local-env/s3.sh env)"\` first`);
  return new S3Client({
    endpoint: process.env.ROLLOUT_S3_ENDPOINT,
    region: process.env.ROLLOUT_S3_REGION ?? "us-east-1",
    forcePathStyle: true,
    credentials: {
      accessKeyId: process.env.ROLLOUT_S3_ACCESS_KEY!,
      secretAccessKey: process.env.ROLLOUT_S3_SECRET_KEY!,
    },
  });
}

describe("the TERP example on MariaDB, configured like its production", () => {
  const suffix = randomBytes(3).toString("hex");
  const name = `terp-itest-${suffix}`;
  const appRole = `terp_itest_${suffix}`;
  const bucket = `terp-itest-${suffix}`;
  const base = `http://127.0.0.1:${PORT}`;
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-terp-itest-"));
  const backendUrl = `file://${path.join(work, "backend")}`;
  const maintenanceToken = randomBytes(12).toString("hex");
  const smokePassword = randomBytes(8).toString("hex");
  let stack: Stack;
  let database: string;
  let dropDatabase: (() => Promise<void>) | undefined;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  const t = {
    name,
    backendUrl,
    get stack() {
      return stack;
    },
    /** Replaces the non-secret config, keeping the secrets as set. */
    async setConfig(config: Config) {
      const settings = await stack.workspace.stackSettings(name);
      const secrets = Object.fromEntries(
        Object.entries(settings.config ?? {}).filter(
          ([, v]) => typeof v === "object" && v !== null && "secure" in v,
        ),
      );
      await stack.workspace.saveStackSettings(name, { ...settings, config: { ...secrets, ...config } });
    },
  };

  const health = async () => (await fetch(`${base}/health`)).json() as Promise<Record<string, unknown>>;
  const recorded = async () =>
    (await mysqlQuery<{ id: string }>("SELECT id FROM rollout_migrations ORDER BY id", [], database)).map(
      (r) => r.id,
    );
  const tables = async () =>
    (
      await mysqlQuery<{ t: string }>(
        "SELECT TABLE_NAME AS t FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME <> 'rollout_migrations' ORDER BY TABLE_NAME",
        [database],
      )
    ).map((r) => r.t);
  const copies = async () =>
    ((await s3().send(new ListObjectsV2Command({ Bucket: bucket }))).Contents ?? []).map((o) => o.Key!);

  /**
   * The committed stack file with this test's names, port, database, bucket and folders, and the
   * window open now; a release of 1.0.0 has no client notes (its schema has no such table), and a
   * first install has no service to check or switch to maintenance, and no tables to expect in
   * its dump, as the example's README says.
   */
  function config(version: string, id: string, schemaTarget: string, firstInstall = false): Config {
    const file = yaml.load(fs.readFileSync(path.join(EXAMPLE, "Pulumi.terp.yaml"), "utf8")) as {
      config: Config;
    };
    const c = JSON.parse(JSON.stringify(file.config).replaceAll(EXAMPLE_BASE, base)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const my = targetMysql();
    c["rollout:release"] = { id, image: `${IMAGE}:${version}`, schemaTarget };
    c["rollout:database"] = {
      ...c["rollout:database"],
      host: my.host,
      port: my.port,
      database,
      adminUser: my.user,
    };
    c["rollout:app"] = { ...c["rollout:app"], name, port: PORT, databaseRole: appRole };
    c["rollout:backup"] = {
      ...c["rollout:backup"],
      dir: path.join(work, "backups"),
      copies: [{ ...c["rollout:backup"].copies[0], endpoint: process.env.ROLLOUT_S3_ENDPOINT, bucket }],
    };
    c["rollout:window"] = enforcedWindow();
    c["rollout:report"] = { dir: path.join(work, "reports") };
    c["rollout:migrations"] = { ...c["rollout:migrations"], lockTimeoutSeconds: 5 };
    // The criteria stay as written; only the watch is short.
    c["rollout:soak"] = { ...c["rollout:soak"], durationSeconds: 3, intervalMs: 200 };
    if (version.startsWith("1.0.")) {
      const flow = c["rollout:smokeTests"][0];
      flow.steps = flow.steps.filter((s: { name: string }) => s.name !== "client notes");
    }
    if (firstInstall) {
      c["rollout:preflight"] = { ...c["rollout:preflight"], allowNoCurrentService: true };
      c["rollout:maintenance"] = { ...c["rollout:maintenance"], allowUnreachable: true };
      c["rollout:backup"] = { ...c["rollout:backup"], expectTables: [] };
    }
    return c;
  }

  before(async () => {
    ({
      connection: { database },
      drop: dropDatabase,
    } = await createMysqlDatabase("terp_itest"));
    await s3().send(new CreateBucketCommand({ Bucket: bucket }));
    hook = await webhookListener();
    fs.mkdirSync(path.join(work, "backend"));
    stack = await LocalWorkspace.createStack(
      { stackName: name, workDir: EXAMPLE },
      {
        envVars: {
          PULUMI_BACKEND_URL: backendUrl,
          PULUMI_CONFIG_PASSPHRASE: PASSPHRASE,
          PULUMI_SKIP_UPDATE_CHECK: "true",
        },
      },
    );
    const secrets: Record<string, string> = {
      "rollout:databasePassword": targetMysql().password,
      "rollout:appDatabasePassword": randomBytes(12).toString("hex"),
      "rollout:maintenanceToken": maintenanceToken,
      "rollout:smokePassword": smokePassword,
      "rollout:secrets.staffPassword": randomBytes(8).toString("hex"),
      "rollout:s3AccessKey": process.env.ROLLOUT_S3_ACCESS_KEY!,
      "rollout:s3SecretKey": process.env.ROLLOUT_S3_SECRET_KEY!,
      "rollout:webhookUrl": hook.url,
    };
    for (const [key, value] of Object.entries(secrets)) await stack.setConfig(key, { value, secret: true });
    await approved(t, config("1.0.0", `${name}-1`, "0001", true));
    await stack.up({ message: "release 1" });
  });

  after(async () => {
    try {
      await stack?.destroy({ onOutput: () => undefined });
      await stack?.workspace.removeStack(name);
    } finally {
      fs.rmSync(path.join(EXAMPLE, `Pulumi.${name}.yaml`), { force: true });
      fs.rmSync(work, { recursive: true, force: true });
      await mysqlQuery("DROP USER IF EXISTS ?@'%'", [appRole]).catch(() => undefined);
      await dropDatabase?.();
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
      const client = s3();
      for (const key of await copies().catch(() => []))
        await client.send(new DeleteObjectCommand({ Bucket: bucket, Key: key }));
      await client.send(new DeleteBucketCommand({ Bucket: bucket })).catch(() => undefined);
      await hook?.close();
    }
  });

  it("1. release 1 goes up in the example's folder: dump verified here and in S3, schema, checks, smoke flows, notices", async () => {
    assert.deepEqual(await recorded(), ["0001"]);
    assert.deepEqual(await tables(), ["clients", "inventory_batches", "orders", "sessions", "users"]);
    assert.deepEqual(await health(), { status: "ok", version: "1.0.0", maintenance: false });
    // eslint-disable-next-line @typescript-eslint/no-explicit-any
    const report = (await stack.outputs()).report.value as Record<string, any>;
    assert.match(
      report.backup.path,
      new RegExp(`^${work}/backups/${name}/${name}_${name}-1_\\d{8}T\\d{6}Z\\.dump$`),
    );
    assert.equal(report.backup.restoreTested, true);
    const keys = await copies();
    assert.ok(
      keys.some((k) => k.startsWith(`production/${name}/`) && k.endsWith(path.basename(report.backup.path))),
      `the dump is in the bucket: ${keys.join(", ")}`,
    );
    assert.deepEqual(
      hook.received.map((n) => n.event),
      ["start", "success"],
    );
    // The maintenance API wants its bearer token.
    const refused = await fetch(`${base}/admin/maintenance/enable`, { method: "POST" });
    assert.equal(refused.status, 401);
  });

  it("2. a broken release fails its smoke flow after the migration and leaves maintenance on", async () => {
    await approved(t, config("1.1.1", `${name}-2`, "0002"));
    await assert.rejects(stack.up({ message: "release 2" }), (err: Error) => {
      assert.match(
        err.message,
        /smoke test `critical-path` step `orders list` failed: GET \/orders expected status 200[^;]*; got status 500/,
      );
      return true;
    });
    assert.deepEqual(await recorded(), ["0001", "0002"], "the migration ran before the release failed");
    const h = await health();
    assert.equal(h.version, "1.1.1");
    assert.equal(h.maintenance, true, "maintenance stays on after a failure");
    assert.equal((await fetch(`${base}/orders`)).status, 503, "users get the maintenance answer");
  });

  it("3. npm run rollback --cwd examples/terp brings release 1 back: schema down, image back, maintenance off", async (ctx) => {
    const started = Date.now();
    const back = await cli(t, ["rollback", "--yes", "--cwd", EXAMPLE]);
    assert.equal(back.code, 0, tail(back.output));
    assert.match(back.output, new RegExp(`rolling back ${name}-2 \\(update \\d+, failed\\) -> ${name}-1`));
    assert.deepEqual(await recorded(), ["0001"]);
    assert.ok(!(await tables()).includes("client_notes"), "0002 was reverted with its down SQL");
    assert.deepEqual(await health(), { status: "ok", version: "1.0.0", maintenance: false });
    // The service answers its users again, without the bypass header.
    const login = await fetch(`${base}/login`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ username: "smoke", password: smokePassword }),
    });
    assert.equal(login.status, 200);
    const { token } = (await login.json()) as { token: string };
    const orders = await fetch(`${base}/orders`, { headers: { authorization: `Bearer ${token}` } });
    assert.equal(orders.status, 200);
    assert.ok(((await orders.json()) as unknown[]).length >= 1, "release 1's smoke order is still there");
    assert.ok(
      hook.received.some((n) => n.event === "rollback"),
      "the rollback notice went out",
    );
    ctx.diagnostic(
      `rollback of the broken release to release 1: ${((Date.now() - started) / 1000).toFixed(1)} s`,
    );
  });
});
