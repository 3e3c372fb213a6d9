// The engine floor: a no-op `pulumi preview` and `pulumi up` of the bench stack against a minimal
// program with as many ComponentResources as the bench stack has resources, precompiled (plain
// JavaScript, `typescript: false`), run by the same CLI binary on the same kind of file backend.
// Both run as a user types them, `pulumi` in the program's folder, so the figures hold whether the
// project's program ships as TypeScript or precompiled.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import type { TestStack } from "../tests/support/stack";
import { alternate, log, ROOT, run, stats, type Figure } from "./lib";
import { benchEnv } from "./stack";

/** A minimal program of `components` ComponentResources in its own folder, with its own stack. */
export interface FloorProgram {
  readonly dir: string;
  readonly stack: string;
  readonly env: NodeJS.ProcessEnv;
  cleanup(): void;
}

/**
 * Writes and deploys a minimal JavaScript program; `providers` adds a docker and a postgresql
 * provider resource (their SDKs load and their plugins start, as the project's program has them).
 */
export async function floorProgram(components: number, providers = false): Promise<FloorProgram> {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-bench-floor-"));
  fs.mkdirSync(path.join(dir, "backend"));
  fs.symlinkSync(path.join(ROOT, "node_modules"), path.join(dir, "node_modules"));
  fs.writeFileSync(
    path.join(dir, "Pulumi.yaml"),
    "name: bench-floor\nruntime:\n  name: nodejs\n  options:\n    typescript: false\nmain: index.js\n",
  );
  fs.writeFileSync(path.join(dir, "package.json"), '{ "name": "bench-floor", "private": true }\n');
  fs.writeFileSync(
    path.join(dir, "index.js"),
    `"use strict";
const pulumi = require("@pulumi/pulumi");
${
  providers
    ? `const docker = require("@pulumi/docker");
const postgresql = require("@pulumi/postgresql");
new docker.Provider("docker", { host: "unix:///var/run/docker.sock" });
new postgresql.Provider("postgresql", { host: "127.0.0.1", sslmode: "disable", superuser: false });
`
    : ""
}
class Part extends pulumi.ComponentResource {
  constructor(name) {
    super("bench:floor:Part", name, {}, {});
    this.registerOutputs({});
  }
}
for (let i = 0; i < ${components}; i++) new Part("part-" + i);
`,
  );
  const env = {
    PULUMI_BACKEND_URL: `file://${path.join(dir, "backend")}`,
    PULUMI_CONFIG_PASSPHRASE: "bench-floor",
    PULUMI_SKIP_UPDATE_CHECK: "true",
  };
  const stack = "floor";
  await run("pulumi", ["stack", "init", stack, "--non-interactive"], { cwd: dir, env });
  await run("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", stack], {
    cwd: dir,
    env,
  });
  return { dir, stack, env, cleanup: () => fs.rmSync(dir, { recursive: true, force: true }) };
}

/** The resources of a stack's last update, from `pulumi stack export`, without the stack itself. */
export async function countResources(
  cwd: string,
  stack: string,
  env: NodeJS.ProcessEnv,
): Promise<{ count: number; byKind: string }> {
  const out = await run("pulumi", ["stack", "export", "--stack", stack], { cwd, env });
  const exported = JSON.parse(out.output) as { deployment: { resources?: { type: string }[] } };
  const resources = (exported.deployment.resources ?? []).filter((r) => r.type !== "pulumi:pulumi:Stack");
  const kinds = new Map<string, number>();
  for (const { type } of resources) {
    const kind = type.startsWith("pulumi-nodejs:dynamic")
      ? "dynamic (run-once steps)"
      : type.startsWith("pulumi:providers:")
        ? "providers"
        : type.startsWith("rollout:")
          ? "components"
          : type.split(":")[0];
    kinds.set(kind, (kinds.get(kind) ?? 0) + 1);
  }
  const byKind = [...kinds].map(([kind, n]) => `${n} ${kind}`).join(", ");
  return { count: resources.length, byKind };
}

/**
 * Where one `pulumi preview` spends its time, from the timestamps of its own verbose log: CLI start
 * up to the language host's Run, the Node.js runtime up to the stack resource, loading the program
 * (for TypeScript, compiling it) up to its first resource, the registrations and diffs up to the
 * program's end, and the rest up to the exit.
 */
export async function previewProfile(cwd: string, stack: string, env: NodeJS.ProcessEnv): Promise<string> {
  const started = Date.now();
  const out = await run(
    "pulumi",
    ["preview", "--non-interactive", "--stack", stack, "-v=7", "--logtostderr"],
    { cwd, env },
  );
  const ended = started + out.ms;
  const lines = out.stderr
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => {
      try {
        return JSON.parse(l) as { time?: string; msg?: string };
      } catch {
        return {};
      }
    })
    .filter(
      (l): l is { time: string; msg: string } => typeof l.time === "string" && typeof l.msg === "string",
    );
  const at = (test: (msg: string) => boolean, from = 0) => {
    const i = lines.findIndex((l, n) => n >= from && test(l.msg));
    return i < 0 ? undefined : { i, t: Date.parse(lines[i].time) };
  };
  const runStart = at((m) => m.startsWith("langhost[nodejs].Run(") && m.endsWith("executing"));
  const stackReg = at((m) =>
    m.startsWith("ResourceMonitor.RegisterResource received: t=pulumi:pulumi:Stack"),
  );
  const firstRes =
    stackReg && at((m) => m.startsWith("ResourceMonitor.RegisterResource received:"), stackReg.i + 1);
  const runEnd = at((m) => m.startsWith("langhost[nodejs].Run(") && m.includes("progerr="));
  if (!runStart || !stackReg || !runEnd) return "(the verbose log lacked the language host's lines)";
  const part = (a: number, b: number) => `${((b - a) / 1000).toFixed(2)} s`;
  return [
    `CLI start ${part(started, runStart.t)}`,
    `Node.js and the Pulumi SDK ${part(runStart.t, stackReg.t)}`,
    `program load ${firstRes ? part(stackReg.t, firstRes.t) : "-"}`,
    `registrations and diffs ${firstRes ? part(firstRes.t, runEnd.t) : part(stackReg.t, runEnd.t)}`,
    `after the program ${part(runEnd.t, ended)}`,
    `total ${part(started, ended)} (with verbose logging)`,
  ].join(", ");
}

const preview = (cwd: string, stack: string, env: NodeJS.ProcessEnv) => async () =>
  (await run("pulumi", ["preview", "--non-interactive", "--stack", stack], { cwd, env })).ms;
const up = (cwd: string, stack: string, env: NodeJS.ProcessEnv) => async () =>
  (
    await run("pulumi", ["up", "--yes", "--skip-preview", "--non-interactive", "--stack", stack], {
      cwd,
      env,
    })
  ).ms;

/** No-op preview and no-op up of the bench stack (already rolled out) against the engine floor. */
export async function engineFloor(t: TestStack, runs: number): Promise<Figure[]> {
  const env = benchEnv(t);
  const { count, byKind } = await countResources(ROOT, t.name, env);
  log(`engine floor: the bench stack has ${count} resources besides the stack; writing the floor program`);
  const floor = await floorProgram(count);
  const empty = await floorProgram(0);
  const withProviders = await floorProgram(count, true);
  try {
    const floorName = `${count} ComponentResources, plain JavaScript`;
    const previewFig = await alternate(
      "no-op preview",
      runs,
      preview(ROOT, t.name, env),
      preview(floor.dir, floor.stack, floor.env),
    );
    const upFig = await alternate(
      "no-op up",
      runs,
      up(ROOT, t.name, env),
      up(floor.dir, floor.stack, floor.env),
    );
    // Where the time goes: the CLI alone, an empty program, the floor with the provider SDKs loaded.
    const profile: [string, () => Promise<number>][] = [
      ["`pulumi version` (CLI start)", async () => (await run("pulumi", ["version"])).ms],
      ["`pulumi preview` of an empty JavaScript program", preview(empty.dir, empty.stack, empty.env)],
      [
        `\`pulumi preview\` of the floor plus a docker and a postgresql provider resource (plugins started)`,
        preview(withProviders.dir, withProviders.stack, withProviders.env),
      ],
      [
        "loading the program's modules in node with tsx (`require('./rollout')`, no engine)",
        async () => (await run("node", ["--import", "tsx", "-e", "require('./rollout')"])).ms,
      ],
    ];
    const notes: string[] = [
      `the bench stack's resources: ${byKind}`,
      `one \`pulumi preview -v=7\` of the bench stack: ${await previewProfile(ROOT, t.name, env)}`,
      `one \`pulumi preview -v=7\` of the floor: ${await previewProfile(floor.dir, floor.stack, floor.env)}`,
    ];
    for (const [what, side] of profile) {
      const samples: number[] = [];
      for (let i = 0; i < runs; i++) samples.push(await side());
      const s = stats(samples);
      log(`profile: ${what}: median ${(s.median / 1000).toFixed(2)} s`);
      notes.push(
        `${what}: median ${(s.median / 1000).toFixed(2)} s (min ${(s.min / 1000).toFixed(2)}, max ${(s.max / 1000).toFixed(2)})`,
      );
    }
    return [
      {
        name: "no-op preview",
        product: `\`pulumi preview\` of the bench stack (${count} resources)`,
        floor: floorName,
        ...previewFig,
        target: 1.3,
        notes,
      },
      {
        name: "no-op up",
        product: `\`pulumi up --yes --skip-preview\` of the bench stack (${count} resources)`,
        floor: floorName,
        ...upFig,
      },
    ];
  } finally {
    floor.cleanup();
    empty.cleanup();
    withProviders.cleanup();
  }
}
