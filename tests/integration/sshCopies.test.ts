// Backup copies to a second host over SSH, against the real OpenSSH server local-env/sshd.sh starts
// (key login only, the host's key pinned): what lands is checked on the host with an ssh of the
// test's own, a copy the host hands back changed fails and is deleted, the host keeps its own
// newest N, a copy is fetched back when the local file is gone, a wrong host key or a key the host
// does not know is refused, and the private key is in no message and no leftover file.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  backupFileName,
  copyBackup,
  fetchCopy,
  requireCopies,
  type SshCopyTarget,
} from "../../engines/backup";
import { withSsh } from "../../engines/ssh";
import { corruptingSshd, onHost, sshServer } from "../support/ssh";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");
/** Folders the engine made for keys and pinned host keys, still on disk. */
const scratchDirs = () => fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("rollout-ssh-"));

describe("backup copies over SSH: the engine against the real sshd", () => {
  const stack = "itest-sshcopy";
  let work: string;
  let remote: string;
  let corrupt: Awaited<ReturnType<typeof corruptingSshd>>;

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "itest-sshcopy-"));
    // The host is this machine: the remote folder is a local path the test can clean up.
    remote = path.join(work, "remote");
    corrupt = await corruptingSshd(path.join(work, "corrupt-remote"));
  });
  after(async () => {
    await corrupt?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  function backupFile(release: string, when: string, bytes = 300_000) {
    const folder = path.join(work, "local", stack);
    fs.mkdirSync(folder, { recursive: true });
    const file = path.join(folder, backupFileName(stack, release, new Date(when)));
    const data = randomBytes(bytes);
    fs.writeFileSync(file, data);
    return { file, sha256: sha256(data), data };
  }
  /** The local sshd with the key as a secret's text and its host key pinned, as a stack configures it. */
  const target = (extra: Partial<SshCopyTarget> = {}): SshCopyTarget => {
    const s = sshServer();
    return {
      kind: "ssh",
      host: s.destination,
      port: s.port,
      privateKey: s.privateKey,
      hostKey: s.hostKey,
      path: remote,
      keep: 0,
      ...extra,
    } as SshCopyTarget;
  };

  it("a copy lands on the host with its sidecar, measured there, and is checked by an ssh of our own", async () => {
    const scratchBefore = scratchDirs();
    const backup = backupFile("1.0.0", "2026-01-01T10:00:00Z");
    const [result] = await copyBackup({ ...backup, stack, targets: [target()], protectReleases: [] });
    const name = path.basename(backup.file);
    const key = `${remote}/${stack}/${name}`;
    assert.deepEqual(
      [result.verified, result.key, result.bytes, result.sha256, result.error],
      [true, key, backup.data.length, backup.sha256, undefined],
    );
    assert.equal(result.location, `ssh://${sshServer().destination}:${sshServer().port}${remote}`);
    const [remoteSum] = onHost(`sha256sum ${key}`).split(/\s+/);
    assert.equal(remoteSum, backup.sha256);
    assert.equal(onHost(`cat ${key}.sha256`), `${backup.sha256}  ${name}\n`);
    assert.deepEqual(onHost(`ls -1A ${remote}/${stack}`).trim().split("\n").sort(), [name, `${name}.sha256`]);
    assert.deepEqual(scratchDirs(), scratchBefore, "the key's temporary folder is gone");
  });

  it("a key file and a known_hosts file work as well as a secret and a pinned key", async () => {
    const s = sshServer();
    const out = await withSsh(
      { host: s.destination, port: s.port, keyFile: s.keyFile, knownHostsFile: s.knownHostsFile },
      (ssh) => ssh.run("echo $(id -un) on $(hostname)", { what: "a login" }),
    );
    assert.match(out, /^root on \S+\n$/);
  });

  it("a copy whose read-back on the host differs is deleted and reported, and requiredCopies refuses it", async () => {
    const backup = backupFile("1.1.0", "2026-01-02T10:00:00Z");
    const corruptRemote = path.join(work, "corrupt-remote");
    const [bad, good] = await copyBackup({
      ...backup,
      stack,
      targets: [target({ port: corrupt.port, hostKey: corrupt.hostKey, path: corruptRemote }), target()],
      protectReleases: [],
    });
    assert.equal(bad.verified, false);
    assert.match(
      bad.error!,
      new RegExp(
        `^read-back differs: stored size 300000, read 300000 bytes hashing to [0-9a-f]{64}; the backup is 300000 bytes with SHA-256 ${backup.sha256}\\. The copy was deleted$`,
      ),
    );
    assert.notEqual(bad.sha256, backup.sha256);
    assert.equal(good.verified, true);
    assert.deepEqual(
      fs.readdirSync(path.join(corruptRemote, stack)),
      [],
      "the bad copy and its sidecar were deleted",
    );
    assert.throws(
      () => requireCopies(backup.file, [bad, good], 3),
      (e: Error) =>
        /backup has 2 verified copies .* fewer than the 3 backup\.requiredCopies/.test(e.message) &&
        /read-back differs/.test(e.message),
    );
  });

  it("the host keeps its own newest N of this stack, and another stack's copies are never touched", async () => {
    const keepRemote = path.join(work, "keep-remote");
    const other = backupFile("x", "2020-01-01T00:00:00Z", 1024);
    await copyBackup({
      ...other,
      stack: "itest-sshcopy-other",
      targets: [target({ path: keepRemote })],
      protectReleases: [],
    });
    const names: string[] = [];
    for (const [i, release] of ["r1", "r2", "r3", "r4"].entries()) {
      const backup = backupFile(release, `2026-02-0${i + 1}T10:00:00Z`, 4096);
      names.push(path.basename(backup.file));
      const [r] = await copyBackup({
        ...backup,
        stack,
        targets: [target({ path: keepRemote, keep: 2 })],
        protectReleases: release === "r4" ? ["r2"] : [],
      });
      assert.equal(r.verified, true);
      if (release === "r3") assert.deepEqual(r.removedByRetention, [`${keepRemote}/${stack}/${names[0]}`]);
    }
    const onDisk = onHost(`ls -1A ${keepRemote}/${stack}`).trim().split("\n").sort();
    assert.deepEqual(onDisk, [
      names[1],
      `${names[1]}.sha256`,
      names[2],
      `${names[2]}.sha256`,
      names[3],
      `${names[3]}.sha256`,
    ]);
    assert.equal(onHost(`ls -1A ${keepRemote}/itest-sshcopy-other | wc -l`).trim(), "2");
  });

  it("fetches a copy back from the host when the local file is gone, verified against the recorded SHA-256", async () => {
    const backup = backupFile("2.0.0", "2026-03-01T10:00:00Z");
    await copyBackup({ ...backup, stack, targets: [target()], protectReleases: [] });
    fs.rmSync(backup.file);
    const into = path.join(work, "restored");
    const { fetched, problems } = await fetchCopy({
      targets: [target()],
      stack,
      release: "2.0.0",
      dir: into,
      sha256: backup.sha256,
    });
    assert.deepEqual(problems, []);
    assert.equal(fetched?.sha256, backup.sha256);
    assert.ok(fs.readFileSync(fetched!.path).equals(backup.data), "the exact bytes came back");
    assert.match(fetched!.from, /^ssh:\/\/root@127\.0\.0\.1:\d+\//);
    // A copy that does not hash to what state recorded is not used.
    const wrong = await fetchCopy({
      targets: [target()],
      stack,
      release: "2.0.0",
      dir: path.join(work, "restored-wrong"),
      sha256: "0".repeat(64),
    });
    assert.equal(wrong.fetched, undefined);
    assert.match(wrong.problems[0], /hashes to [0-9a-f]{64}, not the recorded 0{64}; not used$/);
    assert.deepEqual(fs.readdirSync(path.join(work, "restored-wrong")), [], "no half file is left");
  });

  it("a host whose key is not the pinned one is refused before anything is sent", async () => {
    const backup = backupFile("3.0.0", "2026-04-01T10:00:00Z", 1024);
    const wrongRemote = path.join(work, "wrong-host");
    const [r] = await copyBackup({
      ...backup,
      stack,
      // The corrupting sshd's key, pinned for the real one.
      targets: [target({ hostKey: corrupt.hostKey, path: wrongRemote })],
      protectReleases: [],
    });
    assert.equal(r.verified, false);
    assert.match(
      r.error!,
      /^upload failed: upload of \S+ on ssh:\/\/root@127\.0\.0\.1:\d+ failed \(exit 255\): .*Host key verification failed/,
    );
    assert.match(r.error!, /the host's key is not the pinned one/);
    assert.equal(fs.existsSync(wrongRemote), false, "nothing reached the host");
  });

  it("a key the host does not know is refused, and no key text is in the message", async () => {
    const keyDir = fs.mkdtempSync(path.join(work, "key-"));
    execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-f", path.join(keyDir, "k")]);
    const unknownKey = fs.readFileSync(path.join(keyDir, "k"), "utf8");
    const backup = backupFile("3.1.0", "2026-04-02T10:00:00Z", 1024);
    const [r] = await copyBackup({
      ...backup,
      stack,
      targets: [target({ privateKey: unknownKey, path: path.join(work, "unknown-key") })],
      protectReleases: [],
    });
    assert.equal(r.verified, false);
    assert.match(
      r.error!,
      /Permission denied \(publickey\).*put its public key in the user's authorized_keys/,
    );
    const body = unknownKey.split("\n")[1];
    assert.ok(body.length > 20 && !r.error!.includes(body), "no line of the key is in the error");
  });
});
