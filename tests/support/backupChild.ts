// A backup run in a process of its own, for tests that kill it: takes the options as JSON from
// ROLLOUT_BACKUP_OPTIONS (with `now` as an ISO time), prints each log line, then the result.
import { takePostgresBackup, type PostgresBackupOptions } from "../../engines/backup";

async function main(): Promise<void> {
  const options = JSON.parse(process.env.ROLLOUT_BACKUP_OPTIONS ?? "{}") as PostgresBackupOptions & {
    now?: string;
  };
  const result = await takePostgresBackup({
    ...options,
    now: options.now === undefined ? undefined : new Date(options.now),
    log: (line) => console.log(line),
  });
  console.log(`result: ${JSON.stringify(result)}`);
}

main().catch((error: unknown) => {
  console.error((error as Error).message);
  process.exit(1);
});
