// Reading a MySQL dump as it streams past: the tables its CREATE TABLE statements name and whether it
// ends with the completion line, whatever the chunk boundaries (a name cut between two chunks).
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { describe, it } from "node:test";
import { dumpScanner } from "../../engines/backup";

const DUMP = [
  "-- MariaDB dump 10.19  Distrib 10.11.19-MariaDB",
  "DROP TABLE IF EXISTS `items`;",
  "CREATE TABLE `items` (",
  "  `id` int(11) NOT NULL,",
  ") ENGINE=InnoDB;",
  "INSERT INTO `items` VALUES (1,'CREATE TABLE `fake` (');",
  "CREATE TABLE `odd``name` (",
  "  `x` int",
  ");",
  "CREATE TABLE `café` (`y` int);",
  "",
  "-- Dump completed on 2026-12-01 15:34:27",
  "",
].join("\n");

function scan(text: string, chunkBytes: number) {
  const bytes = Buffer.from(text, "utf8");
  const scanner = dumpScanner();
  for (let at = 0; at < bytes.length; at += chunkBytes) scanner.update(bytes.subarray(at, at + chunkBytes));
  return scanner.result();
}

describe("dumpScanner", () => {
  for (const chunkBytes of [1, 3, 7, 16, 64, 1 << 20]) {
    it(`reads the same in chunks of ${chunkBytes} bytes`, () => {
      assert.deepEqual(scan(DUMP, chunkBytes), {
        bytes: Buffer.byteLength(DUMP),
        sha256: createHash("sha256").update(DUMP).digest("hex"),
        // A `CREATE TABLE` inside a string value is not at the start of a line, so it is not a table.
        tables: ["café", "items", "odd`name"],
        complete: true,
      });
    });
  }

  it("finds a dump cut short: no completion line at its end", () => {
    const cut = DUMP.slice(0, DUMP.indexOf("CREATE TABLE `café`"));
    const result = scan(cut, 5);
    assert.equal(result.complete, false);
    assert.deepEqual(result.tables, ["items", "odd`name"]);
  });

  it("does not take a completion line in the middle of the dump as its end", () => {
    assert.equal(
      scan(`-- Dump completed on 2026-12-01\n${"x".repeat(5000)}\nINSERT INTO t VALUES (1`, 100).complete,
      false,
    );
  });
});
