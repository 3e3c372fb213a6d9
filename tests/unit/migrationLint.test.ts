// Lint of migration SQL over PostgreSQL's own parser: each rule, the statements it must leave alone,
// and the line and statement a finding names. Table-driven.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LINT_RULES, lintSql, type LintRule } from "../../engines/migrations";

describe("lintSql", () => {
  const cases: [sql: string, rules: LintRule[], why: string][] = [
    ["DROP TABLE items;", ["drop-table"], "a dropped table"],
    ["DROP TABLE IF EXISTS a, b;", ["drop-table"], "one statement, one finding"],
    ["ALTER TABLE items DROP COLUMN title;", ["drop-column"], "a dropped column"],
    ["ALTER TABLE items ALTER COLUMN title TYPE varchar(20);", ["type-change"], "a narrowed type"],
    ["ALTER TABLE items ALTER COLUMN title SET NOT NULL;", ["set-not-null"], "SET NOT NULL"],
    ["ALTER TABLE items ADD COLUMN n int NOT NULL;", ["not-null-without-default"], "NOT NULL, no default"],
    ["ALTER TABLE items ADD COLUMN n int NOT NULL DEFAULT 0;", [], "NOT NULL with a default"],
    ["ALTER TABLE items ADD COLUMN n int;", [], "a nullable column"],
    ["ALTER TABLE items RENAME COLUMN title TO name;", ["rename"], "a renamed column"],
    ["ALTER TABLE items RENAME TO things;", ["rename"], "a renamed table"],
    ["CREATE INDEX items_title ON items (title);", ["index-without-concurrently"], "a plain index"],
    ["CREATE INDEX CONCURRENTLY items_title ON items (title);", [], "CONCURRENTLY"],
    [
      "CREATE TABLE t (id int);\nALTER TABLE t ADD COLUMN n int NOT NULL;\nCREATE INDEX t_n ON t (n);\nALTER TABLE t RENAME COLUMN n TO m;",
      [],
      "a table this migration creates is exempt",
    ],
    ["DROP INDEX items_title;", [], "dropping an index is not dropping data"],
    ["SELECT 1;", [], "a query"],
    ["", [], "an empty file"],
    ["THIS IS NOT SQL;", [], "what the parser cannot read is the server's to judge"],
    [
      "ALTER TABLE items DROP COLUMN a, ALTER COLUMN b SET NOT NULL;",
      ["drop-column", "set-not-null"],
      "each subcommand of one ALTER",
    ],
  ];
  for (const [sql, rules, why] of cases) {
    it(`${JSON.stringify(sql.split("\n")[0])}: ${rules.join(", ") || "clean"} (${why})`, async () => {
      assert.deepEqual(
        (await lintSql(sql)).map((f) => f.rule),
        rules,
      );
    });
  }

  it("names the line, the statement on one line and the reason", async () => {
    const findings = await lintSql("-- tidy up\nCREATE TABLE t (id int);\n\nDROP TABLE\n  items;\n");
    assert.deepEqual(findings, [
      { rule: "drop-table", line: 4, statement: "DROP TABLE items", reason: LINT_RULES["drop-table"] },
    ]);
  });

  it("flags a plain CREATE INDEX only on the large tables it is told of", async () => {
    const sql = "CREATE INDEX a_x ON a (x);\nCREATE INDEX b_x ON b (x);";
    assert.deepEqual(
      (await lintSql(sql, new Set(["b"]))).map((f) => f.statement),
      ["CREATE INDEX b_x ON b (x)"],
    );
    assert.deepEqual(await lintSql(sql, new Set()), []);
  });
});
