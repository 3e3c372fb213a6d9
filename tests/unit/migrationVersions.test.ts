// The order migrations run in, for the version styles of the layouts read (golang-migrate widths and
// timestamps, Flyway dotted versions, Sqitch positions): table-driven.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareVersions } from "../../engines/migrations";

describe("compareVersions", () => {
  const cases: [a: string, b: string, expected: -1 | 0 | 1, why: string][] = [
    ["0001", "0002", -1, "four digits"],
    ["0004", "4", 0, "leading zeros do not count"],
    ["0000", "0", 0, "the empty schema in either spelling"],
    ["9", "10", -1, "numbers, not text"],
    ["0999", "1000", -1, "across a width change"],
    ["20240101120000", "20240101120001", -1, "timestamps"],
    ["20240101120000", "9", 1, "a timestamp after a small number"],
    ["123456789012345678901234", "123456789012345678901235", -1, "beyond a double's precision"],
    ["1.2", "1.10", -1, "Flyway dotted parts compared as numbers"],
    ["1.2", "1.2.1", -1, "a prefix comes first"],
    ["1_2", "1.2", 0, "_ separates parts like ."],
    ["2", "1.9", 1, "the first part decides"],
    ["1.a", "1.b", -1, "text parts compared as text"],
    ["1.10", "1.a", -1, "digits before letters in text order"],
  ];
  for (const [a, b, expected, why] of cases) {
    it(`${a} vs ${b}: ${expected} (${why})`, () => {
      assert.equal(Math.sign(compareVersions(a, b)), expected);
      assert.equal(Math.sign(compareVersions(b, a)), -expected || 0, "antisymmetric");
    });
  }

  it("sorts a mixed-width golang-migrate folder in run order", () => {
    const ids = ["10", "0002", "20240101120000", "1", "0009"];
    assert.deepEqual([...ids].sort(compareVersions), ["1", "0002", "0009", "10", "20240101120000"]);
  });
});
