// Repairs of an applied migration's record, without editing the database by hand
// (`npm run migrations -- --help`):
//
//   npm run migrations -- repair-down     --stack NAME [--cwd DIR] --migration ID|NAME --reason TEXT [--by NAME]
//   npm run migrations -- accept-checksum --stack NAME [--cwd DIR] --migration ID|NAME --reason TEXT [--by NAME]
//
// Both read the stack's config through the program's loader, change one row of the record table
// under the migration lock, and record who, when and why in that row; the next preview of the stack
// shows the repair and the next `up` takes it into state.
//
// Exit codes as deploy/cli.ts: 0 done; 1 failed; 2 refused, nothing changed.
import os from "node:os";
import path from "node:path";
import {
  acceptChecksum,
  loadMigrations,
  MigrationFilesError,
  repairDown,
  RepairRefused,
  type RepairResult,
} from "../engines/migrations";
import { openStack, projectFolder } from "./cli";
import { commandOptions, EXIT, runCommand, say } from "./command";
import { readStackConfig, Refusal } from "./stackConfig";

const COMMANDS = {
  "repair-down": {
    run: repairDown,
    help: `npm run migrations -- repair-down --stack NAME [--cwd DIR] --migration ID|NAME --reason TEXT [--by NAME]
  Replaces the down SQL stored for an applied migration with its down file as it is now (a down
  that was wrong when it was applied). Nothing runs; the record table keeps who, when and why.`,
  },
  "accept-checksum": {
    run: acceptChecksum,
    help: `npm run migrations -- accept-checksum --stack NAME [--cwd DIR] --migration ID|NAME --reason TEXT [--by NAME]
  Accepts an edited up file of an applied migration (a comment, formatting): its record takes the
  file's checksum, so plans stop refusing it. The edited SQL is not run; a change the database needs
  is a new migration. The record table keeps who, when, why and both checksums.`,
  },
} as const;
type Command = keyof typeof COMMANDS;

const EXIT_HELP = "Exit codes: 0 done, 1 failed, 2 refused (nothing changed).";
const ALL_HELP = `${Object.values(COMMANDS)
  .map((c) => c.help)
  .join("\n\n")}
  --by NAME   who repairs (default: the operating-system user)
  The next preview of the stack shows the repair; the next up records it in state.`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (!command || command === "--help" || command === "-h") {
    process.stdout.write(`${ALL_HELP}\n\n${EXIT_HELP}\n`);
    return EXIT.done;
  }
  if (!(command in COMMANDS)) {
    throw new Refusal(`unknown command ${JSON.stringify(command)}; use repair-down or accept-checksum`);
  }
  const { run, help } = COMMANDS[command as Command];
  const values = commandOptions(
    rest,
    {
      stack: { type: "string", default: "dev" },
      cwd: { type: "string" },
      migration: { type: "string" },
      reason: { type: "string" },
      by: { type: "string" },
    },
    help,
    EXIT_HELP,
  );
  if (!values) return EXIT.done;
  if (!values.migration)
    throw new Refusal(`--migration is required: the id or name of an applied migration\n\n${help}`);
  if (!values.reason?.trim()) {
    throw new Refusal(
      `--reason is required: why the record is changed (it is kept with the repair)\n\n${help}`,
    );
  }
  const by = values.by ?? os.userInfo().username;

  const stack = await openStack(values.stack!, projectFolder(values.cwd));
  const { config, secrets } = await readStackConfig(stack);
  if (!config.migrations) {
    throw new Refusal(
      `the stack ${stack.name} has no rollout:migrations, so it records no migrations to repair`,
    );
  }
  const dir = path.resolve(stack.workspace.workDir, config.migrations.dir);
  const wanted = values.migration;
  const migration = loadMigrations(dir).find((m) => m.name === wanted || m.id === wanted);
  if (!migration) {
    throw new Refusal(
      `--migration ${JSON.stringify(wanted)} is not a migration in ${dir}; pass its id or its name as a preview of the stack names it`,
    );
  }
  const { database } = config;
  if (database.engine === "mysql") {
    throw new Refusal(
      `stack ${stack.name} targets MySQL (rollout:database.engine), and repairs of the record table are written for PostgreSQL; on MySQL, update the row of ${migration.name} in ${config.migrations.table} by hand (its checksum or down_sql column) and run a preview`,
    );
  }
  const result: RepairResult = await run({
    connection: {
      host: database.host,
      port: database.port,
      database: database.database,
      user: database.adminUser,
      password: secrets.databasePassword,
      sslMode: database.sslMode,
    },
    table: config.migrations.table,
    lockTimeoutSeconds: config.migrations.lockTimeoutSeconds,
    migration,
    by,
    reason: values.reason,
  });
  say(
    result.kind === "down"
      ? `the down SQL stored for ${result.name} now is its down file's (sha256 ${result.from.slice(0, 12) || "none"} -> ${result.to.slice(0, 12)})`
      : `the record of ${result.name} now accepts its edited up file (checksum ${result.from.slice(0, 12)} -> ${result.to.slice(0, 12)}); the edit was not run`,
  );
  say(`recorded in ${config.migrations.table} by ${result.by} at ${result.at}: ${result.reason}`);
  say(`the next preview of ${stack.name} shows the repair; the next up records it in state`);
  return EXIT.done;
}

if (require.main === module) {
  runCommand(main, (err) =>
    err instanceof RepairRefused || err instanceof MigrationFilesError ? "refused" : "unexpected",
  );
}
