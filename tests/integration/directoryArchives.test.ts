// Directory archives against real directories, GNU tar and the real sshd local-env/sshd.sh starts:
// a directory archived here and over SSH is listed whole and matches the directory (files, bytes,
// excludes); a cut or corrupted archive fails verification and is never restored; a restore over
// SSH gives the exact files back and leaves excluded paths alone; an archive copied to the host
// over SSH comes back verified.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  copyBackup,
  fetchCopy,
  listArchive,
  restoreDirectoryArchive,
  takeDirectoryArchive,
  type ArchiveSpec,
} from "../../engines/backup";
import type { SshTarget } from "../../engines/ssh";
import { sshServer } from "../support/ssh";

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

/** Every regular file under `dir` (relative path -> sha256), skipping names in `skip`. */
function tree(dir: string, skip: readonly string[] = []): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (rel: string) => {
    for (const e of fs.readdirSync(path.join(dir, rel), { withFileTypes: true })) {
      const p = path.join(rel, e.name);
      if (skip.includes(p)) continue;
      if (e.isDirectory()) walk(p);
      else if (e.isFile()) out[p] = sha256(fs.readFileSync(path.join(dir, p)));
    }
  };
  walk("");
  return out;
}

describe("directory archives: the engine against real directories and the real sshd", () => {
  const stack = "itest-archive";
  let work: string;
  let dir: string;
  let host: SshTarget;
  let original: Record<string, string>;
  const excludes = ["node_modules", "cache/*"];
  const spec = (extra: Partial<ArchiveSpec> = {}): ArchiveSpec => ({
    name: "uploads",
    path: dir,
    excludes,
    ...extra,
  });
  const take = (release: string, extra: Partial<ArchiveSpec> = {}, seconds = 0) =>
    takeDirectoryArchive({
      ...spec(extra),
      dir: path.join(work, "backups"),
      stack,
      release,
      minFiles: 1,
      keep: 0,
      protectReleases: [],
      now: new Date(Date.UTC(2026, 0, 1, 10, 0, seconds)),
    });

  before(() => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "itest-archive-"));
    dir = path.join(work, "uploads");
    for (const [rel, bytes] of [
      ["a/b/photo 1.jpg", 150_000],
      ["a/b/photo-2.jpg", 70_000],
      ["docs/it's here.pdf", 33_333],
      ["empty.txt", 0],
      ["node_modules/x/index.js", 500],
      ["a/node_modules/y.js", 20],
      ["cache/c1.bin", 4096],
    ] as const) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), randomBytes(bytes));
    }
    fs.mkdirSync(path.join(dir, "empty-dir"));
    original = tree(dir);
    const s = sshServer();
    host = { host: s.destination, port: s.port, privateKey: s.privateKey, hostKey: s.hostKey };
  });
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  const kept = ["a/b/photo 1.jpg", "a/b/photo-2.jpg", "docs/it's here.pdf", "empty.txt"];
  const keptBytes = 150_000 + 70_000 + 33_333;

  it("archives a local directory: listing equals the directory without the excludes, SHA-256 recorded", async () => {
    const r = await take("1.0.0");
    assert.deepEqual([r.files, r.fileBytes, r.source], [4, keptBytes, dir]);
    assert.match(
      r.path,
      new RegExp(`/backups/archives/uploads/${stack}/${stack}_1\\.0\\.0_20260101T100000Z\\.tar\\.gz$`),
    );
    const data = fs.readFileSync(r.path);
    assert.equal(r.bytes, data.length);
    assert.equal(r.sha256, sha256(data));
    assert.equal(fs.readFileSync(`${r.path}.sha256`, "utf8"), `${r.sha256}  ${path.basename(r.path)}\n`);
    // GNU tar's own listing of the file agrees with what the engine verified.
    const members = execFileSync("tar", ["-tzf", r.path], { encoding: "utf8" })
      .split("\n")
      .filter((m) => m !== "" && !m.endsWith("/"))
      .map((m) => m.replace(/^\.\//, ""))
      .sort();
    assert.deepEqual(members, kept);
  });

  it("archives the same directory over SSH with the same listing and the same bytes inside", async () => {
    const local = await take("1.0.1", {}, 1);
    const remote = await take("1.0.1", { host }, 2);
    assert.equal(remote.source, `ssh://${host.host}:${host.port}${dir}`);
    assert.deepEqual([remote.files, remote.fileBytes], [local.files, local.fileBytes]);
    const out = path.join(work, "extracted");
    fs.mkdirSync(out);
    execFileSync("tar", ["-xzf", remote.path, "-C", out]);
    assert.deepEqual(tree(out), Object.fromEntries(kept.map((k) => [k, original[k]])));
  });

  it("a cut or corrupted archive fails verification, and a restore refuses it before touching the directory", async () => {
    const r = await take("1.1.0", {}, 3);
    const data = fs.readFileSync(r.path);
    const cut = path.join(work, "cut.tar.gz");
    fs.writeFileSync(cut, data.subarray(0, data.length - 200));
    await assert.rejects(
      listArchive(cut),
      /archive .*cut\.tar\.gz cannot be read whole \(.*\); it is cut short or corrupted/,
    );
    const flipped = Buffer.from(data);
    flipped[Math.floor(flipped.length / 2)] ^= 0xff;
    const corrupt = path.join(work, "corrupt.tar.gz");
    fs.writeFileSync(corrupt, flipped);
    await assert.rejects(listArchive(corrupt), /cannot be read whole .*cut short or corrupted/);
    // Restoring: the recorded SHA-256 refuses the corrupted file; a cut file that hashes to what is
    // claimed is still refused by its listing. Either way the directory is as it was.
    await assert.rejects(
      restoreDirectoryArchive({ ...spec({ host }), file: corrupt, sha256: r.sha256 }),
      new RegExp(`hashes to [0-9a-f]{64}, not the recorded ${r.sha256}; it is not restored`),
    );
    await assert.rejects(
      restoreDirectoryArchive({ ...spec({ host }), file: cut, sha256: sha256(fs.readFileSync(cut)) }),
      /cut short or corrupted/,
    );
    assert.deepEqual(tree(dir), original);
  });

  it("refuses a directory with fewer files than minFiles, and a directory that is not there", async () => {
    const emptyDir = path.join(work, "empty");
    fs.mkdirSync(emptyDir);
    await assert.rejects(take("1.2.0", { path: emptyDir }, 4), /has 0 files .* fewer than minFiles 1/);
    await assert.rejects(
      take("1.2.0", { path: path.join(work, "missing"), host }, 5),
      /no directory .*missing/,
    );
  });

  it("a restore over SSH gives the exact files back and leaves the excluded paths alone", async () => {
    const r = await take("2.0.0", { host }, 6);
    // Users write after the backup: a new file, a changed one, a removed one, a new folder.
    fs.writeFileSync(path.join(dir, "new.txt"), "written after the backup");
    fs.writeFileSync(path.join(dir, "a/b/photo-2.jpg"), "replaced");
    fs.rmSync(path.join(dir, "docs/it's here.pdf"));
    fs.mkdirSync(path.join(dir, "later/deep"), { recursive: true });
    fs.writeFileSync(path.join(dir, "later/deep/x"), "x");
    fs.writeFileSync(path.join(dir, "node_modules/x/index.js"), "excluded, changed after the backup");
    const excludedNow = sha256(fs.readFileSync(path.join(dir, "node_modules/x/index.js")));
    fs.mkdirSync(path.join(dir, "node_modules/empty-cache"), { recursive: true });
    const result = await restoreDirectoryArchive({ ...spec({ host }), file: r.path, sha256: r.sha256 });
    assert.deepEqual(result.replaced, { files: 5, bytes: 150_000 + 8 + 0 + 24 + 1 });
    assert.deepEqual(result.restored, { files: 4, bytes: keptBytes });
    const now = tree(dir);
    assert.deepEqual(
      now,
      { ...original, "node_modules/x/index.js": excludedNow },
      "the archive's files are back byte for byte; the excluded ones stay as they were",
    );
    assert.equal(fs.existsSync(path.join(dir, "later")), false, "folders made after the backup are gone");
    assert.ok(fs.existsSync(path.join(dir, "node_modules/empty-cache")), "an empty excluded folder stays");
  });

  it("an archive copied to the host over SSH is fetched back verified into the archive's folder", async () => {
    const r = await take("3.0.0", {}, 7);
    const s = sshServer();
    const target = {
      kind: "ssh" as const,
      host: s.destination,
      port: s.port,
      privateKey: s.privateKey,
      hostKey: s.hostKey,
      path: path.join(work, "second-host"),
      keep: 0,
    };
    const [copy] = await copyBackup({
      file: r.path,
      sha256: r.sha256,
      stack,
      targets: [target],
      group: "archives/uploads",
      protectReleases: [],
    });
    assert.equal(copy.verified, true, copy.error);
    assert.equal(copy.key, `${target.path}/${stack}/archives/uploads/${path.basename(r.path)}`);
    fs.rmSync(r.path);
    const into = path.join(work, "fetched");
    const { fetched, problems } = await fetchCopy({
      targets: [target],
      stack,
      release: "3.0.0",
      group: "archives/uploads",
      dir: into,
      sha256: r.sha256,
    });
    assert.deepEqual(problems, []);
    assert.equal(fetched?.path, path.join(into, path.basename(r.path)));
    assert.deepEqual(await listArchive(fetched!.path), { files: 4, bytes: keptBytes });
  });
});
