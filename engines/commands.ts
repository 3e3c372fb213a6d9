// Command steps: a command run on this machine or over SSH at a named point of a rollout (pm2,
// systemd, `prisma generate`, `alembic upgrade head --sql`, a frontend build), with a timeout, the
// exit code and output it must give, its lines streamed as progress, and the secret values it was
// given scrubbed from every line that is logged or recorded. No Pulumi inside.
import { spawn } from "node:child_process";
import type { Progress } from "./progress";
import { withSshArgs } from "./ssh";

/** The points of the rollout a command runs at, in the order they come. */
export const COMMAND_POINTS = ["beforeBackup", "afterSchema", "afterServices", "afterChecks"] as const;
export type CommandPoint = (typeof COMMAND_POINTS)[number];

/** A command line: a string run with `/bin/sh -c`, or an argv array run as it is. */
export type CommandLine = string | readonly string[];

/**
 * Where a command runs: here, or on a host over SSH with the system `ssh` client (key login only,
 * the host's key checked against a pinned key or a known_hosts file).
 */
export type CommandHost =
  | { readonly kind: "local" }
  | {
      readonly kind: "ssh";
      /** `user@host`. */
      readonly host: string;
      readonly port: number;
      /** A private key file here, when the key does not come from a secret (`CommandSecrets.privateKey`). */
      readonly keyFile?: string;
      /** The host's public key line (`ssh-ed25519 AAAA...`); or `knownHostsFile`. */
      readonly hostKey?: string;
      /** A known_hosts file listing the host; or `hostKey`. */
      readonly knownHostsFile?: string;
    };

export interface CommandSpec {
  readonly name: string;
  readonly run: CommandLine;
  /** Folder to run in (on the host it runs on); undefined: the provider's folder here, the login folder over SSH. */
  readonly cwd: string | undefined;
  /** Plain env values. */
  readonly env: Readonly<Record<string, string>>;
  readonly host: CommandHost;
  readonly timeoutSeconds: number;
  readonly expectExit: number;
  /** Regular expressions, each tested against every line of the output; each must match a line. */
  readonly outputMustContain: readonly string[];
  /** Regular expressions no line of the output may match. */
  readonly outputMustNotContain: readonly string[];
}

/** The values a command gets that never go to a log, the report or an error in plain text. */
export interface CommandSecrets {
  /** Env name -> secret value. */
  readonly env: Readonly<Record<string, string>>;
  /** The SSH private key (OpenSSH format), for a command over SSH. */
  readonly privateKey?: string;
}

/** What a run records for the report; every text in it is scrubbed of the secret values. */
export interface CommandResult {
  readonly name: string;
  /** "run", or "revert" for the revert command. */
  readonly purpose: "run" | "revert";
  /** `local` or `ssh://user@host:port`. */
  readonly host: string;
  readonly exitCode: number;
  readonly durationMs: number;
  readonly finishedAt: string;
  /** Lines of combined stdout and stderr, counted whole. */
  readonly outputLines: number;
  readonly outputBytes: number;
  /** The last lines of the output (at most {@link TAIL_LINES}, each cut at {@link LINE_CHARS}). */
  readonly outputTail: string[];
  /** The patterns of `outputMustContain` (all matched) and `outputMustNotContain` (none matched). */
  readonly matched: string[];
  readonly absent: string[];
}

/** Lines of the output kept for the report and error messages. */
export const TAIL_LINES = 40;
/** Characters of one line kept (a minified bundle's single line must not fill the state). */
export const LINE_CHARS = 500;
/** Lines streamed as progress in one run; after that, only a count. */
export const STREAMED_LINES = 500;
/** How often buffered lines are passed on as one progress message. */
const STREAM_INTERVAL_MS = 500;
/** Time between SIGTERM and SIGKILL of a command's process group when its time is up. */
const KILL_GRACE_MS = 3000;
/** Extra time the local ssh client gets after a command's timeout, for the host to stop it and say so. */
const SSH_GRACE_MS = KILL_GRACE_MS + 5000;
/** The exit code of `timeout` when the time ran out. */
const TIMEOUT_EXIT = 124;
/** Variables of the operator's environment a command sees, besides its own `env` and `secretEnv`. */
const PASSED_ENV = ["PATH", "HOME", "USER", "LOGNAME", "LANG", "LC_ALL", "TZ", "TMPDIR", "SHELL", "TERM"];

/** The host as it is shown: `local` or `ssh://user@host:port`. */
export function hostLabel(host: CommandHost): string {
  return host.kind === "local" ? "local" : `ssh://${host.host}:${host.port}`;
}

/** A regular expression's problem (it does not compile), or undefined. */
export function patternProblem(pattern: string): string | undefined {
  try {
    new RegExp(pattern);
    return undefined;
  } catch (err) {
    return (err as Error).message;
  }
}

/** Replaces every secret value in `text` with `[secret]`, the longest first (one may hold another). */
export function scrub(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const s of [...secrets].filter((v) => v.length > 0).sort((a, b) => b.length - a.length)) {
    out = out.split(s).join("[secret]");
  }
  return out;
}

/** A word quoted for `sh`. */
export function shellQuote(word: string): string {
  return `'${word.replace(/'/g, `'\\''`)}'`;
}

/** The text of a command line, as shown and as `sh -c` runs it. */
export function commandText(run: CommandLine): string {
  return typeof run === "string"
    ? run
    : run.map((w) => (/^[\w@%+=:,./-]+$/.test(w) ? w : shellQuote(w))).join(" ");
}

/** What one process run saw. */
interface ProcessRun {
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly timedOut: boolean;
  readonly spawnError?: Error;
  readonly lines: number;
  readonly bytes: number;
  readonly tail: string[];
  /** Patterns of the spec that some line matched. */
  readonly seen: ReadonlySet<string>;
  /** The first line each forbidden pattern matched, scrubbed. */
  readonly forbiddenLines: ReadonlyMap<string, string>;
}

/** The script `sh -s` runs on the SSH host: env and secrets come on stdin, never on a command line. */
function remoteScript(spec: CommandSpec, run: CommandLine, secrets: CommandSecrets): string {
  const exports = Object.entries({ ...spec.env, ...secrets.env }).map(
    ([k, v]) => `export ${k}=${shellQuote(v)}`,
  );
  const cd = spec.cwd ? [`cd ${shellQuote(spec.cwd)} || exit 126`] : [];
  const argv = typeof run === "string" ? `/bin/sh -c ${shellQuote(run)}` : run.map(shellQuote).join(" ");
  // The host's own `timeout` stops the command's process group there when its time is up: killing
  // the local ssh client alone would leave it running on the host.
  const limit = `timeout -k ${KILL_GRACE_MS / 1000} ${spec.timeoutSeconds}`;
  return [
    ...exports,
    ...cd,
    `if command -v timeout >/dev/null 2>&1; then exec ${limit} ${argv} </dev/null; else exec ${argv} </dev/null; fi`,
    "",
  ].join("\n");
}

function localEnv(spec: CommandSpec, secrets: CommandSecrets): NodeJS.ProcessEnv {
  const passed = Object.fromEntries(
    PASSED_ENV.filter((k) => process.env[k] !== undefined).map((k) => [k, process.env[k]]),
  );
  return { ...passed, ...spec.env, ...secrets.env };
}

/**
 * Runs the process, kills its whole process group when the time is up, and reads its output line by
 * line: each line is tested against the patterns, scrubbed, kept in the tail and passed to `stream`.
 */
function runProcess(
  file: string,
  args: readonly string[],
  opts: { cwd?: string; env: NodeJS.ProcessEnv; stdin?: string; timeoutMs: number },
  patterns: { must: readonly string[]; mustNot: readonly string[] },
  clean: (line: string) => string,
  stream: (line: string) => void,
): Promise<ProcessRun> {
  const must = patterns.must.map((p) => [p, new RegExp(p)] as const);
  const mustNot = patterns.mustNot.map((p) => [p, new RegExp(p)] as const);
  const seen = new Set<string>();
  const forbiddenLines = new Map<string, string>();
  const tail: string[] = [];
  let lines = 0;
  let bytes = 0;
  const onLine = (raw: string) => {
    const line = raw.replace(/\r$/, "");
    lines++;
    for (const [p, re] of must) if (!seen.has(p) && re.test(line)) seen.add(p);
    const shown = clean(line).slice(0, LINE_CHARS);
    for (const [p, re] of mustNot) if (!forbiddenLines.has(p) && re.test(line)) forbiddenLines.set(p, shown);
    tail.push(shown);
    if (tail.length > TAIL_LINES) tail.shift();
    stream(shown);
  };
  // One partial-line buffer per stream, so stdout and stderr lines do not mix inside a line.
  const reader = () => {
    let partial = "";
    return {
      data(chunk: Buffer) {
        bytes += chunk.length;
        const parts = (partial + chunk.toString("utf8")).split("\n");
        partial = parts.pop() ?? "";
        // A line with no end in sight is cut into pieces rather than held whole in memory.
        while (partial.length > 64 * 1024) {
          parts.push(partial.slice(0, 64 * 1024));
          partial = partial.slice(64 * 1024);
        }
        parts.forEach(onLine);
      },
      end() {
        if (partial !== "") onLine(partial);
        partial = "";
      },
    };
  };

  return new Promise((resolve) => {
    let timedOut = false;
    let settled = false;
    const out = reader();
    const err = reader();
    const child = spawn(file, [...args], {
      cwd: opts.cwd,
      env: opts.env,
      // Its own process group, so a timeout stops what the command started too.
      detached: true,
      stdio: [opts.stdin === undefined ? "ignore" : "pipe", "pipe", "pipe"],
    });
    const killGroup = (signal: NodeJS.Signals) => {
      try {
        if (child.pid !== undefined) process.kill(-child.pid, signal);
      } catch {
        // already gone
      }
    };
    const timers: NodeJS.Timeout[] = [];
    const finish = (code: number | null, signal: NodeJS.Signals | null, spawnError?: Error) => {
      if (settled) return;
      settled = true;
      timers.forEach(clearTimeout);
      out.end();
      err.end();
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({
        exitCode: code,
        signal,
        timedOut,
        ...(spawnError ? { spawnError } : {}),
        lines,
        bytes,
        tail,
        seen,
        forbiddenLines,
      });
    };
    timers.push(
      setTimeout(() => {
        timedOut = true;
        killGroup("SIGTERM");
        timers.push(setTimeout(() => killGroup("SIGKILL"), KILL_GRACE_MS));
        // A process that left the group may still hold the pipes open: stop waiting for them.
        timers.push(setTimeout(() => finish(null, "SIGKILL"), KILL_GRACE_MS + 2000));
      }, opts.timeoutMs),
    );
    child.stdout?.on("data", out.data);
    child.stderr?.on("data", err.data);
    child.on("error", (e) => finish(null, null, e));
    child.on("close", (code, signal) => finish(code, signal));
    if (opts.stdin !== undefined && child.stdin) {
      child.stdin.on("error", () => undefined); // a command that exits without reading its stdin
      child.stdin.end(opts.stdin);
    }
  });
}

/** Lines passed on as one progress message every {@link STREAM_INTERVAL_MS}, at most {@link STREAMED_LINES}. */
function lineStream(label: string, progress: Progress) {
  let buffered: string[] = [];
  let streamed = 0;
  let dropped = 0;
  const flush = () => {
    if (buffered.length > 0) progress(buffered.map((l) => `${label}: ${l}`).join("\n"));
    buffered = [];
  };
  const timer = setInterval(flush, STREAM_INTERVAL_MS);
  return {
    line(line: string) {
      if (streamed >= STREAMED_LINES) {
        dropped++;
        return;
      }
      streamed++;
      buffered.push(line);
    },
    end() {
      clearInterval(timer);
      flush();
      if (dropped > 0)
        progress(`${label}: ${dropped} more lines not shown here; the report keeps the last ${TAIL_LINES}`);
    },
  };
}

/** Seconds as people read them in a message: `0.4 s`, `12 s`. */
const seconds = (ms: number) => `${ms < 10_000 ? (ms / 1000).toFixed(1) : Math.round(ms / 1000)} s`;

function tailText(tail: readonly string[]): string {
  const last = tail.slice(-10);
  return last.length === 0 ? " (no output)" : `; its last output:\n${last.map((l) => `    ${l}`).join("\n")}`;
}

/**
 * Runs a command step (or, with `purpose` "revert", its revert command: the same host, env and
 * timeout, judged by its exit code alone) and returns what it did; throws, naming the command, what
 * was expected and what came back, when it cannot start, runs out of time, exits with another code,
 * or its output misses a required pattern or holds a forbidden one.
 */
export async function runCommand(
  spec: CommandSpec,
  secrets: CommandSecrets,
  progress: Progress,
  purpose: "run" | "revert" = "run",
  line: CommandLine = spec.run,
): Promise<CommandResult> {
  const secretValues = [...Object.values(secrets.env), ...(secrets.privateKey ? [secrets.privateKey] : [])];
  const clean = (text: string) => scrub(text, secretValues);
  const host = hostLabel(spec.host);
  const what = `${purpose === "revert" ? "revert of command" : "command"} \`${spec.name}\` (${host})`;
  const patterns =
    purpose === "revert"
      ? { must: [], mustNot: [] }
      : { must: spec.outputMustContain, mustNot: spec.outputMustNotContain };
  const timeoutMs = spec.timeoutSeconds * 1000;
  const stream = lineStream(`${purpose === "revert" ? "revert " : ""}${spec.name}`, progress);
  progress(clean(`${what}: ${commandText(line)}`));
  const started = performance.now();
  let run: ProcessRun;
  try {
    if (spec.host.kind === "local") {
      const [file, ...args] = typeof line === "string" ? ["/bin/sh", "-c", line] : line;
      run = await runProcess(
        file,
        args,
        { cwd: spec.cwd, env: localEnv(spec, secrets), timeoutMs },
        patterns,
        clean,
        stream.line,
      );
    } else {
      const { host, port, keyFile, hostKey, knownHostsFile } = spec.host;
      const target = { host, port, keyFile, hostKey, knownHostsFile, privateKey: secrets.privateKey };
      run = await withSshArgs(target, (args) =>
        runProcess(
          "ssh",
          [...args, "--", "sh -s"],
          {
            env: localEnv({ ...spec, env: {} }, { env: {} }),
            stdin: remoteScript(spec, line, secrets),
            // The host's `timeout` ends it first; this stops a session that hangs anyway.
            timeoutMs: timeoutMs + SSH_GRACE_MS,
          },
          patterns,
          clean,
          stream.line,
        ),
      ).catch((err: Error) => {
        throw new Error(clean(`${what}: ${err.message}`), { cause: err });
      });
    }
  } finally {
    stream.end();
  }
  const durationMs = Math.round(performance.now() - started);
  const took = seconds(durationMs);

  if (run.spawnError) {
    const where = spec.host.kind === "local" && spec.cwd ? ` in ${spec.cwd}` : "";
    throw new Error(
      clean(
        `${what} could not be started${where}: ${run.spawnError.message}; check the program name, PATH` +
          `${spec.host.kind === "ssh" ? " (the ssh client must be installed here)" : ""} and that cwd exists`,
      ),
    );
  }
  const remoteTimeout =
    spec.host.kind === "ssh" &&
    durationMs >= timeoutMs &&
    (run.exitCode === TIMEOUT_EXIT || run.exitCode === 137);
  if (run.timedOut || remoteTimeout) {
    throw new Error(
      clean(
        `${what} did not finish within ${spec.timeoutSeconds} s and was stopped (its process group was killed)` +
          `${tailText(run.tail)}\nRaise timeoutSeconds if it needs longer, or find what it waits for.`,
      ),
    );
  }
  const exitCode = run.exitCode ?? 128;
  if (run.exitCode === null || exitCode !== spec.expectExit) {
    const seen = run.exitCode === null ? `was killed by ${run.signal}` : `exited with ${exitCode}`;
    const ssh =
      spec.host.kind === "ssh" && exitCode === 255
        ? " (255 is also what ssh exits with when it cannot connect, log in, or check the host key against knownHosts)"
        : "";
    throw new Error(
      clean(`${what} ${seen}${ssh}, expected ${spec.expectExit}, after ${took}${tailText(run.tail)}`),
    );
  }
  const missing = patterns.must.filter((p) => !run.seen.has(p));
  if (missing.length > 0) {
    throw new Error(
      clean(
        `${what} exited with ${exitCode} but no line of its ${run.lines} lines of output matched ` +
          `${missing.map((p) => `/${p}/`).join(", ")} (outputMustContain)${tailText(run.tail)}`,
      ),
    );
  }
  if (run.forbiddenLines.size > 0) {
    const found = [...run.forbiddenLines].map(([p, l]) => `/${p}/ matched the line: ${l}`).join("; ");
    throw new Error(
      clean(
        `${what} exited with ${exitCode} but its output holds what outputMustNotContain forbids: ${found}`,
      ),
    );
  }
  progress(`${what} exited with ${exitCode} after ${took}`);
  return {
    name: spec.name,
    purpose,
    host,
    exitCode,
    durationMs,
    finishedAt: new Date().toISOString(),
    outputLines: run.lines,
    outputBytes: run.bytes,
    outputTail: run.tail,
    matched: [...patterns.must],
    absent: [...patterns.mustNot],
  };
}
