// Bundles the service and mysql2 into one file, so the image needs nothing but `node`.
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
  logLevel: "warning",
});
console.log("terp bundled to dist/server.js");
