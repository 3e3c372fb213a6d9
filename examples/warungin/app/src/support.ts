// The services around the backend: the frontend's login page, nginx in front of both, a cache
// standing in for redis, a log store standing in for loki with promtail shipping to it, and a
// tunnel standing in for cloudflared. Each is what the runbook's checks reach, no more.
import { forward, HttpError, readBody, readJson, send, serve, version } from "./http";

const need = (name: string): string => {
  const value = process.env[name];
  if (!value) {
    console.error(`FATAL ${name} is not set`);
    process.exit(2);
  }
  return value;
};

/** The login page the runbook's "curl -s http://<server> | head -20" looks for. */
export function startFrontend(): void {
  const page = `<!DOCTYPE html>
<html lang="id"><head><meta charset="utf-8"><title>Warungin POS</title></head>
<body><h1>Warungin POS</h1><form method="post" action="/api/auth/login">
<label>Email <input name="email" type="email"></label>
<label>Password <input name="password" type="password"></label>
<button>Masuk</button></form><footer>v${version}</footer></body></html>
`;
  serve(async (_req, res) => send(res, 200, page, "text/html; charset=utf-8"));
}

/** nginx: /api and /admin go to the backend, everything else to the frontend. */
export function startNginx(): void {
  const backend = need("BACKEND_URL");
  const frontend = need("FRONTEND_URL");
  serve(async (req, res) => {
    const url = req.url ?? "/";
    if (url === "/nginx-health") return send(res, 200, { status: "ok" });
    await forward(req, res, url.startsWith("/api/") || url.startsWith("/admin/") ? backend : frontend);
  });
}

/** cloudflared: the public side of the tunnel, passing everything to nginx. */
export function startCloudflared(): void {
  const origin = need("ORIGIN_URL");
  serve(async (req, res) => {
    if (req.url === "/ready") {
      const up = await fetch(`${origin}/nginx-health`).then(
        (r) => r.ok,
        () => false,
      );
      return send(res, up ? 200 : 503, { origin, connected: up });
    }
    await forward(req, res, origin);
  });
}

/** redis: keys with a time to live, over HTTP (GET /cache/<key>, PUT /cache/<key>?ttl=<s>). */
export function startCache(): void {
  const entries = new Map<string, { value: Buffer; expires: number }>();
  serve(async (req, res) => {
    const url = new URL(req.url ?? "/", "http://cache");
    if (url.pathname === "/ping") return send(res, 200, "PONG", "text/plain");
    const key = /^\/cache\/(.+)$/.exec(url.pathname)?.[1];
    if (!key) throw new HttpError(404, "use /ping or /cache/<key>");
    if (req.method === "PUT") {
      const ttl = Number(url.searchParams.get("ttl") ?? "60");
      entries.set(key, { value: await readBody(req), expires: Date.now() + ttl * 1000 });
      return send(res, 204);
    }
    const entry = entries.get(key);
    if (!entry || entry.expires < Date.now()) {
      entries.delete(key);
      return send(res, 404, { error: "no such key" });
    }
    send(res, 200, entry.value.toString("utf8"), "application/json");
  });
}

/** loki: keeps the lines pushed to it and says how many it has. */
export function startLoki(): void {
  let lines = 0;
  serve(async (req, res) => {
    if (req.url === "/ready") return send(res, 200, "ready", "text/plain");
    if (req.method === "POST" && req.url === "/loki/api/v1/push") {
      const { streams } = (await readJson(req)) as { streams?: { values?: unknown[] }[] };
      if (!Array.isArray(streams)) throw new HttpError(400, "streams is required");
      lines += streams.reduce((n, s) => n + (Array.isArray(s.values) ? s.values.length : 0), 0);
      return send(res, 204);
    }
    if (req.url === "/loki/api/v1/lines") return send(res, 200, { lines });
    throw new HttpError(404, `no route for ${req.method} ${req.url}`);
  });
}

/** promtail: pushes a line to loki every few seconds; ready once a push has landed. */
export function startPromtail(): void {
  const loki = need("LOKI_URL");
  let pushed = 0;
  let failing = false;
  const push = async () => {
    const line = `promtail ${version} push ${pushed + 1}`;
    try {
      const r = await fetch(`${loki}/loki/api/v1/push`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          streams: [{ stream: { job: "warungin" }, values: [[`${Date.now()}000000`, line]] }],
        }),
      });
      if (r.status !== 204) throw new Error(`status ${r.status}`);
      pushed += 1;
      if (failing) console.log(`promtail: ${loki} takes pushes again`);
      failing = false;
    } catch (err) {
      if (!failing) console.warn(`WARN promtail: push to ${loki} failed: ${(err as Error).message}`);
      failing = true;
    }
  };
  void push();
  const timer = setInterval(() => void push(), Number(process.env.PUSH_INTERVAL_MS ?? "5000"));
  serve(
    async (req, res) => {
      if (req.url === "/ready") return send(res, pushed > 0 ? 200 : 503, { pushed });
      throw new HttpError(404, "use /ready");
    },
    async () => clearInterval(timer),
  );
}
