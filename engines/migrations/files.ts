// Reading and validating a folder of migration files, with no Pulumi and no database inside: the
// schema resource's dynamic provider calls it, and dynamic providers are serialized by value, so this
// module holds only plain functions, plain data and constants. Four layouts are read as their tools
// write them (see `loadMigrations`); the file-name, marker, plan and verify parsers are small and
// hand-written because the formats are line-based and need no SQL grammar.
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

/** The tool whose file layout a migration was read from. */
export type MigrationLayout = "golang-migrate" | "flyway" | "dbmate" | "sqitch";

/** One migration as read from its files. */
export interface Migration {
  /**
   * The version: digits of any width (`0004`, `20240101120000`), dotted for Flyway (`1.2`), or the
   * position in `sqitch.plan`; migrations run in version order (see `compareVersions`).
   */
  readonly id: string;
  /** What messages call it, e.g. `0004_add_status`, `V1.2__add_status` or a Sqitch change name. */
  readonly name: string;
  /** The layout it was read from. @default golang-migrate */
  readonly layout?: MigrationLayout;
  /** The file holding the up SQL, relative to the folder, e.g. `0004_add_status.up.sql`. */
  readonly upFile?: string;
  readonly up: string;
  /**
   * The SQL that reverts it; an empty text is a deliberate no-op. Absent only when the migration is
   * irreversible. Starts with `-- rollout:no-transaction` when the down must run outside a transaction.
   */
  readonly down?: string;
  /** Queries that must hold after the up SQL ran, in file order; empty without a verify file. */
  readonly verify: VerifyQuery[];
  /** The verify file as written, kept so a change to it shows in a diff. */
  readonly verifySql?: string;
  /** Queries that must hold after the down SQL ran (`<name>.down.verify.sql`). @default none */
  readonly verifyDown?: VerifyQuery[];
  /** SQL that must run without an error after the up SQL (a Sqitch verify script). @default none */
  readonly verifyScript?: string;
  /** sha256 (hex) of the up SQL; an applied migration whose file no longer matches it is an error. */
  readonly checksum: string;
  /** Marked `-- rollout:irreversible`: reverting it needs the backup taken before it. */
  readonly irreversible: boolean;
  /**
   * The up SQL runs outside a transaction, statement by statement, for statements such as
   * `CREATE INDEX CONCURRENTLY` (`-- rollout:no-transaction` in the up file, or the layout's own way).
   */
  readonly noTransaction: boolean;
  /** Lint rules the file allows with `-- rollout:allow=<rule>`. @default none */
  readonly allow?: string[];
  /** `-- rollout:lock-timeout-ms=<n>` in the up file: this migration's own lock_timeout. */
  readonly lockTimeoutMs?: number;
  /** `-- rollout:statement-timeout-seconds=<n>` in the up file: its own statement_timeout. */
  readonly statementTimeoutSeconds?: number;
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

/** The version when no migration is applied; `none` is accepted as a target for it too. */
export const NO_MIGRATIONS = "0000";

// golang-migrate: <version>_<title>.up.sql; the version is digits of any width (often a timestamp).
const GOLANG_FILE = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*?)\.(up|down|verify|down\.verify)\.sql$/;
// Flyway: V<version>__<description>.sql and U<version>__<description>.sql; `_` or `.` separate parts.
const FLYWAY_FILE = /^([VU])(\d+(?:[._]\d+)*)__([A-Za-z0-9][A-Za-z0-9_ .-]*)\.sql$/;
// dbmate: <version>_<name>.sql with `-- migrate:up` and `-- migrate:down` sections.
const DBMATE_FILE = /^(\d+)_([A-Za-z0-9][A-Za-z0-9_.-]*)\.sql$/;
const DBMATE_SECTION = /^--\s*migrate:(up|down)\b(.*)$/;
const MARKER_LINE = /^\s*--\s*rollout:(.*)$/;
const EXPECT_LINE = /^\s*--\s*expect:(.*)$/;
const KNOWN_MARKERS = [
  "irreversible",
  "no-transaction",
  "allow=<rule>",
  "lock-timeout-ms=<n>",
  "statement-timeout-seconds=<n>",
] as const;
const NAMING_RULE =
  "name it <version>_name.up.sql / .down.sql / .verify.sql (golang-migrate), V<version>__name.sql / U<version>__name.sql (Flyway), <version>_name.sql with `-- migrate:up` (dbmate), or list it in sqitch.plan (version: digits of any width, a timestamp, or dotted digits for Flyway)";

/** Whether `sql` holds the given marker as a comment on its own line. */
export function hasMarker(sql: string, marker: MigrationMarker): boolean {
  return sql.split(/\r?\n/).some((line) => MARKER_LINE.exec(line)?.[1].trim() === marker);
}

/** The value of a `-- rollout:<name>=<value>` marker, or undefined. */
function markerValues(sql: string, name: string): string[] {
  return sql.split(/\r?\n/).flatMap((line) => {
    const marker = MARKER_LINE.exec(line)?.[1].trim();
    return marker?.startsWith(`${name}=`) ? [marker.slice(name.length + 1).trim()] : [];
  });
}

/**
 * Orders two versions: numeric parts compared as numbers (so `9` < `10` and `0004` = `4`), parts
 * separated by `.` or `_`; a version that is a prefix of the other comes first.
 */
export function compareVersions(a: string, b: string): number {
  const pa = a.split(/[._]/);
  const pb = b.split(/[._]/);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    if (pa[i] === undefined) return -1;
    if (pb[i] === undefined) return 1;
    const na = /^\d+$/.test(pa[i]) ? BigInt(pa[i]) : undefined;
    const nb = /^\d+$/.test(pb[i]) ? BigInt(pb[i]) : undefined;
    if (na !== undefined && nb !== undefined) {
      if (na !== nb) return na < nb ? -1 : 1;
    } else if (pa[i] !== pb[i]) return pa[i] < pb[i] ? -1 : 1;
  }
  return 0;
}

/** True when the SQL holds nothing but blank lines and `--` comments: a deliberate no-op. */
export function isEmptySql(sql: string): boolean {
  return sql.split(/\r?\n/).every((line) => line.trim() === "" || line.trim().startsWith("--"));
}

/** One migration's texts before checks, whatever layout it came from. */
interface Parts {
  id: string;
  name: string;
  layout: MigrationLayout;
  upFile?: string;
  downFile?: string;
  up?: string;
  down?: string;
  verify?: string;
  verifyDown?: string;
  verifyScript?: string;
  /** Files whose up has no matching up, e.g. a lone `.down.sql`. */
  orphans: string[];
  /** The layout's own way of saying "outside a transaction", per direction. */
  upNoTransaction: boolean;
  downNoTransaction: boolean;
  /** The layout says there is no down at all (dbmate without a `-- migrate:down` section). */
  irreversibleByLayout?: boolean;
}

/**
 * Reads the migrations in `dir`, sorted by version, in any of these layouts:
 * - golang-migrate: `<version>_<name>.up.sql`, `.down.sql`, and this tool's `.verify.sql` and
 *   `.down.verify.sql`; the version is digits of any width or a timestamp;
 * - Flyway: `V<version>__<desc>.sql` and its undo `U<version>__<desc>.sql`; a `<file>.conf` beside
 *   it with `executeInTransaction=false` runs that file outside a transaction;
 * - dbmate: `<version>_<name>.sql` with `-- migrate:up` and `-- migrate:down` sections;
 *   `transaction:false` on a section line runs that section outside a transaction;
 * - Sqitch: `sqitch.plan` with `deploy/`, `revert/` and `verify/` folders; a script without its own
 *   `BEGIN;` ... `COMMIT;` runs outside a transaction, as psql would run it.
 * Empty files are deliberate no-ops. `-- rollout:no-transaction` in a file runs that direction
 * outside a transaction, statement by statement, in every layout. Files not ending in `.sql` are
 * ignored.
 *
 * @throws MigrationFilesError listing every problem: a missing folder, badly named `.sql` files,
 *   duplicate versions, an up without a down that is not marked irreversible, a down or verify
 *   without an up, an unknown marker, a malformed verify file or plan.
 */
export function loadMigrations(dir: string): Migration[] {
  const source = `migrations folder ${dir}`;
  if (!fs.existsSync(dir) || !fs.statSync(dir).isDirectory()) {
    throw new MigrationFilesError(source, [
      `${path.resolve(dir)} does not exist or is not a folder; create it or point the migrations path at the folder holding the NNNN_name.up.sql files`,
    ]);
  }
  const problems: string[] = [];
  const parts = fs.existsSync(path.join(dir, "sqitch.plan"))
    ? readSqitch(dir, problems)
    : readFiles(dir, problems);

  const byVersion = new Map<string, Parts[]>();
  for (const p of parts) {
    if (p.up === undefined) continue;
    const key = p.id
      .split(/[._]/)
      .map((s) => (/^\d+$/.test(s) ? BigInt(s).toString() : s))
      .join(".");
    byVersion.set(key, [...(byVersion.get(key) ?? []), p]);
  }
  for (const same of byVersion.values()) {
    if (same.length > 1) {
      problems.push(
        `id ${same[0].id} is used by more than one migration (${same.map((p) => `\`${p.name}\``).join(", ")}); give each migration its own id`,
      );
    }
  }

  const migrations: Migration[] = [];
  for (const p of parts) {
    problems.push(...p.orphans);
    const { up, down, name } = p;
    if (up === undefined) continue;
    const upFile = p.upFile ?? name;
    if (compareVersions(p.id, NO_MIGRATIONS) === 0) {
      problems.push(
        `\`${upFile}\` uses id ${p.id}, which means "no migrations" as a target; number migrations from 0001`,
      );
    }
    problems.push(...markerProblems(up, upFile));
    if (down !== undefined && p.downFile) problems.push(...markerProblems(down, p.downFile));
    const irreversible =
      hasMarker(up, "irreversible") || (p.irreversibleByLayout === true && down === undefined);
    if (down === undefined && !irreversible) {
      problems.push(
        `\`${upFile}\` has no ${downFileName(p)}; write the SQL that reverts it, or add a \`-- rollout:irreversible\` line to the up file if it cannot be reverted (going back past it then needs the backup)`,
      );
    }
    const timeouts: { lockTimeoutMs?: number; statementTimeoutSeconds?: number } = {};
    for (const [marker, key] of [
      ["lock-timeout-ms", "lockTimeoutMs"],
      ["statement-timeout-seconds", "statementTimeoutSeconds"],
    ] as const) {
      const [value] = markerValues(up, marker);
      if (value === undefined) continue;
      if (!/^\d+$/.test(value)) {
        problems.push(
          `\`${upFile}\`: \`-- rollout:${marker}=${value}\` is not a whole number; write e.g. \`-- rollout:${marker}=${marker.endsWith("ms") ? "5000" : "600"}\` (0 means no limit)`,
        );
      } else timeouts[key] = Number(value);
    }
    let verify: VerifyQuery[] = [];
    if (p.verify !== undefined) {
      const parsed = readVerify(p.verify, `${name}.verify.sql`);
      problems.push(...parsed.problems);
      verify = parsed.queries;
    }
    let verifyDown: VerifyQuery[] | undefined;
    if (p.verifyDown !== undefined) {
      const parsed = readVerify(p.verifyDown, `${name}.down.verify.sql`);
      problems.push(...parsed.problems);
      verifyDown = parsed.queries;
    }
    const noTransaction = hasMarker(up, "no-transaction") || p.upNoTransaction;
    const downText =
      down !== undefined && p.downNoTransaction && !hasMarker(down, "no-transaction")
        ? `-- rollout:no-transaction\n${down}`
        : down;
    const allow = markerValues(up, "allow").flatMap((v) => v.split(",").map((r) => r.trim()));
    migrations.push({
      id: p.id,
      name,
      ...(p.layout !== "golang-migrate" ? { layout: p.layout } : {}),
      ...(p.upFile !== undefined && p.upFile !== `${name}.up.sql` ? { upFile: p.upFile } : {}),
      up,
      ...(downText !== undefined ? { down: downText } : {}),
      verify,
      ...(p.verify !== undefined ? { verifySql: p.verify } : {}),
      ...(verifyDown ? { verifyDown } : {}),
      ...(p.verifyScript !== undefined ? { verifyScript: p.verifyScript } : {}),
      checksum: createHash("sha256").update(up).digest("hex"),
      irreversible,
      noTransaction,
      ...(allow.length > 0 ? { allow } : {}),
      ...timeouts,
    });
  }

  if (problems.length > 0) throw new MigrationFilesError(source, problems);
  return migrations.sort((a, b) => compareVersions(a.id, b.id));
}

/** What the down script of a migration is called in its layout, for messages. */
function downFileName(p: Parts): string {
  if (p.layout === "golang-migrate") return `\`${p.name}.down.sql\``;
  if (p.layout === "flyway") return `\`U${p.name.slice(1)}.sql\``;
  if (p.layout === "sqitch") return `\`revert/${p.name}.sql\``;
  return "`-- migrate:down` section";
}

/** golang-migrate, Flyway and dbmate files in one folder. */
function readFiles(dir: string, problems: string[]): Parts[] {
  const groups = new Map<string, Parts>();
  const group = (key: string, init: () => Parts) => {
    const found = groups.get(key) ?? init();
    groups.set(key, found);
    return found;
  };
  const read = (file: string) => fs.readFileSync(path.join(dir, file), "utf8");
  const entries = fs
    .readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.sql$/i.test(e.name))
    .map((e) => e.name)
    .sort();
  const blank = (id: string, name: string, layout: MigrationLayout): Parts => ({
    id,
    name,
    layout,
    orphans: [],
    upNoTransaction: false,
    downNoTransaction: false,
  });
  const flywayNoTransaction = (file: string) => {
    const conf = path.join(dir, `${file}.conf`);
    return (
      fs.existsSync(conf) && /^\s*executeInTransaction\s*=\s*false\s*$/m.test(fs.readFileSync(conf, "utf8"))
    );
  };
  for (const file of entries) {
    const golang = GOLANG_FILE.exec(file);
    if (golang) {
      const [, id, , kind] = golang;
      const name = file.slice(0, -`.${kind}.sql`.length);
      const p = group(`g:${name}`, () => blank(id, name, "golang-migrate"));
      const text = read(file);
      if (kind === "up") Object.assign(p, { up: text, upFile: file });
      else if (kind === "down") Object.assign(p, { down: text, downFile: file });
      else if (kind === "verify") p.verify = text;
      else p.verifyDown = text;
      continue;
    }
    const flyway = FLYWAY_FILE.exec(file);
    if (flyway) {
      const [, kind, version, desc] = flyway;
      const id = version.replace(/_/g, ".");
      const p = group(`f:${id}`, () => blank(id, `V${version}__${desc}`, "flyway"));
      if (kind === "V") {
        Object.assign(p, { up: read(file), upFile: file, name: `V${version}__${desc}` });
        p.upNoTransaction = flywayNoTransaction(file);
      } else {
        Object.assign(p, { down: read(file), downFile: file });
        p.downNoTransaction = flywayNoTransaction(file);
      }
      continue;
    }
    const dbmate = DBMATE_FILE.exec(file);
    if (dbmate) {
      const parsed = readDbmate(read(file), file);
      if (parsed.problems.length > 0) {
        problems.push(...parsed.problems);
        continue;
      }
      const name = file.slice(0, -".sql".length);
      groups.set(`d:${name}`, {
        ...blank(dbmate[1], name, "dbmate"),
        up: parsed.up,
        upFile: file,
        ...(parsed.down !== undefined ? { down: parsed.down, downFile: file } : {}),
        upNoTransaction: parsed.upNoTransaction,
        downNoTransaction: parsed.downNoTransaction,
        irreversibleByLayout: parsed.down === undefined,
      });
      continue;
    }
    if (/^R__/.test(file)) {
      problems.push(
        `\`${file}\` is a Flyway repeatable migration; those are not supported, turn it into a versioned V<version>__name.sql with its U file`,
      );
      continue;
    }
    problems.push(`\`${file}\` is not a valid migration file name; ${NAMING_RULE}`);
  }
  for (const p of groups.values()) {
    if (p.up !== undefined) continue;
    if (p.layout === "flyway") {
      p.orphans.push(
        `\`${p.downFile}\` has no matching \`V${p.name.slice(1)}.sql\`; add the V file or delete this one`,
      );
      continue;
    }
    for (const [kind, present] of [
      ["down", p.down],
      ["verify", p.verify],
      ["down.verify", p.verifyDown],
    ] as const) {
      if (present !== undefined) {
        p.orphans.push(
          `\`${p.name}.${kind}.sql\` has no matching \`${p.name}.up.sql\`; add the up file or delete this one`,
        );
      }
    }
  }
  return [...groups.values()];
}

/** The two sections of a dbmate file; text before `-- migrate:up` is ignored, as dbmate does. */
function readDbmate(
  text: string,
  file: string,
): { up?: string; down?: string; upNoTransaction: boolean; downNoTransaction: boolean; problems: string[] } {
  const sections: Partial<Record<"up" | "down", { lines: string[]; noTransaction: boolean }>> = {};
  let current: { lines: string[] } | undefined;
  for (const line of text.split(/\r?\n/)) {
    const section = DBMATE_SECTION.exec(line.trim());
    if (section) {
      const kind = section[1] as "up" | "down";
      current = { lines: [] };
      sections[kind] = { lines: current.lines, noTransaction: /\btransaction:false\b/.test(section[2]) };
      continue;
    }
    current?.lines.push(line);
  }
  if (!sections.up) {
    return {
      upNoTransaction: false,
      downNoTransaction: false,
      problems: [`\`${file}\` is not a valid migration file name; ${NAMING_RULE}`],
    };
  }
  return {
    up: sections.up.lines.join("\n"),
    ...(sections.down ? { down: sections.down.lines.join("\n") } : {}),
    upNoTransaction: sections.up.noTransaction,
    downNoTransaction: sections.down?.noTransaction ?? false,
    problems: [],
  };
}

/**
 * A Sqitch project: changes in `sqitch.plan` order; the version of a change is its position
 * (`0001`, ...), its name the change name. Sqitch scripts manage their own transaction, so a
 * leading `BEGIN;` and a closing `COMMIT;` (or `ROLLBACK;` in a verify script) are taken off and the
 * script runs inside this tool's transaction; a script without them runs outside one.
 */
function readSqitch(dir: string, problems: string[]): Parts[] {
  const plan = fs.readFileSync(path.join(dir, "sqitch.plan"), "utf8");
  const changes: string[] = [];
  plan.split(/\r?\n/).forEach((raw, index) => {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith("%") || line.startsWith("@")) return;
    const change = /^([A-Za-z0-9_][A-Za-z0-9_.-]*)(?=\s|$)/.exec(line)?.[1];
    if (!change) {
      problems.push(
        `\`sqitch.plan\` line ${index + 1} is not a change line; write \`<change> [deps] <date> <planner> # note\``,
      );
      return;
    }
    if (changes.includes(change)) {
      problems.push(
        `\`sqitch.plan\` line ${index + 1}: change \`${change}\` is reworked; reworked Sqitch changes are not supported, add a new change instead`,
      );
      return;
    }
    changes.push(change);
  });
  const width = Math.max(4, String(changes.length).length);
  const script = (folder: string, change: string) => {
    const file = path.join(dir, folder, `${change}.sql`);
    return fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
  };
  return changes.map((change, index): Parts => {
    const up = script("deploy", change);
    const down = script("revert", change);
    const verify = script("verify", change);
    const deploy = up === undefined ? undefined : unwrapTransaction(up, "COMMIT");
    const revert = down === undefined ? undefined : unwrapTransaction(down, "COMMIT");
    const check = verify === undefined ? undefined : unwrapTransaction(verify, "ROLLBACK");
    return {
      id: String(index + 1).padStart(width, "0"),
      name: change,
      layout: "sqitch",
      upFile: `deploy/${change}.sql`,
      ...(revert ? { downFile: `revert/${change}.sql`, down: revert.sql } : {}),
      ...(deploy ? { up: deploy.sql } : {}),
      ...(check && !isEmptySql(check.sql) ? { verifyScript: check.sql } : {}),
      orphans:
        up === undefined
          ? [
              `change \`${change}\` in sqitch.plan has no \`deploy/${change}.sql\`; add the script or remove the change from the plan`,
            ]
          : [],
      upNoTransaction: deploy !== undefined && !deploy.wrapped,
      downNoTransaction: revert !== undefined && !revert.wrapped,
    };
  });
}

/** A script without its own leading `BEGIN;` and closing `COMMIT;`/`ROLLBACK;`, if it has them. */
function unwrapTransaction(sql: string, end: "COMMIT" | "ROLLBACK"): { sql: string; wrapped: boolean } {
  const begin = /^((?:\s*--[^\n]*\n|\s)*)\s*(?:BEGIN|START\s+TRANSACTION)\s*;/i;
  const close = new RegExp(`${end}\\s*;((?:\\s*--[^\\n]*)*\\s*)$`, "i");
  if (!begin.test(sql) || !close.test(sql)) return { sql, wrapped: false };
  return { sql: sql.replace(begin, "$1").replace(close, "$1"), wrapped: true };
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
    if (marker === undefined) return;
    const known = KNOWN_MARKERS.some((m) =>
      m.includes("=") ? marker.startsWith(m.slice(0, m.indexOf("=") + 1)) : m === marker,
    );
    if (!known) {
      problems.push(
        `\`${fileName}\` line ${index + 1}: unknown marker \`-- rollout:${marker}\`; the markers are ${KNOWN_MARKERS.map((m) => `\`-- rollout:${m}\``).join(", ")}`,
      );
    }
  });
  return problems;
}
