// The TERP example service: a small ERP API on MySQL/MariaDB with what the TERP runbook checks
// (login, session, logout, roles, dashboard, orders, inventory, clients and their notes, a CSV
// export), a health endpoint and the runbook's maintenance API (POST .../enable and .../disable
// with a bearer token). One source serves every release; what differs follows the schema.
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import http from "node:http";
import path from "node:path";
import mysql from "mysql2/promise";

const version = process.env.APP_VERSION ?? "0.0.0-dev";
/** 1.1.0 reads client_notes (migration 0002); 1.0.0 does not know the table. */
const hasNotes = !version.startsWith("1.0.");
/** A release with a known defect, for rollback drills: its order list answers 500. */
const brokenOrders = version === "1.1.1";
const port = Number(process.env.PORT ?? "8080");
const host = process.env.HOST ?? "127.0.0.1";
const maintenanceToken = process.env.MAINTENANCE_TOKEN ?? "";
// On a volume, so the flag outlives the container being replaced mid-rollout.
const maintenanceFile = process.env.MAINTENANCE_FILE ?? "/state/maintenance";
const pool = process.env.DATABASE_URL
  ? mysql.createPool({ uri: process.env.DATABASE_URL, connectionLimit: 4, connectTimeout: 3000 })
  : undefined;

type Json = Record<string, unknown>;
type Row = mysql.RowDataPacket;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

const inMaintenance = () => fs.existsSync(maintenanceFile);

function setMaintenance(on: boolean): void {
  if (on) {
    fs.mkdirSync(path.dirname(maintenanceFile), { recursive: true });
    fs.writeFileSync(maintenanceFile, new Date().toISOString());
  } else {
    fs.rmSync(maintenanceFile, { force: true });
  }
}

function send(res: http.ServerResponse, status: number, body?: unknown, type = "application/json"): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = typeof body === "string" ? body : JSON.stringify(body);
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!given || expected === "") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

const bearer = (req: http.IncomingMessage) => (req.headers.authorization ?? "").replace(/^Bearer /, "");

async function readJson(req: http.IncomingMessage): Promise<Json> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  if (chunks.length === 0) return {};
  try {
    const value = JSON.parse(Buffer.concat(chunks).toString("utf8")) as unknown;
    if (value === null || typeof value !== "object" || Array.isArray(value)) throw new Error("not an object");
    return value as Json;
  } catch {
    throw new HttpError(400, "the body must be a JSON object");
  }
}

function db(): mysql.Pool {
  if (!pool) throw new HttpError(503, "DATABASE_URL is not set");
  return pool;
}

async function rows(sql: string, params: unknown[] = []): Promise<Row[]> {
  const [result] = await db().query<Row[]>(sql, params);
  return result;
}

async function insert(sql: string, params: unknown[]): Promise<number> {
  const [result] = await db().query<mysql.ResultSetHeader>(sql, params);
  return result.insertId;
}

function hashPassword(password: string, salt = randomBytes(16).toString("hex")): string {
  return `${salt}:${scryptSync(password, salt, 32).toString("hex")}`;
}

function passwordMatches(password: string, stored: string): boolean {
  const [salt] = stored.split(":");
  return tokenMatches(hashPassword(password, salt), stored);
}

interface User {
  id: number;
  username: string;
  role: string;
}

async function login(body: Json): Promise<Json> {
  const { username, password } = body;
  if (typeof username !== "string" || typeof password !== "string") {
    throw new HttpError(400, "username and password are required");
  }
  const [user] = await rows("SELECT id, password_hash FROM users WHERE username = ?", [username]);
  if (!user || !passwordMatches(password, user.password_hash as string)) {
    throw new HttpError(401, "wrong username or password");
  }
  const token = randomBytes(24).toString("hex");
  await db().query(
    "INSERT INTO sessions (token, user_id, expires_at) VALUES (?, ?, NOW() + INTERVAL 1 HOUR)",
    [token, user.id],
  );
  return { token };
}

async function authenticate(req: http.IncomingMessage): Promise<User> {
  const [user] = await rows(
    "SELECT u.id, u.username, u.role FROM sessions s JOIN users u ON u.id = s.user_id WHERE s.token = ? AND s.expires_at > NOW()",
    [bearer(req)],
  );
  if (!user) throw new HttpError(401, "log in first (POST /login) and send the token as a bearer token");
  return { id: user.id as number, username: user.username as string, role: user.role as string };
}

/** Staff may read everything; changing orders, stock and clients is for admins. */
function mustChange(user: User): void {
  if (user.role !== "admin") throw new HttpError(403, `role ${user.role} may not change data`);
}

const idOf = (text: string | undefined) => (text === undefined ? undefined : Number(text));

/** A whole number, also as text: a smoke flow's captured ids travel as strings. */
function positiveInt(value: unknown, field: string): number {
  const n = typeof value === "string" && /^\d+$/.test(value) ? Number(value) : value;
  if (!Number.isInteger(n) || (n as number) < 0) throw new HttpError(400, `${field} must be a whole number`);
  return n as number;
}

function text(value: unknown, field: string): string {
  if (typeof value !== "string" || value.trim() === "") throw new HttpError(400, `${field} is required`);
  return value;
}

async function one(sql: string, id: number, what: string): Promise<Row> {
  const [row] = await rows(sql, [id]);
  if (!row) throw new HttpError(404, `${what} ${id} does not exist`);
  return row;
}

const ORDER = "SELECT id, client_id AS clientId, total_cents AS totalCents, status FROM orders";
const BATCH = "SELECT id, sku, quantity FROM inventory_batches";
const CLIENT = "SELECT id, name FROM clients";

async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  const url = (req.url ?? "/").split("?")[0];
  if (method === "GET" && url === "/health") {
    try {
      await db().query("SELECT 1");
    } catch (err) {
      return send(res, 503, { status: "error", version, error: (err as Error).message });
    }
    return send(res, 200, { status: "ok", version, maintenance: inMaintenance() });
  }
  const switchMaintenance = /^\/admin\/maintenance\/(enable|disable)$/.exec(url);
  if (switchMaintenance) {
    if (!tokenMatches(bearer(req), maintenanceToken))
      throw new HttpError(401, "a valid bearer token is required");
    if (method !== "POST") throw new HttpError(405, "use POST");
    setMaintenance(switchMaintenance[1] === "enable");
    return send(res, 200, { maintenance: inMaintenance() });
  }
  // In maintenance only the rollout's own checks get through, with the bypass header.
  const bypass = tokenMatches(req.headers["x-maintenance-bypass"] as string | undefined, maintenanceToken);
  if (inMaintenance() && !bypass) return send(res, 503, { error: "down for maintenance" });

  if (method === "POST" && url === "/login") return send(res, 200, await login(await readJson(req)));
  const user = await authenticate(req);
  if (method === "GET" && url === "/me") return send(res, 200, { username: user.username, role: user.role });
  if (method === "POST" && url === "/logout") {
    await db().query("DELETE FROM sessions WHERE token = ?", [bearer(req)]);
    return send(res, 204);
  }
  if (method === "GET" && url === "/dashboard") {
    const [totals] = await rows(
      "SELECT (SELECT COUNT(*) FROM orders) AS orders, (SELECT COUNT(*) FROM orders WHERE status <> 'done') AS openOrders, " +
        "(SELECT COUNT(*) FROM clients) AS clients, (SELECT COALESCE(SUM(total_cents), 0) FROM orders) AS revenueCents",
    );
    return send(res, 200, Object.fromEntries(Object.entries(totals).map(([k, v]) => [k, Number(v)])));
  }
  if (method === "GET" && url === "/reports/orders.csv") {
    const lines = (await rows(`${ORDER} ORDER BY id`)).map(
      (o) => `${o.id},${o.clientId},${o.totalCents},${o.status}`,
    );
    return send(res, 200, ["id,client_id,total_cents,status", ...lines, ""].join("\n"), "text/csv");
  }

  const orders = /^\/orders(?:\/(\d+))?$/.exec(url);
  if (orders) {
    const id = idOf(orders[1]);
    if (method === "GET" && id === undefined) {
      if (brokenOrders) throw new Error(`release ${version} is broken on purpose (a rollback drill)`);
      return send(res, 200, await rows(`${ORDER} ORDER BY id`));
    }
    if (method === "GET") return send(res, 200, await one(`${ORDER} WHERE id = ?`, id!, "order"));
    mustChange(user);
    const body = await readJson(req);
    if (method === "POST" && id === undefined) {
      const clientId = positiveInt(body.clientId, "clientId");
      await one(`${CLIENT} WHERE id = ?`, clientId, "client");
      const created = await insert("INSERT INTO orders (client_id, total_cents) VALUES (?, ?)", [
        clientId,
        positiveInt(body.totalCents, "totalCents"),
      ]);
      return send(res, 201, await one(`${ORDER} WHERE id = ?`, created, "order"));
    }
    if (method === "PUT" && id !== undefined) {
      const status = text(body.status, "status");
      if (!["new", "paid", "shipped", "done"].includes(status))
        throw new HttpError(400, "status must be new, paid, shipped or done");
      await one(`${ORDER} WHERE id = ?`, id, "order");
      await db().query("UPDATE orders SET status = ? WHERE id = ?", [status, id]);
      return send(res, 200, await one(`${ORDER} WHERE id = ?`, id, "order"));
    }
    throw new HttpError(405, "use GET or POST on /orders, GET or PUT on /orders/<id>");
  }

  const batches = /^\/inventory\/batches(?:\/(\d+))?$/.exec(url);
  if (batches) {
    const id = idOf(batches[1]);
    if (method === "GET" && id === undefined) return send(res, 200, await rows(`${BATCH} ORDER BY id`));
    if (method === "GET") return send(res, 200, await one(`${BATCH} WHERE id = ?`, id!, "batch"));
    mustChange(user);
    const body = await readJson(req);
    if (method === "POST" && id === undefined) {
      const created = await insert("INSERT INTO inventory_batches (sku, quantity) VALUES (?, ?)", [
        text(body.sku, "sku"),
        positiveInt(body.quantity, "quantity"),
      ]);
      return send(res, 201, await one(`${BATCH} WHERE id = ?`, created, "batch"));
    }
    if (method === "PUT" && id !== undefined) {
      await one(`${BATCH} WHERE id = ?`, id, "batch");
      await db().query("UPDATE inventory_batches SET quantity = ? WHERE id = ?", [
        positiveInt(body.quantity, "quantity"),
        id,
      ]);
      return send(res, 200, await one(`${BATCH} WHERE id = ?`, id, "batch"));
    }
    throw new HttpError(405, "use GET or POST on /inventory/batches, GET or PUT on /inventory/batches/<id>");
  }

  const clients = /^\/clients(?:\/(\d+)(\/notes)?)?$/.exec(url);
  if (clients) {
    const id = idOf(clients[1]);
    if (clients[2]) {
      if (!hasNotes) throw new HttpError(404, `release ${version} has no client notes`);
      await one(`${CLIENT} WHERE id = ?`, id!, "client");
      if (method === "GET")
        return send(
          res,
          200,
          await rows("SELECT id, body FROM client_notes WHERE client_id = ? ORDER BY id", [id]),
        );
      mustChange(user);
      if (method !== "POST") throw new HttpError(405, "use GET or POST on /clients/<id>/notes");
      const body = await readJson(req);
      const created = await insert("INSERT INTO client_notes (client_id, body) VALUES (?, ?)", [
        id,
        text(body.body, "body"),
      ]);
      return send(res, 201, { id: created, body: body.body });
    }
    if (method === "GET" && id === undefined) return send(res, 200, await rows(`${CLIENT} ORDER BY id`));
    if (method === "GET") return send(res, 200, await one(`${CLIENT} WHERE id = ?`, id!, "client"));
    mustChange(user);
    if (method !== "POST" || id !== undefined) throw new HttpError(405, "use GET or POST on /clients");
    const body = await readJson(req);
    const created = await insert("INSERT INTO clients (name) VALUES (?)", [text(body.name, "name")]);
    return send(res, 201, await one(`${CLIENT} WHERE id = ?`, created, "client"));
  }
  throw new HttpError(404, `no route for ${method} ${url}`);
}

/** The users smoke tests log in as: an admin (`SEED_USER`) and a staff member (`SEED_STAFF_USER`). */
async function seedUsers(): Promise<void> {
  const users: [string | undefined, string | undefined, string][] = [
    [process.env.SEED_USER, process.env.SEED_PASSWORD, "admin"],
    [process.env.SEED_STAFF_USER, process.env.SEED_STAFF_PASSWORD, "staff"],
  ];
  for (const [username, password, role] of users) {
    if (!pool || !username || !password) continue;
    try {
      await pool.query(
        "INSERT INTO users (username, password_hash, role) VALUES (?, ?, ?) ON DUPLICATE KEY UPDATE password_hash = VALUES(password_hash), role = VALUES(role)",
        [username, hashPassword(password), role],
      );
    } catch (err) {
      console.error(`could not seed user ${username}: ${(err as Error).message}`);
    }
  }
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err: Error) => {
    if (err instanceof HttpError) return send(res, err.status, { error: err.message });
    console.error(`ERROR ${req.method} ${req.url}: ${err.message}`);
    send(res, 500, { error: err.message });
  });
});

void seedUsers().then(() =>
  server.listen(port, host, () => console.log(`terp ${version} listening on http://${host}:${port}`)),
);

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close(() => {
      void (pool ? pool.end() : Promise.resolve()).finally(() => process.exit(0));
    });
  });
}
