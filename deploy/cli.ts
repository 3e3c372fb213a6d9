// The operator's commands over the Automation API (`npm run <command> -- --help` for each):
//
//   npm run history  -- [--stack dev] [--cwd DIR]
//   npm run rollback -- [--stack dev] [--cwd DIR] [--to N] [--reason TEXT] [--restore-backup] [--yes]
//   npm run deploy   -- [--stack dev] [--cwd DIR] [--yes] [--auto-rollback] [--watch 4h] [--watch-window 60s]
//
// Rollback re-applies the whole config of an earlier successful update from the stack history,
// marked as a rollback: the schema goes down with the down SQL kept in state, the image id that
// update ran comes back, the checks run and maintenance goes off.
//
// Exit codes: 0 done; 1 failed; 2 refused, nothing changed; 3 rolled back (the release asked for
// is not live; the one before it is).
import { LocalWorkspace, type EngineEvent, type Stack } from "@pulumi/pulumi/automation";
import fs from "node:fs";
import path from "node:path";
import readline from "node:readline/promises";
import {
  APP_SERVICE,
  CONFIG_NAMESPACE,
  probeUrls,
  secretKeyOf,
  watchThresholds,
  type ConfigEntries,
  type RolloutConfig,
  type SecretKey,
  type SshTargetConfig,
} from "../config";
import { runSoak, type SoakLimits } from "../engines/checks/soak";
import { evaluateWindow } from "../engines/gates/maintenanceWindow";
import { withDockerHost } from "../engines/dockerHost";
import { inspectImage } from "../engines/image/build";
import { sendNotification, type NoticeFact, type NotificationEvent } from "../engines/notify";
import { noticeFacts, type RolloutReport } from "../engines/report";
import { chooseRollbackTarget, historyLines, parseDuration, type HistoryEntry } from "./history";
import { commandOptions, EXIT, runCommand, say } from "./command";
import { firstLine, runUp, type UpOutcome } from "./run";
import { fetchCopy, type CopyTarget } from "../engines/backup/copies";
import { newestBackupOf, stackBackupDir } from "../engines/backup/retention";
import {
  archiveRoot,
  archiveSource,
  listArchive,
  measureDirectory,
  newestArchiveOf,
  type ArchiveSpec,
} from "../engines/backup/archive";
import type { SshTarget } from "../engines/ssh";
import { appliedMigrations, currentBackup, downProblems, recordedRelease, runsSince } from "./state";
import { plannedSteps, reviewSummary, runningFrom } from "./summary";
import {
  configChanges,
  readStackConfig,
  Refusal,
  ROLLBACK_KEY,
  stackConfigFrom,
  writeConfig,
  type StackConfig,
} from "./stackConfig";

export { stackConfigFrom, type StackConfig } from "./stackConfig";
export { EXIT } from "./command";

const ROOT = path.resolve(__dirname, "..");

const OVERRIDE_KEY = `${CONFIG_NAMESPACE}:override`;

/** A command that ran and failed; its message is what to say, without a trace (exit code 1). */
class Failure extends Error {}

interface Options {
  stack: string;
  yes: boolean;
}

/**
 * The project folder of `--cwd` (as `pulumi -C`): the repository's own by default, or another
 * folder holding a Pulumi.yaml that runs this program, such as an example under examples/. A
 * relative one is taken from where the command was started (npm runs scripts at the repository's
 * root and names the starting folder in INIT_CWD).
 */
export function projectFolder(cwd: string | undefined): string {
  if (cwd === undefined) return ROOT;
  const dir = path.resolve(process.env.INIT_CWD ?? process.cwd(), cwd);
  if (!fs.existsSync(path.join(dir, "Pulumi.yaml"))) {
    throw new Refusal(
      `--cwd ${cwd}: ${dir} holds no Pulumi.yaml; give the folder of a project, e.g. --cwd examples/dj-system`,
    );
  }
  return dir;
}

/** The folder a stack's relative paths (backups, copies, key files) resolve against, as the program's do. */
const projectDirOf = (stack: Stack) => stack.workspace.workDir;

/** The stack as the commands open it (the dev stack with its fixed backend and passphrase). */
export async function openStack(stackName: string, workDir = ROOT): Promise<Stack> {
  // The dev stack's backend and passphrase are fixed and documented; other stacks bring their own.
  if (stackName === "dev" && workDir === ROOT && !process.env.PULUMI_BACKEND_URL) {
    process.env.PULUMI_BACKEND_URL = `file://${ROOT}/.pulumi-state`;
    process.env.PULUMI_CONFIG_PASSPHRASE ??= "rollout-dev";
  }
  return LocalWorkspace.selectStack({ stackName, workDir });
}

async function notify(
  stack: Stack,
  { config, secrets }: StackConfig,
  event: NotificationEvent,
  release: string,
  summary: string,
  facts?: readonly NoticeFact[],
): Promise<void> {
  const webhookUrl = config.notify && secrets[config.notify.webhookSecret as SecretKey];
  if (!config.notify || !webhookUrl) return;
  const result = await sendNotification(
    webhookUrl,
    { event, stack: stack.name, release, summary, ...(facts ? { facts } : {}) },
    config.notify.timeoutMs,
  );
  say(
    result.delivered
      ? `${event} notice delivered (${result.detail})`
      : `warning: the ${event} notice was not delivered (${result.detail})`,
  );
}

/** A notice's facts from the report of an up that succeeded. */
function reportFacts(outputs: Record<string, unknown>): NoticeFact[] | undefined {
  const report = outputs.report as RolloutReport | undefined;
  return report ? noticeFacts(report) : undefined;
}

/**
 * A notice's facts after an up that failed, which leaves no report: the release it rolled out and
 * what state records the update did before it failed (backup, migrations, checks that passed).
 */
async function failedUpFacts(stack: Stack, config: RolloutConfig, startedAt: number): Promise<NoticeFact[]> {
  const { release } = config;
  let done = {};
  try {
    done = runsSince(await stack.exportStack(), new Date(startedAt).toISOString());
  } catch (err) {
    say(`warning: the state could not be read for the notice (${firstLine(err)}); it names the release only`);
  }
  return noticeFacts({
    release: {
      id: release.id,
      digest: "",
      image: release.image,
      schemaTarget: release.schemaTarget,
      stack: stack.name,
    },
    image: { after: release.image },
    ...done,
  });
}

async function confirm(question: string, expected: string, opts: Options): Promise<void> {
  if (opts.yes) return;
  if (!process.stdin.isTTY)
    throw new Refusal(`${question}\nNo terminal to confirm on: pass --yes to go ahead.`);
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  try {
    const answer = (await rl.question(`${question}\nType ${JSON.stringify(expected)} to go ahead: `)).trim();
    if (answer !== expected) throw new Refusal("not confirmed; nothing was changed");
  } finally {
    rl.close();
  }
}

/** The whole history, every page: update numbers are stable only over all of it. */
async function readHistory(stack: Stack): Promise<HistoryEntry[]> {
  const pageSize = 100;
  const all: HistoryEntry[] = [];
  for (let page = 1; ; page++) {
    const batch = (await stack.history(pageSize, page, false)) as unknown as HistoryEntry[];
    all.push(...batch);
    if (batch.length < pageSize) return all;
  }
}

async function printHistory(stack: Stack): Promise<HistoryEntry[]> {
  const history = await readHistory(stack);
  say(`history of ${stack.name} (newest first, ${history.length} entries):`);
  for (const line of historyLines(history).slice(0, 15)) {
    say(
      `  ${String(line.version).padStart(3)}  ${line.time}  ${line.kind.padEnd(8)} ${line.result.padEnd(9)} ${line.release.padEnd(22)} ${line.message}`,
    );
  }
  return history;
}

/** What the lock means and what to do about it; the record table, not the killed run, is the truth. */
function lockedRefusal(stackName: string, { migrations }: RolloutConfig): Refusal {
  return new Refusal(
    `the stack ${stackName} is locked by another update. If one is running, wait for it. If it was killed, ` +
      `release the lock with \`pulumi cancel --yes --stack ${stackName}\`, run \`pulumi refresh --run-program --stack ${stackName}\` ` +
      `(the schema is read back from the ${migrations?.table ?? "migrations record"} table, which is the truth), then run this again.`,
  );
}

/**
 * Success is never claimed while users get 503: the GET checks' URLs and the smoke flows' base URLs
 * (what users reach, without the bypass header) must answer something else.
 */
async function stillInMaintenance(config: RolloutConfig): Promise<string | undefined> {
  const urls = [
    ...config.checks.filter((c) => c.method === "GET").map((c) => c.url),
    ...config.smokeTests.map((t) => t.baseUrl),
  ];
  for (const url of new Set(urls)) {
    try {
      const response = await fetch(url, { signal: AbortSignal.timeout(10_000) });
      await response.arrayBuffer();
      if (response.status === 503) return `${url} answers 503`;
    } catch {
      // Not answering is for the checks and the watch to judge; only a 503 means "maintenance".
    }
  }
  return undefined;
}

/** The value of a secret by its name (a key of its own name or `rollout:secrets.<name>`); undefined when unset. */
function secretValue(entries: ConfigEntries, name: string): string | undefined {
  return entries[`${CONFIG_NAMESPACE}:${secretKeyOf(name)}`]?.value;
}

/** The places a stack copies its backups to, with the S3 keys and SSH keys from its secret config. */
export function copyTargets(config: RolloutConfig, entries: ConfigEntries, projectDir = ROOT): CopyTarget[] {
  const secret = (name: string) => {
    const value = secretValue(entries, name);
    if (value === undefined)
      throw new Refusal(`secret ${CONFIG_NAMESPACE}:${secretKeyOf(name)} is not set; a copy needs it`);
    return value;
  };
  return (config.backup?.copies ?? []).map((copy): CopyTarget => {
    switch (copy.kind) {
      case "dir":
        return { kind: "dir", path: path.resolve(projectDir, copy.path), keep: copy.keep };
      case "ssh":
        return { kind: "ssh", ...sshTargetOf(copy, entries, projectDir), path: copy.path, keep: copy.keep };
      case "s3":
        return {
          kind: "s3",
          ...(copy.endpoint ? { endpoint: copy.endpoint } : {}),
          region: copy.region,
          bucket: copy.bucket,
          prefix: copy.prefix,
          keep: copy.keep,
          accessKeyId: secret(copy.accessKeySecret),
          secretAccessKey: secret(copy.secretKeySecret),
        };
    }
  });
}

/** An SSH host from config, with its key from the stack's secret config. */
function sshTargetOf(target: SshTargetConfig, entries: ConfigEntries, projectDir: string): SshTarget {
  const key = target.keySecret && secretValue(entries, target.keySecret);
  if (target.keySecret && key === undefined)
    throw new Refusal(
      `secret ${CONFIG_NAMESPACE}:${secretKeyOf(target.keySecret)} is not set; the SSH host ${target.host} needs it`,
    );
  return {
    host: target.host,
    port: target.port,
    ...(key ? { privateKey: key } : {}),
    ...(target.keyFile ? { keyFile: path.resolve(projectDir, target.keyFile) } : {}),
    ...(target.hostKey ? { hostKey: target.hostKey } : {}),
    ...(target.knownHostsFile ? { knownHostsFile: path.resolve(projectDir, target.knownHostsFile) } : {}),
  };
}

/**
 * The archives taken before release `undoes`, found locally or fetched back from a copy, each with
 * what restoring it will replace (measured now, on its host); refuses when one is nowhere.
 */
async function archivesToRestore(
  config: RolloutConfig,
  entries: ConfigEntries,
  projectDir: string,
  stackName: string,
  undoes: string,
  recorded: ReturnType<typeof currentBackup>,
): Promise<{ name: string; path: string; sha256: string; says: string }[]> {
  const backup = config.backup!;
  const backupDir = path.resolve(projectDir, backup.dir);
  const found: { name: string; path: string; sha256: string; says: string }[] = [];
  for (const archive of backup.archives) {
    let file = newestArchiveOf(backupDir, archive.name, stackName, undoes);
    if (!file && backup.copies.length > 0) {
      say(`no local archive ${archive.name} of release ${undoes}; fetching it from a copy`);
      const sha256 =
        recorded?.release === undoes
          ? recorded.archives.find((a) => a.name === archive.name)?.sha256
          : undefined;
      const { fetched, problems } = await fetchCopy({
        targets: copyTargets(config, entries, projectDir),
        stack: stackName,
        release: undoes,
        group: `archives/${archive.name}`,
        dir: stackBackupDir(archiveRoot(backupDir, archive.name), stackName),
        ...(sha256 ? { sha256 } : {}),
        log: say,
      });
      for (const problem of problems) say(`  ${problem}`);
      if (fetched) file = { path: fetched.path, sha256: fetched.sha256, timestamp: "" };
    }
    if (!file) {
      throw new Refusal(
        `no verified archive ${archive.name} taken before release ${undoes} is in ${backup.dir}` +
          (backup.copies.length > 0 ? " or in any of its copies" : "") +
          "; restore it by hand, or roll back without --restore-backup",
      );
    }
    const spec: ArchiveSpec = {
      name: archive.name,
      path: archive.path,
      ...(archive.host ? { host: sshTargetOf(archive.host, entries, projectDir) } : {}),
      excludes: archive.excludes,
    };
    const inArchive = await listArchive(file.path);
    // A directory that is gone is restored all the same; the operator is told so.
    const now = await measureDirectory(spec).then(
      (tally) => `${tally.files} files, ${tally.bytes} bytes now`,
      (error: Error) => `not measured: ${firstLine(error)}`,
    );
    found.push({
      name: archive.name,
      path: file.path,
      sha256: file.sha256,
      says:
        `directory ${archiveSource(spec)} (${now}` +
        `${archive.excludes.length > 0 ? `; ${archive.excludes.join(", ")} left alone` : ""}) with the ` +
        `${inArchive.files} files (${inArchive.bytes} bytes) of ${file.path}`,
    });
  }
  return found;
}

const DOCKER_KEY = `${CONFIG_NAMESPACE}:docker`;

/** The Docker host a `rollout:docker` entry names (the default socket when there is none). */
function dockerHostOf(entry: { value: string } | undefined): string {
  if (!entry) return "unix:///var/run/docker.sock";
  try {
    return String((JSON.parse(entry.value) as { host?: unknown }).host);
  } catch {
    return entry.value;
  }
}

/**
 * How this machine logs in to the Docker host (its key, the pinned host key) is no part of a
 * release: going back to an update from before today's login settings keeps them, for the same
 * host. The `rollout:docker` entry to use instead of the target's, or nothing.
 */
export function dockerLoginKept(target: ConfigEntries, current: ConfigEntries): ConfigEntries {
  const now = current[DOCKER_KEY];
  if (!now || dockerHostOf(target[DOCKER_KEY]) !== dockerHostOf(now)) return {};
  return { [DOCKER_KEY]: { value: now.value, secret: false } };
}

/** Rolls the stack back; returns the seconds it took. */
export async function rollback(
  stack: Stack,
  opts: Options & { to?: number; restoreBackup: boolean; reason?: string },
): Promise<number> {
  const started = Date.now();
  const history = await printHistory(stack);
  let choice;
  try {
    choice = chooseRollbackTarget(history, opts.to);
  } catch (err) {
    throw new Refusal((err as Error).message);
  }
  const { current, target, undoes, retryOf } = choice;
  say(
    `rolling back ${undoes} (update ${current.version}, ${current.result}) -> ${target.release.id} (update ${target.version})` +
      (retryOf ? `, retrying the rollback of update ${retryOf} with its target` : ""),
  );

  // Everything that could stop the rollback is checked before anything changes.
  const currentEntries = await stack.getAllConfig();
  const currentConfig = stackConfigFrom(stack.name, currentEntries);
  // History holds no secret values; the current ones stay (a rotated password must stay rotated).
  const secretsNow = Object.fromEntries(Object.entries(currentEntries).filter(([, e]) => e.secret));
  // An override spoke for that update's release and time; a rollback outside the window has --reason.
  const targetPlain = Object.fromEntries(
    Object.entries(choice.targetConfig).filter(([key, e]) => !e.secret && key !== OVERRIDE_KEY),
  );
  Object.assign(targetPlain, dockerLoginKept(targetPlain, currentEntries));
  const targetConfig = stackConfigFrom(stack.name, { ...secretsNow, ...targetPlain }).config;
  const deployment = await stack.exportStack();
  const recorded = recordedRelease(deployment, target.release);
  const imageId = recorded?.imageId;
  const dockerHost = targetConfig.docker.host;
  const keySecret = targetConfig.docker.ssh?.keySecret;
  const dockerKey = keySecret === undefined ? undefined : secretValue(currentEntries, keySecret);
  if (keySecret !== undefined && dockerKey === undefined)
    throw new Refusal(
      `secret ${CONFIG_NAMESPACE}:${secretKeyOf(keySecret)} is not set; the Docker host ${dockerHost} needs it`,
    );
  // Every service's image comes back: the app's and each other one's, as the target update ran them.
  const images = [
    { service: APP_SERVICE, image: target.release.image, imageId },
    ...targetConfig.services.map((s) => ({
      service: s.name,
      image: s.image,
      imageId:
        recorded?.services?.[s.name]?.image === s.image ? recorded.services[s.name].imageId : undefined,
    })),
  ];
  const missing = await withDockerHost(
    targetConfig.docker,
    dockerKey,
    projectDirOf(stack),
    async (endpoint) => images.filter((i) => !inspectImage(i.imageId ?? i.image, endpoint)),
  );
  if (missing.length > 0) {
    throw new Refusal(
      missing
        .map(
          (i) =>
            `image ${i.imageId ? `${i.imageId} (${i.image} when update ${target.version} ran it)` : i.image} of service ${i.service}`,
        )
        .join(", ") +
        ` is not on the Docker host (${dockerHost}); load it there first, then run the rollback again`,
    );
  }
  const imageIds = Object.fromEntries(
    images.filter((i) => i.service !== APP_SERVICE && i.imageId).map((i) => [i.service, i.imageId!]),
  );
  const window = targetConfig.window && evaluateWindow(targetConfig.window, new Date());
  if (window && !window.open && targetConfig.window?.enforce && !opts.reason) {
    throw new Refusal(
      `${window.summary}; a rollback outside the window needs a written reason: add --reason '<why>' ` +
        "(it lands in the report and the notice)",
    );
  }
  let restoreBackup:
    { path: string; sha256: string; archives?: { name: string; path: string; sha256: string }[] } | undefined;
  if (opts.restoreBackup) {
    if (!targetConfig.backup)
      throw new Refusal("the stack takes no backups; --restore-backup has nothing to restore");
    const backupDir = path.resolve(projectDirOf(stack), targetConfig.backup.dir);
    let found = newestBackupOf(backupDir, stack.name, undoes);
    if (!found && targetConfig.backup.copies.length > 0) {
      // The local file is gone: fetch a copy, verified against the SHA-256 state recorded when the
      // backup was taken (or, for an older release, the one stored beside the copy).
      say(`no local backup of release ${undoes} in ${targetConfig.backup.dir}; fetching it from a copy`);
      const recorded = currentBackup(deployment);
      const { fetched, problems } = await fetchCopy({
        targets: copyTargets(targetConfig, secretsNow, projectDirOf(stack)),
        stack: stack.name,
        release: undoes,
        dir: stackBackupDir(backupDir, stack.name),
        ...(recorded?.release === undoes ? { sha256: recorded.sha256 } : {}),
        log: say,
      });
      for (const problem of problems) say(`  ${problem}`);
      if (fetched) found = { path: fetched.path, sha256: fetched.sha256, timestamp: "" };
    }
    if (!found) {
      throw new Refusal(
        `no verified backup taken before release ${undoes} is in ${targetConfig.backup.dir}` +
          (targetConfig.backup.copies.length > 0 ? " or in any of its copies" : "") +
          "; restore by hand from an offsite copy, or roll back without --restore-backup",
      );
    }
    const archives = await archivesToRestore(
      targetConfig,
      secretsNow,
      projectDirOf(stack),
      stack.name,
      undoes,
      currentBackup(deployment),
    );
    restoreBackup = {
      path: found.path,
      sha256: found.sha256,
      ...(archives.length > 0
        ? { archives: archives.map(({ name, path: file, sha256 }) => ({ name, path: file, sha256 })) }
        : {}),
    };
    // Said before the question, so a run with --yes records it too.
    say(`--restore-backup replaces, with the backup taken before release ${undoes} changed anything:`);
    say(`  database ${targetConfig.database.database} on ${targetConfig.database.host} with ${found.path}`);
    for (const a of archives) say(`  the contents of ${a.says}`);
    await confirm(
      `Restore ${archives.length > 0 ? "the database and the directories" : "the database"} as listed? Every write since then is lost.`,
      targetConfig.database.database,
      opts,
    );
  } else {
    const problems = downProblems(appliedMigrations(deployment), targetConfig.release.schemaTarget ?? "0000");
    if (problems.length > 0)
      throw new Refusal(`cannot roll back to ${target.release.id}:\n  - ${problems.join("\n  - ")}`);
  }

  // The target update's whole config comes back, marked as a rollback of `undoes`.
  const mark = {
    undoes,
    toUpdate: target.version,
    ...(opts.reason ? { reason: opts.reason } : {}),
    ...(imageId ? { imageId } : {}),
    ...(Object.keys(imageIds).length > 0 ? { imageIds } : {}),
    ...(restoreBackup ? { restoreBackup } : {}),
  };
  const changes = configChanges(currentEntries, {
    ...secretsNow,
    ...targetPlain,
    [ROLLBACK_KEY]: { value: JSON.stringify(mark), secret: false },
  });
  say(`config of update ${target.version} comes back (${changes.length} keys change):`);
  for (const line of changes) say(`  ${line}`);
  const undo = await writeConfig(stack, targetPlain, { [ROLLBACK_KEY]: mark });
  try {
    say("preview of the rollback:");
    await review(stack, target.release);
    await confirm(`Roll back ${undoes} -> ${target.release.id} on ${stack.name}?`, "yes", opts);
  } catch (err) {
    await undo.restore();
    throw err instanceof Refusal
      ? err
      : new Refusal(`the rollback's preview failed, nothing changed: ${firstLine(err)}`);
  }

  const message = `rollback: ${undoes} -> ${target.release.id} (update ${target.version})${opts.reason ? `: ${opts.reason}` : ""}`;
  say(`pulumi up: ${message}`);
  const outcome = await runUp(stack, message, (signal) => say(`${signal}: cancelling the update`));
  if (outcome.kind === "locked" || outcome.kind === "refused") {
    await undo.restore();
    throw outcome.kind === "locked"
      ? lockedRefusal(stack.name, currentConfig.config)
      : new Refusal(`the rollback was refused before anything changed: ${outcome.reason}`);
  }
  if (outcome.kind !== "succeeded") {
    await notify(
      stack,
      currentConfig,
      "failure",
      target.release.id,
      `rollback to ${target.release.id} ${outcome.kind}: ${outcome.reason}`,
      await failedUpFacts(stack, targetConfig, started),
    );
    throw new Failure(
      `rollback to ${target.release.id} ${outcome.kind}: ${outcome.reason}\n` +
        "The stack config still names this rollback, so running `npm run rollback` again retries it with the same target; " +
        'see "Rolling back at 02:30" in the README.',
    );
  }
  // Done: the mark stays in this update's history; the stack config is now the target's own.
  await stack.removeConfig(ROLLBACK_KEY);
  const restored = (outcome.outputs.report as Pick<RolloutReport, "rollback"> | undefined)?.rollback
    ?.restored;
  if (restored) say(`restored ${restored.tablesRestored} tables from ${restored.path}`);
  for (const a of restored?.archives ?? [])
    say(`restored ${a.files} files of archive ${a.name} into ${a.target}`);
  const seconds = (Date.now() - started) / 1000;
  const maintenance = await stillInMaintenance(targetConfig);
  if (maintenance) {
    await notify(
      stack,
      currentConfig,
      "failure",
      target.release.id,
      `rollback ran, but ${maintenance}`,
      reportFacts(outcome.outputs),
    );
    throw new Failure(
      `the rollback to ${target.release.id} ran, but ${maintenance}: the service is not back; switch maintenance off`,
    );
  }
  say(`rolled back to ${target.release.id} in ${seconds.toFixed(1)} s`);
  await notify(
    stack,
    currentConfig,
    "rollback",
    target.release.id,
    `rolled back from ${undoes} in ${seconds.toFixed(0)} s${opts.reason ? `: ${opts.reason}` : ""}`,
    reportFacts(outcome.outputs),
  );
  return seconds;
}

/**
 * Watches the live release; returns the breach that needs a rollback, or undefined. It judges by
 * the limits the release's soak judged by (`limits`: relative to the release before, when its soak
 * measured a baseline), else by the stack's absolute ones.
 */
async function watch(
  config: RolloutConfig,
  totalSeconds: number,
  windowSeconds: number,
  limits: SoakLimits | undefined,
): Promise<string | undefined> {
  const urls = probeUrls(config);
  if (urls.length === 0)
    throw new Refusal(
      "--watch needs at least one GET check in rollout:checks without headers or a body that expects a 2xx (a health URL); add one such as {name: health, url: <service>/health}",
    );
  const thresholds = {
    ...watchThresholds(config),
    ...(limits ? { maxErrorRate: limits.maxErrorRate, maxP95Ms: limits.maxP95Ms } : {}),
  };
  const deadline = Date.now() + totalSeconds * 1000;
  say(`watching ${urls.join(", ")} for ${totalSeconds} s in windows of ${windowSeconds} s`);
  if (limits?.baseline) {
    say(
      `  limits from the baseline of the release before (error rate ${(limits.baseline.errorRate * 100).toFixed(1)} %, p95 ${limits.baseline.p95Ms} ms): ` +
        `error rate up to ${(limits.maxErrorRate * 100).toFixed(1)} %, p95 up to ${limits.maxP95Ms} ms`,
    );
  }
  while (Date.now() < deadline) {
    const seconds = Math.max(1, Math.min(windowSeconds, Math.ceil((deadline - Date.now()) / 1000)));
    try {
      const result = await runSoak({ ...thresholds, urls, durationSeconds: seconds });
      say(`  window ok: ${result.probes} probes, ${result.errors} errors, p95 ${result.p95Ms} ms`);
    } catch (err) {
      return (err as Error).message;
    }
  }
  return undefined;
}

/** The preview with its diff, then the same in plain words: what a yes will do. */
async function review(stack: Stack, next: { id: string; image: string }): Promise<void> {
  const events: EngineEvent[] = [];
  await stack.preview({
    diff: true,
    onOutput: (out) => process.stdout.write(out),
    onEvent: (event) => events.push(event),
  });
  const running = runningFrom(await stack.outputs());
  say("in plain words:");
  for (const line of reviewSummary(plannedSteps(events), { release: next.id, image: next.image }, running)) {
    say(`  ${line}`);
  }
}

/** After a failed or breached release: roll back when asked to, and say how it ended. */
async function afterFailure(
  stack: Stack,
  opts: Options & { autoRollback: boolean },
  release: string,
  reason: string,
): Promise<number> {
  if (!opts.autoRollback) {
    say("maintenance stays on; fix forward, or run `npm run rollback`");
    return EXIT.failed;
  }
  await rollback(stack, { ...opts, restoreBackup: false, reason: `${reason} (${release})` });
  return EXIT.rolledBack;
}

async function deploy(
  stack: Stack,
  opts: Options & { autoRollback: boolean; watch?: number; watchWindow: number },
): Promise<number> {
  const stackConfig = await readStackConfig(stack);
  const { release } = stackConfig.config;
  say(`deploying ${release.id} (${release.image}) to ${stack.name}: preview first`);
  await review(stack, release);
  await confirm(`Roll out ${release.id} to ${stack.name}?`, "yes", opts);
  const started = Date.now();
  const outcome: UpOutcome = await runUp(stack, `deploy ${release.id}`, (signal) =>
    say(`${signal}: cancelling the update; the lock is released when the engine stops`),
  );
  if (outcome.kind === "locked") throw lockedRefusal(stack.name, stackConfig.config);
  if (outcome.kind === "refused") {
    // Nothing changed (a closed window, a missing approval, a failed preflight): nothing to undo.
    throw new Refusal(`deploy of ${release.id} was refused before anything changed: ${outcome.reason}`);
  }
  if (outcome.kind !== "succeeded") {
    say(
      `deploy of ${release.id} ${outcome.kind} after ${((Date.now() - started) / 1000).toFixed(1)} s: ${outcome.reason}`,
    );
    await notify(
      stack,
      stackConfig,
      "failure",
      release.id,
      `deploy ${outcome.kind}: ${outcome.reason}`,
      await failedUpFacts(stack, stackConfig.config, started),
    );
    if (outcome.kind === "cancelled") return EXIT.failed;
    const code = await afterFailure(stack, opts, release.id, "automatic after failed deploy");
    if (code === EXIT.rolledBack) {
      say(
        `from the failure to the previous release serving: ${((Date.now() - started) / 1000).toFixed(1)} s`,
      );
    }
    return code;
  }
  say(`deployed ${release.id} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (opts.watch) {
    const report = outcome.outputs.report as { soak?: { limits?: SoakLimits } | null } | undefined;
    const breach = await watch(stackConfig.config, opts.watch, opts.watchWindow, report?.soak?.limits);
    if (breach) {
      say(`breach while watching: ${breach}`);
      await notify(
        stack,
        stackConfig,
        "failure",
        release.id,
        `breach after deploy: ${breach}`,
        reportFacts(outcome.outputs),
      );
      return afterFailure(stack, { ...opts, autoRollback: true }, release.id, "breach while watching");
    }
    say("watch ended without a breach");
  }
  return EXIT.done;
}

const HELP: Record<string, string> = {
  history: `npm run history -- [--stack NAME] [--cwd DIR]
  Lists the stack's updates, newest first, numbered as --to takes them. Rollbacks show as such.`,
  rollback: `npm run rollback -- [--stack NAME] [--cwd DIR] [--to N] [--reason TEXT] [--restore-backup] [--yes]
  Re-applies the whole config of an earlier successful update, marked as a rollback: schema down by
  the stored down SQL, the image id that update ran, checks, maintenance off.
  --to N            the update to go back to (see npm run history); needed right after a rollback
  --reason TEXT     why; required outside the maintenance window; lands in the report and notices
  --restore-backup  restore the backup taken before the release being undone (every write since is lost)
  --yes             do not ask (for scripts)
  A rollback is not held up by the release being down, its maintenance endpoint not answering or
  forward-only gates; the database must answer, and a backup is taken before any down script.`,
  deploy: `npm run deploy -- [--stack NAME] [--cwd DIR] [--yes] [--auto-rollback] [--watch DURATION] [--watch-window DURATION]
  Preview, confirm, up. A failed up sends a failure notice; with --auto-rollback it rolls back at
  once. With --watch 4h it keeps judging the live release and rolls back on a breach. A run refused
  before anything changed (window, approvals, preflight) is not rolled back.`,
};
const EXIT_HELP =
  "--cwd DIR: the project folder holding Pulumi.yaml and the stack's config (default: this repository), e.g. examples/terp.\n" +
  "Exit codes: 0 done, 1 failed, 2 refused (nothing changed), 3 rolled back.";

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h" || !(command in HELP)) {
    if (command && command !== "--help" && command !== "-h")
      throw new Refusal(`unknown command ${JSON.stringify(command)}; use history, rollback or deploy`);
    process.stdout.write(`${Object.values(HELP).join("\n\n")}\n\n${EXIT_HELP}\n`);
    return EXIT.done;
  }
  const values = commandOptions(
    rest,
    {
      stack: { type: "string", default: "dev" },
      cwd: { type: "string" },
      yes: { type: "boolean", default: false },
      to: { type: "string" },
      reason: { type: "string" },
      "restore-backup": { type: "boolean", default: false },
      "auto-rollback": { type: "boolean", default: false },
      watch: { type: "string" },
      "watch-window": { type: "string", default: "60s" },
    },
    HELP[command],
    EXIT_HELP,
  );
  if (!values) return EXIT.done;
  const opts: Options = { stack: values.stack!, yes: values.yes! };
  const stack = await openStack(opts.stack, projectFolder(values.cwd));
  if (command === "history") {
    await printHistory(stack);
    return EXIT.done;
  }
  if (command === "rollback") {
    let to: number | undefined;
    if (values.to !== undefined) {
      to = Number(values.to);
      if (!Number.isInteger(to) || to <= 0)
        throw new Refusal(`--to ${values.to} is not an update number; see npm run history`);
    }
    await rollback(stack, { ...opts, to, reason: values.reason, restoreBackup: values["restore-backup"]! });
    return EXIT.done;
  }
  let watchSeconds: number | undefined;
  let watchWindow: number;
  try {
    watchSeconds = values.watch ? parseDuration(values.watch) : undefined;
    watchWindow = parseDuration(values["watch-window"]!);
  } catch (err) {
    throw new Refusal(`--watch: ${(err as Error).message}`);
  }
  return deploy(stack, { ...opts, autoRollback: values["auto-rollback"]!, watch: watchSeconds, watchWindow });
}

if (require.main === module) {
  runCommand(main, (err) => (err instanceof Failure ? "expected" : "unexpected"));
}
