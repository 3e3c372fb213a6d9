/* global fetch */
// ROLE=store: answers /ready with 200 once READY_AFTER_MS have passed since start (503 before).
// ROLE=edge: answers / with what UPSTREAM's /health says, as a proxy in front of the app would.
// Every role logs its start and, with STORE_TOKEN set, that it has one (never the value).
import http from "node:http";

const role = process.env.ROLE ?? "store";
const port = Number(process.env.PORT);
const readyAt = Date.now() + Number(process.env.READY_AFTER_MS ?? 0);
const version = process.env.SERVICE_VERSION;

const server = http.createServer(async (req, res) => {
  const send = (status, body) => {
    res.writeHead(status, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  };
  if (req.url === "/ready") {
    return Date.now() >= readyAt ? send(200, { role, version }) : send(503, { role, starting: true });
  }
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
