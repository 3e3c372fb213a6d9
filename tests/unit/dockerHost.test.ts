// The Docker host module: URL parsing, the refusals (plain TCP, an ssh host without a pinned host
// key or without a key), the options the provider and the CLI get, and the private folder's files
// and lifetime. The ssh used is the system client, run for real against no server.
import { dockerLoginKept } from "../../deploy/cli";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import {
  dockerCliEnv,
  dockerHostProblems,
  dockerProviderSettings,
  openDockerHost,
  parseDockerHost,
  sshOptions,
  withDockerHost,
} from "../../engines/dockerHost";
import { loadConfig } from "../../config";
import { configProblems, minimalRawConfig } from "../support/fixtures";

const HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPtGzcaO6PjkloAtRoxulsRnDVPA6M3+B5PL8KApTjVp";
const KEY =
  "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ\n-----END OPENSSH PRIVATE KEY-----";
const ssh = { keySecret: "dockerSshKey", hostKey: HOST_KEY };

describe("Docker host URLs", () => {
  const good = [
    { url: "unix:///var/run/docker.sock", expect: { kind: "unix", socket: "/var/run/docker.sock" } },
    { url: "ssh://deploy@10.0.0.5", expect: { kind: "ssh", user: "deploy", hostname: "10.0.0.5", port: 22 } },
    {
      url: "ssh://root@docker.example.com:2222",
      expect: { kind: "ssh", user: "root", hostname: "docker.example.com", port: 2222 },
    },
    { url: "tcp://10.0.0.5:2376", expect: { kind: "tcp" } },
  ];
  for (const c of good) {
    it(`reads ${c.url}`, () => {
      assert.deepEqual(parseDockerHost(c.url), { url: c.url, ...c.expect });
    });
  }
  const bad = [
    { url: "ssh://10.0.0.5", says: /is not ssh:\/\/user@host\[:port\].*the user is required/ },
    { url: "ssh://root@10.0.0.5:0", says: /is not ssh:\/\/user@host/ },
    { url: "ssh://root@10.0.0.5/var/run/docker.sock", says: /no path/ },
    { url: "unix://var/run/docker.sock", says: /absolute path, e\.g\. unix:\/\/\/var\/run\/docker\.sock/ },
    {
      url: "http://10.0.0.5:2375",
      says: /must be unix:\/\/\/path\/to\/docker\.sock, ssh:\/\/user@host\[:port\] or tcp:\/\/host:port/,
    },
  ];
  for (const c of bad) {
    it(`refuses ${c.url}, naming it and the fix`, () => {
      assert.throws(
        () => parseDockerHost(c.url),
        (err: Error) => {
          assert.match(err.message, new RegExp(`rollout:docker\\.host "${c.url.replace(/[/.:]/g, "\\$&")}"`));
          assert.match(err.message, c.says);
          return true;
        },
      );
    });
  }
});

describe("Docker host refusals", () => {
  it("refuses tcp:// without TLS and says what to use instead", () => {
    assert.deepEqual(dockerHostProblems({ host: "tcp://10.0.0.5:2375" }), [
      "rollout:docker.host tcp://10.0.0.5:2375 is plain TCP: anyone who reaches that port owns the host, and nothing checks who answers. Use ssh://user@host with docker.ssh (key login, pinned host key), or set docker.tlsCertPath to a folder with ca.pem, cert.pem and key.pem for the daemon's TLS port",
    ]);
    assert.deepEqual(dockerHostProblems({ host: "tcp://10.0.0.5:2376", tlsCertPath: "certs" }), []);
  });

  it("refuses an ssh host whose host key is not pinned (no trust on first use)", () => {
    assert.deepEqual(dockerHostProblems({ host: "ssh://deploy@10.0.0.5:2222", ssh: { keySecret: "k" } }), [
      "rollout:docker.host ssh://deploy@10.0.0.5:2222 needs the host's key pinned: exactly one of docker.ssh.hostKey (its public key line, from `ssh-keyscan -p 2222 10.0.0.5` on a trusted network) or docker.ssh.knownHostsFile (a known_hosts file listing it); an unknown host key is never accepted",
    ]);
  });

  it("refuses an ssh host without a key, or with two", () => {
    const noKey = dockerHostProblems({ host: "ssh://deploy@10.0.0.5", ssh: { hostKey: HOST_KEY } });
    const twoKeys = dockerHostProblems({
      host: "ssh://deploy@10.0.0.5",
      ssh: { ...ssh, keyFile: "/k" },
    });
    for (const problems of [noKey, twoKeys]) {
      assert.deepEqual(problems, [
        "rollout:docker.host ssh://deploy@10.0.0.5 needs exactly one of docker.ssh.keySecret (the name of a secret holding the private key, e.g. dockerSshKey) or docker.ssh.keyFile (a key file's path)",
      ]);
    }
    assert.equal(dockerHostProblems({ host: "ssh://deploy@10.0.0.5" }).length, 2, "no docker.ssh at all");
  });

  it("refuses ssh settings on a host that is not ssh://", () => {
    assert.deepEqual(dockerHostProblems({ host: "unix:///var/run/docker.sock", ssh }), [
      "rollout:docker.ssh is set but rollout:docker.host unix:///var/run/docker.sock is not ssh://; remove docker.ssh or use an ssh:// host",
    ]);
  });

  it("is the config loader's check too, and a key secret must be set", () => {
    const raw = (docker: unknown) => ({ ...minimalRawConfig(), docker });
    const tcp = configProblems(raw({ host: "tcp://10.0.0.5:2375" }), {
      databasePassword: true,
      appDatabasePassword: true,
    });
    assert.equal(tcp.length, 1);
    assert.match(tcp[0], /^rollout:docker .*is plain TCP.*docker\.tlsCertPath/);
    const problems = configProblems(raw({ host: "ssh://deploy@10.0.0.5", ssh }), {
      databasePassword: true,
      appDatabasePassword: true,
    });
    assert.equal(problems.length, 1);
    assert.match(problems[0], /rollout:secrets\.dockerSshKey is missing \(.*rollout:docker\.ssh\.keySecret/);
    const config = loadConfig("dev", raw({ host: "ssh://deploy@10.0.0.5", ssh }), {
      databasePassword: true,
      appDatabasePassword: true,
      dockerSshKey: true,
    });
    assert.deepEqual(config.docker, { host: "ssh://deploy@10.0.0.5", ssh });
  });
});

describe("Docker over SSH", () => {
  it("gives the provider ssh options that check the host key, never prompt and use only the key", () => {
    const settings = dockerProviderSettings({
      url: "ssh://deploy@10.0.0.5",
      sshFolder: "/tmp/rollout-docker-x",
    });
    assert.equal(settings.host, "ssh://deploy@10.0.0.5");
    const opts = settings.sshOpts!;
    const options = opts.flatMap((a, i) => (opts[i - 1] === "-o" ? [a] : []));
    for (const o of [
      "StrictHostKeyChecking=yes",
      "UserKnownHostsFile=/tmp/rollout-docker-x/known_hosts",
      "GlobalKnownHostsFile=/dev/null",
      "BatchMode=yes",
      "IdentitiesOnly=yes",
      "IdentityAgent=none",
      "PasswordAuthentication=no",
    ]) {
      assert.ok(options.includes(o), o);
    }
    assert.deepEqual(opts.slice(0, 4), ["-F", "none", "-i", "/tmp/rollout-docker-x/key"]);
    assert.ok(!opts.some((o) => /accept-new|=no$/.test(o) && o.startsWith("StrictHostKeyChecking")));
    assert.deepEqual(dockerProviderSettings({ url: "unix:///var/run/docker.sock" }), {
      host: "unix:///var/run/docker.sock",
    });
  });

  it("writes the key, the pinned host key and an ssh for the CLI to a private folder, removed when its process ends", () => {
    const script = `
      const { openDockerHost, dockerCliEnv } = require(${JSON.stringify(path.resolve("engines/dockerHost.ts"))});
      const e = openDockerHost(${JSON.stringify({ host: "ssh://deploy@198.18.0.2:2222", ssh })}, ${JSON.stringify(KEY)}, "unit", "/");
      console.log(JSON.stringify({ e, path: dockerCliEnv(e).PATH.split(":")[0] }));`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "-e", script], { encoding: "utf8" });
    const { e, path: bin } = JSON.parse(out) as { e: { sshFolder: string }; path: string };
    // The watcher keeps the folder until the process that opened it is gone, then removes it.
    for (let i = 0; i < 50 && fs.existsSync(e.sshFolder); i++) spawnSync("sleep", ["0.1"]);
    assert.ok(!fs.existsSync(e.sshFolder), `${e.sshFolder} is removed after its process exits`);
    assert.equal(bin, path.join(e.sshFolder, "bin"));
  });

  it("the folder's files: key 0600 with its newline, host key pinned for the port, an ssh that reads only its config", async () => {
    let used = "";
    await withDockerHost({ host: "ssh://deploy@198.18.0.2:2222", ssh }, KEY, "/", async (endpoint) => {
      const folder = endpoint.sshFolder!;
      used = folder;
      assert.equal(fs.statSync(folder).mode & 0o777, 0o700);
      assert.equal(fs.statSync(path.join(folder, "key")).mode & 0o777, 0o600);
      assert.equal(fs.readFileSync(path.join(folder, "key"), "utf8"), `${KEY}\n`);
      assert.equal(
        fs.readFileSync(path.join(folder, "known_hosts"), "utf8"),
        `[198.18.0.2]:2222 ${HOST_KEY}\n`,
      );
      const env = dockerCliEnv(endpoint, { PATH: "/usr/bin:/bin" });
      assert.equal(env.DOCKER_HOST, "ssh://deploy@198.18.0.2:2222");
      // What the CLI's ssh would do, asked of ssh itself (-G prints the settings, connects nowhere).
      const settings = execFileSync("ssh", ["-G", "-p", "2222", "deploy@198.18.0.2"], {
        env,
        encoding: "utf8",
      });
      for (const line of [
        `identityfile ${path.join(folder, "key")}`,
        "stricthostkeychecking true",
        `userknownhostsfile ${path.join(folder, "known_hosts")}`,
        "batchmode yes",
        "identitiesonly yes",
      ]) {
        assert.ok(settings.split("\n").includes(line), `${line} in\n${settings}`);
      }
      // The provider's options say the same.
      const viaOptions = execFileSync(
        "ssh",
        ["-G", ...sshOptions(folder), "-p", "2222", "deploy@198.18.0.2"],
        {
          encoding: "utf8",
        },
      );
      assert.ok(viaOptions.split("\n").includes("stricthostkeychecking true"));
      // The key is in no command line: the wrapper names the config only.
      assert.ok(!fs.readFileSync(path.join(folder, "bin", "ssh"), "utf8").includes("BEGIN"));
    });
    assert.ok(used.startsWith(path.join(os.tmpdir(), "rollout-docker-")), used);
    assert.ok(!fs.existsSync(used), "the deploy command's folder is gone afterwards");
  });

  it("says what to do when the CLI runs after the operation's files are gone", () => {
    assert.throws(
      () => dockerCliEnv({ url: "ssh://deploy@10.0.0.5", sshFolder: "/nonexistent/rollout-docker-x" }),
      /the SSH settings for ssh:\/\/deploy@10\.0\.0\.5 \(\/nonexistent\/rollout-docker-x\) are gone: .* run it again with `pulumi up`/,
    );
  });

  it("refuses an empty key secret and a missing key file, naming them", () => {
    assert.throws(
      () => openDockerHost({ host: "ssh://deploy@10.0.0.5", ssh }, "  ", "unit", "/"),
      /the secret docker\.ssh\.keySecret \(dockerSshKey\) for ssh:\/\/deploy@10\.0\.0\.5 is empty/,
    );
    assert.throws(
      () =>
        openDockerHost(
          { host: "ssh://deploy@10.0.0.5", ssh: { keyFile: "missing_key", hostKey: HOST_KEY } },
          undefined,
          "unit",
          "/nonexistent",
        ),
      /rollout:docker\.ssh\.keyFile \/nonexistent\/missing_key does not exist; fix the path or use docker\.ssh\.keySecret/,
    );
  });

  it("points the CLI at the TLS folder for tcp://", () => {
    const env = dockerCliEnv({ url: "tcp://10.0.0.5:2376", tlsCertPath: "/etc/docker-certs" }, {});
    assert.deepEqual(
      [env.DOCKER_HOST, env.DOCKER_TLS_VERIFY, env.DOCKER_CERT_PATH],
      ["tcp://10.0.0.5:2376", "1", "/etc/docker-certs"],
    );
    assert.deepEqual(
      dockerProviderSettings({ url: "tcp://10.0.0.5:2376", tlsCertPath: "/c" }).certPath,
      "/c",
    );
  });
});

describe("a rollback's Docker login", () => {
  const host = (value: Record<string, unknown>) => ({ value: JSON.stringify(value), secret: false });
  const today = host({
    host: "ssh://deploy@app.prod.example.com",
    ssh: { keySecret: "sshPrivateKey", knownHostsFile: "ops/known_hosts" },
  });

  it("keeps today's key and pinned host key when the update it goes back to had none for that host", () => {
    const target = { "rollout:docker": host({ host: "ssh://deploy@app.prod.example.com" }) };
    assert.deepEqual(dockerLoginKept(target, { "rollout:docker": today }), { "rollout:docker": today });
  });

  it("leaves the update's own settings for another host, and changes nothing without settings today", () => {
    const other = { "rollout:docker": host({ host: "ssh://deploy@old.example.com" }) };
    assert.deepEqual(dockerLoginKept(other, { "rollout:docker": today }), {});
    assert.deepEqual(dockerLoginKept(other, {}), {});
  });
});
