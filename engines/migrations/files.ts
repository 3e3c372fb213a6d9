// Reading and validating a folder of migration files, with no Pulumi and no database inside: the
// schema resource's dynamic provider calls it, and dynamic providers are serialized by value, so this
// module holds only plain functions, plain data and constants. The file-name, marker and verify
// parsers are small and hand-written: the formats are line-based and need no SQL grammar.
import { createHash } from "node:crypto";
import fs from "node:fs";
import path from "node:path";

/** One verify query and the text its first column of the first row must equal. */
export interface VerifyQuery {
  /** The SQL, as written in the file, without the terminating `;`. */
  readonly query: string;
  /** The expected value, trimmed; `null` stands for SQL NULL. */
  readonly expect: string;
}

/** One migration as read from its files. */
export interface Migration {
  /** Four digits, e.g. `0004`; migrations run in id order. */
  readonly id: string;
  /** Id and name, e.g. `0004_add_status`; the files are `<name>.up.sql` and so on. */
  readonly name: string;
  readonly up: string;
  /** Absent only when the migration is irreversible. */
  readonly down?: string;
  /** Queries that must hold after the up SQL ran, in file order; empty without a verify file. */
  readonly verify: VerifyQuery[];
  /** The verify file as written, kept so a change to it shows in a diff. */
  readonly verifySql?: string;
  /** sha256 (hex) of the up SQL; an applied migration whose file no longer matches it is an error. */
  readonly checksum: string;
  /** Marked `-- rollout:irreversible`: reverting it needs the backup taken before it. */
  readonly irreversible: boolean;
  /**
   * Marked `-- rollout:no-transaction`: the up SQL runs on its own, outside a transaction, for
   * statements such as `CREATE INDEX CONCURRENTLY`. Such a file must hold exactly one statement.
   */
  readonly noTransaction: boolean;
}

/** A marker line in a migration file, e.g. `-- rollout:irreversible`. */
export type MigrationMarker = "irreversible" | "no-transaction";

/** Every problem found in a migrations folder or a verify file, reported together. */
export class MigrationFilesError extends Error {
  constructor(
    readonly source: string,
    readonly problems: string[],
  ) {
    const message =
      `${source} is invalid (${problems.length} problem${problems.length === 1 ? "" : "s"}):\n` +
      problems.map((p) => `  - ${p}`).join("\n");
    super(message);
    // Set again: in a dynamic provider this class is serialized by value, and there the call to
    // Error's constructor does not initialise \`this\`, which would leave the message empty.
    this.message = message;
    this.name = "MigrationFilesError";
  }
}

const FILE_NAME = /^(\d{4})_([a-z0-9_]+)\.(up|down|verify)\.sql$/;
const MARKER_LINE = /^\s*--\s*rollout:(.*)$/;
const EXPECT_LINE = /^\s*--\s*expect:(.*)$/;
const KNOWN_MARKERS: readonly MigrationMarker[] = ["irreversible", "no-transaction"];
const NAMING_RULE =
  "name it NNNN_name.up.sql, NNNN_name.down.sql or NNNN_name.verify.sql (NNNN: four digits, name: lowercase letters, digits and _)";

/** Whether `sql` holds the given marker as a comment on its own line. */
export function hasMarker(sql: string, marker: MigrationMarker): boolean {
  return sql.split(/\r?\n/).some((line) => MARKER_LINE.exec(line)?.[1].trim() === marker);
}

/**
 * Reads the migrations in `dir`, sorted by id. Files that do not end in `.sql` are ignored.
 *
 * @throws MigrationFilesError listing every problem: a missing folder, badly named `.sql` files,
 *   duplicate ids, an up without a down that is not marked irreversible, a down or verify without an
 *   up, an empty file, an unknown marker, a malformed verify file.
 */
export function loadMigrations(dir: string): Migration[] {
  const source = `migrations folder ${dir}`;
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new MigrationFilesError(source, [
      `${path.resolve(dir)} does not exist or is not a folder; create it or point the migrations path at the folder holding the NNNN_name.up.sql files`,
    ]);
  }

  const problems: string[] = [];
  // name -> kind -> file contents
  const groups = new Map<string, { id: string; files: Partial<Record<"up" | "down" | "verify", string>> }>();
  const entries = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.sql$/i.test(e.name))
    .map((e) => e.name)
    .sort();
  for (const file of entries) {
    const match = FILE_NAME.exec(file);
    if (!match) {
      problems.push(`\`${file}\` is not a valid migration file name; ${NAMING_RULE}`);
      continue;
    }
    const [, id, , kind] = match;
    const name = file.slice(0, -`.${kind}.sql`.length);
    const group = groups.get(name) ?? { id, files: {} };
    group.files[kind as "up" | "down" | "verify"] = fs.readFileSync(path.join(dir, file), "utf8");
    groups.set(name, group);
  }

  const namesById = new Map<string, string[]>();
  for (const [name, group] of groups) {
    if (group.files.up !== undefined) namesById.set(group.id, [...(namesById.get(group.id) ?? []), name]);
  }
  for (const [id, names] of namesById) {
    if (names.length > 1) {
      problems.push(
        `id ${id} is used by more than one migration (${names.map((n) => `\`${n}\``).join(", ")}); give each migration its own id`,
      );
    }
  }

  const migrations: Migration[] = [];
  for (const [name, { id, files }] of groups) {
    const { up, down, verify } = files;
    if (up === undefined) {
      for (const kind of ["down", "verify"] as const) {
        if (files[kind] !== undefined) {
          problems.push(
            `\`${name}.${kind}.sql\` has no matching \`${name}.up.sql\`; add the up file or delete this one`,
          );
        }
      }
      continue;
    }
    if (id === "0000") {
      problems.push(
        `\`${name}.up.sql\` uses id 0000, which means "no migrations" as a target; number migrations from 0001`,
      );
    }
    const upProblems = markerProblems(up, `${name}.up.sql`);
    problems.push(...upProblems);
    const irreversible = hasMarker(up, "irreversible");
    if (isEmptySql(up)) {
      problems.push(`\`${name}.up.sql\` is empty; write the SQL of the migration or delete its files`);
    }
    if (down === undefined && !irreversible) {
      problems.push(
        `\`${name}.up.sql\` has no \`${name}.down.sql\`; write the SQL that reverts it, or add a \`-- rollout:irreversible\` line to the up file if it cannot be reverted (going back past it then needs the backup)`,
      );
    }
    if (down !== undefined && isEmptySql(down)) {
      problems.push(
        `\`${name}.down.sql\` is empty; write the SQL that reverts the up, or delete it and add a \`-- rollout:irreversible\` line to the up file`,
      );
    }
    let verifyQueries: VerifyQuery[] = [];
    if (verify !== undefined) {
      const parsed = readVerify(verify, `${name}.verify.sql`);
      problems.push(...parsed.problems);
      verifyQueries = parsed.queries;
    }
    migrations.push({
      id,
      name,
      up,
      ...(down !== undefined ? { down } : {}),
      verify: verifyQueries,
      ...(verify !== undefined ? { verifySql: verify } : {}),
      checksum: createHash("sha256").update(up).digest("hex"),
      irreversible,
      noTransaction: hasMarker(up, "no-transaction"),
    });
  }

  if (problems.length > 0) throw new MigrationFilesError(source, problems);
  return migrations.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

/**
 * Parses a verify file: blocks of one `-- expect: <value>` line followed by one SQL query ending with
 * `;` at the end of a line. Other comment lines and blank lines are ignored.
 *
 * @throws MigrationFilesError naming the file and line of each query without an expect, expect
 *   without a query, query without its terminating `;`, or a file with no blocks at all.
 */
export function parseVerify(text: string, fileName: string): VerifyQuery[] {
  const { queries, problems } = readVerify(text, fileName);
  if (problems.length > 0) throw new MigrationFilesError(`verify file \`${fileName}\``, problems);
  return queries;
}

function readVerify(text: string, fileName: string): { queries: VerifyQuery[]; problems: string[] } {
  const queries: VerifyQuery[] = [];
  const problems: string[] = [];
  let expect: { value: string; line: number } | undefined;
  let query: { lines: string[]; line: number } | undefined;

  const unterminated = (q: { line: number }, before: string) =>
    problems.push(
      `\`${fileName}\` line ${q.line}: the query starting here does not end with \`;\` before ${before}; end it with \`;\``,
    );

  const lines = text.split(/\r?\n/);
  lines.forEach((raw, index) => {
    const lineNo = index + 1;
    const expectMatch = EXPECT_LINE.exec(raw);
    if (expectMatch) {
      if (query) {
        unterminated(query, `the \`-- expect:\` on line ${lineNo}`);
        query = undefined;
      } else if (expect) {
        problems.push(
          `\`${fileName}\` line ${expect.line}: \`-- expect: ${expect.value}\` has no query after it; add the query (ending with \`;\`) or remove the line`,
        );
      }
      const value = expectMatch[1].trim();
      if (value === "") {
        problems.push(
          `\`${fileName}\` line ${lineNo}: \`-- expect:\` has no value; write the expected first column of the first row, e.g. \`-- expect: 4\``,
        );
      }
      expect = { value, line: lineNo };
      return;
    }
    const trimmed = raw.trim();
    // Comments and blank lines between blocks are notes for the reader; inside a query they are kept.
    if (!query && (trimmed === "" || trimmed.startsWith("--"))) return;
    if (!query) {
      if (!expect) {
        problems.push(
          `\`${fileName}\` line ${lineNo}: query without a \`-- expect: <value>\` line before it; add one saying what its first column of the first row must be`,
        );
        // Read the rest of this query without keeping it, so it is reported once, not once per line.
        expect = { value: "", line: lineNo };
      }
      query = { lines: [], line: lineNo };
    }
    query.lines.push(raw);
    if (trimmed.endsWith(";")) {
      const sql = query.lines.join("\n").trim().replace(/;$/, "").trimEnd();
      if (expect && expect.value !== "") queries.push({ query: sql, expect: expect.value });
      expect = undefined;
      query = undefined;
    }
  });
  if (query) unterminated(query, "the end of the file");
  else if (expect) {
    problems.push(
      `\`${fileName}\` line ${expect.line}: \`-- expect: ${expect.value}\` has no query after it; add the query (ending with \`;\`) or remove the line`,
    );
  }
  if (problems.length === 0 && queries.length === 0) {
    problems.push(
      `\`${fileName}\` has no \`-- expect: <value>\` blocks; add at least one query with its expected result, or delete the file`,
    );
  }
  return { queries, problems };
}

function markerProblems(sql: string, fileName: string): string[] {
  const problems: string[] = [];
  sql.split(/\r?\n/).forEach((line, index) => {
    const marker = MARKER_LINE.exec(line)?.[1].trim();
    if (marker !== undefined && !(KNOWN_MARKERS as readonly string[]).includes(marker)) {
      problems.push(
        `\`${fileName}\` line ${index + 1}: unknown marker \`-- rollout:${marker}\`; the markers are ${KNOWN_MARKERS.map((m) => `\`-- rollout:${m}\``).join(" and ")}`,
      );
    }
  });
  return problems;
}

/** True when the SQL holds nothing but blank lines and `--` comments. */
function isEmptySql(sql: string): boolean {
  return sql.split(/\r?\n/).every((line) => line.trim() === "" || line.trim().startsWith("--"));
}
