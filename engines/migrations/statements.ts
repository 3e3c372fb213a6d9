// Splitting SQL into statements with PostgreSQL's own parser (libpg-query, the server's grammar
// compiled to WebAssembly), so dollar quoting, comments and `;` inside strings are read exactly as
// the server reads them. Plain functions only: dynamic providers are serialized by value.
import { loadModule, parseSync } from "libpg-query";

/** One statement of a migration file and the line it starts on. */
export interface SqlStatement {
  readonly sql: string;
  readonly line: number;
}

/** The parsed statements of `sql` with their text; the parser's offsets are in UTF-8 bytes. */
export async function parseStatements(
  sql: string,
): Promise<{ sql: string; line: number; stmt: Record<string, unknown> }[]> {
  await loadModule();
  const bytes = Buffer.from(sql, "utf8");
  const { stmts } = parseSync(sql) as unknown as {
    stmts: { stmt: Record<string, unknown>; stmt_location?: number; stmt_len?: number }[];
  };
  return stmts.map((s) => {
    const start = s.stmt_location ?? 0;
    const end = s.stmt_len ? start + s.stmt_len : bytes.length;
    const raw = bytes.subarray(start, end).toString("utf8");
    const lead = raw.length - raw.trimStart().length;
    const before = bytes.subarray(0, start).toString("utf8") + raw.slice(0, lead);
    return { sql: raw.trim(), line: before.split("\n").length, stmt: s.stmt };
  });
}

/**
 * The statements of `sql`, each with the line it starts on (comments before a statement belong to
 * it, as the parser reads them).
 *
 * @throws Error with the parser's message and the line, when the SQL does not parse.
 */
export async function splitStatements(sql: string): Promise<SqlStatement[]> {
  try {
    return (await parseStatements(sql)).map(({ sql: text, line }) => ({ sql: text, line }));
  } catch (err) {
    const e = err as Error & { sqlDetails?: { cursorPosition?: number } };
    const at = e.sqlDetails?.cursorPosition;
    const line = at === undefined ? undefined : sql.slice(0, at).split("\n").length;
    throw new Error(
      `cannot split it into statements: ${e.message}${line !== undefined ? ` at line ${line}` : ""}; a file that runs outside a transaction runs statement by statement, so it must parse as PostgreSQL SQL`,
      { cause: err },
    );
  }
}
