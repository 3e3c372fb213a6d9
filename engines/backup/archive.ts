// Directory archives (the Warungin case: uploads, config, a file store beside the database): a
// directory on this machine or on a host over SSH, archived with GNU tar (gzip) and streamed back
// into the backup folder, hashed with SHA-256 while it is written. It counts only once its listing
// (regular files and their total bytes, read from the archive itself) matches the directory as
// `find` measured it right before, with the same excludes. Restoring replaces the directory's
// contents with the archive's (excluded paths are left alone) and measures it again. No Pulumi.
import { spawn } from "node:child_process";
import crypto from "node:crypto";
import fs from "node:fs";
import path from "node:path";
import { PassThrough, Transform, type Readable, type Writable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { list as tarList } from "tar";
import { shellQuote, sshLocation, withSsh, type SshTarget } from "../ssh";
import { applyRetention, backupFileName, newestBackupOf, stackBackupDir, type BackupFile } from "./retention";

/** Which directory, where, and what to leave out. */
export interface ArchiveSpec {
  /** The archive's name in config and file paths. */
  readonly name: string;
  /** Absolute path of the directory. */
  readonly path: string;
  /** The host it is on; none for this machine. */
  readonly host?: SshTarget;
  /**
   * Patterns left out: without a `/` a name anywhere (`node_modules`, `*.tmp`), with one a path from
   * the directory (`cache/*`).
   */
  readonly excludes: readonly string[];
}

/** Regular files and their total size. */
export interface FileTally {
  readonly files: number;
  readonly bytes: number;
}

export interface ArchiveOptions extends ArchiveSpec {
  /** The backup root; archives go to `<dir>/archives/<name>/<stack>/`. */
  readonly dir: string;
  readonly stack: string;
  readonly release: string;
  /** Fewer files than this fails the archive (an empty or wrong directory). */
  readonly minFiles: number;
  /** Newest archives of this stack to keep; 0 keeps all. */
  readonly keep: number;
  /** Releases whose newest archive retention keeps whatever its age. */
  readonly protectReleases: readonly string[];
  readonly now?: Date;
  readonly log?: (line: string) => void;
}

export interface ArchiveResult {
  readonly name: string;
  /** Where the directory is: its path, or `ssh://user@host:port/path`. */
  readonly source: string;
  /** The `.tar.gz` file. */
  readonly path: string;
  /** Size of the archive file. */
  readonly bytes: number;
  readonly sha256: string;
  /** Regular files in the archive, equal to the directory's at archive time. */
  readonly files: number;
  /** Their total bytes. */
  readonly fileBytes: number;
  readonly excludes: string[];
  readonly durationMs: number;
  readonly createdAt: string;
  readonly removedByRetention: string[];
}

/** The folder that holds `name`'s archives under the backup root (one subfolder per stack below). */
export function archiveRoot(dir: string, name: string): string {
  return path.join(dir, "archives", name);
}

/** Where a spec points, for messages. */
export function archiveSource(spec: Pick<ArchiveSpec, "path" | "host">): string {
  return spec.host ? `${sshLocation(spec.host)}${spec.path}` : spec.path;
}

/** The `find` tests that prune the excluded paths, as shell words (empty without excludes). */
function findPrune(excludes: readonly string[]): string {
  if (excludes.length === 0) return "";
  const tests = excludes.map((p) =>
    p.includes("/") ? `-path ${shellQuote(`./${p}`)}` : `-name ${shellQuote(p)}`,
  );
  return `\\( ${tests.join(" -o ")} \\) -prune -o`;
}

/** The same excludes for GNU tar, whose members are named `./...`. */
function tarExcludes(excludes: readonly string[]): string {
  const names = excludes.filter((p) => !p.includes("/")).map((p) => `--exclude=${shellQuote(p)}`);
  const paths = excludes.filter((p) => p.includes("/")).map((p) => `--exclude=${shellQuote(`./${p}`)}`);
  return [
    ...(names.length ? ["--no-anchored", ...names] : []),
    ...(paths.length ? ["--anchored", ...paths] : []),
  ].join(" ");
}

/** The shell command that prints `<files> <bytes>` of the regular files under the directory. */
function tallyCommand(spec: ArchiveSpec): string {
  return (
    `cd -- ${shellQuote(spec.path)} && find . ${findPrune(spec.excludes)} -type f -printf '%s\\n' | ` +
    `awk '{ n++; b += $1 } END { printf "%d %d\\n", n, b }'`
  );
}

/** Runs a shell command where the directory is: here, or on its host over SSH. */
async function runWhere(
  spec: Pick<ArchiveSpec, "host">,
  command: string,
  options: { what: string; stdin?: Readable; stdout?: Writable },
): Promise<string> {
  if (spec.host) return withSsh(spec.host, (ssh) => ssh.run(command, options));
  return new Promise<string>((resolve, reject) => {
    const child = spawn("sh", ["-c", command], { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    const done: Promise<unknown>[] = [];
    child.stderr.on("data", (c: Buffer) => (stderr = (stderr + c.toString()).slice(-4000)));
    if (options.stdout) done.push(pipeline(child.stdout, options.stdout));
    else child.stdout.on("data", (c: Buffer) => (stdout += c.toString()));
    if (options.stdin) done.push(pipeline(options.stdin, child.stdin).catch(() => undefined));
    else child.stdin.end();
    child.on("error", reject);
    child.on("close", (code) => {
      Promise.all(done).then(
        () =>
          code === 0
            ? resolve(stdout)
            : reject(
                new Error(`${options.what} failed (exit ${code ?? "signal"}): ${stderr.trim().slice(-2000)}`),
              ),
        reject,
      );
    });
  });
}

function parseTally(out: string, what: string): FileTally {
  const match = /^(\d+) (\d+)\s*$/.exec(out);
  if (!match) throw new Error(`${what} printed ${JSON.stringify(out.slice(0, 200))}, not "<files> <bytes>"`);
  return { files: Number(match[1]), bytes: Number(match[2]) };
}

/** The regular files (and their bytes) in the directory now, without the excluded paths. */
export async function measureDirectory(spec: ArchiveSpec): Promise<FileTally> {
  const where = archiveSource(spec);
  const out = await runWhere(
    spec,
    `if [ ! -d ${shellQuote(spec.path)} ]; then echo "no directory ${spec.path.replace(/["\\$`]/g, "")}" >&2; exit 3; fi; ${tallyCommand(spec)}`,
    { what: `measuring ${where}` },
  );
  return parseTally(out, `measuring ${where}`);
}

/**
 * Reads the whole archive (gzip and tar framing checked, a cut or corrupted file throws) and
 * tallies its regular files.
 */
export async function listArchive(file: string): Promise<FileTally> {
  let files = 0;
  let bytes = 0;
  try {
    await tarList({
      file,
      strict: true,
      onReadEntry: (entry) => {
        if (entry.type === "File" || entry.type === "OldFile" || entry.type === "ContiguousFile") {
          files += 1;
          bytes += entry.size ?? 0;
        }
      },
    });
  } catch (error) {
    throw new Error(
      `archive ${file} cannot be read whole (${(error as Error).message}); it is cut short or corrupted`,
      {
        cause: error,
      },
    );
  }
  return { files, bytes };
}

async function sha256Of(file: string): Promise<string> {
  const hash = crypto.createHash("sha256");
  for await (const chunk of fs.createReadStream(file)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

/**
 * Archives the directory into the backup folder and verifies it: `find` tallies the directory, GNU
 * tar streams it (here or over SSH) into `<name>.partial` through SHA-256, the archive is read back
 * whole and its tally must equal the directory's; then it is renamed into place with a `.sha256`
 * sidecar and retention keeps this stack's newest `keep`.
 */
export async function takeDirectoryArchive(options: ArchiveOptions): Promise<ArchiveResult> {
  const started = performance.now();
  const { log } = options;
  if (!path.posix.isAbsolute(options.path)) {
    throw new Error(
      `archive ${options.name}: path ${options.path} is not absolute; give the directory's full path`,
    );
  }
  const now = options.now ?? new Date();
  const root = archiveRoot(options.dir, options.name);
  const folder = stackBackupDir(root, options.stack);
  const file = path.join(folder, backupFileName(options.stack, options.release, now, ".tar.gz"));
  const partial = `${file}.partial`;
  const source = archiveSource(options);
  if (fs.existsSync(file)) {
    throw new Error(
      `archive ${file} already exists; an archive is never overwritten, so wait a second and run again`,
    );
  }
  fs.mkdirSync(folder, { recursive: true, mode: 0o700 });
  try {
    const before = await measureDirectory(options);
    if (before.files < options.minFiles) {
      throw new Error(
        `archive ${options.name}: ${source} has ${before.files} files (excludes: ${options.excludes.join(", ") || "none"}), ` +
          `fewer than minFiles ${options.minFiles}; check the path, or lower backup.archives[].minFiles`,
      );
    }
    log?.(`archive ${options.name}: ${source}, ${before.files} files, ${before.bytes} bytes, to ${file}`);
    const hash = crypto.createHash("sha256");
    let written = 0;
    const hashing = new Transform({
      transform(chunk: Buffer, _encoding, callback) {
        hash.update(chunk);
        written += chunk.length;
        callback(null, chunk);
      },
    });
    const out = fs.createWriteStream(partial, { mode: 0o600 });
    const sink = pipeline(hashing, out);
    // --hard-dereference: a hard link is archived whole, as find counts it.
    await runWhere(
      options,
      `tar -C ${shellQuote(options.path)} --hard-dereference ${tarExcludes(options.excludes)} -czf - .`,
      { what: `tar of ${source}`, stdout: hashing },
    );
    await sink;
    const sha256 = hash.digest("hex");
    const listed = await listArchive(partial);
    if (listed.files !== before.files || listed.bytes !== before.bytes) {
      throw new Error(
        `archive ${options.name} of ${source} lists ${listed.files} files, ${listed.bytes} bytes, but the directory had ` +
          `${before.files} files, ${before.bytes} bytes when it started; it changed while it was archived, so the archive does not count. ` +
          "Take it while nothing writes there (inside maintenance), or exclude the paths that change",
      );
    }
    const fd = fs.openSync(partial, "r");
    try {
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(partial, file);
    fs.writeFileSync(`${file}.sha256`, `${sha256}  ${path.basename(file)}\n`);
    const protect = options.protectReleases.flatMap(
      (release) => newestBackupOf(root, options.stack, release)?.path ?? [],
    );
    const removedByRetention = applyRetention(root, options.stack, options.keep, [file, ...protect]);
    for (const removed of removedByRetention) log?.(`archive ${options.name}: retention removed ${removed}`);
    log?.(`archive ${options.name}: verified ${listed.files} files, ${written} bytes, sha256 ${sha256}`);
    return {
      name: options.name,
      source,
      path: file,
      bytes: written,
      sha256,
      files: listed.files,
      fileBytes: listed.bytes,
      excludes: [...options.excludes],
      durationMs: Math.round(performance.now() - started),
      createdAt: now.toISOString(),
      removedByRetention,
    };
  } finally {
    fs.rmSync(partial, { force: true });
  }
}

/** The newest verified archive of `release` for one archive spec, under the backup root. */
export function newestArchiveOf(
  dir: string,
  name: string,
  stack: string,
  release: string,
): BackupFile | undefined {
  return newestBackupOf(archiveRoot(dir, name), stack, release);
}

export interface ArchiveRestoreOptions extends ArchiveSpec {
  /** The `.tar.gz` file. */
  readonly file: string;
  /** Its SHA-256 as recorded; a file that hashes otherwise is refused before anything changes. */
  readonly sha256: string;
  readonly log?: (line: string) => void;
}

export interface ArchiveRestoreResult {
  readonly name: string;
  readonly target: string;
  /** Regular files the directory had before (without excluded paths); they were replaced. */
  readonly replaced: FileTally;
  /** What the directory holds now, equal to the archive's listing. */
  readonly restored: FileTally;
}

/**
 * Replaces the directory's contents with the archive's: verified first (SHA-256, read whole), then
 * every file and folder outside the excluded paths is removed, the archive is extracted, and the
 * directory is measured again; its tally must equal the archive's.
 */
export async function restoreDirectoryArchive(options: ArchiveRestoreOptions): Promise<ArchiveRestoreResult> {
  const target = archiveSource(options);
  const actual = await sha256Of(options.file);
  if (actual !== options.sha256) {
    throw new Error(
      `archive ${options.file} hashes to ${actual}, not the recorded ${options.sha256}; it is not restored. ` +
        "Fetch a good copy, or restore by hand",
    );
  }
  const listed = await listArchive(options.file);
  const dirQ = shellQuote(options.path);
  await runWhere(options, `mkdir -p -- ${dirQ}`, { what: `creating ${target}` });
  const replaced = await measureDirectory(options);
  options.log?.(
    `restore ${options.name}: replacing ${replaced.files} files in ${target} with the ${listed.files} of ${path.basename(options.file)}`,
  );
  const clear =
    `cd -- ${dirQ} && find . -mindepth 1 ${findPrune(options.excludes)} ! -type d -print0 | xargs -0 -r rm -f -- && ` +
    // Then the folders left empty, deepest first; excluded ones are pruned and kept, and rmdir
    // leaves any folder that still holds something (such as an excluded path).
    `find . -mindepth 1 ${findPrune(options.excludes)} -type d -print0 | sort -rz | ` +
    `xargs -0 -r rmdir --ignore-fail-on-non-empty --`;
  await runWhere(options, clear, { what: `clearing ${target}` });
  const body = new PassThrough();
  const feed = pipeline(fs.createReadStream(options.file), body);
  try {
    await runWhere(options, `tar -C ${dirQ} -xzf -`, { what: `extracting into ${target}`, stdin: body });
    await feed;
  } catch (err) {
    throw new Error(
      `${(err as Error).message}. ${target} was cleared before the extract (excluded paths kept); ` +
        `run the restore again, or extract by hand: tar -C ${options.path} -xzf ${options.file}`,
      { cause: err },
    );
  }
  const restored = await measureDirectory(options);
  if (restored.files !== listed.files || restored.bytes !== listed.bytes) {
    throw new Error(
      `after the restore ${target} holds ${restored.files} files, ${restored.bytes} bytes; the archive lists ` +
        `${listed.files} files, ${listed.bytes} bytes. Something wrote there meanwhile; restore again inside maintenance`,
    );
  }
  options.log?.(`restore ${options.name}: ${target} holds the archive's ${restored.files} files again`);
  return { name: options.name, target, replaced, restored };
}
