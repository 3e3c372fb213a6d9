// The preflight gates shipped in the stack files, run by the real preflight against the local
// server: two stacks on one server must not block each other, so a gate that counts locks counts
// only its own database's.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Client } from "pg";
import { CONFIG_NAMESPACE, loadConfig, SECRET_KEYS } from "../../config";
import { runPreflight } from "../../engines/checks/preflight";
import { advisoryLockKey } from "../../engines/migrations";
import type { PgConnection } from "../../engines/postgres";
import { readStackFile } from "../support/fixtures";
import { query, targetDatabase } from "../support/stack";

/** The dev stack's preflight gates, as the program reads them (defaults applied). */
function devGates() {
  const { plain } = readStackFile("dev");
  const raw = Object.fromEntries(
    Object.entries(plain).map(([key, value]) => [key.slice(CONFIG_NAMESPACE.length + 1), value]),
  );
  const present = Object.fromEntries(SECRET_KEYS.map((k) => [k, true]));
  return loadConfig("dev", raw, present).preflight.gates;
}

describe("the dev stack's preflight gate on a server shared by two stacks", () => {
  const suffix = randomBytes(3).toString("hex");
  const ours = `gate_ours_${suffix}`;
  const theirs = `gate_theirs_${suffix}`;
  let connection: PgConnection;
  // The gate as shipped, with a short wait so that the blocked case fails in a second.
  const gates = devGates().map((g) => ({ ...g, timeoutSeconds: 1, intervalMs: 200 }));

  /** A session in `database` holding the migration lock, as another rollout's migration does. */
  async function holdMigrationLock(database: string): Promise<Client> {
    const client = new Client({ ...targetDatabase(), database });
    await client.connect();
    await client.query("SELECT pg_advisory_lock($1, $2)", advisoryLockKey("rollout_migrations"));
    return client;
  }

  before(async () => {
    await query(`CREATE DATABASE ${ours}`);
    await query(`CREATE DATABASE ${theirs}`);
    connection = { ...targetDatabase(), database: ours, sslMode: "disable" };
  });
  after(async () => {
    await query(`DROP DATABASE IF EXISTS ${ours} WITH (FORCE)`);
    await query(`DROP DATABASE IF EXISTS ${theirs} WITH (FORCE)`);
  });

  it("ships a gate that counts advisory locks", () => {
    assert.deepEqual(
      gates.map((g) => g.name),
      ["no-other-migration"],
    );
    assert.match(gates[0].sql, /pg_locks/);
  });

  it("passes while another stack's database holds the migration lock", async () => {
    const other = await holdMigrationLock(theirs);
    try {
      const result = await runPreflight(
        connection,
        { allowNoCurrentService: false, gates },
        { rollback: false },
      );
      assert.deepEqual(
        result.gates.map((g) => [g.name, g.value]),
        [["no-other-migration", "0"]],
      );
    } finally {
      await other.end();
    }
  });

  it("refuses while a session in the stack's own database holds the migration lock", async () => {
    const same = await holdMigrationLock(ours);
    try {
      await assert.rejects(
        runPreflight(connection, { allowNoCurrentService: false, gates }, { rollback: false }),
        (err: Error) => {
          assert.match(
            err.message,
            /^preflight gate `no-other-migration` failed: expected "0", got "1" after \d+ attempts over \d+\.\d s .*; nothing has been changed yet$/,
          );
          return true;
        },
      );
    } finally {
      await same.end();
    }
  });
});
