// Copies of a verified backup in other places: an S3-compatible bucket, another folder (a second
// disk, a mounted share) or a folder on a second host over SSH. A copy counts only once it was read back whole and hashed to the backup's
// SHA-256; one that does not is deleted and reported. Each place keeps its own newest N. No Pulumi
// inside: the backup's dynamic provider runs this during `up`, and `deploy/` fetches a copy back
// for --restore-backup.
import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { pipeline } from "node:stream/promises";
import { PassThrough, type Readable } from "node:stream";
import { shellQuote, sshLocation, withSsh, type SshTarget } from "../ssh";
import { parseBackupFileName, sanitizeReleaseName, sanitizeStackName } from "./retention";

/** An S3 bucket (AWS or any S3-compatible server). */
export interface S3CopyTarget {
  readonly kind: "s3";
  /** The server's URL for an S3-compatible store (path-style requests); none for AWS. */
  readonly endpoint?: string;
  readonly region: string;
  readonly bucket: string;
  /** Key prefix; the stack name and the file name follow. */
  readonly prefix: string;
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
  /** Newest copies of this stack to keep in this place; 0 keeps all. */
  readonly keep: number;
}

/** A folder; copies go to `<path>/<stack>/` with their `.sha256` sidecar. */
export interface DirCopyTarget {
  readonly kind: "dir";
  readonly path: string;
  readonly keep: number;
}

/** A folder on another host over SSH; copies go to `<path>/<stack>/` with their `.sha256` sidecar. */
export type SshCopyTarget = SshTarget & {
  readonly kind: "ssh";
  /** An absolute folder on the host. */
  readonly path: string;
  readonly keep: number;
};

export type CopyTarget = S3CopyTarget | DirCopyTarget | SshCopyTarget;

/** One copy of one backup, as the backup's result records it. */
export interface CopyResult {
  /** Where: `s3://bucket/prefix` (with the endpoint, if any) or the folder. */
  readonly location: string;
  /** The object key or the file path. */
  readonly key: string;
  readonly bytes: number;
  /** The SHA-256 read back (the backup's when verified). */
  readonly sha256: string;
  readonly verified: boolean;
  /** Why the copy does not count, when it does not. */
  readonly error?: string;
  /** Older copies of this stack this place no longer keeps. */
  readonly removedByRetention: string[];
}

/** One place copies go to: a small interface, so another kind is another implementation. */
interface CopyStore {
  readonly location: string;
  /** Where the backup named `name` goes. */
  keyOf(name: string): string;
  /** Stores the file; `md5` (base64) and `sha256` (hex) go with it for the server to check. */
  put(file: string, name: string, digests: { sha256: string; md5: string }): Promise<void>;
  /** Size and a stream of the stored copy. */
  read(name: string): Promise<{ bytes: number; body: Readable }>;
  /**
   * Size and SHA-256 of the stored copy worked out where it is stored, for a place that can (a
   * host's `sha256sum`); without it the copy is read back whole and hashed here.
   */
  measure?(name: string): Promise<{ bytes: number; sha256: string }>;
  remove(name: string): Promise<void>;
  /** The file names of this stack's copies in this place. */
  list(): Promise<string[]>;
  /** The SHA-256 stored beside the copy, if any. */
  recordedSha256(name: string): Promise<string | undefined>;
}

function s3Client(target: S3CopyTarget): S3Client {
  return new S3Client({
    region: target.region,
    ...(target.endpoint ? { endpoint: target.endpoint, forcePathStyle: true } : {}),
    credentials: { accessKeyId: target.accessKeyId, secretAccessKey: target.secretAccessKey },
    // Checksums are set by hand below (Content-MD5 and SHA-256), on every server the same way.
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
    maxAttempts: 3,
  });
}

/** A stack's folder in a place, with the archive's subfolder (`archives/<name>`) for an archive. */
function stackFolder(stack: string, group: string | undefined): string {
  return group ? `${sanitizeStackName(stack)}/${group}` : sanitizeStackName(stack);
}

function s3Store(target: S3CopyTarget, stack: string, group?: string): CopyStore {
  const client = s3Client(target);
  const folder = `${target.prefix}${stackFolder(stack, group)}/`;
  const keyOf = (name: string) => `${folder}${name}`;
  return {
    location: `s3://${target.bucket}/${target.prefix}${target.endpoint ? ` at ${target.endpoint}` : ""}`,
    keyOf,
    async put(file, name, digests) {
      const bytes = fs.statSync(file).size;
      await client.send(
        new PutObjectCommand({
          Bucket: target.bucket,
          Key: keyOf(name),
          Body: fs.createReadStream(file),
          ContentLength: bytes,
          // AWS checks the SHA-256 checksum; servers that ignore it still check Content-MD5.
          ContentMD5: digests.md5,
          ChecksumSHA256: Buffer.from(digests.sha256, "hex").toString("base64"),
          Metadata: { sha256: digests.sha256 },
        }),
      );
    },
    async read(name) {
      const head = await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: keyOf(name) }));
      const got = await client.send(new GetObjectCommand({ Bucket: target.bucket, Key: keyOf(name) }));
      return { bytes: head.ContentLength ?? -1, body: got.Body as Readable };
    },
    async remove(name) {
      await client.send(new DeleteObjectCommand({ Bucket: target.bucket, Key: keyOf(name) }));
    },
    async list() {
      const names: string[] = [];
      let token: string | undefined;
      do {
        const page = await client.send(
          new ListObjectsV2Command({ Bucket: target.bucket, Prefix: folder, ContinuationToken: token }),
        );
        for (const o of page.Contents ?? []) if (o.Key) names.push(o.Key.slice(folder.length));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
      return names.filter((n) => !n.includes("/"));
    },
    async recordedSha256(name) {
      const head = await client.send(new HeadObjectCommand({ Bucket: target.bucket, Key: keyOf(name) }));
      return head.Metadata?.sha256;
    },
  };
}

function dirStore(target: DirCopyTarget, stack: string, group?: string): CopyStore {
  const folder = path.join(path.resolve(target.path), stackFolder(stack, group));
  const keyOf = (name: string) => path.join(folder, name);
  return {
    location: path.resolve(target.path),
    keyOf,
    async put(file, name, digests) {
      fs.mkdirSync(folder, { recursive: true });
      // Written under a temporary name and renamed, so a half-written copy never has the backup's name.
      const partial = `${keyOf(name)}.partial`;
      await pipeline(fs.createReadStream(file), fs.createWriteStream(partial));
      const fd = fs.openSync(partial, "r");
      try {
        fs.fsyncSync(fd);
      } finally {
        fs.closeSync(fd);
      }
      fs.renameSync(partial, keyOf(name));
      fs.writeFileSync(`${keyOf(name)}.sha256`, `${digests.sha256}  ${name}\n`);
    },
    async read(name) {
      return { bytes: fs.statSync(keyOf(name)).size, body: fs.createReadStream(keyOf(name)) };
    },
    async remove(name) {
      // The copy first: a leftover sidecar is harmless, a copy without its checksum is not.
      fs.rmSync(keyOf(name), { force: true });
      fs.rmSync(`${keyOf(name)}.sha256`, { force: true });
      fs.rmSync(`${keyOf(name)}.partial`, { force: true });
    },
    async list() {
      return fs.existsSync(folder) ? fs.readdirSync(folder) : [];
    },
    async recordedSha256(name) {
      const sidecar = `${keyOf(name)}.sha256`;
      return fs.existsSync(sidecar) ? fs.readFileSync(sidecar, "utf8").trim().split(/\s+/)[0] : undefined;
    },
  };
}

function sshStore(target: SshCopyTarget, stack: string, group?: string): CopyStore {
  const folder = path.posix.join(target.path, stackFolder(stack, group));
  const keyOf = (name: string) => path.posix.join(folder, name);
  const q = (name: string) => shellQuote(keyOf(name));
  const run = (command: string, what: string) => withSsh(target, (ssh) => ssh.run(command, { what }));
  return {
    location: `${sshLocation(target)}${target.path}`,
    keyOf,
    async put(file, name, digests) {
      // Written under a temporary name and renamed on the host, so a cut connection never leaves a
      // half copy under the backup's name; the sidecar follows once the copy is in place.
      const partial = shellQuote(`${keyOf(name)}.partial`);
      await withSsh(target, (ssh) =>
        ssh.run(
          `set -e; umask 077; mkdir -p ${shellQuote(folder)}; cat > ${partial}; sync ${partial} 2>/dev/null || sync; ` +
            `mv -f ${partial} ${q(name)}; printf '%s  %s\n' ${shellQuote(digests.sha256)} ${shellQuote(name)} > ${q(`${name}.sha256`)}`,
          { what: `upload of ${name}`, stdin: fs.createReadStream(file) },
        ),
      );
    },
    async read(name) {
      const bytes = Number((await run(`stat -c %s ${q(name)}`, `size of ${name}`)).trim());
      const body = new PassThrough();
      withSsh(target, (ssh) =>
        ssh.run(`cat ${q(name)}`, { what: `download of ${name}`, stdout: body }),
      ).catch((error: Error) => body.destroy(error));
      return { bytes, body };
    },
    async measure(name) {
      const out = await run(`stat -c %s ${q(name)} && sha256sum ${q(name)}`, `read-back of ${name}`);
      const [size, line = ""] = out.trim().split("\n");
      return { bytes: Number(size), sha256: line.split(/\s+/)[0] };
    },
    async remove(name) {
      // With a half upload a cut connection may have left: it is a copy of the data too.
      await run(`rm -f ${q(name)} ${q(`${name}.sha256`)} ${q(`${name}.partial`)}`, `removal of ${name}`);
    },
    async list() {
      const out = await run(
        `if [ -d ${shellQuote(folder)} ]; then ls -1A ${shellQuote(folder)}; fi`,
        "listing",
      );
      return out.split("\n").filter((n) => n !== "");
    },
    async recordedSha256(name) {
      const sidecar = shellQuote(keyOf(`${name}.sha256`));
      const out = await run(`if [ -f ${sidecar} ]; then cat ${sidecar}; fi`, `checksum of ${name}`);
      return out.trim().split(/\s+/)[0] || undefined;
    },
  };
}

function storeFor(target: CopyTarget, stack: string, group?: string): CopyStore {
  switch (target.kind) {
    case "s3":
      return s3Store(target, stack, group);
    case "dir":
      return dirStore(target, stack, group);
    case "ssh":
      return sshStore(target, stack, group);
  }
}

async function hashStream(body: Readable): Promise<{ sha256: string; bytes: number }> {
  const hash = crypto.createHash("sha256");
  let bytes = 0;
  for await (const chunk of body) {
    hash.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: hash.digest("hex"), bytes };
}

async function fileDigests(file: string): Promise<{ sha256: string; md5: string; bytes: number }> {
  const sha = crypto.createHash("sha256");
  const md5 = crypto.createHash("md5");
  let bytes = 0;
  for await (const chunk of fs.createReadStream(file)) {
    sha.update(chunk as Buffer);
    md5.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { sha256: sha.digest("hex"), md5: md5.digest("base64"), bytes };
}

/** Error text without any secret value in it (a message may echo a request). */
function scrub(message: string, secrets: readonly string[]): string {
  return secrets.filter((s) => s.length > 0).reduce((m, s) => m.split(s).join("***"), message);
}

function secretsOf(target: CopyTarget): string[] {
  if (target.kind === "s3") return [target.secretAccessKey, target.accessKeyId];
  return target.kind === "ssh" && target.privateKey ? [target.privateKey] : [];
}

/**
 * The copies retention deletes from one place: this stack's backups (by the name pattern, other
 * names are never touched) beyond the newest `keep`, never a name in `protect`.
 */
export function copiesToRemove(
  names: readonly string[],
  stack: string,
  keep: number,
  protect: readonly string[],
): string[] {
  if (!Number.isInteger(keep) || keep < 0) {
    throw new Error(
      `copy retention keep=${keep} is not a whole number of copies; use 0 to keep all or a count such as 10 (backup.copies[].keep)`,
    );
  }
  if (keep === 0) return [];
  const stackName = sanitizeStackName(stack);
  const kept = new Set(protect);
  return names
    .map((name) => ({ name, parsed: parseBackupFileName(name) }))
    .filter((b) => b.parsed?.stack === stackName)
    .sort((a, b) => b.parsed!.timestamp.localeCompare(a.parsed!.timestamp) || b.name.localeCompare(a.name))
    .slice(keep)
    .map((b) => b.name)
    .filter((name) => !kept.has(name))
    .reverse();
}

/** The newest name of `release` among `names`, if any. */
function newestOfRelease(names: readonly string[], stack: string, release: string): string | undefined {
  const wanted = { stack: sanitizeStackName(stack), release: sanitizeReleaseName(release) };
  return names
    .map((name) => ({ name, parsed: parseBackupFileName(name) }))
    .filter((b) => b.parsed?.stack === wanted.stack && b.parsed.release === wanted.release)
    .sort((a, b) => b.parsed!.timestamp.localeCompare(a.parsed!.timestamp))[0]?.name;
}

export interface CopyBackupOptions {
  /** The verified backup file and its SHA-256. */
  readonly file: string;
  readonly sha256: string;
  readonly stack: string;
  readonly targets: readonly CopyTarget[];
  /** A directory archive's subfolder, `archives/<name>`. @default the dumps' folder */
  readonly group?: string;
  /** Releases whose newest copy retention keeps whatever its age (a rollback's undone release). */
  readonly protectReleases: readonly string[];
  readonly log?: (line: string) => void;
}

/** Copies, reads back and verifies one place's copy; then applies that place's retention. */
async function copyTo(
  target: CopyTarget,
  options: CopyBackupOptions,
  digests: { sha256: string; md5: string; bytes: number },
): Promise<CopyResult> {
  const store = storeFor(target, options.stack, options.group);
  const name = path.basename(options.file);
  const key = store.keyOf(name);
  const failed = (error: string, sha256 = "", bytes = 0): CopyResult => ({
    location: store.location,
    key,
    bytes,
    sha256,
    verified: false,
    error: scrub(error, secretsOf(target)),
    removedByRetention: [],
  });
  try {
    await store.put(options.file, name, digests);
  } catch (error) {
    // A cut upload may leave its half file behind; it holds the data too.
    await store.remove(name).catch(() => undefined);
    return failed(`upload failed: ${(error as Error).message}`);
  }
  let readBack: { sha256: string; bytes: number; stated: number };
  try {
    if (store.measure) {
      const measured = await store.measure(name);
      readBack = { ...measured, stated: measured.bytes };
    } else {
      const { bytes: stated, body } = await store.read(name);
      readBack = { ...(await hashStream(body)), stated };
    }
  } catch (error) {
    await store.remove(name).catch(() => undefined);
    return failed(`read-back failed: ${(error as Error).message}; the copy was deleted`);
  }
  if (
    readBack.stated !== digests.bytes ||
    readBack.bytes !== digests.bytes ||
    readBack.sha256 !== digests.sha256
  ) {
    await store.remove(name).catch(() => undefined);
    return failed(
      `read-back differs: stored size ${readBack.stated}, read ${readBack.bytes} bytes hashing to ${readBack.sha256}; ` +
        `the backup is ${digests.bytes} bytes with SHA-256 ${digests.sha256}. The copy was deleted`,
      readBack.sha256,
      readBack.bytes,
    );
  }
  let removedByRetention: string[] = [];
  try {
    const names = await store.list();
    const protect = [
      name,
      ...options.protectReleases.flatMap((r) => newestOfRelease(names, options.stack, r) ?? []),
    ];
    for (const doomed of copiesToRemove(names, options.stack, target.keep, protect)) {
      await store.remove(doomed);
      options.log?.(
        `backup copy: retention (keep ${target.keep}) removed ${store.keyOf(doomed)} in ${store.location}`,
      );
      removedByRetention = [...removedByRetention, store.keyOf(doomed)];
    }
  } catch (error) {
    // A verified copy stays verified; retention tries again with the next backup.
    options.log?.(
      `backup copy: retention in ${store.location} failed: ${scrub((error as Error).message, secretsOf(target))}`,
    );
  }
  return {
    location: store.location,
    key,
    bytes: digests.bytes,
    sha256: readBack.sha256,
    verified: true,
    removedByRetention,
  };
}

/**
 * Copies a verified backup to every target, one after the other, each read back and hashed before it
 * counts. A failed copy never stops the others; the caller decides with {@link requireCopies}.
 */
export async function copyBackup(options: CopyBackupOptions): Promise<CopyResult[]> {
  const digests = await fileDigests(options.file);
  if (digests.sha256 !== options.sha256) {
    throw new Error(
      `backup ${options.file} hashes to ${digests.sha256}, not the ${options.sha256} recorded when it was verified; ` +
        "it changed after verification, so it is not copied anywhere. Take the backup again",
    );
  }
  const results: CopyResult[] = [];
  for (const target of options.targets) {
    const result = await copyTo(target, options, digests);
    options.log?.(
      result.verified
        ? `backup copy: ${result.key} in ${result.location} verified (${result.bytes} bytes, sha256 ${result.sha256})`
        : `backup copy: ${result.key} in ${result.location} failed: ${result.error}`,
    );
    results.push(result);
  }
  return results;
}

/**
 * Throws unless `required` verified copies exist, the local file counting as one; the message lists
 * each copy and what went wrong.
 */
export function requireCopies(local: string, copies: readonly CopyResult[], required: number): void {
  const verified = 1 + copies.filter((c) => c.verified).length;
  if (verified >= required) return;
  const lines = copies.map((c) =>
    c.verified ? `  - ${c.location}: ${c.key} verified` : `  - ${c.location}: ${c.error}`,
  );
  throw new Error(
    `backup has ${verified} verified cop${verified === 1 ? "y" : "ies"} (the local file ${local} and ${verified - 1} of ${copies.length} offsite), ` +
      `fewer than the ${required} backup.requiredCopies asks for, so the backup does not count and nothing after it runs:\n` +
      `${lines.join("\n")}\nFix the failed places and run again, or lower backup.requiredCopies`,
  );
}

export interface FetchCopyOptions {
  readonly targets: readonly CopyTarget[];
  readonly stack: string;
  readonly release: string;
  /** A directory archive's subfolder, `archives/<name>`. @default the dumps' folder */
  readonly group?: string;
  /** Where the fetched file goes (the local backup folder of the stack). */
  readonly dir: string;
  /** The SHA-256 state recorded for this backup; without it, the one stored beside the copy. */
  readonly sha256?: string;
  readonly log?: (line: string) => void;
}

/** A backup fetched back from a copy, verified, in the local backup folder. */
export interface FetchedCopy {
  readonly path: string;
  readonly sha256: string;
  readonly from: string;
}

/**
 * Fetches the newest copy of `release`'s backup from the first place that has one whose content
 * hashes to the expected SHA-256, into `dir` (with its `.sha256` sidecar). A copy that does not
 * match is reported and the next place is tried; the fetched file appears under its name only
 * once verified. Undefined when no place has a good copy; `problems` then says why.
 */
export async function fetchCopy(
  options: FetchCopyOptions,
): Promise<{ fetched?: FetchedCopy; problems: string[] }> {
  const problems: string[] = [];
  for (const target of options.targets) {
    const store = storeFor(target, options.stack, options.group);
    let partial: string | undefined;
    try {
      const name = newestOfRelease(await store.list(), options.stack, options.release);
      if (!name) {
        problems.push(`${store.location}: no copy of release ${options.release}`);
        continue;
      }
      const expected = options.sha256 ?? (await store.recordedSha256(name));
      if (!expected || !/^[0-9a-f]{64}$/.test(expected)) {
        problems.push(`${store.location}: ${store.keyOf(name)} has no recorded SHA-256 to verify it by`);
        continue;
      }
      fs.mkdirSync(options.dir, { recursive: true });
      const file = path.join(options.dir, name);
      partial = `${file}.fetching`;
      const { body } = await store.read(name);
      const hash = crypto.createHash("sha256");
      body.on("data", (chunk: Buffer) => hash.update(chunk));
      await pipeline(body, fs.createWriteStream(partial));
      const sha256 = hash.digest("hex");
      if (sha256 !== expected) {
        fs.rmSync(partial, { force: true });
        problems.push(
          `${store.location}: ${store.keyOf(name)} hashes to ${sha256}, not the recorded ${expected}; not used`,
        );
        continue;
      }
      fs.renameSync(partial, file);
      fs.writeFileSync(`${file}.sha256`, `${sha256}  ${name}\n`);
      options.log?.(`fetched ${store.keyOf(name)} from ${store.location} (sha256 ${sha256} verified)`);
      return { fetched: { path: file, sha256, from: `${store.location} ${store.keyOf(name)}` }, problems };
    } catch (error) {
      // A download cut short leaves no half file behind.
      if (partial) fs.rmSync(partial, { force: true });
      problems.push(`${store.location}: ${scrub((error as Error).message, secretsOf(target))}`);
    }
  }
  return { problems };
}
