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
    assert.equal(prod.database.sslMode, "verify-full");
  });
});
