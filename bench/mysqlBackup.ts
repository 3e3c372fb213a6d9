// A backup of a 1 GB MariaDB database: the product's MySQL backup engine (mariadb-dump with the
// option file, SHA-256 while writing, the read that checks size, completion line and tables; no
// restore test) against plain `mariadb-dump` with the same options + `sha256sum`.
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { takeMysqlBackup } from "../engines/backup";
import { mysqlQuery, targetMysql } from "../tests/support/mysql";
import { alternate, log, ROOT, run, sizes, type Figure } from "./lib";

/** The bench-only database the figure dumps; generated once, reused while it is big enough. */
export const MYSQL_BACKUP_DATABASE = "bench_mysql_backup_1gb";
const ONE_GB = 1024 ** 3;

async function databaseBytes(): Promise<number> {
  const rows = await mysqlQuery<{ bytes: string | null }>(
    "SELECT SUM(DATA_LENGTH + INDEX_LENGTH) AS bytes FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?",
    [MYSQL_BACKUP_DATABASE],
  );
  return Number(rows[0]?.bytes ?? 0);
}

/** Creates the database (accounts and their events, as the PostgreSQL figure has) unless it is there at 1 GB. */
export async function ensureMysqlBackupDatabase(): Promise<number> {
  const exists = await mysqlQuery("SHOW DATABASES LIKE ?", [MYSQL_BACKUP_DATABASE]);
  if (exists.length > 0 && (await databaseBytes()) >= ONE_GB) return databaseBytes();
  log(`mysql backup: generating ${MYSQL_BACKUP_DATABASE} (about 1 GB, once)`);
  await mysqlQuery(`DROP DATABASE IF EXISTS ${MYSQL_BACKUP_DATABASE}`);
  await mysqlQuery(`CREATE DATABASE ${MYSQL_BACKUP_DATABASE}`);
  await mysqlQuery(
    `CREATE TABLE accounts (id BIGINT PRIMARY KEY, email VARCHAR(100) NOT NULL, created_at DATETIME NOT NULL);
     INSERT INTO accounts SELECT seq, CONCAT('user', seq, '@example.com'), NOW() - INTERVAL seq MINUTE FROM seq_1_to_200000;
     CREATE TABLE events (id BIGINT PRIMARY KEY, account_id BIGINT NOT NULL, at DATETIME NOT NULL,
       kind VARCHAR(10) NOT NULL, payload TEXT NOT NULL, FOREIGN KEY (account_id) REFERENCES accounts (id));`,
    [],
    MYSQL_BACKUP_DATABASE,
  );
  // In batches of a million rows until the tables hold 1 GB; ANALYZE keeps the size figures current.
  for (let batch = 0; (await databaseBytes()) < ONE_GB; batch++) {
    await mysqlQuery(
      `INSERT INTO events
       SELECT seq, 1 + seq % 200000, NOW() - INTERVAL seq SECOND, ELT(1 + seq % 3, 'login', 'order', 'refund'),
              CONCAT(MD5(seq), ' ', MD5(seq * 7), ' ', REPEAT(CHAR(97 + seq % 26), 40))
       FROM seq_${batch * 1_000_000 + 1}_to_${(batch + 1) * 1_000_000};
       ANALYZE TABLE events`,
      [],
      MYSQL_BACKUP_DATABASE,
    );
  }
  return databaseBytes();
}

export async function mysqlBackup1gb(runs: number): Promise<Figure[]> {
  const bytes = await ensureMysqlBackupDatabase();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-bench-mysql-backup-"));
  let dumpBytes = 0;
  let plainBytes = 0;
  let n = 0;
  try {
    const product = async () => {
      const started = performance.now();
      const result = await takeMysqlBackup({
        connection: { ...targetMysql(), database: MYSQL_BACKUP_DATABASE },
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
      const file = path.join(dir, "plain.sql");
      const script = path.join(ROOT, "bench", "plain", "mysql-backup.sh");
      const ms = (await run("bash", [script, MYSQL_BACKUP_DATABASE, file])).ms;
      plainBytes = fs.statSync(file).size;
      fs.rmSync(file, { force: true });
      fs.rmSync(`${file}.sha256`, { force: true });
      return ms;
    };
    const figure = await alternate("mysql backup", runs, product, plain);
    const gb = (b: number) => `${(b / ONE_GB).toFixed(2)} GiB`;
    return [
      {
        name: "MariaDB backup of 1 GB",
        product: "`takeMysqlBackup` (engines/backup), restore test off",
        floor: "`bench/plain/mysql-backup.sh`: `mariadb-dump` (same options) + `sha256sum`",
        ...figure,
        target: 1.1,
        notes: [
          `database ${MYSQL_BACKUP_DATABASE}: ${gb(bytes)} (data and index length); the product's dump ${sizes(dumpBytes, plainBytes, "mariadb-dump")}`,
        ],
      },
    ];
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
