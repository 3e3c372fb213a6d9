// Commands on another host over SSH, with the system OpenSSH client: the `ssh` an operator already
// trusts, which reads known_hosts and keys exactly as their own logins do. Key login only
// (BatchMode: no password prompt can ever hang a rollout), the host's key always checked against a
// pinned key or a known_hosts file. A private key from a secret goes to a 0600 file in a 0700
// temporary folder for the length of one session and is never logged or put in a message. No
// Pulumi inside: steps' dynamic providers and `deploy/` both call this.
import { spawn } from "node:child_process";
import fs from "node:fs";
import path from "node:path";
import type { Readable, Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { withSecretFolder } from "./secretFolder";

/** A host reached over SSH: where, as whom, with which key, and which host key to expect. */
export interface SshTarget {
  /** `user@host`. */
  readonly host: string;
  readonly port: number;
  /** The private key's text (from a secret config key); or `keyFile`. */
  readonly privateKey?: string;
  /** A private key file's path; or `privateKey`. */
  readonly keyFile?: string;
  /** The host's public key line (`ssh-ed25519 AAAA...`); or `knownHostsFile`. */
  readonly hostKey?: string;
  /** A known_hosts file listing the host; or `hostKey`. */
  readonly knownHostsFile?: string;
}

/** Where a target points, for messages: `ssh://user@host:port`. */
export function sshLocation(target: Pick<SshTarget, "host" | "port">): string {
  return `ssh://${target.host}:${target.port}`;
}

/** `value` as one word for the remote POSIX shell. */
export function shellQuote(value: string): string {
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

export interface SshRunOptions {
  /** Bytes for the remote command's stdin (a stream is piped whole, then closed). */
  readonly stdin?: Readable;
  /** Where the remote stdout goes; without it, stdout is collected and returned. */
  readonly stdout?: Writable;
  /** What the command is for, in error messages (the command itself may be long). */
  readonly what: string;
}

/** One SSH session's settings: the files ssh needs, alive until `close`. */
export interface SshSession {
  readonly location: string;
  /** Runs a shell command on the host; throws with its exit code and stderr when it fails. */
  run(command: string, options: SshRunOptions): Promise<string>;
}

const STDERR_CHARS = 2000;

/**
 * Key login only, with this key and no other, and only to a host whose key is in this known_hosts
 * file: no agent, no password or keyboard-interactive prompt, no global known_hosts.
 */
export function keyOnlyOptions(keyFile: string, knownHostsFile: string): string[] {
  return [
    "-i",
    keyFile,
    "-o",
    "IdentitiesOnly=yes",
    "-o",
    "IdentityAgent=none",
    "-o",
    "BatchMode=yes",
    "-o",
    "PasswordAuthentication=no",
    "-o",
    "KbdInteractiveAuthentication=no",
    "-o",
    "StrictHostKeyChecking=yes",
    "-o",
    `UserKnownHostsFile=${knownHostsFile}`,
    "-o",
    "GlobalKnownHostsFile=/dev/null",
  ];
}

/** A dead connection is noticed within a minute; only errors are printed. */
export const KEEPALIVE_OPTIONS: readonly string[] = [
  "-o",
  "ServerAliveInterval=15",
  "-o",
  "ServerAliveCountMax=4",
  "-o",
  "LogLevel=ERROR",
];

/** The `ssh` arguments for `target`, with the key and known_hosts files given. */
export function sshArgs(target: SshTarget, keyFile: string, knownHostsFile: string): string[] {
  return [
    "-p",
    String(target.port),
    ...keyOnlyOptions(keyFile, knownHostsFile),
    "-o",
    "ConnectTimeout=15",
    ...KEEPALIVE_OPTIONS,
    "-F",
    "none",
    target.host,
  ];
}

/** The known_hosts line that pins `hostKey` for the target's host and port. */
export function knownHostsLine(target: Pick<SshTarget, "host" | "port">, hostKey: string): string {
  const hostname = target.host.slice(target.host.lastIndexOf("@") + 1);
  return `${target.port === 22 ? hostname : `[${hostname}]:${target.port}`} ${hostKey}\n`;
}

function describeProblem(target: SshTarget, what: string, code: number | null, stderr: string): string {
  // OpenSSH's warning banners ("@@@@ ...") and advice lines say less than its last lines do.
  const lines = stderr
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("@"));
  const text = lines.slice(-3).join("; ").slice(-STDERR_CHARS);
  const hint =
    /Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|No .* host key is known/.test(text)
      ? "; the host's key is not the pinned one: check hostKey / knownHostsFile against `ssh-keyscan -p PORT HOST` from a trusted network"
      : /Permission denied/.test(text)
        ? "; the key was refused: put its public key in the user's authorized_keys on the host"
        : code === 255
          ? "; ssh could not connect (exit 255): check host, port and that sshd runs there"
          : "";
  return `${what} on ${sshLocation(target)} failed (exit ${code ?? "signal"})${text ? `: ${text}` : ""}${hint}`;
}

/**
 * Runs `fn` with the `ssh` arguments for `target` (see {@link sshArgs}): writes the key (when it
 * comes from a secret) and a pinned host key to a private temporary folder, and removes that
 * folder afterwards, whatever `fn` did. For callers that run `ssh` themselves (command steps).
 */
export async function withSshArgs<T>(target: SshTarget, fn: (args: string[]) => Promise<T>): Promise<T> {
  if ((target.privateKey === undefined) === (target.keyFile === undefined)) {
    throw new Error(`${sshLocation(target)}: give exactly one of a private key (secret) or a key file`);
  }
  if ((target.hostKey === undefined) === (target.knownHostsFile === undefined)) {
    throw new Error(`${sshLocation(target)}: give exactly one of a pinned host key or a known_hosts file`);
  }
  return withSecretFolder("rollout-ssh-", async (scratch) => {
    let keyFile = target.keyFile ?? "";
    if (target.privateKey !== undefined) {
      keyFile = path.join(scratch, "key");
      // OpenSSH refuses a key file without its final newline, and one others may read.
      const text = target.privateKey.endsWith("\n") ? target.privateKey : `${target.privateKey}\n`;
      fs.writeFileSync(keyFile, text, { mode: 0o600 });
    } else if (!fs.existsSync(keyFile)) {
      throw new Error(`${sshLocation(target)}: the key file ${keyFile} does not exist; fix keyFile`);
    }
    let knownHosts = target.knownHostsFile ?? "";
    if (target.hostKey !== undefined) {
      knownHosts = path.join(scratch, "known_hosts");
      fs.writeFileSync(knownHosts, knownHostsLine(target, target.hostKey), { mode: 0o600 });
    } else if (!fs.existsSync(knownHosts)) {
      throw new Error(
        `${sshLocation(target)}: the known_hosts file ${knownHosts} does not exist; fix knownHostsFile`,
      );
    }
    return await fn(sshArgs(target, keyFile, knownHosts));
  });
}

/** Opens an SSH session for `fn` (see {@link withSshArgs} for the key and host key files). */
export async function withSsh<T>(target: SshTarget, fn: (ssh: SshSession) => Promise<T>): Promise<T> {
  return withSshArgs(target, (args) =>
    fn({ location: sshLocation(target), run: (command, options) => runSsh(target, args, command, options) }),
  );
}

function runSsh(target: SshTarget, args: string[], command: string, options: SshRunOptions): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const child = spawn("ssh", [...args, command], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const done: Promise<unknown>[] = [];
    child.stderr.setEncoding("utf8");
    child.stderr.on("data", (chunk: string) => {
      stderr = (stderr + chunk).slice(-STDERR_CHARS * 2);
    });
    if (options.stdout) {
      done.push(pipeline(child.stdout, options.stdout));
    } else {
      child.stdout.setEncoding("utf8");
      child.stdout.on("data", (chunk: string) => {
        stdout += chunk;
      });
    }
    if (options.stdin) {
      // A remote command that exits early closes the pipe: its exit code tells what happened.
      done.push(pipeline(options.stdin, child.stdin).catch(() => undefined));
    } else {
      child.stdin.end();
    }
    child.on("error", (error) => {
      reject(
        new Error(
          `${options.what} on ${sshLocation(target)}: cannot run ssh (${error.message}); install openssh-client`,
        ),
      );
    });
    child.on("close", (code) => {
      Promise.all(done).then(
        () =>
          code === 0
            ? resolve(stdout)
            : reject(new Error(describeProblem(target, options.what, code, stderr))),
        (error: Error) => reject(new Error(`${options.what} on ${sshLocation(target)}: ${error.message}`)),
      );
    });
  });
}
