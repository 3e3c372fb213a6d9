// Warungin POS of the example, small on purpose: one image whose ROLE picks the service, the eight
// of the runbook's `docker compose ps` less the database, which is the stack's own PostgreSQL.
import { startBackend } from "./backend";
import { role } from "./http";
import { startCache, startCloudflared, startFrontend, startLoki, startNginx, startPromtail } from "./support";

const roles: Record<string, () => void> = {
  backend: startBackend,
  frontend: startFrontend,
  nginx: startNginx,
  redis: startCache,
  loki: startLoki,
  promtail: startPromtail,
  cloudflared: startCloudflared,
};

const start = roles[role];
if (!start) {
  console.error(`FATAL unknown ROLE ${role}; use one of ${Object.keys(roles).join(", ")}`);
  process.exit(2);
}
start();
