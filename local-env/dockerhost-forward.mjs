// One half of the PostgreSQL forwarder of local-env/dockerhost.sh: bytes in both directions,
// nothing read or kept. A unix socket joins the two halves across the network namespaces.
//
//   node dockerhost-forward.mjs unix <socket path> <host:port> <pidfile>   listen on the socket
//   node dockerhost-forward.mjs tcp <host:port> <socket path> <pidfile>    listen on host:port
import fs from "node:fs";
import net from "node:net";
import { setTimeout } from "node:timers";

const [mode, listen, target, pidfile] = process.argv.slice(2);
if (!["unix", "tcp"].includes(mode) || !listen || !target || !pidfile) {
  console.error("usage: dockerhost-forward.mjs unix|tcp <listen> <target> <pidfile>");
  process.exit(2);
}
const hostPort = (s) => ({
  host: s.slice(0, s.lastIndexOf(":")),
  port: Number(s.slice(s.lastIndexOf(":") + 1)),
});
const connect = () => (mode === "unix" ? net.connect(hostPort(target)) : net.connect({ path: target }));

const server = net.createServer((client) => {
  const upstream = connect();
  client.pipe(upstream).pipe(client);
  const close = () => {
    client.destroy();
    upstream.destroy();
  };
  client.on("error", close);
  upstream.on("error", close);
});
server.on("error", (err) => {
  console.error(`forwarder ${listen}: ${err.message}`);
  process.exit(1);
});
const ready = () => fs.writeFileSync(pidfile, `${process.pid}\n`);
if (mode === "unix") {
  fs.rmSync(listen, { force: true });
  server.listen(listen, () => {
    fs.chmodSync(listen, 0o600);
    ready();
  });
} else {
  server.listen(hostPort(listen).port, hostPort(listen).host, ready);
}
const stop = () => {
  server.close(() => process.exit(0));
  setTimeout(() => process.exit(0), 500).unref();
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
