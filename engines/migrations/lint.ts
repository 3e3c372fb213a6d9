// Lint of migration SQL for changes that break the running release or lock a busy table, over
// PostgreSQL's own parse tree (libpg-query). Plain functions only: dynamic providers are serialized
// by value.
import { parseStatements } from "./statements";

/** The rules, by the name a file allows them with (`-- rollout:allow=<rule>`), and why each matters. */
export const LINT_RULES = {
  "drop-table": "drops a table: its data is gone and the release still running may read it",
  "drop-column": "drops a column: its data is gone and the release still running may read it",
  "type-change":
    "changes a column's type: it rewrites the table under an exclusive lock and may narrow values",
  "set-not-null": "SET NOT NULL scans the whole table under an exclusive lock and fails on any NULL",
  "not-null-without-default":
    "adds a NOT NULL column without a default to an existing table: fails on any row, and the running release does not write it",
  rename: "renames a table or column that the release still running reads by its old name",
  "index-without-concurrently":
    "CREATE INDEX without CONCURRENTLY blocks writes to the table while it builds; use CREATE INDEX CONCURRENTLY in a no-transaction migration",
} as const;
export type LintRule = keyof typeof LINT_RULES;

/** One finding: the rule, the statement (one line) and where it is. */
export interface LintFinding {
  readonly rule: LintRule;
  readonly line: number;
  readonly statement: string;
  readonly reason: string;
}

type Node = Record<string, unknown>;
const obj = (v: unknown): Node => (v && typeof v === "object" ? (v as Node) : {});

/**
 * The findings in one migration's up SQL. `createdHere` tables (made by this migration) are exempt
 * from the rules about existing tables; `largeTables` lists tables whose size makes a plain CREATE
 * INDEX a problem (`undefined`: every existing table counts as large).
 */
export async function lintSql(sql: string, largeTables?: ReadonlySet<string>): Promise<LintFinding[]> {
  let statements: Awaited<ReturnType<typeof parseStatements>>;
  try {
    statements = await parseStatements(sql);
  } catch {
    return []; // The server is the judge of SQL the parser does not read; lint only what it reads.
  }
  const created = new Set<string>();
  const findings: LintFinding[] = [];
  for (const { sql: text, line, stmt } of statements) {
    const add = (rule: LintRule) =>
      findings.push({ rule, line, statement: oneLine(text), reason: LINT_RULES[rule] });
    const [kind, body] = Object.entries(stmt)[0] ?? ["", {}];
    const node = obj(body);
    const relname = String(obj(node.relation).relname ?? "");
    if (kind === "CreateStmt") created.add(relname);
    if (kind === "DropStmt" && node.removeType === "OBJECT_TABLE") add("drop-table");
    if (kind === "RenameStmt" && ["OBJECT_COLUMN", "OBJECT_TABLE"].includes(String(node.renameType))) {
      if (!created.has(relname)) add("rename");
    }
    if (kind === "IndexStmt" && !node.concurrent && !created.has(relname)) {
      if (largeTables === undefined || largeTables.has(relname)) add("index-without-concurrently");
    }
    if (kind === "AlterTableStmt" && !created.has(relname)) {
      for (const c of (node.cmds as unknown[] | undefined) ?? []) {
        const cmd = obj(obj(c).AlterTableCmd);
        if (cmd.subtype === "AT_DropColumn") add("drop-column");
        if (cmd.subtype === "AT_AlterColumnType") add("type-change");
        if (cmd.subtype === "AT_SetNotNull") add("set-not-null");
        if (cmd.subtype === "AT_AddColumn") {
          const constraints = ((obj(obj(cmd.def).ColumnDef).constraints as unknown[] | undefined) ?? []).map(
            (k) => String(obj(obj(k).Constraint).contype),
          );
          if (constraints.includes("CONSTR_NOTNULL") && !constraints.includes("CONSTR_DEFAULT")) {
            add("not-null-without-default");
          }
        }
      }
    }
  }
  return findings;
}

function oneLine(sql: string): string {
  const flat = sql.replace(/\s+/g, " ").trim();
  return flat.length > 120 ? `${flat.slice(0, 117)}...` : flat;
}
