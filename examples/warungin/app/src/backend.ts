// The Warungin backend: health, the maintenance switch, login with the SUPER_ADMIN's second factor,
// stores each supervisor may see (403 for the others), and the current shift cached for 5 s.
import { randomBytes, scryptSync, timingSafeEqual } from "node:crypto";
import fs from "node:fs";
import type http from "node:http";
import path from "node:path";
import { Pool } from "pg";
import { HttpError, readJson, send, serve, version, type Json } from "./http";

const maintenanceToken = process.env.MAINTENANCE_TOKEN ?? "";
// Kept in a file on a volume so the flag survives the container being replaced mid-rollout.
const maintenanceFile = process.env.MAINTENANCE_FILE ?? "/state/maintenance";
const cacheUrl = process.env.CACHE_URL;
const pool = process.env.DATABASE_URL
  ? new Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 3000 })
  : undefined;
/** 1.1.1, the store regions patch: its new store query forgot the assignment check. */
const storeCheckForgotten = version === "1.1.1";
const SHIFT_TTL_SECONDS = 5;

interface User {
  id: number;
  role: string;
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

function tokenMatches(given: string | undefined, expected: string): boolean {
  if (!given || expected === "") return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

function db(): Pool {
  if (!pool) throw new HttpError(503, "DATABASE_URL is not set");
  return pool;
}

function hashPassword(password: string, salt = randomBytes(16).toString("hex")): string {
  return `${salt}:${scryptSync(password, salt, 32).toString("hex")}`;
}

const bearer = (req: http.IncomingMessage) => {
  const header = req.headers.authorization ?? "";
  return header.startsWith("Bearer ") ? header.slice(7) : "";
};

async function login(body: Json): Promise<Json> {
  const { email, password } = body;
  if (typeof email !== "string" || typeof password !== "string")
    throw new HttpError(400, "email and password are required");
  const { rows } = await db().query<{ id: number; role: string; password_hash: string }>(
    "SELECT id, role, password_hash FROM users WHERE email = $1",
    [email],
  );
  const [salt] = rows[0]?.password_hash.split(":") ?? [""];
  if (rows.length === 0 || !tokenMatches(hashPassword(password, salt), rows[0].password_hash))
    throw new HttpError(401, "wrong email or password");
  const token = randomBytes(24).toString("hex");
  // A SUPER_ADMIN's session counts only once the second factor is given.
  const verified = rows[0].role !== "SUPER_ADMIN";
  await db().query(
    "INSERT INTO sessions (token, user_id, expires_at, verified) VALUES ($1, $2, now() + interval '8 hours', $3)",
    [token, rows[0].id, verified],
  );
  return verified ? { token, role: rows[0].role } : { twoFactorRequired: true, ticket: token };
}

async function authenticate(req: http.IncomingMessage): Promise<User> {
  const { rows } = await db().query<User & { verified: boolean }>(
    `SELECT u.id, u.role, s.verified FROM sessions s JOIN users u ON u.id = s.user_id
     WHERE s.token = $1 AND s.expires_at > now()`,
    [bearer(req)],
  );
  if (rows.length === 0) throw new HttpError(401, "log in first (POST /api/auth/login)");
  if (!rows[0].verified) throw new HttpError(401, "two-factor verification is required");
  return rows[0];
}

async function stores(user: User): Promise<Json> {
  const { rows } = await db().query(
    user.role === "SUPER_ADMIN"
      ? "SELECT id, name FROM stores ORDER BY id"
      : "SELECT s.id, s.name FROM stores s JOIN user_stores us ON us.store_id = s.id WHERE us.user_id = $1 ORDER BY s.id",
    user.role === "SUPER_ADMIN" ? [] : [user.id],
  );
  return { stores: rows };
}

async function store(user: User, id: number): Promise<Json> {
  const { rows } = await db().query<{ id: number; name: string; assigned: boolean }>(
    `SELECT s.id, s.name, EXISTS (SELECT 1 FROM user_stores us WHERE us.store_id = s.id AND us.user_id = $2) AS assigned
     FROM stores s WHERE s.id = $1`,
    [id, user.id],
  );
  if (rows.length === 0) throw new HttpError(404, `no store ${id}`);
  if (user.role !== "SUPER_ADMIN" && !rows[0].assigned && !storeCheckForgotten) {
    console.warn(`WARN store ${id} refused to user ${user.id}: not assigned`);
    throw new HttpError(403, `store ${id} is not one of yours`);
  }
  return { id: rows[0].id, name: rows[0].name };
}

/** The open shift of the user's first store, from the cache when it holds it (5 s). */
async function currentShift(user: User): Promise<Json> {
  const key = `shift-${user.id}`;
  if (cacheUrl) {
    const hit = await fetch(`${cacheUrl}/cache/${key}`).catch(() => undefined);
    if (hit?.ok) return { ...((await hit.json()) as Json), cached: true };
  }
  const { rows } = await db().query(
    `SELECT us.store_id AS "storeId", coalesce(max(sh.opened_at), now()) AS "openedAt"
     FROM user_stores us LEFT JOIN shifts sh ON sh.store_id = us.store_id AND sh.closed_at IS NULL
     WHERE us.user_id = $1 GROUP BY us.store_id ORDER BY us.store_id LIMIT 1`,
    [user.id],
  );
  const shift = (rows[0] as Json | undefined) ?? { storeId: null, openedAt: null };
  if (cacheUrl) {
    await fetch(`${cacheUrl}/cache/${key}?ttl=${SHIFT_TTL_SECONDS}`, {
      method: "PUT",
      body: JSON.stringify(shift),
    }).catch((err: Error) => console.warn(`WARN cache not written: ${err.message}`));
  }
  return { ...shift, cached: false };
}

async function health(res: http.ServerResponse): Promise<void> {
  const cache = cacheUrl
    ? await fetch(`${cacheUrl}/ping`).then(
        (r) => (r.ok ? "ok" : `status ${r.status}`),
        (err: Error) => err.message,
      )
    : "none";
  try {
    await db().query("SELECT 1");
    send(res, 200, {
      status: "ok",
      timestamp: new Date().toISOString(),
      version,
      maintenance: inMaintenance(),
      database: "ok",
      cache,
    });
  } catch (err) {
    console.error(`ERROR database health: ${(err as Error).message}`);
    send(res, 503, { status: "error", version, database: (err as Error).message, cache });
  }
}

async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const method = req.method ?? "GET";
  const url = (req.url ?? "/").split("?")[0];
  if (url === "/api/health") return health(res);
  if (url === "/admin/maintenance") {
    if (!tokenMatches(bearer(req), maintenanceToken))
      throw new HttpError(401, "a valid bearer token is required");
    if (method === "PUT") setMaintenance(true);
    else if (method === "DELETE") setMaintenance(false);
    else if (method !== "GET") throw new HttpError(405, "use GET, PUT or DELETE");
    return send(res, 200, { maintenance: inMaintenance() });
  }
  // In maintenance ("all users offline") only the rollout's own checks get through, with the bypass header.
  const bypass = tokenMatches(req.headers["x-maintenance-bypass"] as string | undefined, maintenanceToken);
  if (inMaintenance() && !bypass) return send(res, 503, { error: "down for maintenance" });

  if (method === "POST" && url === "/api/auth/login") return send(res, 200, await login(await readJson(req)));
  if (method === "POST" && url === "/api/auth/logout") {
    await db().query("DELETE FROM sessions WHERE token = $1", [bearer(req)]);
    return send(res, 204);
  }
  if (method === "GET" && url === "/api/stores") return send(res, 200, await stores(await authenticate(req)));
  const storeId = /^\/api\/stores\/(\d+)$/.exec(url)?.[1];
  if (method === "GET" && storeId)
    return send(res, 200, await store(await authenticate(req), Number(storeId)));
  if (method === "GET" && url === "/api/shifts/current")
    return send(res, 200, await currentShift(await authenticate(req)));
  throw new HttpError(404, `no route for ${method} ${url}`);
}

/** Creates the configured users if missing, so smoke tests can log in: a SUPER_ADMIN and a supervisor of store 1. */
async function seedUsers(): Promise<void> {
  const seeds = [
    [process.env.SEED_ADMIN_EMAIL, process.env.SEED_ADMIN_PASSWORD, "SUPER_ADMIN"],
    [process.env.SEED_SUPERVISOR_EMAIL, process.env.SEED_SUPERVISOR_PASSWORD, "SUPERVISOR"],
  ];
  for (const [email, password, userRole] of seeds) {
    if (!pool || !email || !password) continue;
    try {
      const { rows } = await pool.query<{ id: number }>(
        `INSERT INTO users (email, password_hash, role) VALUES ($1, $2, $3)
         ON CONFLICT (email) DO UPDATE SET password_hash = EXCLUDED.password_hash, role = EXCLUDED.role
         RETURNING id`,
        [email, hashPassword(password), userRole],
      );
      if (userRole === "SUPERVISOR")
        await pool.query(
          "INSERT INTO user_stores (user_id, store_id) VALUES ($1, 1) ON CONFLICT DO NOTHING",
          [rows[0].id],
        );
    } catch (err) {
      console.error(`ERROR could not seed user ${email}: ${(err as Error).message}`);
    }
  }
}

export function startBackend(): void {
  void seedUsers().then(() =>
    serve(route, async () => {
      await pool?.end();
    }),
  );
}
