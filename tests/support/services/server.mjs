/* global fetch, setTimeout */
// ROLE=store: answers /ready with 200 once READY_AFTER_MS have passed since start (503 before).
// ROLE=edge: answers / with what UPSTREAM's /health says, as a proxy in front of the app would.
// ROLE=job: a job a smoke step runs with GET /tick; from tick TICK_ERROR_FROM on it logs an ERROR
// line (and still answers 200), as a job that breaks some time after a release would. Every other
// answer waits DELAY_MS first, as a slower release would.
// Every role logs its start and, with STORE_TOKEN set, that it has one (never the value).
import http from "node:http";

const role = process.env.ROLE ?? "store";
const port = Number(process.env.PORT);
const readyAt = Date.now() + Number(process.env.READY_AFTER_MS ?? 0);
const version = process.env.SERVICE_VERSION;
const delayMs = Number(process.env.DELAY_MS ?? 0);
const errorFrom = Number(process.env.TICK_ERROR_FROM ?? Infinity);
let ticks = 0;

const server = http.createServer(async (req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.url === "/ready") {
    return Date.now() >= readyAt ? send(200, { role, version }) : send(503, { role, starting: true });
  }
  if (role === "job" && req.url === "/tick") {
    ticks++;
    if (ticks >= errorFrom) console.log(`ERROR job tick ${ticks} failed: the nightly reset did not finish`);
    else console.log(`job tick ${ticks} done`);
    return send(200, { role, version, ticks });
  }
  if (role === "job" && req.url === "/ticks") return send(200, { role, version, ticks });
  if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
  if (role === "edge") {
    try {
      const upstream = await fetch(`${process.env.UPSTREAM}/health`);
      return send(upstream.status, { role, version, upstream: await upstream.json() });
    } catch (err) {
      return send(502, { role, error: String(err) });
    }
  }
  return send(200, { role, version, token: Boolean(process.env.STORE_TOKEN) });
});
server.listen(port, "127.0.0.1", () => console.log(`${role} ${version} listening on ${port}`));
process.on("SIGTERM", () => server.close(() => process.exit(0)));
