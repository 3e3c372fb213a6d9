// Directory archives and copies over SSH in real rollouts, on a stack configured like prod (current
// service and maintenance endpoint required, window enforced and open, approvals required and
// given), against the real sshd: the backup step archives a directory on the host over SSH and
// copies the dump and the archive to a second folder on the host; after the local files are gone,
// `rollback --restore-backup` fetches both back from the SSH copy, says what it replaces, and
// gives the database and the exact files back; the private key is nowhere in plain text.
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { dynamicTypeToken, STEPS } from "../../components/tokens";
import { cli, matchOut, tail, webhookListener } from "../support/cli";
import { ROOT } from "../support/fixtures";
import { approved, prodLike } from "../support/prodLike";
import { onHost, sshServer } from "../support/ssh";
import { createTestStack, query, sampleConfig, type Release, type TestStack } from "../support/stack";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Every regular file under `dir` (relative path -> sha256). */
function tree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[p] = sha256(fs.readFileSync(path.join(dir, p)));
    }
  };
  walk("");
  return out;
}

describe("archives and copies over SSH in a prod-like rollout", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  let work: string;
  /** The directory on the host (this machine, reached over SSH). */
  let uploads: string;
  /** The second folder on the host the copies go to. */
  let remoteCopies: string;
  const output: string[] = [];
  const db = () => ({ database: t.database });
  const schemaVersion = async () =>
    (await query<{ v: string }>("SELECT max(id) AS v FROM rollout_migrations", [], db()))[0].v;
  const checksum = async () =>
    (
      await query<{ n: string; sum: string }>(
        "SELECT count(*) AS n, md5(string_agg(to_jsonb(i)::text, ',' ORDER BY id)) AS sum FROM items i",
        [],
        db(),
      )
    )[0];
  const ssh = () => {
    const s = sshServer();
    return { host: s.destination, port: s.port, keySecret: "sshPrivateKey", hostKey: s.hostKey };
  };
  const withSshBackup = (config: Record<string, unknown>) => ({
    ...config,
    "rollout:backup": {
      ...(config["rollout:backup"] as Record<string, unknown>),
      archives: [{ name: "uploads", path: uploads, host: ssh(), excludes: ["cache"] }],
      copies: [{ kind: "ssh", ...ssh(), path: remoteCopies, keep: 5 }],
    },
  });
  const release = async (r: Release) => approved(t, withSshBackup(prodLike(t, r, `${t.name}-${r}`)));
  const up = (message: string) => t.stack.up({ message, onOutput: (o) => output.push(o) });

  before(async () => {
    hook = await webhookListener();
    work = fs.mkdtempSync(path.join(os.tmpdir(), "itest-sshroll-"));
    uploads = path.join(work, "uploads");
    remoteCopies = path.join(work, "second-host");
    for (const [rel, bytes] of [
      ["2026/11/invoice-1.pdf", 80_000],
      ["2026/11/invoice 2.pdf", 12_345],
      ["avatars/u1.png", 4_000],
      ["cache/thumb.bin", 9_000],
    ] as const) {
      fs.mkdirSync(path.dirname(path.join(uploads, rel)), { recursive: true });
      fs.writeFileSync(path.join(uploads, rel), randomBytes(bytes));
    }
    t = await createTestStack("itest-sshroll");
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    await t.stack.setConfig("rollout:sshPrivateKey", { value: sshServer().privateKey, secret: true });
    // A first install has no service to check or switch: the only time those are allowed.
    await t.setConfig(withSshBackup({ ...sampleConfig(t, "1.0.0"), "rollout:notify": {} }));
    await up("first install 1.0.0");
    await release("1.1.0");
    await up("release 1.1.0");
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await hook?.close();
      fs.rmSync(work ?? "/nonexistent", { recursive: true, force: true });
    }
  });

  it("1. the backup archives the directory over SSH and copies the dump and the archive to the host, verified", async () => {
    const r = (await t.stack.outputs()).report.value as {
      backup: {
        path: string;
        sha256: string;
        copies: { key: string; sha256: string; verified: boolean }[];
        archives: {
          name: string;
          source: string;
          path: string;
          sha256: string;
          files: number;
          fileBytes: number;
          copies: { key: string; sha256: string; verified: boolean }[];
        }[];
      };
    };
    const { backup } = r;
    assert.deepEqual(
      backup.copies.map((c) => [c.key, c.sha256, c.verified]),
      [[`${remoteCopies}/${t.name}/${path.basename(backup.path)}`, backup.sha256, true]],
    );
    assert.equal(backup.archives.length, 1);
    const [a] = backup.archives;
    assert.deepEqual(
      [a.name, a.source, a.files, a.fileBytes],
      [
        "uploads",
        `ssh://${sshServer().destination}:${sshServer().port}${uploads}`,
        3,
        80_000 + 12_345 + 4_000,
      ],
    );
    assert.equal(path.dirname(a.path), path.join(t.backupDir, "archives", "uploads", t.name));
    assert.equal(sha256(fs.readFileSync(a.path)), a.sha256);
    const remoteKey = `${remoteCopies}/${t.name}/archives/uploads/${path.basename(a.path)}`;
    assert.deepEqual(
      a.copies.map((c) => [c.key, c.sha256, c.verified]),
      [[remoteKey, a.sha256, true]],
    );
    // Checked on the host with an ssh of the test's own.
    assert.equal(onHost(`sha256sum ${remoteKey}`).split(/\s+/)[0], a.sha256);
    assert.equal(await schemaVersion(), "0003");
  });

  it("2. --restore-backup fetches the dump and the archive from the SSH copy and gives the exact files back", async () => {
    await release("1.2.0");
    const rowsBefore = await checksum();
    const filesBefore = tree(uploads);
    await up("release 1.2.0");
    assert.equal(await schemaVersion(), "0004");
    // Users write under 1.2.0: a row, a new upload, a changed one, a removed one.
    await query("INSERT INTO items (name, status) VALUES ('written under 1.2.0', 'open')", [], db());
    fs.writeFileSync(path.join(uploads, "avatars/u2.png"), "new under 1.2.0");
    fs.writeFileSync(path.join(uploads, "2026/11/invoice-1.pdf"), "changed under 1.2.0");
    fs.rmSync(path.join(uploads, "2026/11/invoice 2.pdf"));
    fs.writeFileSync(path.join(uploads, "cache/thumb.bin"), "excluded, rebuilt under 1.2.0");
    const cacheNow = sha256(fs.readFileSync(path.join(uploads, "cache/thumb.bin")));
    // The local dump and archive of 1.2.0 are gone: only the second host has them.
    const prefix = `${t.name}_${t.name}-1.2.0_`;
    for (const folder of [
      path.join(t.backupDir, t.name),
      path.join(t.backupDir, "archives", "uploads", t.name),
    ]) {
      const gone = fs.readdirSync(folder).filter((n) => n.startsWith(prefix));
      assert.equal(gone.length, 2, `${folder} held the file and its sidecar: ${gone.join(", ")}`);
      for (const f of gone) fs.rmSync(path.join(folder, f));
    }

    const run = await cli(t, ["rollback", "--restore-backup", "--yes"]);
    output.push(run.output);
    assert.equal(run.code, 0, tail(run.output));
    matchOut(run.output, /no local backup of release itest-sshroll-\w+-1\.2\.0 .*; fetching it from a copy/);
    matchOut(
      run.output,
      /no local archive uploads of release itest-sshroll-\w+-1\.2\.0; fetching it from a copy/,
    );
    matchOut(
      run.output,
      /fetched \S+\/archives\/uploads\/\S+\.tar\.gz from ssh:\/\/root@127\.0\.0\.1:\d+\/\S+ \(sha256 [0-9a-f]{64} verified\)/,
    );
    // What it replaces, said before it asks: the directory, its files now, and the archive's.
    matchOut(
      run.output,
      new RegExp(
        `the contents of directory ssh://root@127\\.0\\.0\\.1:\\d+${uploads.replace(/[.]/g, "\\.")} \\(3 files, \\d+ bytes now; cache left alone\\) with the 3 files \\(96345 bytes\\) of \\S+\\.tar\\.gz`,
      ),
    );
    matchOut(run.output, /restored \d+ tables from /);
    matchOut(run.output, /restored 3 files of archive uploads into ssh:\/\/root@127\.0\.0\.1:\d+\//);
    assert.deepEqual(await checksum(), rowsBefore);
    assert.equal(await schemaVersion(), "0003");
    assert.deepEqual(tree(uploads), { ...filesBefore, "cache/thumb.bin": cacheNow });
    const r = (await t.stack.outputs()).report.value as {
      rollback: { restored: { archives: { name: string; files: number }[] } };
      maintenance: { on: { outcome: string }; off: { outcome: string } };
    };
    assert.deepEqual(
      r.rollback.restored.archives.map((a) => [a.name, a.files]),
      [["uploads", 3]],
    );
    assert.equal(r.maintenance.off.outcome, "switched");
  });

  it("3. the private key is nowhere in plain text: state, backend files, stack file, outputs, output", async () => {
    const key = sshServer().privateKey;
    // Each line of the key's body, so a key written with other line breaks is found too.
    const needles = key.split("\n").filter((l) => l.length > 20 && !l.startsWith("-----"));
    assert.ok(needles.length >= 2, "the key has body lines to look for");
    const backendDir = t.backendUrl.replace(/^file:\/\//, "");
    const files: string[] = [];
    const walk = (dir: string) => {
      for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, entry.name);
        if (entry.isDirectory()) walk(p);
        else files.push(p);
      }
    };
    walk(backendDir);
    files.push(path.join(ROOT, `Pulumi.${t.name}.yaml`));
    const stateFile = files.find(
      (f) => f.endsWith(`${path.sep}${t.name}.json`) && f.includes(`${path.sep}stacks${path.sep}`),
    );
    assert.ok(stateFile, `the stack's state file is among ${files.length} backend files`);
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as {
      checkpoint: { latest: { resources: { type: string; inputs?: Record<string, unknown> }[] } };
    };
    const backupRun = state.checkpoint.latest.resources.find(
      (r) => r.type === dynamicTypeToken(STEPS.backup),
    );
    for (const part of ["copies", "archives"]) {
      const stored = JSON.stringify(backupRun?.inputs?.[part]);
      assert.match(stored, /"ciphertext":"v1:/, `the backup step's ${part} are stored encrypted`);
    }
    for (const f of files.filter((f) => fs.existsSync(f))) {
      const text = fs.readFileSync(f, "utf8");
      for (const n of needles) assert.ok(!text.includes(n), f);
    }
    const outputs = JSON.stringify(await t.stack.outputs());
    const said = output.join("");
    assert.ok(said.length > 1000);
    for (const n of needles) {
      assert.ok(!outputs.includes(n), "stack outputs");
      assert.ok(!said.includes(n), "up and rollback output");
    }
    assert.deepEqual(
      fs.readdirSync(os.tmpdir()).filter((n) => n.startsWith("rollout-ssh-")),
      [],
      "no temporary key folder is left behind",
    );
  });
});
