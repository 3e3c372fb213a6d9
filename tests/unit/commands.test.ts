// Command steps run for real on this machine: exit codes, the timeout that kills what the command
// started, the output patterns, the streamed lines and the scrubbing of secret values.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import {
  commandText,
  runCommand,
  scrub,
  STREAMED_LINES,
  TAIL_LINES,
  type CommandSpec,
} from "../../engines/commands";

const SECRET = "s3cr3t-value-9f1c";

function spec(over: Partial<CommandSpec> = {}): CommandSpec {
  return {
    name: "step",
    run: "true",
    cwd: undefined,
    env: {},
    host: { kind: "local" },
    timeoutSeconds: 10,
    expectExit: 0,
    outputMustContain: [],
    outputMustNotContain: [],
    ...over,
  };
}

/** Runs with a progress that keeps every message. */
async function run(s: CommandSpec, secretEnv: Record<string, string> = {}) {
  const said: string[] = [];
  const result = await runCommand(s, { env: secretEnv }, (line) => said.push(line));
  return { result, said };
}

async function failure(s: CommandSpec, secretEnv: Record<string, string> = {}): Promise<string> {
  const said: string[] = [];
  try {
    await runCommand(s, { env: secretEnv }, (line) => said.push(line));
  } catch (err) {
    return `${(err as Error).message}\n--- progress ---\n${said.join("\n")}`;
  }
  assert.fail("the command step was expected to fail");
}

describe("command steps on this machine", () => {
  it("runs a shell string with its env, cwd and the expected exit code, and records the output", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-cmd-unit-"));
    try {
      const { result, said } = await run(
        spec({
          run: 'echo "built in $(pwd) for $TARGET"; echo warn >&2; exit 3',
          cwd: dir,
          env: { TARGET: "prod" },
          expectExit: 3,
          outputMustContain: ["^built in .* for prod$", "^warn$"],
          outputMustNotContain: ["ERROR"],
        }),
      );
      assert.equal(result.exitCode, 3);
      assert.deepEqual(
        result.outputTail.sort(),
        [`built in ${fs.realpathSync(dir)} for prod`, "warn"].sort(),
      );
      assert.deepEqual(result.matched, ["^built in .* for prod$", "^warn$"]);
      assert.deepEqual(result.absent, ["ERROR"]);
      assert.equal(result.host, "local");
      assert.ok(
        said.some((l) => l.includes("step: warn")),
        said.join("\n"),
      );
      assert.match(said.at(-1)!, /command `step` \(local\) exited with 3 after/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it("runs an argv array without a shell", async () => {
    const { result } = await run(spec({ run: ["printf", "%s|", "a b", "$HOME"] }));
    assert.deepEqual(result.outputTail, ["a b|$HOME|"]);
  });

  it("does not hand the operator's environment to the command beyond the basics", async () => {
    process.env.ROLLOUT_UNIT_LEAK = "leaked";
    try {
      const { result } = await run(spec({ run: 'echo "[${ROLLOUT_UNIT_LEAK:-absent}] [${PATH:+path}]"' }));
      assert.deepEqual(result.outputTail, ["[absent] [path]"]);
    } finally {
      delete process.env.ROLLOUT_UNIT_LEAK;
    }
  });

  it("fails on another exit code, naming the command, what it expected and the output", async () => {
    const message = await failure(spec({ name: "pm2-status", run: "echo app errored; exit 1" }));
    assert.match(message, /command `pm2-status` \(local\) exited with 1, expected 0, after [\d.]+ s/);
    assert.match(message, / {4}app errored/);
  });

  it("kills the whole process group when the time is up", async () => {
    const marker = path.join(os.tmpdir(), `rollout-cmd-unit-${process.pid}-${Date.now()}`);
    const started = Date.now();
    const message = await failure(
      spec({
        name: "hangs",
        run: `echo started; (sleep 30; touch ${marker}) & sleep 30`,
        timeoutSeconds: 1,
      }),
    );
    assert.ok(Date.now() - started < 8000, "stopped soon after its timeout");
    assert.match(message, /`hangs` \(local\) did not finish within 1 s and was stopped/);
    assert.match(message, /started/);
    const orphans = execFileSync("sh", ["-c", `ps -eo args | grep -c '[t]ouch ${marker}' || true`], {
      encoding: "utf8",
    }).trim();
    assert.equal(orphans, "0", "the background child was killed with the group");
  });

  it("fails when a required pattern matches no line, or a forbidden one matches", async () => {
    const missing = await failure(
      spec({ name: "alembic-sql", run: "echo 'ALTER TABLE x'", outputMustContain: ["^BEGIN;$"] }),
    );
    assert.match(missing, /no line of its 1 lines of output matched \/\^BEGIN;\$\/ \(outputMustContain\)/);
    const forbidden = await failure(
      spec({ name: "build", run: "echo ok; echo 'ERROR: chunk too big'", outputMustNotContain: ["ERROR"] }),
    );
    assert.match(forbidden, /outputMustNotContain forbids: \/ERROR\/ matched the line: ERROR: chunk too big/);
  });

  it("scrubs secret env values from the progress, the result and the error", async () => {
    const { result, said } = await run(spec({ run: 'echo "token is $API_TOKEN"' }), { API_TOKEN: SECRET });
    assert.deepEqual(result.outputTail, ["token is [secret]"]);
    assert.ok(!JSON.stringify(result).includes(SECRET));
    assert.ok(!said.join("\n").includes(SECRET));
    assert.ok(said.some((l) => l.includes("token is [secret]")));
    const message = await failure(spec({ run: 'echo "bad $API_TOKEN"; exit 2' }), { API_TOKEN: SECRET });
    assert.ok(!message.includes(SECRET), message);
    assert.match(message, /bad \[secret\]/);
  });

  it("keeps a bounded tail and streams a bounded number of lines", async () => {
    const { result, said } = await run(spec({ run: `seq 1 ${STREAMED_LINES + 100}` }));
    assert.equal(result.outputLines, STREAMED_LINES + 100);
    assert.equal(result.outputTail.length, TAIL_LINES);
    assert.equal(result.outputTail.at(-1), String(STREAMED_LINES + 100));
    const streamed = said
      .join("\n")
      .split("\n")
      .filter((l) => /^step: \d+$/.test(l));
    assert.equal(streamed.length, STREAMED_LINES);
    assert.ok(said.some((l) => /100 more lines not shown/.test(l)));
  });

  it("says when the program cannot be started", async () => {
    const message = await failure(spec({ name: "missing", run: ["no-such-program-here"] }));
    assert.match(
      message,
      /command `missing` \(local\) could not be started: spawn no-such-program-here ENOENT/,
    );
  });
});

describe("command helpers", () => {
  it("scrubs the longest secret first and quotes argv for display", () => {
    assert.equal(scrub("abc abcdef", ["abc", "abcdef"]), "[secret] [secret]");
    assert.equal(scrub("nothing", [""]), "nothing");
    assert.equal(
      commandText(["npx", "prisma", "generate", "--schema", "a b.prisma"]),
      "npx prisma generate --schema 'a b.prisma'",
    );
  });
});
