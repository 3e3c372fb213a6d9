// Several services in one release, on a stack configured like prod: a long-lived store the app
// depends on, the app, and an edge in front of it. The start order and the health gating are read
// from the Docker engine's own events; a store that never turns healthy keeps the app and the edge
// from starting; a rollback runs every service's previous image again; no secret leaks.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, matchOut, tail, webhookListener } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { approved, prodLike } from "../support/prodLike";
import { declaredSecrets, listFiles, secretLeaks } from "../support/secretScan";
import { createTestStack, docker, freePort, query, sampleConfig, type TestStack } from "../support/stack";

/** A container event as `docker events` prints it: what happened to which container, when (ns). */
interface EngineEvent {
  readonly service: string;
  readonly action: string;
  readonly at: bigint;
}

/** Node one-liner that exits 0 when `url` answers 2xx: a health check the base image can run. */
const probe = (url: string) =>
  `node -e "fetch('${url}').then(r => process.exit(r.ok ? 0 : 1), () => process.exit(1))"`;

describe("several services in one release", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  let storePort: number;
  let edgePort: number;
  /** The image ids the good release's containers ran, read from the engine after it. */
  let goodImages: Record<string, string>;
  const storeToken = randomBytes(12).toString("hex");
  const events: unknown[] = [];
  const failures: string[] = [];
  const container = (service: string) => `${t.name}-${service}`;
  const inspect = (service: string, format: string) =>
    docker("inspect", "--format", format, container(service));
  const report = async () => (await t.stack.outputs()).report.value as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

  /** The release: the app (sample 1.x) needing the store, the edge (its own version) needing the app. */
  function release(app: "1.0.0" | "1.1.0", edgeVersion: string, storeReadyAfterMs = 3000, id = "") {
    const config = prodLike(t, app, `${t.name}-${app}-edge-${edgeVersion}${id}`);
    // Nor is the soak: its latency limit would judge this machine's load, not the services.
    delete config["rollout:soak"];
    const sample = config["rollout:app"] as Record<string, unknown>;
    const build = {
      context: path.join(ROOT, "tests", "support", "services"),
      baseImage: "rollout/node-base:local",
    };
    const image = `rollout-itest-svc-${t.name}`;
    return {
      ...config,
      // The backup is not what this file tests: no restore test, to keep it short.
      "rollout:backup": { ...(config["rollout:backup"] as object), restoreTest: false },
      "rollout:app": {
        ...sample,
        dependsOn: ["store"],
        healthcheck: {
          command: probe(`http://127.0.0.1:${t.appPort}/health`),
          // A node process per probe is slow on a busy machine: room enough not to flap.
          timeoutSeconds: 20,
          waitSeconds: 90,
        },
      },
      "rollout:services": [
        {
          name: "edge",
          image: `${image}:${edgeVersion}`,
          build,
          env: { ROLE: "edge", PORT: String(edgePort), UPSTREAM: `http://127.0.0.1:${t.appPort}` },
          dependsOn: ["app"],
        },
        {
          name: "store",
          image: `${image}:store-1`,
          build,
          keep: true,
          env: { ROLE: "store", PORT: String(storePort), READY_AFTER_MS: String(storeReadyAfterMs) },
          secretEnv: { STORE_TOKEN: "storeToken" },
          healthcheck: {
            command: probe(`http://127.0.0.1:${storePort}/ready`),
            timeoutSeconds: 20,
            waitSeconds: 25,
          },
        },
      ],
    };
  }

  /** The engine's container events for this stack's containers between two times. */
  function engineEvents(since: Date, until: Date): EngineEvent[] {
    const out = execFileSync(
      "docker",
      [
        "events",
        "--since",
        String(Math.floor(since.getTime() / 1000)),
        "--until",
        String(Math.ceil(until.getTime() / 1000) + 1),
        "--filter",
        "type=container",
        "--format",
        "{{json .}}",
      ],
      { encoding: "utf8" },
    );
    return out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map(
        (l) => JSON.parse(l) as { Action: string; timeNano: number; Actor: { Attributes: { name: string } } },
      )
      .filter((e) => e.Actor.Attributes.name?.startsWith(`${t.name}-`))
      .map((e) => ({
        service: e.Actor.Attributes.name.slice(t.name.length + 1),
        action: e.Action,
        // timeNano is past 2^53: read it from the raw line to keep every digit.
        at: BigInt(String(e.timeNano)),
      }));
  }
  const first = (all: EngineEvent[], service: string, action: string) => {
    const found = all.find((e) => e.service === service && e.action.startsWith(action));
    assert.ok(
      found,
      `no "${action}" event of ${service} among ${all.map((e) => `${e.service}:${e.action}`).join(", ")}`,
    );
    return found.at;
  };
  const up = async (message: string) => {
    try {
      return await t.stack.up({ message, onEvent: (e) => events.push(e) });
    } catch (err) {
      failures.push(String(err));
      throw err;
    }
  };

  before(async () => {
    hook = await webhookListener();
    t = await createTestStack("itest-svc");
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    [storePort, edgePort] = [await freePort(), await freePort()];
    await t.stack.setConfig("rollout:secrets.storeToken", { value: storeToken, secret: true });
    // A first install: nothing is running yet to check or switch.
    const first = release("1.0.0", "1.0.0");
    await t.setConfig({
      ...first,
      "rollout:preflight": sampleConfig(t)["rollout:preflight"],
      "rollout:maintenance": sampleConfig(t)["rollout:maintenance"],
      "rollout:approvals": { required: [], given: [] },
    });
    await up("first install");
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      for (const s of ["edge", "store"]) spawnQuiet("docker", ["rm", "-f", container(s)]);
      const tags = spawnQuiet("docker", [
        "images",
        "--format",
        "{{.Repository}}:{{.Tag}}",
        `rollout-itest-svc-${t?.name}`,
      ]);
      for (const tag of tags.split("\n").filter(Boolean)) spawnQuiet("docker", ["rmi", "-f", tag]);
      await hook?.close();
    }
  });

  it("starts store, app and edge in dependency order, each only once what it needs is healthy", async () => {
    await approved(t, release("1.1.0", "1.0.1"));
    const started = new Date();
    await up("release 1.1.0 with edge 1.0.1");
    const all = engineEvents(started, new Date());
    // The store is kept: a new release does not restart it.
    const lifecycle = ["create", "start", "stop", "kill", "die", "destroy"];
    assert.deepEqual(
      all.filter((e) => e.service === "store" && lifecycle.includes(e.action)).map((e) => e.action),
      [],
      "the kept store was left alone",
    );
    const appStart = first(all, "app", "start");
    const appHealthy = first(all, "app", "health_status: healthy");
    const edgeStart = first(all, "edge", "start");
    assert.ok(appStart < appHealthy, "the app turns healthy after it starts");
    assert.ok(appHealthy < edgeStart, "the edge starts only after the app is healthy");
    const r = await report();
    assert.deepEqual(
      r.services.map((s: { name: string; state: string; kept: boolean }) => [s.name, s.state, s.kept]),
      [
        ["store", "running, healthy", true],
        ["app", "running, healthy", false],
        ["edge", "running", false],
      ],
    );
    const edge = r.services.find((s: { name: string }) => s.name === "edge");
    assert.match(edge.imageBefore, /:1\.0\.0$/);
    assert.match(edge.image, /:1\.0\.1$/);
    const answer = (await (await fetch(`http://127.0.0.1:${edgePort}/`)).json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(answer.version, "1.0.1");
    assert.equal(answer.upstream.version, "1.1.0");
    goodImages = Object.fromEntries(["store", "app", "edge"].map((s) => [s, inspect(s, "{{.Image}}")]));
  });

  it("holds the app and the edge back when the store never turns healthy, and says which service failed", async () => {
    const storeBefore = inspect("store", "{{.Id}}");
    // The store's own settings change (so it is recreated), and it is never ready.
    // A new release id: the app and the edge are recreated too, so they would start again.
    // And a new edge image, so the way back has an image to undo.
    const broken = release("1.1.0", "1.0.2", 3_600_000, "-store-never-ready");
    await approved(t, broken);
    // The plan recreates the app and the edge too (a new release id): only the store holds them back.
    const plan = (await t.stack.preview()).stdout;
    for (const service of ["app", "edge"])
      assert.match(
        plan,
        new RegExp(`\\+-\\s+docker:index:Container\\s+\\S*release-${service}\\s+replace`),
        plan.slice(-3000),
      );
    const started = new Date();
    await assert.rejects(up("a store that never turns healthy"), (err: Error) => {
      assert.match(err.message, /store/);
      assert.match(err.message, /health|healthy/i);
      return true;
    });
    const all = engineEvents(started, new Date());
    first(all, "store", "start");
    assert.ok(!all.some((e) => e.service === "store" && e.action === "health_status: healthy"));
    for (const service of ["app", "edge"]) {
      const seen = all.filter((e) => e.service === service).map((e) => e.action);
      // No new container was made or started; the old one stays as it was, under maintenance.
      assert.ok(
        !seen.includes("create") && !seen.includes("start"),
        `${service} did not start: ${seen.join(", ")}`,
      );
    }
    assert.notEqual(
      spawnQuiet("docker", ["inspect", "--format", "{{.Id}}", container("store")]),
      storeBefore,
    );
  });

  it("rolls back to the last good release, running every service's image id from then", async () => {
    const run = await cli(t, ["rollback", "--yes"]);
    assert.equal(run.code, 0, tail(run.output));
    matchOut(run.output, /rolling back/);
    const r = await report();
    const reported = Object.fromEntries(
      r.services.map((s: { name: string; imageId: string }) => [s.name, s.imageId] as const),
    );
    // The edge's tag 1.0.1 was not rebuilt: the id the good release ran came back.
    assert.notEqual(
      spawnQuiet("docker", ["image", "inspect", "--format", "{{.Id}}", `rollout-itest-svc-${t.name}:1.0.2`]),
      goodImages.edge,
      "the broken release built another edge image",
    );
    for (const service of ["store", "app", "edge"]) {
      assert.equal(
        inspect(service, "{{.Image}}"),
        goodImages[service],
        `${service} runs the good release's image`,
      );
      assert.equal(reported[service], goodImages[service], `the report names ${service}'s image id`);
      assert.equal(
        inspect(service, "{{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}}"),
        service === "edge" ? "none" : "healthy",
      );
    }
    const answer = (await (await fetch(`http://127.0.0.1:${edgePort}/`)).json()) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    assert.equal(answer.version, "1.0.1");
    assert.equal(answer.upstream.version, "1.1.0");
  });

  it("keeps every declared secret, the store's token among them, out of state, events, outputs and reports", async () => {
    const secrets = await declaredSecrets(t.stack);
    assert.ok("rollout:secrets.storeToken" in secrets);
    // The token did reach the store.
    const store = (await (await fetch(`http://127.0.0.1:${storePort}/`)).json()) as { token: boolean };
    assert.equal(store.token, true);
    const files = [
      path.join(ROOT, `Pulumi.${t.name}.yaml`),
      ...listFiles(new URL(t.backendUrl).pathname),
      ...listFiles(t.reportDir),
    ];
    const texts: (readonly [string, string])[] = files.map((f) => [f, fs.readFileSync(f, "utf8")] as const);
    texts.push(["the stack outputs", JSON.stringify(await t.stack.outputs())]);
    texts.push(["the engine events", events.map((e) => JSON.stringify(e)).join("\n")]);
    texts.push(["the failed update", failures.join("\n")]);
    assert.ok(failures.length === 1, `one failure was recorded: ${failures.length}`);
    assert.deepEqual(secretLeaks(secrets, texts), []);
    assert.ok((await query("SELECT 1 AS one", [], { database: t.database })).length === 1);
  });
});

/** Runs a command, returning its trimmed stdout, or "" when it fails (a container already gone). */
function spawnQuiet(command: string, args: string[]): string {
  try {
    return execFileSync(command, args, { encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim();
  } catch {
    return "";
  }
}
