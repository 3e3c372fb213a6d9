import assert from "node:assert/strict";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { describe, it } from "node:test";
import { hashSources } from "../../engines/image/sources";

describe("hashSources", () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-src-"));
  fs.mkdirSync(path.join(dir, "src"));
  fs.writeFileSync(path.join(dir, "src", "a.ts"), "a");
  fs.mkdirSync(path.join(dir, "src", "node_modules"));
  fs.writeFileSync(path.join(dir, "src", "node_modules", "x.js"), "x");

  it("changes when a file changes and not otherwise", () => {
    const first = hashSources(dir, ["src"]);
    assert.equal(hashSources(dir, ["src"]), first);
    fs.writeFileSync(path.join(dir, "src", "node_modules", "x.js"), "y");
    assert.equal(hashSources(dir, ["src"]), first, "node_modules is skipped");
    fs.writeFileSync(path.join(dir, "src", "a.ts"), "b");
    assert.notEqual(hashSources(dir, ["src"]), first);
  });

  it("changes when a file is renamed", () => {
    const before = hashSources(dir, ["src"]);
    fs.renameSync(path.join(dir, "src", "a.ts"), path.join(dir, "src", "b.ts"));
    assert.notEqual(hashSources(dir, ["src"]), before);
  });

  it("names a missing path", () => {
    assert.throws(() => hashSources(dir, ["nope"]), /source path `nope` does not exist under /);
  });
});
