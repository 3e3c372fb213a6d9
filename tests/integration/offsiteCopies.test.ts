// Copies of backups that really land, against the real S3-compatible server local-env/s3.sh starts
// (gofakes3, every request's signature checked) and real folders: what lands is read back with the
// SDK and hashed; a read-back that differs (a proxy that flips a byte of every GET body) fails the
// copy and, with requiredCopies, the backup before the schema moves; each place keeps its own
// newest N; --restore-backup fetches the S3 copy when the local file is gone, on a stack configured
// like prod (current service and maintenance endpoint required, window enforced and open, approvals
// required and given); and the S3 secret key is nowhere in the stack's files, outputs or command
// output.
import {
  CreateBucketCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  S3Client,
} from "@aws-sdk/client-s3";
import assert from "node:assert/strict";
import { createHash, randomBytes } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import {
  backupFileName,
  copyBackup,
  fetchCopy,
  requireCopies,
  type CopyTarget,
  type S3CopyTarget,
} from "../../engines/backup";
import { cli, matchOut, tail, webhookListener } from "../support/cli";
import { dynamicTypeToken, STEPS } from "../../components/tokens";
import { ROOT } from "../support/fixtures";
import { approved, prodLike } from "../support/prodLike";
import { createTestStack, query, sampleConfig, type TestStack } from "../support/stack";

/** The local S3 server, from the variables scripts/test.sh exports (`local-env/s3.sh env`). */
function s3Server() {
  const keys = ["ROLLOUT_S3_ENDPOINT", "ROLLOUT_S3_REGION", "ROLLOUT_S3_ACCESS_KEY", "ROLLOUT_S3_SECRET_KEY"];
  const missing = keys.filter((k) => !process.env[k]);
  if (missing.length > 0) {
    throw new Error(
      `the copy tests need ${missing.join(", ")}; run them through \`npm test\` (scripts/test.sh), or: eval "$(bash local-env/s3.sh env)"`,
    );
  }
  return {
    endpoint: process.env.ROLLOUT_S3_ENDPOINT!,
    region: process.env.ROLLOUT_S3_REGION!,
    accessKeyId: process.env.ROLLOUT_S3_ACCESS_KEY!,
    secretAccessKey: process.env.ROLLOUT_S3_SECRET_KEY!,
  };
}

function client(endpoint = s3Server().endpoint, secretAccessKey = s3Server().secretAccessKey) {
  const s = s3Server();
  return new S3Client({
    endpoint,
    region: s.region,
    forcePathStyle: true,
    credentials: { accessKeyId: s.accessKeyId, secretAccessKey },
  });
}

async function newBucket(prefix: string): Promise<string> {
  const bucket = `${prefix}-${randomBytes(4).toString("hex")}`;
  await client().send(new CreateBucketCommand({ Bucket: bucket }));
  return bucket;
}

const sha256 = (data: Buffer) => createHash("sha256").update(data).digest("hex");

async function objectBytes(bucket: string, key: string): Promise<Buffer> {
  const got = await client().send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  return Buffer.from(await got.Body!.transformToByteArray());
}

async function keys(bucket: string, prefix: string): Promise<string[]> {
  const page = await client().send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
  return (page.Contents ?? []).map((o) => o.Key!).sort();
}

async function exists(bucket: string, key: string): Promise<boolean> {
  try {
    await client().send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
    return true;
  } catch (error) {
    if ((error as { name?: string }).name === "NotFound") return false;
    throw error;
  }
}

/**
 * A proxy in front of the real server that passes every request through unchanged (so signatures
 * still hold) and flips the first byte of every successful GET body: what a bad disk or a broken
 * cache would serve back. Uploads land intact; only the read-back differs.
 */
/** `/bucket/key...` with no listing query: a GET of one object. */
const isObject = (url: string) => {
  const [pathPart, q = ""] = url.split("?");
  return pathPart.split("/").filter(Boolean).length >= 2 && !/(^|&)list-type=/.test(q);
};

async function corruptingProxy(): Promise<{ url: string; close: () => Promise<void> }> {
  const upstream = new URL(s3Server().endpoint);
  const server = http.createServer((req, res) => {
    const forward = http.request(
      {
        host: upstream.hostname,
        port: upstream.port,
        method: req.method,
        path: req.url,
        headers: req.headers,
      },
      (up) => {
        const chunks: Buffer[] = [];
        up.on("data", (c: Buffer) => chunks.push(c));
        up.on("end", () => {
          const body = Buffer.concat(chunks);
          if (req.method === "GET" && up.statusCode === 200 && body.length > 0 && isObject(req.url!)) {
            body[0] ^= 0xff;
          }
          res.writeHead(up.statusCode ?? 502, up.headers);
          res.end(body);
        });
      },
    );
    req.pipe(forward);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe("backup copies: the engine against the real S3 server and folders", () => {
  const stack = "copies-itest";
  let work: string;
  let bucket: string;
  let proxy: Awaited<ReturnType<typeof corruptingProxy>>;

  before(async () => {
    work = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-copies-"));
    bucket = await newBucket("itest-copies");
    proxy = await corruptingProxy();
  });
  after(async () => {
    await proxy?.close();
    fs.rmSync(work, { recursive: true, force: true });
  });

  /** A backup-named file of random bytes in the local folder, with its SHA-256. */
  function backupFile(release: string, when: string, bytes = 200_000) {
    const folder = path.join(work, "local", stack);
    fs.mkdirSync(folder, { recursive: true });
    const file = path.join(folder, backupFileName(stack, release, new Date(when)));
    const data = randomBytes(bytes);
    fs.writeFileSync(file, data);
    return { file, sha256: sha256(data), data };
  }
  const s3 = (extra: Partial<S3CopyTarget> = {}): S3CopyTarget => ({
    kind: "s3",
    ...s3Server(),
    bucket,
    prefix: "db/",
    keep: 0,
    ...extra,
  });

  it("copies land in S3 and in a folder, read back whole with the backup's SHA-256", async () => {
    const backup = backupFile("1.0.0", "2026-01-01T10:00:00Z");
    const dir = path.join(work, "second-disk");
    const results = await copyBackup({
      ...backup,
      stack,
      targets: [s3(), { kind: "dir", path: dir, keep: 0 }],
      protectReleases: [],
    });
    assert.deepEqual(
      results.map((r) => [r.verified, r.sha256, r.bytes, r.error]),
      [
        [true, backup.sha256, backup.data.length, undefined],
        [true, backup.sha256, backup.data.length, undefined],
      ],
    );
    const key = `db/${stack}/${path.basename(backup.file)}`;
    assert.equal(results[0].key, key);
    // Read back independently of the engine: the SDK's own GET, and the file on the other disk.
    assert.equal(sha256(await objectBytes(bucket, key)), backup.sha256);
    const copied = path.join(dir, stack, path.basename(backup.file));
    assert.equal(results[1].key, copied);
    assert.equal(sha256(fs.readFileSync(copied)), backup.sha256);
    assert.equal(fs.readFileSync(`${copied}.sha256`, "utf8").split(/\s+/)[0], backup.sha256);
    assert.doesNotThrow(() => requireCopies(backup.file, results, 3));
  });

  it("a copy whose read-back differs is deleted and reported, and requiredCopies refuses the backup", async () => {
    const backup = backupFile("1.1.0", "2026-01-02T10:00:00Z");
    const results = await copyBackup({
      ...backup,
      stack,
      targets: [s3({ endpoint: proxy.url }), s3()],
      protectReleases: [],
    });
    const key = `db/${stack}/${path.basename(backup.file)}`;
    assert.equal(results[0].verified, false);
    assert.match(
      results[0].error!,
      /^read-back differs: stored size 200000, read 200000 bytes hashing to [0-9a-f]{64}/,
    );
    assert.notEqual(results[0].sha256, backup.sha256);
    assert.equal(results[1].verified, true);
    // Same bucket and key: the failed copy ran first and deleted its upload; the second wrote it again.
    assert.equal(await exists(bucket, key), true);
    assert.throws(
      () => requireCopies(backup.file, results, 3),
      (e: Error) =>
        /backup has 2 verified copies \(the local file .* and 1 of 2 offsite\), fewer than the 3 backup\.requiredCopies/.test(
          e.message,
        ) && /read-back differs/.test(e.message),
    );
    assert.doesNotThrow(() => requireCopies(backup.file, results, 2));
  });

  it("a copy that fails verification leaves nothing behind in its place", async () => {
    const bucket2 = await newBucket("itest-copies-bad");
    const backup = backupFile("1.1.1", "2026-01-02T11:00:00Z");
    const [result] = await copyBackup({
      ...backup,
      stack,
      targets: [s3({ endpoint: proxy.url, bucket: bucket2 })],
      protectReleases: [],
    });
    assert.equal(result.verified, false);
    assert.deepEqual(await keys(bucket2, ""), [], "the unverified object was deleted");
  });

  it("each place keeps its own newest N of this stack, and a protected release's copy survives", async () => {
    const bucket3 = await newBucket("itest-copies-keep");
    const dir = path.join(work, "keep-disk");
    const targets: CopyTarget[] = [s3({ bucket: bucket3, keep: 2 }), { kind: "dir", path: dir, keep: 3 }];
    const names: string[] = [];
    const inS3 = async () => (await keys(bucket3, `db/${stack}/`)).map((k) => path.basename(k));
    const inDir = () =>
      fs
        .readdirSync(path.join(dir, stack))
        .filter((n) => n.endsWith(".dump"))
        .sort();
    // Another stack's copy in the same places is never touched.
    const other = backupFile("x", "2020-01-01T00:00:00Z", 1024);
    await copyBackup({ ...other, stack: "other-stack", targets, protectReleases: [] });
    for (const [i, release] of ["r1", "r2", "r3", "r4"].entries()) {
      const backup = backupFile(release, `2026-02-0${i + 1}T10:00:00Z`, 4096);
      names.push(path.basename(backup.file));
      // On the last run r2 is the release a rollback undoes: its newest copy is kept whatever its age.
      await copyBackup({ ...backup, stack, targets, protectReleases: release === "r4" ? ["r2"] : [] });
      if (release === "r3") {
        assert.deepEqual(await inS3(), [names[1], names[2]], "S3 keeps 2");
        assert.deepEqual(inDir(), [names[0], names[1], names[2]], "the folder keeps 3");
      }
    }
    assert.deepEqual(await inS3(), [names[1], names[2], names[3]], "r2 is protected beyond keep 2");
    assert.deepEqual(inDir(), [names[1], names[2], names[3]]);
    assert.deepEqual(
      fs.readdirSync(path.join(dir, stack)).filter((n) => n.endsWith(".sha256")).length,
      3,
      "sidecars go with their copies",
    );
    assert.equal((await keys(bucket3, "db/other-stack/")).length, 1);
  });

  it("a wrong secret key is refused by the server and never appears in the error", async () => {
    const backup = backupFile("1.2.0", "2026-01-03T10:00:00Z", 1024);
    const wrong = `wrong-${randomBytes(8).toString("hex")}`;
    const [result] = await copyBackup({
      ...backup,
      stack,
      targets: [s3({ secretAccessKey: wrong })],
      protectReleases: [],
    });
    assert.equal(result.verified, false);
    assert.match(result.error!, /^upload failed: .*signature/i);
    assert.ok(!result.error!.includes(wrong));
  });

  it("fetches a copy back only when it hashes right, trying the next place otherwise", async () => {
    const backup = backupFile("2.0.0", "2026-03-01T10:00:00Z");
    const targets = [s3(), { kind: "dir" as const, path: path.join(work, "fetch-disk"), keep: 0 }];
    await copyBackup({ ...backup, stack, targets, protectReleases: [] });
    const into = path.join(work, "restored");
    const { fetched, problems } = await fetchCopy({
      targets: [s3({ endpoint: proxy.url }), ...targets],
      stack,
      release: "2.0.0",
      dir: into,
      sha256: backup.sha256,
    });
    assert.match(problems[0], /hashes to [0-9a-f]{64}, not the recorded [0-9a-f]{64}; not used$/);
    assert.equal(problems.length, 1);
    assert.equal(fetched?.sha256, backup.sha256);
    assert.equal(sha256(fs.readFileSync(fetched!.path)), backup.sha256);
    assert.match(fetched!.from, /^s3:\/\/itest-copies-/);
    assert.deepEqual(fs.readdirSync(into).sort(), [
      path.basename(backup.file),
      `${path.basename(backup.file)}.sha256`,
    ]);
  });
});

describe("backup copies in a real rollout on a prod-like stack", () => {
  let t: TestStack;
  let hook: Awaited<ReturnType<typeof webhookListener>>;
  let bucket: string;
  let copyDir: string;
  let proxy: Awaited<ReturnType<typeof corruptingProxy>>;
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
  const copies = (extra: Record<string, unknown>[] = []) => [
    { kind: "s3", endpoint: s3Server().endpoint, region: s3Server().region, bucket, prefix: "db/", keep: 5 },
    { kind: "dir", path: copyDir, keep: 5 },
    ...extra,
  ];
  /** A release as prod reviews it: prod's settings, and the approvals naming its digest. */
  const release = async (
    r: "1.1.0" | "1.2.0",
    id: string,
    backup: Record<string, unknown> = { copies: copies() },
  ) => {
    const config = prodLike(t, r, id);
    await approved(t, {
      ...config,
      "rollout:backup": { ...(config["rollout:backup"] as Record<string, unknown>), ...backup },
    });
  };
  const up = (message: string) => t.stack.up({ message, onOutput: (o) => output.push(o) });

  before(async () => {
    hook = await webhookListener();
    t = await createTestStack("itest-copies");
    await t.stack.setConfig("rollout:webhookUrl", { value: hook.url, secret: true });
    bucket = await newBucket("itest-stack-copies");
    copyDir = `${t.backupDir}-second-disk`;
    proxy = await corruptingProxy();
    await t.stack.setConfig("rollout:s3AccessKey", { value: s3Server().accessKeyId, secret: true });
    await t.stack.setConfig("rollout:s3SecretKey", { value: s3Server().secretAccessKey, secret: true });
    // A first install has no service to check or switch: the only time those are allowed.
    const first = sampleConfig(t, "1.0.0");
    await t.setConfig({
      ...first,
      "rollout:notify": {},
      "rollout:backup": { ...first["rollout:backup"], copies: copies() },
    });
    await up("first install 1.0.0");
  });
  after(async () => {
    try {
      await t?.cleanup();
    } finally {
      await proxy?.close();
      await hook?.close();
      fs.rmSync(copyDir ?? "/nonexistent", { recursive: true, force: true });
    }
  });

  it("1. the backup lands in S3 and the second folder, verified, and the report lists both", async () => {
    await release("1.1.0", `${t.name}-1.1.0`);
    const run = await up("release 1.1.0");
    const report = run.outputs.report.value as {
      backup: {
        path: string;
        sha256: string;
        copies: { location: string; key: string; sha256: string; verified: boolean }[];
      };
    };
    const { backup } = report;
    const name = path.basename(backup.path);
    assert.deepEqual(
      backup.copies.map((c) => [c.key, c.sha256, c.verified]),
      [
        [`db/${t.name}/${name}`, backup.sha256, true],
        [path.join(copyDir, t.name, name), backup.sha256, true],
      ],
    );
    assert.equal(sha256(await objectBytes(bucket, `db/${t.name}/${name}`)), backup.sha256);
    assert.equal(sha256(fs.readFileSync(path.join(copyDir, t.name, name))), backup.sha256);
    assert.equal(await schemaVersion(), "0003");
  });

  it("2. too few verified copies fail the backup before the schema moves", async () => {
    const before = (await keys(bucket, `db/${t.name}/`)).length;
    await release("1.2.0", `${t.name}-1.2.0-bad`, {
      copies: copies([
        { kind: "s3", endpoint: proxy.url, region: s3Server().region, bucket, prefix: "bad/", keep: 5 },
      ]),
    });
    await assert.rejects(up("release 1.2.0 with a bad copy"), (e: Error) => {
      assert.match(e.message, /backup has 3 verified copies .* fewer than the 4 backup\.requiredCopies/);
      assert.match(e.message, /read-back differs/);
      return true;
    });
    assert.equal(await schemaVersion(), "0003", "the schema did not move");
    assert.deepEqual(await keys(bucket, `bad/`), [], "the unverified copy was deleted");
    assert.equal((await keys(bucket, `db/${t.name}/`)).length, before + 1, "the good copies landed");
  });

  it("3. --restore-backup fetches the S3 copy when the local file is gone", async () => {
    await release("1.2.0", `${t.name}-1.2.0`);
    const contentBefore = await checksum();
    await up("release 1.2.0");
    assert.equal(await schemaVersion(), "0004");
    await query("INSERT INTO items (name, status) VALUES ('written under 1.2.0', 'open')", [], db());
    assert.notDeepEqual(await checksum(), contentBefore);
    // The local backups of 1.2.0 and the folder copies are gone: only S3 has it.
    for (const folder of [path.join(t.backupDir, t.name), path.join(copyDir, t.name)]) {
      for (const f of fs.readdirSync(folder).filter((n) => n.startsWith(`${t.name}_${t.name}-1.2.0_`))) {
        fs.rmSync(path.join(folder, f));
      }
    }
    const run = await cli(t, ["rollback", "--restore-backup", "--yes"]);
    output.push(run.output);
    assert.equal(run.code, 0, tail(run.output));
    matchOut(run.output, /no local backup of release itest-copies-\w+-1\.2\.0 .*; fetching it from a copy/);
    matchOut(
      run.output,
      /fetched db\/itest-copies-\w+\/\S+\.dump from s3:\/\/itest-stack-copies-\w+\/db\/ .*\(sha256 [0-9a-f]{64} verified\)/,
    );
    matchOut(run.output, /restored \d+ tables/);
    assert.deepEqual(await checksum(), contentBefore);
    assert.equal(await schemaVersion(), "0003");
    // It ran under prod's rules: the window enforced, maintenance switched on and off again.
    const r = (await t.stack.outputs()).report.value as {
      gates: { window: { enforced: boolean; open: boolean } };
      maintenance: { on: { outcome: string }; off: { outcome: string } };
    };
    assert.deepEqual(r.gates.window, { ...r.gates.window, enforced: true, open: true });
    assert.deepEqual([r.maintenance.on.outcome, r.maintenance.off.outcome], ["switched", "switched"]);
    const health = (await (await fetch(`http://127.0.0.1:${t.appPort}/health`)).json()) as Record<
      string,
      unknown
    >;
    assert.deepEqual(health, { status: "ok", version: "1.1.0", maintenance: false });
  });

  it("4. the S3 secret key is nowhere in plain text: state, backend files, stack file, outputs", async () => {
    const secret = s3Server().secretAccessKey;
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
    // The state file as stored (the Automation API's export decrypts, so read the file itself).
    const stateFile = files.find(
      (f) => f.endsWith(`${path.sep}${t.name}.json`) && f.includes(`${path.sep}stacks${path.sep}`),
    );
    assert.ok(stateFile, `the stack's state file is among ${files.length} backend files`);
    const state = JSON.parse(fs.readFileSync(stateFile, "utf8")) as {
      checkpoint: { latest: { resources: { type: string; inputs?: unknown; outputs?: unknown }[] } };
    };
    const backupRun = state.checkpoint.latest.resources.find(
      (r) => r.type === dynamicTypeToken(STEPS.backup),
    );
    assert.ok(backupRun, "the backup step is in state");
    for (const [side, values] of Object.entries({ inputs: backupRun.inputs, outputs: backupRun.outputs })) {
      const copies = JSON.stringify((values as { copies?: unknown }).copies);
      assert.ok(copies !== undefined, `the backup step's ${side} hold the copies`);
      assert.match(
        copies,
        /^\{"4dabf18193072939515e22adb298388d":"1b47061264138c4ac30d75fd1eb44270","ciphertext":"v1:/,
        `the backup step's ${side} hold the copies encrypted`,
      );
    }
    const scanned = files.filter((f) => fs.existsSync(f));
    assert.ok(scanned.length > 3, `scanned ${scanned.length} backend files`);
    for (const f of scanned) assert.ok(!fs.readFileSync(f, "utf8").includes(secret), f);
    const outputs = JSON.stringify(await t.stack.outputs());
    assert.ok(!outputs.includes(secret), "stack outputs");
    assert.ok(output.join("").length > 1000);
    assert.ok(!output.join("").includes(secret), "up and rollback output");
  });
});
