import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fs from "node:fs";
import os from "node:os";
import path from "node:path";
import { after, describe, it } from "node:test";
import {
  hasMarker,
  loadMigrations,
  MigrationFilesError,
  parseVerify,
  type Migration,
} from "../../engines/migrations";
import { ROOT } from "../support/fixtures";

const dirs: string[] = [];
after(() => dirs.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A temp folder holding the given files (a name ending in `/` makes a folder). */
function folder(files: Record<string, string>): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "rollout-migrations-"));
  dirs.push(dir);
  for (const [name, text] of Object.entries(files)) {
    if (name.endsWith("/")) fs.mkdirSync(path.join(dir, name));
    else fs.writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

function problemsOf(fn: () => unknown): string[] {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof MigrationFilesError, `expected a MigrationFilesError, got ${String(err)}`);
    return err.problems;
  }
  assert.fail("expected the files to be rejected");
}

const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");

const NAMING =
  "name it <version>_name.up.sql / .down.sql / .verify.sql (golang-migrate), V<version>__name.sql / U<version>__name.sql (Flyway), <version>_name.sql with `-- migrate:up` (dbmate), or list it in sqitch.plan (version: digits of any width, a timestamp, or dotted digits for Flyway)";

describe("loadMigrations", () => {
  it("reads up, down and verify files, markers and checksums, sorted by id", () => {
    const up2 = "-- rollout:no-transaction\nCREATE INDEX CONCURRENTLY items_title_idx ON items (title);\n";
    const up3 = "-- Data cannot come back.\n  --   rollout:irreversible  \nDROP TABLE legacy;\n";
    const verify1 = "-- expect: 1\nSELECT count(*) FROM items;\n";
    const dir = folder({
      "0003_drop_legacy.up.sql": up3,
      "0002_index_title.up.sql": up2,
      "0002_index_title.down.sql": "DROP INDEX CONCURRENTLY items_title_idx;\n",
      "0001_create_items.up.sql": "CREATE TABLE items (id int);\n",
      "0001_create_items.down.sql": "DROP TABLE items;\n",
      "0001_create_items.verify.sql": verify1,
      "README.md": "not a migration",
      "notes.txt": "",
      "archive/": "",
    });
    const expected: Migration[] = [
      {
        id: "0001",
        name: "0001_create_items",
        up: "CREATE TABLE items (id int);\n",
        down: "DROP TABLE items;\n",
        verify: [{ query: "SELECT count(*) FROM items", expect: "1" }],
        verifySql: verify1,
        checksum: sha256("CREATE TABLE items (id int);\n"),
        irreversible: false,
        noTransaction: false,
      },
      {
        id: "0002",
        name: "0002_index_title",
        up: up2,
        down: "DROP INDEX CONCURRENTLY items_title_idx;\n",
        verify: [],
        checksum: sha256(up2),
        irreversible: false,
        noTransaction: true,
      },
      {
        id: "0003",
        name: "0003_drop_legacy",
        up: up3,
        verify: [],
        checksum: sha256(up3),
        irreversible: true,
        noTransaction: false,
      },
    ];
    assert.deepEqual(loadMigrations(dir), expected);
  });

  it("returns nothing for an empty folder", () => {
    assert.deepEqual(loadMigrations(folder({})), []);
  });

  it("reads the sample service's migrations", () => {
    const migrations = loadMigrations(path.join(ROOT, "sample-app", "migrations"));
    assert.deepEqual(
      migrations.map((m) => [m.name, m.verify.length, m.down !== undefined, m.irreversible]),
      [
        ["0001_create_users_and_sessions", 1, true, false],
        ["0002_create_items", 1, true, false],
        ["0003_add_item_status", 2, true, false],
        ["0004_rename_item_title", 2, true, false],
      ],
    );
  });

  it("says when the folder is missing", () => {
    const dir = path.join(folder({}), "nope");
    assert.deepEqual(
      problemsOf(() => loadMigrations(dir)),
      [
        `${dir} does not exist or is not a folder; create it or point the migrations path at the folder holding the NNNN_name.up.sql files`,
      ],
    );
    assert.throws(() => loadMigrations(dir), {
      message: `migrations folder ${dir} is invalid (1 problem):\n  - ${dir} does not exist or is not a folder; create it or point the migrations path at the folder holding the NNNN_name.up.sql files`,
    });
  });

  const cases: { name: string; files: Record<string, string>; problems: string[] }[] = [
    {
      name: "up without down and not irreversible",
      files: { "0001_a.up.sql": "SELECT 1;" },
      problems: [
        "`0001_a.up.sql` has no `0001_a.down.sql`; write the SQL that reverts it, or add a `-- rollout:irreversible` line to the up file if it cannot be reverted (going back past it then needs the backup)",
      ],
    },
    {
      name: "down and verify without up",
      files: { "0001_a.down.sql": "SELECT 1;", "0001_a.verify.sql": "-- expect: 1\nSELECT 1;" },
      problems: [
        "`0001_a.down.sql` has no matching `0001_a.up.sql`; add the up file or delete this one",
        "`0001_a.verify.sql` has no matching `0001_a.up.sql`; add the up file or delete this one",
      ],
    },
    {
      name: "duplicate ids",
      files: {
        "0002_b.up.sql": "SELECT 1;",
        "0002_b.down.sql": "SELECT 1;",
        "0002_c.up.sql": "SELECT 1;",
        "0002_c.down.sql": "SELECT 1;",
      },
      problems: [
        "id 0002 is used by more than one migration (`0002_b`, `0002_c`); give each migration its own id",
      ],
    },
    {
      name: "badly named .sql files",
      files: {
        "0001-a.up.sql": "",
        "0001_a.sql": "",
        "0001_a.undo.sql": "",
        "schema.SQL": "",
      },
      problems: [
        `\`0001-a.up.sql\` is not a valid migration file name; ${NAMING}`,
        `\`0001_a.sql\` is not a valid migration file name; ${NAMING}`,
        `\`0001_a.undo.sql\` is not a valid migration file name; ${NAMING}`,
        `\`schema.SQL\` is not a valid migration file name; ${NAMING}`,
      ],
    },
    {
      name: "an unknown marker",
      files: { "0001_a.up.sql": "SELECT 1;\n-- rollout:no-transactions\n", "0001_a.down.sql": "SELECT 1;" },
      problems: [
        "`0001_a.up.sql` line 2: unknown marker `-- rollout:no-transactions`; the markers are `-- rollout:irreversible`, `-- rollout:no-transaction`, `-- rollout:allow=<rule>`, `-- rollout:lock-timeout-ms=<n>`, `-- rollout:statement-timeout-seconds=<n>`",
      ],
    },
    {
      name: "id 0000",
      files: { "0000_init.up.sql": "SELECT 1;", "0000_init.down.sql": "SELECT 1;" },
      problems: [
        '`0000_init.up.sql` uses id 0000, which means "no migrations" as a target; number migrations from 0001',
      ],
    },
    {
      name: "a malformed verify file",
      files: {
        "0001_a.up.sql": "SELECT 1;",
        "0001_a.down.sql": "SELECT 1;",
        "0001_a.verify.sql": "SELECT 1;\n-- expect: 1\n",
      },
      problems: [
        "`0001_a.verify.sql` line 1: query without a `-- expect: <value>` line before it; add one saying what its first column of the first row must be",
        "`0001_a.verify.sql` line 2: `-- expect: 1` has no query after it; add the query (ending with `;`) or remove the line",
      ],
    },
    {
      name: "every problem at once",
      files: {
        "0001_a.up.sql": "SELECT 1;",
        "0002_b.down.sql": "SELECT 1;",
        "bad.sql": "",
      },
      problems: [
        `\`bad.sql\` is not a valid migration file name; ${NAMING}`,
        "`0001_a.up.sql` has no `0001_a.down.sql`; write the SQL that reverts it, or add a `-- rollout:irreversible` line to the up file if it cannot be reverted (going back past it then needs the backup)",
        "`0002_b.down.sql` has no matching `0002_b.up.sql`; add the up file or delete this one",
      ],
    },
  ];
  for (const c of cases) {
    it(`rejects ${c.name}`, () => {
      assert.deepEqual(
        problemsOf(() => loadMigrations(folder(c.files))),
        c.problems,
      );
    });
  }

  it("lists every problem in one message", () => {
    const dir = folder({ "0001_a.up.sql": "SELECT 1;", "x.sql": "" });
    assert.throws(() => loadMigrations(dir), {
      name: "MigrationFilesError",
      message:
        `migrations folder ${dir} is invalid (2 problems):\n` +
        `  - \`x.sql\` is not a valid migration file name; ${NAMING}\n` +
        "  - `0001_a.up.sql` has no `0001_a.down.sql`; write the SQL that reverts it, or add a `-- rollout:irreversible` line to the up file if it cannot be reverted (going back past it then needs the backup)",
    });
  });
});

describe("parseVerify", () => {
  const valid: { name: string; text: string; queries: { query: string; expect: string }[] }[] = [
    {
      name: "the documented example",
      text:
        "-- expect: 4\nSELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name IN ('a','b','c','d');\n" +
        "-- expect: 0\nSELECT count(*) FROM information_schema.tables WHERE table_name = 'old_table';\n",
      queries: [
        {
          query:
            "SELECT count(*) FROM information_schema.columns WHERE table_name = 'items' AND column_name IN ('a','b','c','d')",
          expect: "4",
        },
        {
          query: "SELECT count(*) FROM information_schema.tables WHERE table_name = 'old_table'",
          expect: "0",
        },
      ],
    },
    {
      name: "multi-line queries, notes, blank lines, CRLF and padded values",
      text: "-- Items keep their status.\r\n\r\n--expect:   open  \r\n\r\nSELECT status\r\n  FROM items -- the first\r\n LIMIT 1 ;\r\n",
      queries: [{ query: "SELECT status\n  FROM items -- the first\n LIMIT 1", expect: "open" }],
    },
    {
      name: "an expected NULL",
      text: "-- expect: null\nSELECT NULL;",
      queries: [{ query: "SELECT NULL", expect: "null" }],
    },
  ];
  for (const c of valid) {
    it(`parses ${c.name}`, () => {
      assert.deepEqual(parseVerify(c.text, "0001_a.verify.sql"), c.queries);
    });
  }

  const malformed: { name: string; text: string; problems: string[] }[] = [
    {
      name: "a query without expect",
      text: "-- expect: 1\nSELECT 1;\nSELECT 2\n  + 1;\n",
      problems: [
        "`v.sql` line 3: query without a `-- expect: <value>` line before it; add one saying what its first column of the first row must be",
      ],
    },
    {
      name: "an expect followed by another expect",
      text: "-- expect: 1\n-- expect: 2\nSELECT 2;\n",
      problems: [
        "`v.sql` line 1: `-- expect: 1` has no query after it; add the query (ending with `;`) or remove the line",
      ],
    },
    {
      name: "an expect at the end",
      text: "-- expect: 1\nSELECT 1;\n\n-- expect: 2\n",
      problems: [
        "`v.sql` line 4: `-- expect: 2` has no query after it; add the query (ending with `;`) or remove the line",
      ],
    },
    {
      name: "a query without `;` before the next expect",
      text: "-- expect: 1\nSELECT 1\n-- expect: 2\nSELECT 2;\n",
      problems: [
        "`v.sql` line 2: the query starting here does not end with `;` before the `-- expect:` on line 3; end it with `;`",
      ],
    },
    {
      name: "a query without `;` at the end of the file",
      text: "-- expect: 1\nSELECT 1;\n-- expect: 2\nSELECT\n  2",
      problems: [
        "`v.sql` line 4: the query starting here does not end with `;` before the end of the file; end it with `;`",
      ],
    },
    {
      name: "an expect without a value",
      text: "-- expect:\nSELECT 1;\n",
      problems: [
        "`v.sql` line 1: `-- expect:` has no value; write the expected first column of the first row, e.g. `-- expect: 4`",
      ],
    },
    {
      name: "no blocks",
      text: "-- nothing to check\n\n",
      problems: [
        "`v.sql` has no `-- expect: <value>` blocks; add at least one query with its expected result, or delete the file",
      ],
    },
  ];
  for (const c of malformed) {
    it(`rejects ${c.name}`, () => {
      assert.deepEqual(
        problemsOf(() => parseVerify(c.text, "v.sql")),
        c.problems,
      );
    });
  }

  it("names the file in the message", () => {
    assert.throws(() => parseVerify("SELECT 1;", "0004_add_status.verify.sql"), {
      message:
        "verify file `0004_add_status.verify.sql` is invalid (1 problem):\n" +
        "  - `0004_add_status.verify.sql` line 1: query without a `-- expect: <value>` line before it; add one saying what its first column of the first row must be",
    });
  });
});

describe("hasMarker", () => {
  const cases: [string, string, "irreversible" | "no-transaction", boolean][] = [
    ["own line", "-- rollout:irreversible\nDROP TABLE t;", "irreversible", true],
    ["spaced", "DROP TABLE t;\n   --  rollout:no-transaction   ", "no-transaction", true],
    ["other marker", "-- rollout:irreversible\n", "no-transaction", false],
    ["not on its own line", "DROP TABLE t; -- rollout:irreversible", "irreversible", false],
    ["inside a longer comment", "-- see rollout:irreversible\n", "irreversible", false],
  ];
  for (const [name, sql, marker, expected] of cases) {
    it(`${name}: ${expected}`, () => assert.equal(hasMarker(sql, marker), expected));
  }
});
