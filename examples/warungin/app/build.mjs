// Bundles the services and their one dependency (pg) into one file, so the image needs nothing but
// `node`: the part of the runbook's `docker compose build` that happens before the image. Every
// service's image is built from this folder, some at the same time, so the bundle is replaced in
// one rename: a build never sends half of it.
import { build } from "esbuild";
import fs from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";

const here = path.dirname(fileURLToPath(import.meta.url));
const out = path.join(here, "dist", "server.js");
const result = await build({
  entryPoints: [path.join(here, "src", "server.ts")],
  outfile: out,
  bundle: true,
  platform: "node",
  target: "node20",
  // pg can use an optional native binding; the pure JS client is what the image runs.
  external: ["pg-native"],
  logLevel: "warning",
  write: false,
});
fs.mkdirSync(path.dirname(out), { recursive: true });
const partial = `${out}.${process.pid}.tmp`;
fs.writeFileSync(partial, result.outputFiles[0].contents);
fs.renameSync(partial, out);
console.log("warungin bundled to dist/server.js");
