// A release to a second Docker host over SSH, for real: the host in the network namespace that
// local-env/dockerhost.sh starts (its own dockerd, sshd on 198.18.0.2, key login only, host key
// pinned). On a stack configured like prod, the sample service's image is built on that host
// through the ssh transport, its container runs there (not on the local engine), the health checks
// and the log check reach it at 198.18.0.2, and a rollback brings the earlier image back on that
// host. The private key is nowhere in plain text, and no key file outlives an operation.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { cli, matchOut, tail, webhookListener } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { approved, prodLike } from "../support/prodLike";
import { onH2, removeFromH2, secondHost } from "../support/secondHost";
import { declaredSecrets, listFiles, secretLeaks } from "../support/secretScan";
import {
  containerState,
  createTestStack,
  sampleConfig,
  TEST_IMAGE,
  type Release,
  type TestStack,
} from "../support/stack";

const keyFolders = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("rollout-docker-"));
/** The port the service listens on in the namespace (46400-46499 are this test's). */
const PORT = 46410;

describe("a release to a second Docker host over SSH", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  const output: string[] = [];
  const base = () => `http://${secondHost().addr}:${PORT}`;
  const health = async () => (await fetch(`${base()}/health`)).json() as Promise<{ version: string }>;

  /** The stack's config for release `r` on the second host: every URL at 198.18.0.2, the service listening there. */
  const onSecondHost = (config: Record<string, unknown>): Record<string, unknown> => {
    const h2 = secondHost();
    const local = `http://127.0.0.1:${t.appPort}`;
    const moved = JSON.parse(JSON.stringify(config).replaceAll(local, base())) as Record<string, unknown>;
    const app = moved["rollout:app"] as Record<string, unknown>;
    delete moved["rollout:soak"];
    return {
      ...moved,
      "rollout:app": { ...app, port: PORT, env: { ...(app.env as object), HOST: h2.addr } },
      "rollout:docker": { host: h2.url, ssh: { keySecret: "dockerSshKey", hostKey: h2.hostKey } },
      "rollout:logCheck": { forbid: ["FATAL"], require: ["listening on"], timeoutSeconds: 10 },
      // What this test is not about, left out to keep it short: the restore test and the soak.
      "rollout:backup": { ...(moved["rollout:backup"] as object), restoreTest: false },
    };
  };
  const release = async (r: Release) => approved(t, onSecondHost(prodLike(t, r, `${t.name}-${r}`)));
  const up = (message: string) => t.stack.up({ message, onOutput: (o) => output.push(o) });

  before(async () => {
    secondHost();
    hook = await webhookListener();
    t = await createTestStack("dh-ssh");
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    await t.stack.setConfig("rollout:secrets.dockerSshKey", { value: secondHost().privateKey, secret: true });
    // A first install has no service to check or switch: the only time those are allowed.
    await t.setConfig(onSecondHost({ ...sampleConfig(t, "1.0.0"), "rollout:notify": {} }));
    await up("first install 1.0.0 on the second host");
  });
  after(async () => {
    try {
      // The provider reaches the host with files the program writes: destroy runs it.
      await t?.stack.destroy({ runProgram: true, onOutput: () => undefined });
    } finally {
      await t?.cleanup();
      await hook?.close();
      removeFromH2([`${t?.name}-app`], [`${t?.name}-state`]);
    }
  });

  it("1. builds the image on the second host over SSH and runs the service there, checked at 198.18.0.2", async () => {
    const imageId = onH2("image", "inspect", "--format", "{{.Id}}", `${TEST_IMAGE}:1.0.0`);
    assert.match(imageId, /^sha256:[0-9a-f]{64}$/);
    assert.equal(onH2("ps", "--filter", `name=^/${t.name}-app$`, "--format", "{{.State}}"), "running");
    assert.equal(containerState(`${t.name}-app`), "", "nothing of it runs on the local engine");
    assert.equal((await health()).version, "1.0.0");
    const r = (await t.stack.outputs()).report.value as {
      checks: { name: string; kind: string; passed: boolean; observed: string }[];
    };
    const passed = r.checks.filter((c) => c.passed).map((c) => `${c.kind}:${c.name}`);
    for (const c of ["http:health", "http:health-db", "logs:logs"]) {
      assert.ok(passed.includes(c), `${c} passed: ${JSON.stringify(r.checks)}`);
    }
  });

  it("2. a prod-like release 1.1.0 and a rollback on that host: the exact earlier image comes back", async () => {
    const first = onH2("image", "inspect", "--format", "{{.Id}}", `${TEST_IMAGE}:1.0.0`);
    await release("1.1.0");
    await up("release 1.1.0 on the second host");
    assert.equal((await health()).version, "1.1.0");
    assert.notEqual(onH2("inspect", "--format", "{{.Image}}", `${t.name}-app`), first);

    const run = await cli(t, ["rollback", "--yes"]);
    output.push(run.output);
    assert.equal(run.code, 0, tail(run.output));
    matchOut(run.output, /rolling back .*1\.1\.0 .*-> .*1\.0\.0/);
    assert.equal((await health()).version, "1.0.0");
    assert.equal(onH2("inspect", "--format", "{{.Image}}", `${t.name}-app`), first);
  });

  it("3. the provider's ssh options pin the host key, and the private key is nowhere in plain text", async () => {
    const files = [path.join(ROOT, `Pulumi.${t.name}.yaml`), ...listFiles(new URL(t.backendUrl).pathname)];
    const stateFile = files.find(
      (f) => f.endsWith(`${path.sep}${t.name}.json`) && f.includes(`${path.sep}stacks${path.sep}`),
    );
    assert.ok(stateFile, `the state file is among ${files.length} backend files`);
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as {
      checkpoint: { latest: { resources: { type: string; inputs?: Record<string, unknown> }[] } };
    };
    const provider = state.checkpoint.latest.resources.find((r) => r.type === "pulumi:providers:docker");
    const stored = provider?.inputs?.sshOpts;
    const sshOpts = (Array.isArray(stored) ? stored : JSON.parse(String(stored ?? "[]"))) as string[];
    assert.equal(provider?.inputs?.host, secondHost().url);
    for (const o of ["StrictHostKeyChecking=yes", "BatchMode=yes", "IdentitiesOnly=yes"]) {
      assert.ok(sshOpts.includes(o), `${o} in ${JSON.stringify(sshOpts)}`);
    }

    const key = secondHost().privateKey;
    const needles = key.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
    assert.ok(needles.length >= 2, "the key has body lines to look for");
    const texts = files.map((f) => [f, fs.readFileSync(f, "utf8")] as const);
    const said = output.join("");
    assert.ok(said.length > 1000);
    const outputs = JSON.stringify(await t.stack.outputs());
    for (const n of needles) {
      for (const [f, text] of texts) assert.ok(!text.includes(n), f);
      assert.ok(!said.includes(n), "up and rollback output");
      assert.ok(!outputs.includes(n), "stack outputs");
    }
    const secrets = await declaredSecrets(t.stack);
    assert.ok("rollout:secrets.dockerSshKey" in secrets);
    assert.deepEqual(
      secretLeaks(secrets, [...texts, ["output", said], ["outputs", outputs]]),
      [],
      "a secret is in plain text",
    );
    // The key folder lasts one operation: its watcher removes it within a second or two of the end.
    for (let i = 0; i < 30 && keyFolders().length > 0; i++) await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(keyFolders(), [], "no key folder outlives its operation");
  });
});
