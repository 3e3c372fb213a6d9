// The committed stack files must stay valid config, and each stack must keep its character: dev
// has no window, approvals or notifications; prod enforces all three.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CONFIG_NAMESPACE, loadConfig, SECRET_KEYS } from "../../config";
import { readStackFile } from "../support/fixtures";

function stackConfig(stack: string) {
  const { plain, secure } = readStackFile(stack);
  const raw = Object.fromEntries(
    Object.entries(plain).map(([key, value]) => [key.slice(CONFIG_NAMESPACE.length + 1), value]),
  );
  // Secrets of staging and prod are set on their machines, not committed: only their shape is checked.
  const present = Object.fromEntries(
    SECRET_KEYS.map((k) => [k, stack === "dev" ? secure.includes(`${CONFIG_NAMESPACE}:${k}`) : true]),
  );
  return loadConfig(stack, raw, present);
}

describe("committed stack config", () => {
  it("dev is valid, has its secrets encrypted in the file, and no window, approvals or notifications", () => {
    const dev = stackConfig("dev");
    assert.equal(dev.window, undefined);
    assert.deepEqual(dev.approvals.required, []);
    assert.equal(dev.notify, undefined);
    assert.equal(dev.database.host, "127.0.0.1");
  });

  it("staging is valid and notifies, without window or approvals", () => {
    const staging = stackConfig("staging");
    assert.equal(staging.window, undefined);
    assert.deepEqual(staging.approvals.required, []);
    assert.ok(staging.notify);
  });

  it("prod is valid, enforces the window, requires tech-lead and dba, and notifies", () => {
    const prod = stackConfig("prod");
    assert.equal(prod.window?.enforce, true);
    assert.equal(prod.window?.timeZone, "America/New_York");
    assert.deepEqual(prod.approvals.required, ["tech-lead", "dba"]);
    assert.ok(prod.notify);
    assert.ok(prod.backup?.offsite, "prod copies backups offsite");
    assert.deepEqual(
      prod.database.engine === "postgresql" ? prod.database.sslMode : prod.database.engine,
      "verify-full",
    );
  });

  // Stacks share database servers: a gate over a server-wide view (locks, sessions) must keep to
  // the stack's own database, or one stack's rollout blocks another's. tests/integration/stackGates
  // runs the dev gate against two databases.
  for (const stack of ["dev", "staging", "prod"]) {
    it(`${stack}: every preflight gate over pg_locks or pg_stat_activity keeps to the current database`, () => {
      for (const gate of stackConfig(stack).preflight.gates) {
        if (!/pg_locks|pg_stat_activity/.test(gate.sql)) continue;
        assert.match(
          gate.sql,
          /\b(database|datid)\s*=\s*\(SELECT oid FROM pg_database WHERE datname = current_database\(\)\)|datname\s*=\s*current_database\(\)/,
          `gate ${gate.name} of ${stack} reads the whole server: ${gate.sql}`,
        );
      }
    });
  }
});
