// The private folders that hold a key or a password: removed after the work, and a killed run's
// (old) ones swept by the next use, while a fresh one another run may be using stays.
import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { sweepStaleSecretFolders, withSecretFolder } from "../../engines/secretFolder";

const PREFIX = `rollout-unit-secret-${process.pid}-`;

describe("secret folders", () => {
  it("are private while the work runs and gone afterwards, also when it throws", async () => {
    let seen = "";
    await assert.rejects(
      withSecretFolder(PREFIX, async (folder) => {
        seen = folder;
        assert.equal(fs.statSync(folder).mode & 0o777, 0o700);
        fs.writeFileSync(path.join(folder, "key"), "secret", { mode: 0o600 });
        throw new Error("work failed");
      }),
      /work failed/,
    );
    assert.ok(seen.startsWith(path.join(os.tmpdir(), PREFIX)));
    assert.equal(fs.existsSync(seen), false);
  });

  it("a killed run's old folder is swept, a fresh one is left alone", () => {
    const old = fs.mkdtempSync(path.join(os.tmpdir(), PREFIX));
    const fresh = fs.mkdtempSync(path.join(os.tmpdir(), PREFIX));
    const sevenHoursAgo = (Date.now() - 7 * 3600_000) / 1000;
    fs.utimesSync(old, sevenHoursAgo, sevenHoursAgo);
    try {
      assert.deepEqual(sweepStaleSecretFolders(PREFIX), [old]);
      assert.equal(fs.existsSync(old), false);
      assert.equal(fs.existsSync(fresh), true);
    } finally {
      fs.rmSync(old, { recursive: true, force: true });
      fs.rmSync(fresh, { recursive: true, force: true });
    }
  });
});
