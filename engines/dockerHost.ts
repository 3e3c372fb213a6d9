// The Docker host a release runs on: the local socket, `ssh://user@host[:port]` (key login, the
// host's key pinned, the system OpenSSH client), or `tcp://` with TLS. One place turns a host's
// config into what each user needs: the @pulumi/docker provider's settings and the docker CLI's
// environment. No Pulumi inside.
//
// Over SSH, both run `ssh` themselves (docker's connection helper: `ssh ... docker system
// dial-stdio`). The private key goes to a 0600 file in a 0700 folder under the temp dir, never to a
// command line, a log or state (state holds the file's path only). The provider gets its options
// as `sshOpts`; the docker CLI has no flag for ssh options, so it finds an `ssh` first in PATH that
// runs the system ssh with a private config (`-F`), which also keeps the operator's ~/.ssh/config
// (read from the passwd home, not $HOME) out of it.
//
// The folder's lifetime is the Pulumi operation's: the provider process dials over SSH until the
// engine's last delete, after the program has exited, so the folder is kept until the `pulumi`
// process that ran the program exits (a small watcher removes it then), and its path is stable per
// stack and host, so the provider's inputs do not change from one update to the next.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { KEEPALIVE_OPTIONS, keyOnlyOptions, knownHostsLine } from "./ssh";
import { sweepStaleSecretFolders, withSecretFolder } from "./secretFolder";

/** `rollout:docker` as validated config holds it. */
export interface DockerHostConfig {
  /** `unix:///var/run/docker.sock`, `ssh://user@host[:port]` or `tcp://host:port`. */
  readonly host: string;
  /** How to log in, for an `ssh://` host. */
  readonly ssh?: DockerSshConfig;
  /** A folder with `ca.pem`, `cert.pem` and `key.pem`, for a `tcp://` host. */
  readonly tlsCertPath?: string;
}

/** The login to an `ssh://` host: one key source, one pinned host key source (never trust-on-first-use). */
export interface DockerSshConfig {
  /** Name of the secret holding the private key. */
  readonly keySecret?: string;
  /** A private key file's path, instead of `keySecret`. */
  readonly keyFile?: string;
  /** The host's public key line (`ssh-ed25519 AAAA...`). */
  readonly hostKey?: string;
  /** A known_hosts file that lists the host, instead of `hostKey`. */
  readonly knownHostsFile?: string;
}

/** A parsed host URL. */
export type DockerHostUrl =
  | { readonly kind: "unix"; readonly url: string; readonly socket: string }
  | {
      readonly kind: "ssh";
      readonly url: string;
      readonly user: string;
      readonly hostname: string;
      readonly port: number;
    }
  | { readonly kind: "tcp"; readonly url: string };

/**
 * A Docker host ready to use: plain, serializable, no secret inside (file paths only), so it can
 * travel in a dynamic resource's inputs.
 */
export interface DockerEndpoint {
  readonly url: string;
  /** For `ssh://`: the folder holding `key`, `known_hosts`, `config` and the `ssh` for the CLI. */
  readonly sshFolder?: string;
  /** For `tcp://`: the TLS folder. */
  readonly tlsCertPath?: string;
}

const SSH_URL =
  /^ssh:\/\/([a-z_][a-z0-9_.-]{0,31})@([A-Za-z0-9][A-Za-z0-9.-]*|\[[0-9A-Fa-f:]+\])(?::(\d{1,5}))?$/;
const FOLDER_PREFIX = "rollout-docker-";

/** Parses a Docker host URL; throws naming the value and the fix. */
export function parseDockerHost(url: string): DockerHostUrl {
  if (url.startsWith("unix://")) {
    const socket = url.slice("unix://".length);
    if (!socket.startsWith("/")) {
      throw new Error(
        `rollout:docker.host ${JSON.stringify(url)} must name the socket's absolute path, e.g. unix:///var/run/docker.sock`,
      );
    }
    return { kind: "unix", url, socket };
  }
  if (url.startsWith("ssh://")) {
    const m = SSH_URL.exec(url);
    const port = m?.[3] === undefined ? 22 : Number(m[3]);
    if (!m || port < 1 || port > 65535) {
      throw new Error(
        `rollout:docker.host ${JSON.stringify(url)} is not ssh://user@host[:port] ` +
          '(e.g. "ssh://deploy@10.0.0.5" or "ssh://root@docker.example.com:2222"; no path, the user is required)',
      );
    }
    return { kind: "ssh", url, user: m[1], hostname: m[2], port };
  }
  if (/^tcp:\/\/[^/]+:\d+$/.test(url)) return { kind: "tcp", url };
  throw new Error(
    `rollout:docker.host ${JSON.stringify(url)} must be unix:///path/to/docker.sock, ssh://user@host[:port] or tcp://host:port`,
  );
}

/** What is wrong with a host's settings, each a full sentence; empty when nothing is. */
export function dockerHostProblems(config: DockerHostConfig): string[] {
  let parsed: DockerHostUrl;
  try {
    parsed = parseDockerHost(config.host);
  } catch (err) {
    return [(err as Error).message];
  }
  const problems: string[] = [];
  if (parsed.kind !== "ssh" && config.ssh) {
    problems.push(
      `rollout:docker.ssh is set but rollout:docker.host ${config.host} is not ssh://; remove docker.ssh or use an ssh:// host`,
    );
  }
  if (parsed.kind !== "tcp" && config.tlsCertPath) {
    problems.push(
      `rollout:docker.tlsCertPath is set but rollout:docker.host ${config.host} is not tcp://; remove docker.tlsCertPath`,
    );
  }
  if (parsed.kind === "tcp" && !config.tlsCertPath) {
    problems.push(
      `rollout:docker.host ${config.host} is plain TCP: anyone who reaches that port owns the host, and nothing checks ` +
        "who answers. Use ssh://user@host with docker.ssh (key login, pinned host key), or set docker.tlsCertPath " +
        "to a folder with ca.pem, cert.pem and key.pem for the daemon's TLS port",
    );
  }
  if (parsed.kind === "ssh") {
    const ssh = config.ssh ?? {};
    if ((ssh.keySecret === undefined) === (ssh.keyFile === undefined)) {
      problems.push(
        `rollout:docker.host ${config.host} needs exactly one of docker.ssh.keySecret (the name of a secret holding the ` +
          "private key, e.g. dockerSshKey) or docker.ssh.keyFile (a key file's path)",
      );
    }
    if ((ssh.hostKey === undefined) === (ssh.knownHostsFile === undefined)) {
      problems.push(
        `rollout:docker.host ${config.host} needs the host's key pinned: exactly one of docker.ssh.hostKey (its public ` +
          `key line, from \`ssh-keyscan -p ${parsed.port} ${parsed.hostname}\` on a trusted network) or ` +
          "docker.ssh.knownHostsFile (a known_hosts file listing it); an unknown host key is never accepted",
      );
    }
  }
  return problems;
}

/** Throws the problems of {@link dockerHostProblems}, if any. */
export function checkDockerHost(config: DockerHostConfig): DockerHostUrl {
  const problems = dockerHostProblems(config);
  if (problems.length > 0) throw new Error(problems.join("; "));
  return parseDockerHost(config.host);
}

/** The files of an ssh folder. */
function sshFiles(folder: string) {
  return {
    key: path.join(folder, "key"),
    knownHosts: path.join(folder, "known_hosts"),
    config: path.join(folder, "config"),
    bin: path.join(folder, "bin"),
    holders: path.join(folder, "holders"),
  };
}

/** The `ssh` options every connection to the host uses (paths only, no secret). */
export function sshOptions(folder: string): string[] {
  const f = sshFiles(folder);
  return ["-F", "none", ...keyOnlyOptions(f.key, f.knownHosts), ...KEEPALIVE_OPTIONS];
}

/** The same options as an ssh_config file, for the docker CLI's `ssh`. */
function sshConfigText(folder: string): string {
  const f = sshFiles(folder);
  const q = (p: string) => `"${p}"`;
  return [
    "# Written by rollout for one Docker host; removed when the operation ends.",
    "Host *",
    `  IdentityFile ${q(f.key)}`,
    "  IdentitiesOnly yes",
    "  IdentityAgent none",
    "  BatchMode yes",
    "  PasswordAuthentication no",
    "  KbdInteractiveAuthentication no",
    "  StrictHostKeyChecking yes",
    `  UserKnownHostsFile ${q(f.knownHosts)}`,
    "  GlobalKnownHostsFile /dev/null",
    "  ServerAliveInterval 15",
    "  ServerAliveCountMax 4",
    "  LogLevel ERROR",
    "",
  ].join("\n");
}

/** The system `ssh`, found on PATH outside our own folders. */
function systemSsh(): string {
  for (const dir of (process.env.PATH ?? "").split(path.delimiter)) {
    if (dir === "" || path.basename(path.dirname(dir)).startsWith(FOLDER_PREFIX)) continue;
    const candidate = path.join(dir, "ssh");
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new Error("no `ssh` on PATH: install openssh-client to reach an ssh:// Docker host");
}

/** The key, the pinned host key, the config and the CLI's `ssh` in `folder` (created 0700). */
function writeSshFolder(
  folder: string,
  parsed: Extract<DockerHostUrl, { kind: "ssh" }>,
  ssh: DockerSshConfig,
  privateKey: string | undefined,
  projectDir: string,
): void {
  const f = sshFiles(folder);
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  fs.chmodSync(folder, 0o700);
  fs.mkdirSync(f.bin, { recursive: true, mode: 0o700 });
  fs.mkdirSync(f.holders, { recursive: true, mode: 0o700 });
  // Written to a new name and renamed: a dial in progress never reads half a file.
  const put = (file: string, text: string, mode: number) => {
    const tmp = `${file}.${process.pid}`;
    fs.writeFileSync(tmp, text, { mode });
    fs.chmodSync(tmp, mode);
    fs.renameSync(tmp, file);
  };
  if (ssh.keyFile !== undefined) {
    const keyFile = path.resolve(projectDir, ssh.keyFile);
    if (!fs.existsSync(keyFile)) {
      throw new Error(
        `rollout:docker.ssh.keyFile ${keyFile} does not exist; fix the path or use docker.ssh.keySecret`,
      );
    }
    put(f.key, fs.readFileSync(keyFile, "utf8"), 0o600);
  } else {
    if (privateKey === undefined || privateKey.trim() === "") {
      throw new Error(`the secret docker.ssh.keySecret (${ssh.keySecret}) for ${parsed.url} is empty`);
    }
    // OpenSSH refuses a key file without its final newline.
    put(f.key, privateKey.endsWith("\n") ? privateKey : `${privateKey}\n`, 0o600);
  }
  if (ssh.hostKey !== undefined) {
    put(
      f.knownHosts,
      knownHostsLine({ host: parsed.hostname.replace(/^\[|\]$/g, ""), port: parsed.port }, ssh.hostKey),
      0o600,
    );
  } else {
    const file = path.resolve(projectDir, ssh.knownHostsFile ?? "");
    if (!fs.existsSync(file)) {
      throw new Error(
        `rollout:docker.ssh.knownHostsFile ${file} does not exist; fix the path or pin docker.ssh.hostKey`,
      );
    }
    put(f.knownHosts, fs.readFileSync(file, "utf8"), 0o600);
  }
  put(f.config, sshConfigText(folder), 0o600);
  put(path.join(f.bin, "ssh"), `#!/bin/sh\nexec '${systemSsh()}' -F '${f.config}' "$@"\n`, 0o700);
}

/** The pid of the `pulumi` process this program runs under, or undefined when there is none. */
function pulumiCliPid(): number | undefined {
  let pid = process.ppid;
  for (let depth = 0; depth < 6 && pid > 1; depth++) {
    try {
      const stat = fs.readFileSync(`/proc/${pid}/stat`, "utf8");
      const comm = stat.slice(stat.indexOf("(") + 1, stat.lastIndexOf(")"));
      if (comm === "pulumi") return pid;
      pid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
    } catch {
      return undefined;
    }
  }
  return undefined;
}

/**
 * Keeps `folder` while process `holder` lives: registers it as a holder and starts a detached
 * watcher that, once it exits, removes the folder unless another live holder remains.
 */
function holdFolder(folder: string, holder: number): void {
  const holders = sshFiles(folder).holders;
  const mark = path.join(holders, String(holder));
  if (fs.existsSync(mark)) return;
  fs.writeFileSync(mark, "");
  const watcher = `
    const fs = require("fs"), path = require("path");
    const [folder, holders, holder] = process.argv.slice(1);
    const alive = (pid) => { try { process.kill(Number(pid), 0); return true; } catch { return false; } };
    const timer = setInterval(() => {
      if (alive(holder)) return;
      clearInterval(timer);
      fs.rmSync(path.join(holders, holder), { force: true });
      let others = [];
      try { others = fs.readdirSync(holders).filter(alive); } catch {}
      if (others.length === 0) fs.rmSync(folder, { recursive: true, force: true });
    }, 1000);`;
  const child = spawn(process.execPath, ["-e", watcher, folder, holders, String(holder)], {
    detached: true,
    stdio: "ignore",
  });
  child.unref();
}

/**
 * The host ready for this program's operation: for ssh://, the private folder (stable per `owner`,
 * e.g. project and stack, and host) written now and kept until the `pulumi` process exits.
 */
export function openDockerHost(
  config: DockerHostConfig,
  privateKey: string | undefined,
  owner: string,
  projectDir: string,
): DockerEndpoint {
  const parsed = checkDockerHost(config);
  if (parsed.kind === "unix") return { url: config.host };
  if (parsed.kind === "tcp")
    return { url: config.host, tlsCertPath: path.resolve(projectDir, config.tlsCertPath!) };
  sweepStaleSecretFolders(FOLDER_PREFIX);
  const id = crypto.createHash("sha256").update(`${owner}\n${config.host}`).digest("hex").slice(0, 16);
  const folder = path.join(os.tmpdir(), `${FOLDER_PREFIX}${id}`);
  try {
    writeSshFolder(folder, parsed, config.ssh!, privateKey, projectDir);
  } catch (err) {
    fs.rmSync(folder, { recursive: true, force: true });
    throw err;
  }
  holdFolder(folder, pulumiCliPid() ?? process.pid);
  return { url: config.host, sshFolder: folder };
}

/** Runs `work` with the host ready, in a temporary folder removed afterwards (for the deploy command). */
export async function withDockerHost<T>(
  config: DockerHostConfig,
  privateKey: string | undefined,
  projectDir: string,
  work: (endpoint: DockerEndpoint) => Promise<T>,
): Promise<T> {
  const parsed = checkDockerHost(config);
  if (parsed.kind !== "ssh") return work(openDockerHost(config, undefined, "", projectDir));
  return withSecretFolder(FOLDER_PREFIX, async (folder) => {
    writeSshFolder(folder, parsed, config.ssh!, privateKey, projectDir);
    return work({ url: config.host, sshFolder: folder });
  });
}

/** Settings of the @pulumi/docker provider for the host. */
export function dockerProviderSettings(endpoint: DockerEndpoint): {
  host: string;
  sshOpts?: string[];
  certPath?: string;
} {
  return {
    host: endpoint.url,
    ...(endpoint.sshFolder ? { sshOpts: sshOptions(endpoint.sshFolder) } : {}),
    ...(endpoint.tlsCertPath ? { certPath: endpoint.tlsCertPath } : {}),
  };
}

/** The docker CLI's environment for the host: DOCKER_HOST, and the `ssh` or the TLS folder it needs. */
export function dockerCliEnv(
  endpoint: DockerEndpoint,
  base: NodeJS.ProcessEnv = process.env,
): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, DOCKER_HOST: endpoint.url };
  delete env.DOCKER_CONTEXT;
  if (endpoint.sshFolder) {
    const bin = sshFiles(endpoint.sshFolder).bin;
    if (!fs.existsSync(path.join(bin, "ssh"))) {
      throw new Error(
        `the SSH settings for ${endpoint.url} (${endpoint.sshFolder}) are gone: they last one Pulumi operation; ` +
          "run it again with `pulumi up` (or the deploy command), which writes them",
      );
    }
    env.PATH = `${bin}${path.delimiter}${base.PATH ?? ""}`;
  }
  if (endpoint.tlsCertPath) {
    env.DOCKER_TLS_VERIFY = "1";
    env.DOCKER_CERT_PATH = endpoint.tlsCertPath;
  }
  return env;
}
