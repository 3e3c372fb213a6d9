// The sample service that the dev stack rolls out. Small on purpose: it has what a rollout needs to
// see (version, health, database health, maintenance mode, a login and a CRUD resource) and one
// source for its three releases, whose differences follow the schema (see schema.ts).
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import { Pool } from "pg";
import { WebSocketServer } from "ws";
import { schemaFor } from "./schema";

const version = process.env.APP_VERSION ?? "0.0.0-dev";
const schema = schemaFor(version);
const port = Number(process.env.PORT ?? "8080");
const host = process.env.HOST ?? "127.0.0.1";
const maintenanceToken = process.env.MAINTENANCE_TOKEN ?? "";
// Kept in a file on a volume so the flag survives the container being replaced mid-rollout.
const maintenanceFile = process.env.MAINTENANCE_FILE ?? "/state/maintenance";
const pool = process.env.DATABASE_URL
  ? new Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 3000 })
  : undefined;

type Json = Record<string, unknown>;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function inMaintenance(): boolean {
  return fs.existsSync(maintenanceFile);
}

function setMaintenance(on: boolean): void {
  if (on) {
    fs.mkdirSync(path.dirname(maintenanceFile), { recursive: true });
    fs.writeFileSync(maintenanceFile, new Date().toISOString());
  } else {
    fs.rmSync(maintenanceFile, { force: true });
  }
}

function send(res: http.ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!given || expected === "") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

async function readJson(req: http.IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  // A form login (the Employee runbook's) sends its fields form-encoded.
  if ((req.headers["content-type"] ?? "").startsWith("application/x-www-form-urlencoded")) {
    return Object.fromEntries(new URLSearchParams(Buffer.concat(chunks).toString("utf8")));
  }
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
    return value as Json;
  } catch {
    throw new HttpError(400, "the body must be a JSON object");
  }
}

function db(): Pool {
  if (!pool) throw new HttpError(503, "DATABASE_URL is not set");
  return pool;
}

function hashPassword(password: string, salt = randomBytes(16).toString("hex")): string {
  return `${salt}:${scryptSync(password, salt, 32).toString("hex")}`;
}

function passwordMatches(password: string, stored: string): boolean {
  const [salt] = stored.split(":");
  return tokenMatches(hashPassword(password, salt), stored);
}

async function login(body: Json): Promise<Json> {
  const { username, password } = body;
  if (typeof username !== "string" || typeof password !== "string") {
    throw new HttpError(400, "username and password are required");
  }
  const { rows } = await db().query<{ id: number; password_hash: string }>(
    "SELECT id, password_hash FROM users WHERE username = $1",
    [username],
  );
  if (rows.length === 0 || !passwordMatches(password, rows[0].password_hash)) {
    throw new HttpError(401, "wrong username or password");
  }
  const token = randomBytes(24).toString("hex");
  await db().query(
    "INSERT INTO sessions (token, user_id, expires_at) VALUES ($1, $2, now() + interval '1 hour')",
    [token, rows[0].id],
  );
  return { token };
}

async function whoAmI(userId: number): Promise<Json> {
  const { rows } = await db().query<{ username: string }>("SELECT username FROM users WHERE id = $1", [
    userId,
  ]);
  return { username: rows[0]?.username };
}

async function authenticate(req: http.IncomingMessage): Promise<number> {
  const header = req.headers.authorization ?? "";
  const token = header.startsWith("Bearer ") ? header.slice(7) : "";
  const { rows } = await db().query<{ user_id: number }>(
    "SELECT user_id FROM sessions WHERE token = $1 AND expires_at > now()",
    [token],
  );
  if (rows.length === 0)
    throw new HttpError(401, "log in first (POST /login) and send the token as a bearer token");
  return rows[0].user_id;
}

/** Items as the API shows them: the same JSON in every release, whatever the column is called. */
function itemJson(row: Json): Json {
  const item: Json = { id: row.id, title: row[schema.titleColumn], createdAt: row.created_at };
  if (schema.hasStatus) item.status = row.status;
  return item;
}

async function items(method: string, id: number | undefined, body: Json): Promise<[number, unknown]> {
  const title = schema.titleColumn;
  if (method === "GET" && id === undefined) {
    const { rows } = await db().query(`SELECT * FROM items ORDER BY id`);
    return [200, rows.map(itemJson)];
  }
  if (method === "POST" && id === undefined) {
    if (typeof body.title !== "string" || body.title === "") throw new HttpError(400, "title is required");
    const columns: string[] = [title];
    const values: unknown[] = [body.title];
    if (schema.hasStatus && body.status !== undefined) {
      columns.push("status");
      values.push(body.status);
    }
    const params = values.map((_, i) => `$${i + 1}`).join(", ");
    const { rows } = await db().query(
      `INSERT INTO items (${columns.join(", ")}) VALUES (${params}) RETURNING *`,
      values,
    );
    return [201, itemJson(rows[0])];
  }
  if (id === undefined) throw new HttpError(405, `use GET or POST on /items`);
  if (method === "GET") {
    const { rows } = await db().query(`SELECT * FROM items WHERE id = $1`, [id]);
    if (rows.length === 0) throw new HttpError(404, `item ${id} does not exist`);
    return [200, itemJson(rows[0])];
  }
  if (method === "PUT") {
    const sets: string[] = [];
    const values: unknown[] = [];
    if (typeof body.title === "string") sets.push(`${title} = $${values.push(body.title)}`);
    if (schema.hasStatus && typeof body.status === "string")
      sets.push(`status = $${values.push(body.status)}`);
    if (sets.length === 0) throw new HttpError(400, "nothing to update");
    values.push(id);
    const { rows } = await db().query(
      `UPDATE items SET ${sets.join(", ")} WHERE id = $${values.length} RETURNING *`,
      values,
    );
    if (rows.length === 0) throw new HttpError(404, `item ${id} does not exist`);
    return [200, itemJson(rows[0])];
  }
  if (method === "DELETE") {
    const { rowCount } = await db().query(`DELETE FROM items WHERE id = $1`, [id]);
    if (rowCount === 0) throw new HttpError(404, `item ${id} does not exist`);
    return [204, undefined];
  }
  throw new HttpError(405, `use GET, PUT or DELETE on /items/${id}`);
}

async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  const url = (req.url ?? "/").split("?")[0];
  if (method === "GET" && url === "/health") {
    return send(res, 200, { status: "ok", version, maintenance: inMaintenance() });
  }
  if (method === "GET" && url === "/version") return send(res, 200, { version });
  if (method === "GET" && url === "/health/db") {
    if (schema.brokenDatabaseHealth) {
      return send(res, 500, {
        status: "error",
        error: `release ${version} is broken on purpose (a rollback drill)`,
      });
    }
    try {
      const started = performance.now();
      await db().query("SELECT 1");
      return send(res, 200, { status: "ok", latencyMs: Math.round(performance.now() - started) });
    } catch (err) {
      return send(res, 503, { status: "error", error: (err as Error).message });
    }
  }
  // The TERP runbook's form: one POST URL to enable and one to disable.
  const separate = /^\/admin\/maintenance\/(enable|disable)$/.exec(url);
  if (separate) {
    if (!tokenMatches(req.headers.authorization?.replace(/^Bearer /, ""), maintenanceToken)) {
      throw new HttpError(401, "a valid bearer token is required");
    }
    if (method !== "POST") throw new HttpError(405, "use POST");
    setMaintenance(separate[1] === "enable");
    return send(res, 200, { maintenance: inMaintenance() });
  }
  if (url === "/admin/maintenance") {
    if (!tokenMatches(req.headers.authorization?.replace(/^Bearer /, ""), maintenanceToken)) {
      throw new HttpError(401, "a valid bearer token is required");
    }
    if (method === "PUT") setMaintenance(true);
    else if (method === "DELETE") setMaintenance(false);
    else if (method !== "GET") throw new HttpError(405, "use GET, PUT or DELETE");
    return send(res, 200, { maintenance: inMaintenance() });
  }
  // In maintenance only the rollout's own checks get through, with the bypass header.
  const bypass = tokenMatches(req.headers["x-maintenance-bypass"] as string | undefined, maintenanceToken);
  if (inMaintenance() && !bypass) return send(res, 503, { error: "down for maintenance" });

  if (method === "POST" && url === "/login") return send(res, 200, await login(await readJson(req)));
  if (method === "GET" && url === "/me") return send(res, 200, await whoAmI(await authenticate(req)));
  const match = /^\/items(?:\/(\d+))?$/.exec(url);
  if (match) {
    await authenticate(req);
    const body = method === "POST" || method === "PUT" ? await readJson(req) : {};
    const [status, result] = await items(method, match[1] ? Number(match[1]) : undefined, body);
    return send(res, status, result);
  }
  throw new HttpError(404, `no route for ${method} ${url}`);
}

/**
 * Creates the configured users if missing, so smoke tests can log in (`SEED_USER`, and a second one
 * as `SEED_USER_2`, e.g. an approver beside a requester); the passwords come from secrets.
 */
async function seedUsers(): Promise<void> {
  await seedUser(process.env.SEED_USER, process.env.SEED_PASSWORD);
  await seedUser(process.env.SEED_USER_2, process.env.SEED_PASSWORD_2);
}

async function seedUser(username: string | undefined, password: string | undefined): Promise<void> {
  if (!pool || !username || !password) return;
  try {
    await pool.query(
      "INSERT INTO users (username, password_hash) VALUES ($1, $2) ON CONFLICT (username) DO UPDATE SET password_hash = EXCLUDED.password_hash",
      [username, hashPassword(password)],
    );
  } catch (err) {
    console.error(`could not seed user ${username}: ${(err as Error).message}`);
  }
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err: Error) => {
    if (err instanceof HttpError) return send(res, err.status, { error: err.message });
    console.error(err);
    send(res, 500, { error: err.message });
  });
});

// A WebSocket endpoint: a hello on connect, then each message echoed back. In maintenance only the
// rollout's own checks get through, with the bypass header.
const sockets = new WebSocketServer({ noServer: true });
sockets.on("connection", (socket) => {
  socket.send(JSON.stringify({ hello: "sample-app", version }));
  socket.on("message", (data) => socket.send(JSON.stringify({ echo: data.toString(), version })));
});
server.on("upgrade", (req, socket, head) => {
  const bypass = tokenMatches(req.headers["x-maintenance-bypass"] as string | undefined, maintenanceToken);
  if ((req.url ?? "").split("?")[0] !== "/ws" || (inMaintenance() && !bypass)) {
    socket.end(
      inMaintenance() ? "HTTP/1.1 503 Service Unavailable\r\n\r\n" : "HTTP/1.1 404 Not Found\r\n\r\n",
    );
    return;
  }
  sockets.handleUpgrade(req, socket, head, (ws) => sockets.emit("connection", ws, req));
});

void seedUsers().then(() =>
  server.listen(port, host, () => {
    console.log(`sample-app ${version} listening on http://${host}:${port} (schema ${schema.requires})`);
  }),
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close(() => {
      void (pool ? pool.end() : Promise.resolve()).finally(() => process.exit(0));
    });
  });
}
