// The SSH host the tests reach: the private sshd local-env/sshd.sh starts (key login only, host key
// pinned), read from the variables scripts/test.sh exports; and a second sshd that corrupts what
// lands, for the read-back tests.
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { freePort } from "./stack";

export interface SshServer {
  readonly host: string;
  readonly port: number;
  /** `user@host`. */
  readonly destination: string;
  readonly keyFile: string;
  readonly knownHostsFile: string;
  /** The client private key's text, as a stack keeps it in a secret. */
  readonly privateKey: string;
  /** The server's public key line (`ssh-ed25519 AAAA...`), as a stack pins it. */
  readonly hostKey: string;
}

/** The local sshd from `local-env/sshd.sh env`. */
export function sshServer(): SshServer {
  const keys = [
    "ROLLOUT_SSH_HOST",
    "ROLLOUT_SSH_PORT",
    "ROLLOUT_SSH_USER",
    "ROLLOUT_SSH_KEY",
    "ROLLOUT_SSH_KNOWN_HOSTS",
  ];
  const missing = keys.filter((k) => !process.env[k]);
  if (missing.length > 0) {
    throw new Error(
      `the SSH tests need ${missing.join(", ")}; run them through \`npm test\` (scripts/test.sh), or: eval "$(bash local-env/sshd.sh env)"`,
    );
  }
  const env = process.env as Record<string, string>;
  const knownHostsFile = env.ROLLOUT_SSH_KNOWN_HOSTS;
  return {
    host: env.ROLLOUT_SSH_HOST,
    port: Number(env.ROLLOUT_SSH_PORT),
    destination: `${env.ROLLOUT_SSH_USER}@${env.ROLLOUT_SSH_HOST}`,
    keyFile: env.ROLLOUT_SSH_KEY,
    knownHostsFile,
    privateKey: fs.readFileSync(env.ROLLOUT_SSH_KEY, "utf8"),
    hostKey: fs.readFileSync(knownHostsFile, "utf8").trim().split(/\s+/).slice(1, 3).join(" "),
  };
}

/** Runs `command` on the local sshd with the system ssh, independently of the engine under test. */
export function onHost(command: string, server = sshServer()): string {
  return execFileSync(
    "ssh",
    [
      "-F",
      "none",
      "-i",
      server.keyFile,
      "-o",
      "IdentitiesOnly=yes",
      "-o",
      "BatchMode=yes",
      "-o",
      "StrictHostKeyChecking=yes",
      "-o",
      `UserKnownHostsFile=${server.knownHostsFile}`,
      "-p",
      String(server.port),
      server.destination,
      command,
    ],
    { encoding: "utf8" },
  );
}

async function listening(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, "127.0.0.1");
    socket.once("connect", () => {
      socket.destroy();
      resolve(true);
    });
    socket.once("error", () => resolve(false));
  });
}

/**
 * A second sshd on 127.0.0.1 (own host key, the same client key) whose every session runs the
 * client's command and then, after an upload (`cat > ...`), flips the first byte of each file that
 * just landed under `dir`: what a failing disk hands back. Only a read-back can tell.
 */
export async function corruptingSshd(dir: string): Promise<SshServer & { close: () => Promise<void> }> {
  const local = sshServer();
  const work = fs.mkdtempSync(path.join(os.tmpdir(), "itest-ssh-corrupt-"));
  const port = await freePort();
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(work, "host_key")]);
  fs.copyFileSync(`${local.keyFile}.pub`, path.join(work, "authorized_keys"));
  const wrapper = path.join(work, "corrupt.sh");
  fs.writeFileSync(
    wrapper,
    `#!/bin/sh
/bin/sh -c "$SSH_ORIGINAL_COMMAND"
rc=$?
case "$SSH_ORIGINAL_COMMAND" in
  *"cat > "*)
    find '${dir}' -type f ! -name '*.sha256' -newermt '-10 seconds' | while read -r f; do
      printf '\\377' | dd of="$f" bs=1 count=1 conv=notrunc 2>/dev/null
    done ;;
esac
exit $rc
`,
    { mode: 0o755 },
  );
  fs.writeFileSync(
    path.join(work, "sshd_config"),
    [
      `ListenAddress 127.0.0.1:${port}`,
      `HostKey ${path.join(work, "host_key")}`,
      `PidFile ${path.join(work, "sshd.pid")}`,
      `AuthorizedKeysFile ${path.join(work, "authorized_keys")}`,
      "PasswordAuthentication no",
      "KbdInteractiveAuthentication no",
      "PermitRootLogin prohibit-password",
      "UsePAM no",
      // The files live under the world-writable /tmp, which StrictModes refuses.
      "StrictModes no",
      `ForceCommand ${wrapper}`,
      "",
    ].join("\n"),
  );
  fs.mkdirSync("/run/sshd", { recursive: true });
  const child: ChildProcess = spawn("/usr/sbin/sshd", ["-D", "-e", "-f", path.join(work, "sshd_config")], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let log = "";
  child.stderr?.on("data", (c: Buffer) => (log += c.toString()));
  for (let i = 0; i < 50 && !(await listening(port)); i++) {
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  if (!(await listening(port))) {
    child.kill();
    throw new Error(`the corrupting sshd did not start on 127.0.0.1:${port}: ${log}`);
  }
  const hostKey = fs
    .readFileSync(path.join(work, "host_key.pub"), "utf8")
    .trim()
    .split(/\s+/)
    .slice(0, 2)
    .join(" ");
  const knownHostsFile = path.join(work, "known_hosts");
  fs.writeFileSync(knownHostsFile, `[127.0.0.1]:${port} ${hostKey}\n`);
  return {
    ...local,
    port,
    hostKey,
    knownHostsFile,
    close: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
      fs.rmSync(work, { recursive: true, force: true });
    },
  };
}
