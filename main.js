// The entry point `pulumi` runs. The program is written in TypeScript and handed to the engine as
// JavaScript: its sources are transpiled into bin/program/ whenever one of them changed since the
// last build, so a `pulumi preview` of an unchanged checkout starts plain JavaScript and no
// TypeScript compiler runs. Types are not checked here; `npm run typecheck` and CI check them.
"use strict";
const crypto = require("node:crypto");
const fs = require("node:fs");
const path = require("node:path");

const ROOT = __dirname;
const OUT = path.join(ROOT, "bin", "program");
const STAMP = ".sources";
/** What index.ts can reach; deploy/, tests/ and scripts/ never run inside the engine. */
const SOURCES = ["index.ts", "config", "engines", "components", "rollout"];

function sourceFiles() {
  const files = [];
  const walk = (rel) => {
    const abs = path.join(ROOT, rel);
    if (fs.statSync(abs).isDirectory()) {
      for (const entry of fs.readdirSync(abs).sort()) walk(path.join(rel, entry));
    } else if (rel.endsWith(".ts") && !rel.endsWith(".d.ts")) {
      files.push(rel);
    }
  };
  SOURCES.forEach(walk);
  return files;
}

/** Names, sizes and modification times of the sources: a build is current when this matches its own. */
function fingerprint(files) {
  const hash = crypto.createHash("sha256");
  for (const rel of files) {
    const s = fs.statSync(path.join(ROOT, rel));
    hash.update(`${rel}\0${s.size}\0${s.mtimeMs}\n`);
  }
  return hash.digest("hex");
}

function readStamp() {
  try {
    return fs.readFileSync(path.join(OUT, STAMP), "utf8");
  } catch {
    return undefined;
  }
}

/** Transpiles every source into a fresh folder and swaps it in, so a reader never sees half a build. */
function build(files, stamp) {
  const ts = require("typescript");
  const { config, error } = ts.readConfigFile(path.join(ROOT, "tsconfig.json"), ts.sys.readFile);
  if (error) throw new Error(`tsconfig.json: ${ts.flattenDiagnosticMessageText(error.messageText, "\n")}`);
  const { options } = ts.convertCompilerOptionsFromJson(config.compilerOptions, ROOT);
  const compilerOptions = { ...options, sourceMap: false };
  fs.mkdirSync(path.dirname(OUT), { recursive: true });
  const tmp = fs.mkdtempSync(path.join(path.dirname(OUT), ".program-"));
  for (const rel of files) {
    const fileName = path.join(ROOT, rel);
    const { outputText } = ts.transpileModule(fs.readFileSync(fileName, "utf8"), {
      compilerOptions,
      fileName,
    });
    const target = path.join(tmp, rel.replace(/\.ts$/, ".js"));
    fs.mkdirSync(path.dirname(target), { recursive: true });
    fs.writeFileSync(target, outputText);
  }
  fs.writeFileSync(path.join(tmp, STAMP), stamp);
  fs.rmSync(OUT, { recursive: true, force: true });
  try {
    fs.renameSync(tmp, OUT);
  } catch (err) {
    // Another `pulumi` started at the same moment and swapped in its build of the same sources.
    fs.rmSync(tmp, { recursive: true, force: true });
    if (readStamp() !== stamp) throw err;
  }
}

const files = sourceFiles();
const stamp = fingerprint(files);
if (readStamp() !== stamp) build(files, stamp);
module.exports = require(path.join(OUT, "index.js"));
