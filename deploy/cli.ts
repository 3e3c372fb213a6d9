// The operator's commands over the Automation API:
//
//   npm run history  -- [--stack dev]
//   npm run rollback -- [--stack dev] [--to N] [--restore-backup] [--yes]
//   npm run deploy   -- [--stack dev] [--yes] [--auto-rollback] [--watch 4h] [--watch-window 60s]
//
// Rollback re-applies the release value of an earlier successful update from `pulumi stack
// history`; the schema goes down with the down SQL kept in state and the earlier image comes back.
import { LocalWorkspace, type Stack } from "@pulumi/pulumi/automation";
import path from "node:path";
import readline from "node:readline/promises";
import { parseArgs } from "node:util";
import {
  ConfigError,
  entriesReader,
  readConfig,
  watchThresholds,
  type ConfigEntries,
  type ReleaseConfig,
  type RolloutConfig,
  type SecretKey,
  type StackSecrets,
} from "../config";
import { restorePostgresBackup } from "../engines/backup";
import { runSoak } from "../engines/checks/soak";
import { inspectImage } from "../engines/image/build";
import { switchMaintenance } from "../engines/maintenanceMode";
import { sendNotification, type NotificationEvent } from "../engines/notify";
import {
  chooseRollbackTarget,
  historyLines,
  parseDuration,
  type HistoryEntry,
  type RollbackChoice,
} from "./history";
import { appliedMigrations, currentBackup, downProblems } from "./state";

const ROOT = path.resolve(__dirname, "..");

/** Everything printed goes through here, with the time, so a log of a night's work reads in order. */
function say(line: string): void {
  process.stdout.write(`[${new Date().toISOString().slice(11, 19)}] ${line}\n`);
}

class Refusal extends Error {}

interface Options {
  stack: string;
  yes: boolean;
}

async function openStack(stackName: string): Promise<Stack> {
  // The dev stack's backend and passphrase are fixed and documented; other stacks bring their own.
  if (stackName === "dev" && !process.env.PULUMI_BACKEND_URL) {
    process.env.PULUMI_BACKEND_URL = `file://${ROOT}/.pulumi-state`;
    process.env.PULUMI_CONFIG_PASSPHRASE ??= "rollout-dev";
  }
  return LocalWorkspace.selectStack({ stackName, workDir: ROOT });
}

/**
 * The stack's config, validated and defaulted by the same loader as the program, with its secrets
 * decrypted; read once per command: each read runs the CLI, and the values a command needs do not
 * change while it runs (rollback writes only the release value).
 */
export interface StackConfig {
  readonly config: RolloutConfig;
  readonly secrets: StackSecrets<string>;
}

/** The commands' view of a stack's config: the program's loader over the Automation API's entries. */
export function stackConfigFrom(stackName: string, entries: ConfigEntries): StackConfig {
  try {
    return readConfig(stackName, entriesReader(entries));
  } catch (err) {
    throw err instanceof ConfigError ? new Refusal(err.message) : err;
  }
}

async function readStackConfig(stack: Stack): Promise<StackConfig> {
  return stackConfigFrom(stack.name, await stack.getAllConfig());
}

async function notify(
  stack: Stack,
  { config, secrets }: StackConfig,
  event: NotificationEvent,
  release: string,
  summary: string,
): Promise<void> {
  const webhookUrl = config.notify && secrets[config.notify.webhookSecret as SecretKey];
  if (!config.notify || !webhookUrl) return;
  const result = await sendNotification(
    webhookUrl,
    { event, stack: stack.name, release, summary },
    config.notify.timeoutMs,
  );
  say(
    result.delivered
      ? `${event} notice delivered (${result.detail})`
      : `warning: the ${event} notice was not delivered (${result.detail})`,
  );
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

async function printHistory(stack: Stack): Promise<HistoryEntry[]> {
  const history = (await stack.history(undefined, undefined, false)) as unknown as HistoryEntry[];
  say(`history of ${stack.name} (newest first):`);
  for (const line of historyLines(history).slice(0, 15)) {
    say(
      `  ${String(line.version).padStart(3)}  ${line.time}  ${line.kind.padEnd(7)} ${line.result.padEnd(9)} ${line.release.padEnd(22)} ${line.message}`,
    );
  }
  return history;
}

async function setRelease(stack: Stack, release: ReleaseConfig): Promise<void> {
  await stack.setConfig("rollout:release.id", { value: release.id }, true);
  await stack.setConfig("rollout:release.image", { value: release.image }, true);
  if (release.schemaTarget)
    await stack.setConfig("rollout:release.schemaTarget", { value: release.schemaTarget }, true);
  else await stack.removeConfig("rollout:release.schemaTarget", true).catch(() => undefined);
}

/** Rolls the stack back; returns the seconds it took. */
export async function rollback(
  stack: Stack,
  opts: Options & { to?: number; restoreBackup: boolean; reason?: string },
): Promise<number> {
  const started = Date.now();
  const history = await printHistory(stack);
  let choice: RollbackChoice;
  try {
    choice = chooseRollbackTarget(history, opts.to);
  } catch (err) {
    throw new Refusal((err as Error).message);
  }
  const { current, target } = choice;
  say(
    `rolling back ${current.release.id} (update ${current.version}, ${current.result}) -> ${target.release.id} (update ${target.version})`,
  );

  // Everything that could stop the rollback is checked before anything changes.
  const deployment = await stack.exportStack();
  const targetSchema = target.release.schemaTarget ?? "0000";
  const backup = currentBackup(deployment);
  if (opts.restoreBackup) {
    if (!backup)
      throw new Refusal("the stack's state holds no backup; --restore-backup has nothing to restore");
    if (backup.release !== current.release.id) {
      throw new Refusal(
        `the last backup in state was taken for release ${backup.release}, not for ${current.release.id}; ` +
          `restore it by hand if it is the right one (${backup.path})`,
      );
    }
  } else {
    const problems = downProblems(appliedMigrations(deployment), targetSchema);
    if (problems.length > 0)
      throw new Refusal(`cannot roll back to ${target.release.id}:\n  - ${problems.join("\n  - ")}`);
  }
  const stackConfig = await readStackConfig(stack);
  const { config, secrets } = stackConfig;
  const dockerHost = config.docker.host;
  if (!inspectImage(target.release.image, dockerHost)) {
    throw new Refusal(
      `image ${target.release.image} is not on the Docker host (${dockerHost}); pull or load it there first, then run the rollback again`,
    );
  }

  if (opts.restoreBackup && backup) {
    const db = config.database;
    await confirm(
      `--restore-backup replaces database ${db.database} on ${db.host} with ${backup.path},\n` +
        `taken at ${backup.createdAt} before release ${backup.release} changed anything. Every write since then is lost.`,
      db.database,
      opts,
    );
    const { maintenance } = config;
    if (maintenance && secrets.maintenanceToken) {
      // Keep traffic off the database while it is replaced.
      const result = await switchMaintenance(
        {
          url: maintenance.url,
          method: maintenance.onMethod,
          token: secrets.maintenanceToken,
          timeoutMs: maintenance.timeoutMs,
          allowUnreachable: true,
        },
        "on",
      );
      say(`maintenance on: ${result.outcome}`);
    }
    say(`verifying ${backup.path} (sha256 ${backup.sha256.slice(0, 12)}...) and restoring it`);
    const restored = await restorePostgresBackup({
      connection: {
        host: db.host,
        port: db.port,
        database: db.database,
        user: db.adminUser,
        password: secrets.databasePassword,
        sslMode: db.sslMode,
      },
      path: backup.path,
      expectedSha256: backup.sha256,
    });
    say(`restored ${restored.tablesRestored} tables in ${(restored.durationMs / 1000).toFixed(1)} s`);
  }

  // Kept to put back if the update cannot even start (another one holds the stack).
  const releaseBefore = config.release;
  await setRelease(stack, target.release);
  const message = `rollback: ${current.release.id} -> ${target.release.id} (update ${target.version})${opts.reason ? `: ${opts.reason}` : ""}`;
  say(`pulumi up: ${message}`);
  try {
    await stack.up({ message, onOutput: (out) => process.stdout.write(out) });
  } catch (err) {
    const explained = explainLock(err, stack.name, config);
    if (explained instanceof Refusal) {
      // Another update holds the stack: put the release value back, so nothing has changed.
      await setRelease(stack, releaseBefore);
      throw explained;
    }
    await notify(
      stack,
      stackConfig,
      "failure",
      target.release.id,
      `rollback to ${target.release.id} failed: ${firstLine(err)}`,
    );
    throw err;
  }
  const seconds = (Date.now() - started) / 1000;
  say(`rolled back to ${target.release.id} in ${seconds.toFixed(1)} s`);
  await notify(
    stack,
    stackConfig,
    "rollback",
    target.release.id,
    `rolled back from ${current.release.id} in ${seconds.toFixed(0)} s`,
  );
  return seconds;
}

/**
 * Turns the backend's lock error into what to do: a killed run leaves its lock behind, and the
 * record table in the database, not the interrupted state, says which migrations went in.
 */
function explainLock(err: unknown, stackName: string, { migrations }: RolloutConfig): unknown {
  const text = err instanceof Error ? err.message : String(err);
  if (!/the stack is currently locked/.test(text)) return err;
  return new Refusal(
    `the stack ${stackName} is locked by another update. If one is running, wait for it. If it was killed, ` +
      `release the lock with \`pulumi cancel --yes --stack ${stackName}\`, run \`pulumi refresh --stack ${stackName}\` ` +
      `(the schema is read back from the ${migrations?.table ?? "migrations record"} table, which is the truth), then run this again.`,
  );
}

function firstLine(err: unknown): string {
  const text = err instanceof Error ? err.message : String(err);
  const diagnostic = /error: (.+)/.exec(text);
  return (diagnostic ? diagnostic[1] : text).split("\n")[0].slice(0, 300);
}

/** Watches the live release; returns the breach that needs a rollback, or undefined. */
async function watch(
  config: RolloutConfig,
  totalSeconds: number,
  windowSeconds: number,
): Promise<string | undefined> {
  const urls = config.checks.filter((c) => c.method === "GET").map((c) => c.url);
  if (urls.length === 0) throw new Refusal("--watch needs at least one GET check in rollout:checks");
  const thresholds = watchThresholds(config);
  const deadline = Date.now() + totalSeconds * 1000;
  say(`watching ${urls.join(", ")} for ${totalSeconds} s in windows of ${windowSeconds} s`);
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

async function deploy(
  stack: Stack,
  opts: Options & { autoRollback: boolean; watch?: number; watchWindow: number },
): Promise<number> {
  const stackConfig = await readStackConfig(stack);
  const { release } = stackConfig.config;
  say(`deploying ${release.id} (${release.image}) to ${stack.name}: preview first`);
  const preview = await stack.preview({ diff: true, onOutput: (out) => process.stdout.write(out) });
  say(`preview: ${JSON.stringify(preview.changeSummary)}`);
  await confirm(`Roll out ${release.id} to ${stack.name}?`, "yes", opts);
  const started = Date.now();
  try {
    await stack.up({ message: `deploy ${release.id}`, onOutput: (out) => process.stdout.write(out) });
  } catch (err) {
    const explained = explainLock(err, stack.name, stackConfig.config);
    if (explained instanceof Refusal) throw explained;
    const reason = firstLine(err);
    say(`deploy of ${release.id} failed after ${((Date.now() - started) / 1000).toFixed(1)} s: ${reason}`);
    await notify(stack, stackConfig, "failure", release.id, `deploy failed: ${reason}`);
    if (!opts.autoRollback) {
      say("maintenance stays on; fix forward, or run `npm run rollback`");
      return 1;
    }
    const seconds = await rollback(stack, {
      ...opts,
      restoreBackup: false,
      reason: `automatic after failed deploy of ${release.id}`,
    });
    say(
      `from the failure to the previous release serving: ${((Date.now() - started) / 1000).toFixed(1)} s (rollback ${seconds.toFixed(1)} s)`,
    );
    return 1;
  }
  say(`deployed ${release.id} in ${((Date.now() - started) / 1000).toFixed(1)} s`);
  if (opts.watch) {
    const breach = await watch(stackConfig.config, opts.watch, opts.watchWindow);
    if (breach) {
      say(`breach while watching: ${breach}`);
      await notify(stack, stackConfig, "failure", release.id, `breach after deploy: ${breach}`);
      await rollback(stack, { ...opts, restoreBackup: false, reason: `breach while watching ${release.id}` });
      return 1;
    }
    say("watch ended without a breach");
  }
  return 0;
}

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const { values } = parseArgs({
    args: rest,
    options: {
      stack: { type: "string", default: "dev" },
      yes: { type: "boolean", default: false },
      to: { type: "string" },
      "restore-backup": { type: "boolean", default: false },
      "auto-rollback": { type: "boolean", default: false },
      watch: { type: "string" },
      "watch-window": { type: "string", default: "60s" },
    },
    strict: true,
  });
  const opts: Options = { stack: values.stack!, yes: values.yes! };
  if (command !== "history" && command !== "rollback" && command !== "deploy") {
    throw new Refusal(`unknown command ${JSON.stringify(command)}; use history, rollback or deploy`);
  }
  const stack = await openStack(opts.stack);
  if (command === "history") {
    await printHistory(stack);
    return 0;
  }
  if (command === "rollback") {
    let to: number | undefined;
    if (values.to !== undefined) {
      to = Number(values.to);
      if (!Number.isInteger(to) || to <= 0)
        throw new Refusal(`--to ${values.to} is not an update number; see npm run history`);
    }
    await rollback(stack, { ...opts, to, restoreBackup: values["restore-backup"]! });
    return 0;
  }
  let watch: number | undefined;
  let watchWindow: number;
  try {
    watch = values.watch ? parseDuration(values.watch) : undefined;
    watchWindow = parseDuration(values["watch-window"]!);
  } catch (err) {
    throw new Refusal(`--watch: ${(err as Error).message}`);
  }
  return deploy(stack, { ...opts, autoRollback: values["auto-rollback"]!, watch, watchWindow });
}

if (require.main === module) {
  main(process.argv.slice(2)).then(
    (code) => process.exit(code),
    (err: Error) => {
      process.stderr.write(`error: ${err instanceof Refusal ? err.message : (err.stack ?? err.message)}\n`);
      process.exit(err instanceof Refusal ? 2 : 1);
    },
  );
}
