// A backup of a 1 GB database: the product's backup engine (pg_dump, pg_restore --list, sha256,
// no restore test) against plain `pg_dump -Fc` + `sha256sum` + `pg_restore --list`.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { takePostgresBackup } from "../engines/backup";
import { query, targetDatabase } from "../tests/support/stack";
import { alternate, log, ROOT, run, sizes, type Figure } from "./lib";

/** The bench-only database the backup figure dumps; generated once, reused while it is big enough. */
export const BACKUP_DATABASE = "bench_backup_1gb";
const ONE_GB = 1024 ** 3;

async function databaseBytes(): Promise<number | undefined> {
  const rows = await query<{ bytes: string }>(
    "SELECT pg_database_size(datname) AS bytes FROM pg_database WHERE datname = $1",
    [BACKUP_DATABASE],
  );
  return rows.length === 0 ? undefined : Number(rows[0].bytes);
}

/** Creates the database with generate_series (accounts and their events) unless it is there at 1 GB. */
export async function ensureBackupDatabase(): Promise<number> {
  const bytes = await databaseBytes();
  if (bytes !== undefined && bytes >= ONE_GB) return bytes;
  log(`backup: generating ${BACKUP_DATABASE} (about 1 GB, once)`);
  await query(`DROP DATABASE IF EXISTS ${BACKUP_DATABASE} WITH (FORCE)`);
  await query(`CREATE DATABASE ${BACKUP_DATABASE}`);
  const as = { database: BACKUP_DATABASE };
  await query(
    `CREATE TABLE accounts (id bigint PRIMARY KEY, email text NOT NULL, created_at timestamptz NOT NULL);
     INSERT INTO accounts SELECT g, 'user' || g || '@example.com', now() - g * interval '1 minute'
       FROM generate_series(1, 200000) g;
     CREATE TABLE events (id bigint PRIMARY KEY, account_id bigint NOT NULL REFERENCES accounts,
       at timestamptz NOT NULL, kind text NOT NULL, payload text NOT NULL);`,
    [],
    as,
  );
  // In batches of a million rows until the database holds 1 GB (rows of about 180 bytes).
  for (let batch = 0; ((await databaseBytes()) ?? 0) < ONE_GB; batch++) {
    await query(
      `INSERT INTO events
       SELECT g, 1 + g % 200000, now() - g * interval '1 second', (ARRAY['login', 'order', 'refund'])[1 + g % 3],
              md5(g::text) || ' ' || md5((g * 7)::text) || ' ' || repeat(chr(97 + (g % 26)::int), 40)
       FROM generate_series($1::bigint * 1000000 + 1, ($1::bigint + 1) * 1000000) g`,
      [batch],
      as,
    );
  }
  await query("VACUUM ANALYZE", [], as);
  return (await databaseBytes())!;
}

export async function backup1gb(runs: number): Promise<Figure[]> {
  const bytes = await ensureBackupDatabase();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-bench-backup-"));
  const db = targetDatabase();
  let dumpBytes = 0;
  let plainBytes = 0;
  let n = 0;
  try {
    const product = async () => {
      const started = performance.now();
      const result = await takePostgresBackup({
        connection: {
          host: db.host,
          port: db.port,
          user: db.user,
          password: db.password,
          database: BACKUP_DATABASE,
          sslMode: "disable",
        },
        dir,
        stack: "bench",
        release: `run-${++n}`,
        minBytes: 512,
        keep: 0,
      });
      const ms = performance.now() - started;
      dumpBytes = result.bytes;
      fs.rmSync(path.join(dir, "bench"), { recursive: true, force: true });
      return ms;
    };
    const plain = async () => {
      const file = path.join(dir, "plain.dump");
      const ms = (await run("bash", [path.join(ROOT, "bench", "plain", "backup.sh"), BACKUP_DATABASE, file]))
        .ms;
      plainBytes = fs.statSync(file).size;
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}.sha256`, { force: true });
      return ms;
    };
    const figure = await alternate("backup", runs, product, plain);
    const gb = (b: number) => `${(b / ONE_GB).toFixed(2)} GiB`;
    return [
      {
        name: "backup of 1 GB",
        product: "`takePostgresBackup` (engines/backup), restore test off",
        floor: "`bench/plain/backup.sh`: `pg_dump -Fc` + `sha256sum` + `pg_restore --list`",
        ...figure,
        target: 1.1,
        notes: [
          `database ${BACKUP_DATABASE}: ${gb(bytes)} (pg_database_size); the product's dump ${sizes(dumpBytes, plainBytes, "pg_dump -Fc")}`,
        ],
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
