// Bundles the service and its one dependency (pg) into one file, so the image needs nothing but
// `node`: the step the runbook does with `npm install --production` and `npx prisma generate`.
import { build } from "esbuild";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
await build({
  entryPoints: [path.join(here, "src", "server.ts")],
  outfile: path.join(here, "dist", "server.js"),
  bundle: true,
  platform: "node",
  target: "node20",
  // pg can use an optional native binding; the pure JS client is what the image runs.
  external: ["pg-native"],
  logLevel: "warning",
});
console.log("dj-system bundled to dist/server.js");
