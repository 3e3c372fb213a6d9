// Repairs of an applied migration's record, so nobody edits the record table by hand: replace the
// stored down SQL from the migration's file, or accept an edited up file with a written reason. Each
// repair is appended to the row's `repairs` (who, when, why, before and after), under the migration
// lock, in one transaction; the next preview of the stack shows it. No Pulumi inside.
import { createHash } from "node:crypto";
import type { PgConnection } from "../postgres";
import type { Migration } from "./files";
import {
  acquireLock,
  addLaterColumns,
  advisoryLockKey,
  connectMigrationClient,
  quoteTable,
  selectApplied,
  type RepairRecord,
} from "./runner";

/** A repair that was refused before anything changed: the message says why and what to do. */
export class RepairRefused extends Error {
  constructor(message: string) {
    super(message);
    this.message = message;
    this.name = "RepairRefused";
  }
}

/** What a repair needs. */
export interface RepairOptions {
  readonly connection: PgConnection;
  /** The record table (`rollout:migrations.table`). */
  readonly table: string;
  /** How long to wait for a rollout holding the migration lock. */
  readonly lockTimeoutSeconds: number;
  /** The migration as its files read now. */
  readonly migration: Migration;
  /** Who repairs it (recorded). */
  readonly by: string;
  /** Why (recorded, and shown in the next preview). */
  readonly reason: string;
}

/** The repair as recorded. */
export interface RepairResult extends RepairRecord {
  readonly id: string;
  readonly name: string;
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

/**
 * Replaces the down SQL stored for an applied migration with the one its files hold now.
 *
 * @throws RepairRefused when the migration is not applied, the files hold no down (irreversible),
 *   or the stored down is already the file's; nothing is changed.
 */
export function repairDown(options: RepairOptions): Promise<RepairResult> {
  const { migration } = options;
  return repair(options, "down", (row) => {
    if (migration.down === undefined) {
      throw new RepairRefused(
        `migration \`${migration.name}\` has no down SQL in its files (it is marked irreversible or its down file is missing); write the down file first, then run repair-down again`,
      );
    }
    if (row.down === migration.down) {
      throw new RepairRefused(
        `the down SQL stored for \`${migration.name}\` already equals its down file; nothing to repair`,
      );
    }
    return {
      from: row.down === undefined ? "" : sha256(row.down),
      to: sha256(migration.down),
      set: { column: "down_sql", value: migration.down },
    };
  });
}

/**
 * Records an edited up file of an applied migration as accepted: the record's checksum becomes the
 * file's, so plans stop refusing it. The edited SQL is not run; write a new migration for a change
 * the database needs.
 *
 * @throws RepairRefused when the migration is not applied or its file is unchanged; nothing is changed.
 */
export function acceptChecksum(options: RepairOptions): Promise<RepairResult> {
  const { migration } = options;
  return repair(options, "checksum", (row) => {
    if (row.checksum === migration.checksum) {
      throw new RepairRefused(
        `the up file of \`${migration.name}\` still has the checksum recorded when it was applied (${migration.checksum.slice(0, 12)}…); nothing to accept`,
      );
    }
    return {
      from: row.checksum,
      to: migration.checksum,
      set: { column: "checksum", value: migration.checksum },
    };
  });
}

async function repair(
  options: RepairOptions,
  kind: RepairRecord["kind"],
  decide: (row: { checksum: string; down?: string }) => {
    from: string;
    to: string;
    set: { column: "down_sql" | "checksum"; value: string };
  },
): Promise<RepairResult> {
  const { migration, table } = options;
  if (options.reason.trim() === "") {
    throw new RepairRefused(`a repair needs a reason; pass --reason "why the record is changed"`);
  }
  if (options.by.trim() === "") throw new RepairRefused(`a repair needs who makes it; pass --by NAME`);
  const quoted = quoteTable(table);
  const client = await connectMigrationClient(options.connection, "rollout repair", () => undefined);
  const key = advisoryLockKey(table);
  let locked = false;
  try {
    const { rows: present } = await client.query<{ present: boolean }>(
      "SELECT to_regclass($1) IS NOT NULL AS present",
      [quoted],
    );
    if (!present[0].present) {
      throw new RepairRefused(
        `database \`${options.connection.database}\` has no record table \`${table}\`, so no migration is applied there; check rollout:database and rollout:migrations.table`,
      );
    }
    await acquireLock(client, key, table, options.lockTimeoutSeconds, () => undefined);
    locked = true;
    await addLaterColumns(client, quoted);
    const row = (await selectApplied(client, quoted)).find((r) => r.id === migration.id);
    if (!row) {
      throw new RepairRefused(
        `migration \`${migration.name}\` is not applied in \`${options.connection.database}\` (table \`${table}\`); only an applied migration's record can be repaired, and a pending one runs from its files as they are`,
      );
    }
    const change = decide(row);
    await client.query("BEGIN");
    const at = new Date().toISOString();
    const record: RepairRecord = {
      kind,
      by: options.by,
      at,
      reason: options.reason,
      from: change.from,
      to: change.to,
    };
    await client.query(
      `UPDATE ${quoted} SET ${change.set.column} = $2, repairs = repairs || $3::jsonb WHERE id = $1`,
      [migration.id, change.set.value, JSON.stringify([record])],
    );
    await client.query("COMMIT");
    return { id: migration.id, name: migration.name, ...record };
  } catch (err) {
    await client.query("ROLLBACK").catch(() => undefined);
    throw err;
  } finally {
    if (locked) await client.query("SELECT pg_advisory_unlock($1, $2)", key).catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}
