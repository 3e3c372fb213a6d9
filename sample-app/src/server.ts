// The sample service that the dev stack rolls out. Small on purpose: it has what a rollout needs to
// see (version, health, database health, maintenance mode) and nothing else.
import http from "node:http";
import { Pool } from "pg";

const version = process.env.APP_VERSION ?? "0.0.0-dev";
const port = Number(process.env.PORT ?? "8080");
const host = process.env.HOST ?? "127.0.0.1";
const maintenanceToken = process.env.MAINTENANCE_TOKEN ?? "";
const pool = process.env.DATABASE_URL
  ? new Pool({ connectionString: process.env.DATABASE_URL, max: 4, connectionTimeoutMillis: 3000 })
  : undefined;

let maintenance = false;

function send(res: http.ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
  res.end(text);
}

function authorized(req: http.IncomingMessage): boolean {
  return maintenanceToken !== "" && req.headers.authorization === `Bearer ${maintenanceToken}`;
}

async function route(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method === "GET" && path === "/health") {
    return send(res, 200, { status: "ok", version, maintenance });
  }
  if (req.method === "GET" && path === "/version") {
    return send(res, 200, { version });
  }
  if (req.method === "GET" && path === "/health/db") {
    if (!pool) return send(res, 503, { status: "error", error: "DATABASE_URL is not set" });
    try {
      const started = performance.now();
      await pool.query("SELECT 1");
      return send(res, 200, { status: "ok", latencyMs: Math.round(performance.now() - started) });
    } catch (err) {
      return send(res, 503, { status: "error", error: (err as Error).message });
    }
  }
  if (path === "/admin/maintenance") {
    if (!authorized(req)) return send(res, 401, { error: "a valid bearer token is required" });
    if (req.method === "PUT" || req.method === "POST") maintenance = true;
    else if (req.method === "DELETE") maintenance = false;
    else if (req.method !== "GET") return send(res, 405, { error: "use GET, PUT or DELETE" });
    return send(res, 200, { maintenance });
  }
  if (maintenance) return send(res, 503, { error: "down for maintenance" });
  return send(res, 404, { error: `no route for ${req.method} ${path}` });
}

const server = http.createServer((req, res) => {
  route(req, res).catch((err: Error) => send(res, 500, { error: err.message }));
});

server.listen(port, host, () => {
  console.log(`sample-app ${version} listening on http://${host}:${port}`);
});

for (const signal of ["SIGTERM", "SIGINT"] as const) {
  process.on(signal, () => {
    server.close(() => {
      void pool?.end().finally(() => process.exit(0));
      if (!pool) process.exit(0);
    });
  });
}
