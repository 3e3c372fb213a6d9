// The DJ-System example (examples/dj-system) run as an operator runs it, on a stack configured like
// prod: its own stack files, migrations and service, through the real CLI in the example's folder.
// Release 1 is DJ-System before the runbook (V2 approval flows, migration 015); the runbook's
// release (migration 016 with its verify queries) first goes out as a build with a stale data
// layer, fails its smoke test and stays in maintenance; the rollback runs 016's down script and
// brings release 1 back; then the fixed build passes every check the runbook lists.
import yaml from "js-yaml";
import assert from "node:assert/strict";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { hashSources } from "../../engines/image/sources";
import { cli, tail, webhookListener } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { approved, enforcedWindow } from "../support/prodLike";
import { createTestStack, docker, query, targetDatabase, type TestStack } from "../support/stack";

const EXAMPLE = path.join(ROOT, "examples", "dj-system");
/** The example's port, database and container as its stack files name them; each test stack has its own. */
const FILE_BASE = "http://127.0.0.1:18090";
const FILE_CONTAINER = "dj-system-app";
/** Its own image repository, named by the service's sources, so a changed service gets new tags. */
const IMAGE = `exb-dj-system-${hashSources(EXAMPLE, ["app/src", "app/build.mjs", "app/Dockerfile"]).slice(0, 12)}`;

type Config = Record<string, unknown>;

/** A stack file's plain config (the secrets are set on the test stack), with `from` -> `to` in every string. */
function stackFile(file: string, swaps: [string, string][]): Config {
  const { config } = yaml.load(fs.readFileSync(path.join(EXAMPLE, file), "utf8")) as { config: Config };
  const swap = (v: unknown): unknown => {
    if (typeof v === "string") return swaps.reduce((s, [from, to]) => s.split(from).join(to), v);
    if (Array.isArray(v)) return v.map(swap);
    if (v !== null && typeof v === "object")
      return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, swap(x)]));
    return v;
  };
  return Object.fromEntries(
    Object.entries(config)
      .filter(([, v]) => !(v !== null && typeof v === "object" && "secure" in v))
      .map(([k, v]) => [k, swap(v)]),
  );
}

describe("the DJ-System example: up, a broken release, rollback", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  const db = () => ({ database: t.database });
  const base = () => `http://127.0.0.1:${t.appPort}`;
  const count = async (sql: string) => Number((await query<{ n: string }>(sql, [], db()))[0].n);
  const v2Tables = () =>
    count(
      `SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = 'public' AND table_name IN
       ('approval_flow_templates', 'approval_flow_steps', 'project_flow_assignments', 'project_flow_approvers')`,
    );
  const v1Columns = () =>
    count(
      `SELECT count(*) AS n FROM information_schema.columns WHERE table_name = 'approval_flows' AND column_name IN
       ('job_type_id', 'skip_approval', 'auto_assign_type', 'auto_assign_user_id')`,
    );
  const schemaVersion = async () =>
    (await query<{ v: string }>("SELECT max(id) AS v FROM rollout_migrations", [], db()))[0].v;
  const health = async () => (await fetch(`${base()}/api/health`)).json() as Promise<Record<string, unknown>>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any
  const report = async () => (await t.stack.outputs()).report.value as Record<string, any>;
  const runningImage = () => docker("inspect", "--format", "{{.Image}}", `${t.name}-app`);

  /** One of the example's stack files on this test stack, with prod's window, approvals and notices. */
  function release(file: string, version: string, id: string, prodLike: boolean): Config {
    const config = stackFile(file, [
      [FILE_BASE, base()],
      [FILE_CONTAINER, `${t.name}-app`],
    ]);
    const d = targetDatabase();
    const app = config["rollout:app"] as Config;
    return {
      ...config,
      "rollout:release": {
        id,
        image: `${IMAGE}:${version}`,
        schemaTarget: version === "1.0.0" ? "015" : "016",
      },
      "rollout:database": {
        host: d.host,
        port: d.port,
        database: t.database,
        adminUser: d.user,
        sslMode: "disable",
      },
      "rollout:app": { ...app, name: t.name, port: t.appPort, databaseRole: t.appRole },
      "rollout:backup": { ...(config["rollout:backup"] as Config), dir: t.backupDir },
      "rollout:report": { dir: t.reportDir },
      "rollout:soak": { ...(config["rollout:soak"] as Config), durationSeconds: 3 },
      "rollout:notify": {},
      ...(prodLike
        ? {
            "rollout:window": enforcedWindow(),
            "rollout:approvals": { required: ["tech-lead", "dba"], given: [] },
          }
        : {}),
    };
  }

  before(async () => {
    hook = await webhookListener();
    t = await createTestStack("itest-exb-dj", EXAMPLE);
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    await t.stack.setConfig("rollout:secrets.approverPassword", {
      value: `${t.smokePassword}-a`,
      secret: true,
    });
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await hook?.close();
    }
  });

  it("1. release 1 (V2, migration 015) installs with its verify queries, checks and smoke flow", async () => {
    await t.setConfig(release("v2-production.yaml", "1.0.0", `${t.name}-v2`, false));
    await t.stack.up({ message: "first install: V2" });
    assert.deepEqual(await health(), { status: "ok", version: "1.0.0", maintenance: false, database: "ok" });
    assert.equal(await schemaVersion(), "015");
    assert.equal(await v2Tables(), 4);
    const r = await report();
    assert.deepEqual(r.schema.applied, ["015_approval_flow_v2"]);
    assert.deepEqual(
      r.smokeTests[0].steps.map((s: { name: string; status: number }) => [s.name, s.status]),
      [
        ["login-requester", 200],
        ["login-approver", 200],
        ["create-job-normal", 201],
        ["approve-job", 200],
      ],
    );
    assert.equal(await count("SELECT count(*) AS n FROM jobs WHERE status = 'approved'"), 1);
  });

  it("2. the runbook's release built with a stale data layer fails its smoke test after 016 and stays in maintenance", async () => {
    await approved(t, release("Pulumi.local.yaml", "2.0.0", `${t.name}-v1x-stale`, true));
    await assert.rejects(
      t.stack.up({ message: "runbook release, stale build" }),
      /smoke test `approval-flow` step `create-job-normal` failed: POST \/api\/jobs expected status 201[\s\S]*got status 500[\s\S]*project_flow_assignments/,
    );
    // The migration and its verify queries held: 4 V1 columns, 0 V2 tables.
    assert.equal(await schemaVersion(), "016");
    assert.equal(await v1Columns(), 4);
    assert.equal(await v2Tables(), 0);
    assert.equal((await health()).maintenance, true, "a failed release leaves maintenance on");
    assert.equal((await fetch(`${base()}/`)).status, 503, "users are kept out");
  });

  it("3. rollback runs 016's down script, brings release 1's image back, the counts hold and the service answers", async (ctx) => {
    const approvedBefore = await count("SELECT count(*) AS n FROM jobs WHERE status = 'approved'");
    const run = await cli(t, ["rollback", "--yes", "--reason", "job creation answers 500 after 016"]);
    assert.equal(run.code, 0, tail(run.output));
    const seconds = Number(/rolled back to .* in ([\d.]+) s/.exec(run.output)?.[1]);
    ctx.diagnostic(`rollback took ${seconds} s (the runbook's goal: under 15 min)`);
    assert.ok(seconds < 900);
    assert.deepEqual(await health(), { status: "ok", version: "1.0.0", maintenance: false, database: "ok" });
    assert.equal(await schemaVersion(), "015");
    // The down script's verify queries: the V2 tables back, the V1 columns gone; and the data.
    assert.equal(await v2Tables(), 4);
    assert.equal(await v1Columns(), 0);
    assert.equal(await count("SELECT count(*) AS n FROM project_flow_assignments"), 5);
    assert.equal(await count("SELECT count(*) AS n FROM jobs WHERE status = 'approved'"), approvedBefore + 1);
    const r = await report();
    assert.equal(r.rollback.undoes, `${t.name}-v1x-stale`);
    assert.deepEqual(r.schema.reverted, ["016_extend_v1_remove_v2_approval_flow"]);
    assert.ok(r.backup, "a backup was taken before the down script");
    assert.equal(r.image.id, runningImage());
    assert.ok(hook.received.some((n) => n.event === "rollback"));
    // What users reach answers again.
    const jobs = await fetch(`${base()}/api/jobs`);
    assert.equal(jobs.status, 200);
    assert.equal((await fetch(`${base()}/`)).status, 200);
  });

  it("4. the fixed build passes every runbook check: verify 4 and 0, smoke statuses, backend status", async () => {
    await approved(t, release("Pulumi.local.yaml", "2.0.1", `${t.name}-v1x`, true));
    await t.stack.up({ message: "runbook release" });
    assert.deepEqual(await health(), { status: "ok", version: "2.0.1", maintenance: false, database: "ok" });
    assert.equal(await v1Columns(), 4);
    assert.equal(await v2Tables(), 0);
    const r = await report();
    assert.deepEqual(r.schema.applied, ["016_extend_v1_remove_v2_approval_flow"]);
    assert.deepEqual(r.checks.map((c: { name: string; passed: boolean }) => [c.name, c.passed]).sort(), [
      ["api-health", true],
      ["database-size", true],
      ["every-job-type-has-a-flow", true],
      ["frontend-page", true],
      ["job-types-present", true],
      ["jobs-response-time", true],
      ["logs", true],
      ["schema-version", true],
      ["v2-route-gone", true],
    ]);
    assert.deepEqual(
      r.smokeTests[0].steps.map((s: { name: string; status: number }) => [s.name, s.status]),
      [
        ["login-requester", 200],
        ["login-approver", 200],
        ["create-job-normal", 201],
        ["set-skip-approval-flow", 200],
        ["create-job-skip", 201],
        ["approve-job", 200],
      ],
    );
    const [status] = r.commands;
    assert.equal(status.name, "backend-status");
    assert.equal(status.exitCode, 0);
    assert.ok(status.outputTail.includes(`/${t.name}-app running restarts=0`), status.outputTail.join("\n"));
    assert.deepEqual(
      await query(
        "SELECT status, assignee_id IS NOT NULL AS assigned FROM jobs WHERE subject = 'Test Job - Skip'",
        [],
        db(),
      ),
      [{ status: "assigned", assigned: true }],
    );
    assert.equal((await fetch(`${base()}/api/approval-templates`, { method: "HEAD" })).status, 404);
  });
});
