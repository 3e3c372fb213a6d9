// Bundles the service and its dependencies into one file, so the image needs nothing but `node`.
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
  // ws can use optional native helpers; its pure JS paths are what the image runs.
  external: ["pg-native", "bufferutil", "utf-8-validate"],
  logLevel: "warning",
});
console.log("sample-app bundled to dist/server.js");
