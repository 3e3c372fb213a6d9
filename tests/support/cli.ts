// Running the deploy/rollback/history commands as an operator does, and what their runs need: the
// output, the process tree (for kill -9), and a webhook listener on 127.0.0.1 for the notices.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import http from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { ROOT } from "./fixtures";
import type { TestStack } from "./stack";

export interface Cli {
  code: number | null;
  output: string;
}

/**
 * Runs deploy/cli.ts as the npm scripts do, against the test stack's backend. Asynchronous, so the
 * webhook listener in this process keeps answering while the command runs; `onOutput` sees the
 * output so far as it grows.
 */
export function cli(
  t: Pick<TestStack, "name" | "backendUrl"> & { readonly workDir?: string },
  args: string[],
  onOutput?: (output: string, child: ReturnType<typeof spawn>) => void,
): Promise<Cli> {
  return command("cli.ts", t, args, onOutput);
}

/** Runs deploy/migrations.ts (`npm run migrations`) as `cli` runs deploy/cli.ts. */
export function migrationsCli(t: TestStack, args: string[]): Promise<Cli> {
  return command("migrations.ts", t, args);
}

function command(
  script: string,
  t: Pick<TestStack, "name" | "backendUrl"> & { readonly workDir?: string },
  args: string[],
  onOutput?: (output: string, child: ReturnType<typeof spawn>) => void,
): Promise<Cli> {
  return new Promise((resolve) => {
    const child = spawn(
      process.execPath,
      [
        "--import",
        "tsx",
        path.join(ROOT, "deploy", script),
        ...args,
        "--stack",
        t.name,
        ...(t.workDir === undefined || t.workDir === ROOT ? [] : ["--cwd", t.workDir]),
      ],
      {
        cwd: ROOT,
        env: {
          ...process.env,
          PULUMI_BACKEND_URL: t.backendUrl,
          PULUMI_CONFIG_PASSPHRASE: "integration-test",
        },
      },
    );
    let output = "";
    const collect = (c: Buffer) => {
      output += c.toString();
      onOutput?.(output, child);
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.on("close", (code) => resolve({ code, output }));
  });
}

/** The end of a command's output, for assertion messages. */
export const tail = (text: string) =>
  [
    ...text
      .split("\n")
      .filter((line) => /error/i.test(line))
      .slice(0, 15),
    "...",
    text.slice(-2500),
  ].join("\n");
export const matchOut = (text: string, pattern: RegExp) =>
  assert.ok(pattern.test(text), `expected ${pattern}\n--- end of output ---\n${tail(text)}`);

/** Every process under `pid`, deepest first, read before any is killed (orphans get reparented). */
export function descendants(pid: number): number[] {
  const table = spawnSync("ps", ["-e", "-o", "pid=,ppid="], { encoding: "utf8" })
    .stdout.trim()
    .split("\n")
    .map((line) => line.trim().split(/\s+/).map(Number));
  const children = (p: number): number[] =>
    table.filter(([, ppid]) => ppid === p).flatMap(([child]) => [...children(child), child]);
  return children(pid);
}

/** Collects webhook posts on 127.0.0.1. */
export async function webhookListener() {
  const received: { event: string; release: string; text: string }[] = [];
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      received.push(JSON.parse(body) as { event: string; release: string; text: string });
      res.writeHead(200).end("ok");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hook`;
  return { received, url, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** The environment the pulumi CLI needs for the test stack's own backend. */
export const stackEnv = (t: TestStack): NodeJS.ProcessEnv => ({
  ...process.env,
  PULUMI_BACKEND_URL: t.backendUrl,
  PULUMI_CONFIG_PASSPHRASE: "integration-test",
});

/** `pulumi up` of the test stack in a process group of its own, so a test can kill all of it. */
export function spawnUp(t: TestStack): ReturnType<typeof spawn> {
  return spawn("pulumi", ["up", "--yes", "--skip-preview", "--stack", t.name, "--non-interactive"], {
    cwd: ROOT,
    env: stackEnv(t),
    detached: true,
  });
}

/**
 * kill -9 of a whole run, as a crash takes it: the CLI, its language host and the provider host
 * that holds the database session. Resolves once the CLI is gone.
 */
export async function killTree(child: ReturnType<typeof spawn>): Promise<void> {
  const closed = new Promise((resolve) => child.on("close", resolve));
  for (const pid of [...descendants(child.pid!), child.pid!]) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {
      // already gone
    }
  }
  await closed;
}
