#!/usr/bin/env node
// Checks a provider schema against the npm SDK that will talk to it.
//
//   node toolchain/check-sdk-compat.mjs NAME SCHEMA_JSON [--used Provider,Role,...] [--quiet]
//
// NAME is docker or postgresql (any @pulumi/NAME bridged SDK works). The SDK is read from
// node_modules/@pulumi/NAME of this repository: its generated JavaScript says what goes on
// the wire (the resource token in `__pulumiType`, every `resourceInputs["prop"]` it sends,
// the properties it reads back, the `Missing required property` checks, the invoke tokens
// and their arguments, the config keys); its .d.ts files give the shape of each property
// (scalar, list, map or object) and the fields of nested object types.
//
// For every resource, function and the Provider it reports what our schema lacks:
//   - a token the SDK uses that the schema does not have;
//   - an input the SDK sends that is not an input in the schema (it would be dropped or rejected);
//   - an output the SDK reads that the schema does not produce;
//   - an input the schema requires that the SDK lets a program omit;
//   - a shape that differs (e.g. the SDK sends one object where the schema expects a list: the
//     bridge's MaxItemsOne flattening), recursively through nested object types.
// The "used" resources (default: the ones this project's components create) must match exactly;
// everything else is listed for information. Exit 0: used resources match; 1: mismatch; 2: usage.
import fs from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

// What components/ creates, per package. "Provider" means the package's provider resource.
const USED = {
  postgresql: ["Provider", "Role", "Grant", "DefaultPrivileges"],
  docker: ["Provider", "Container", "RemoteImage", "Volume", "Network"],
};
// Tokens the SDK has that a Terraform bridge build cannot provide, with the reason.
const KNOWN_ABSENT = {
  "docker:index/image:Image":
    "native resource of Pulumi's docker provider (Go code in pulumi-docker, not a Terraform resource); " +
    "a bridge build cannot have it",
};

function usage(msg) {
  if (msg) console.error(`check-sdk-compat: ${msg}`);
  console.error("usage: check-sdk-compat.mjs NAME SCHEMA_JSON [--used Provider,Role,...] [--quiet]");
  process.exit(2);
}

const argv = process.argv.slice(2);
let usedArg = null;
let quiet = false;
const positional = [];
for (let i = 0; i < argv.length; i++) {
  if (argv[i] === "--used") usedArg = argv[++i];
  else if (argv[i] === "--quiet") quiet = true;
  else if (argv[i].startsWith("--")) usage(`unknown option ${argv[i]}`);
  else positional.push(argv[i]);
}
if (positional.length !== 2) usage();
const [pkgName, schemaPath] = positional;

const repoDir = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const sdkDir = path.join(repoDir, "node_modules", "@pulumi", pkgName);
if (!fs.existsSync(path.join(sdkDir, "package.json"))) usage(`no SDK at ${sdkDir} (npm ci first)`);
const sdkVersion = JSON.parse(fs.readFileSync(path.join(sdkDir, "package.json"), "utf8")).version;
let schema;
try {
  schema = JSON.parse(fs.readFileSync(schemaPath, "utf8"));
} catch (e) {
  usage(`cannot read ${schemaPath}: ${e.message}`);
}
if (schema.name !== pkgName) usage(`${schemaPath} is the schema of '${schema.name}', not '${pkgName}'`);
const used = new Set(usedArg !== null ? usedArg.split(",").filter(Boolean) : (USED[pkgName] ?? []));

// ------------------------------------------------------------------ the SDK's .d.ts types

// Interfaces of a .d.ts file: "Ns.Name" -> { prop -> { optional, type } }. Namespaces
// (types/input.d.ts nests non-index modules) become dotted prefixes.
function parseInterfaces(file) {
  const out = new Map();
  if (!fs.existsSync(file)) return out;
  const stack = []; // { kind: "ns" | "if" | "other", name }
  let current = null;
  let inComment = false;
  let pending = null; // a property whose type spans several lines: { name, optional, text }
  const balance = (t) => {
    const s = t.replace(/=>/g, "");
    return (s.match(/[{<(]/g) || []).length - (s.match(/[}>)]/g) || []).length;
  };
  const addProp = (name, optional, text) =>
    current.set(name, { optional, type: text.replace(/;$/, "").trim() });
  for (const raw of fs.readFileSync(file, "utf8").split("\n")) {
    const line = raw.trim();
    if (inComment) {
      if (line.includes("*/")) inComment = false;
      continue;
    }
    if (line.startsWith("/*")) {
      if (!line.includes("*/")) inComment = true;
      continue;
    }
    if (line.startsWith("//") || line === "") continue;
    if (pending) {
      pending.text += ` ${line}`;
      if (balance(pending.text) <= 0) {
        addProp(pending.name, pending.optional, pending.text);
        pending = null;
      }
      continue;
    }
    let m;
    if ((m = /^export (?:declare )?namespace (\w+) \{$/.exec(line))) {
      stack.push({ kind: "ns", name: m[1] });
      continue;
    }
    if ((m = /^export interface (\w+)(?:<[^>]*>)? \{$/.exec(line))) {
      const ns = stack.filter((s) => s.kind === "ns").map((s) => s.name);
      const name = [...ns, m[1]].join(".");
      current = new Map();
      out.set(name, current);
      stack.push({ kind: "if", name });
      continue;
    }
    if (line === "}" || line === "};") {
      const top = stack.pop();
      if (top?.kind === "if") current = null;
      continue;
    }
    if (current && stack.at(-1)?.kind === "if" && (m = /^(?:readonly )?"?(\w+)"?(\?)?: (.*)$/.exec(line))) {
      if (balance(m[3]) > 0) pending = { name: m[1], optional: m[2] === "?", text: m[3] };
      else addProp(m[1], m[2] === "?", m[3]);
      continue;
    }
    // Any other line that opens a block (a class, a function body) is tracked so its "}" pops it.
    const opens = (line.match(/\{/g) || []).length - (line.match(/\}/g) || []).length;
    for (let i = 0; i < opens; i++) stack.push({ kind: "other" });
  }
  return out;
}

// A TypeScript property type, reduced to a shape:
//   { kind: "scalar" } | { kind: "array", elem } | { kind: "map", elem } | { kind: "object", ref }
function tsShape(type) {
  let t = type.trim();
  for (;;) {
    const before = t;
    t = t.replace(/\s*\|\s*undefined$/, "").trim();
    let m;
    if ((m = /^pulumi\.(?:Input|Output)<(.*)>$/.exec(t))) t = m[1].trim();
    if ((m = /^\((.*)\)$/.exec(t))) t = m[1].trim();
    if (t === before) break;
  }
  if (t.endsWith("[]")) return { kind: "array", elem: tsShape(t.slice(0, -2)) };
  let m;
  if ((m = /^\{\s*\[key: string\]: (.*);?\s*\}$/.exec(t)))
    return { kind: "map", elem: tsShape(m[1].replace(/;$/, "")) };
  if ((m = /^(?:inputs|outputs)\.([\w.]+)$/.exec(t))) return { kind: "object", ref: m[1] };
  return { kind: "scalar", ts: t };
}

// ------------------------------------------------------------------- our schema's types

function schemaShape(spec) {
  if (!spec) return { kind: "missing" };
  if (spec.$ref) {
    const ref = spec.$ref;
    if (ref.startsWith("#/types/")) {
      const tok = decodeURIComponent(ref.slice("#/types/".length));
      const t = schema.types?.[tok];
      if (t && t.type === "object") return { kind: "object", ref: tok };
      return { kind: "scalar", enum: tok }; // enum types are strings/numbers on the wire
    }
    return { kind: "scalar", ref }; // pulumi.json#/Any, /Archive, ...
  }
  if (spec.oneOf) return { kind: "scalar", oneOf: true };
  if (spec.type === "array") return { kind: "array", elem: schemaShape(spec.items) };
  if (spec.type === "object") return { kind: "map", elem: schemaShape(spec.additionalProperties ?? {}) };
  return { kind: "scalar", type: spec.type };
}

const show = (s) =>
  s.kind === "array" ? `list of ${show(s.elem)}` : s.kind === "map" ? `map of ${show(s.elem)}` : s.kind;

// compareShape(where, sdkShape, schemaSpec, sdkTypes, problems, seen): shape and, for
// objects, field by field (names, required-ness, shapes).
let fieldsCompared = 0;
function compareShape(where, sdk, spec, sdkTypes, problems, seen) {
  fieldsCompared++;
  const ours = schemaShape(spec);
  if (sdk.kind !== ours.kind) {
    // A scalar the SDK types as `any` (pulumi.json#/Any) accepts anything.
    if (ours.kind === "scalar" && ours.ref === "pulumi.json#/Any") return;
    if (sdk.kind === "scalar" && /^any$/.test(sdk.ts ?? "")) return;
    problems.push(`${where}: SDK sends ${show(sdk)}, schema expects ${show(ours)}`);
    return;
  }
  if (sdk.kind === "array" || sdk.kind === "map") {
    compareShape(
      `${where}[]`,
      sdk.elem,
      spec.items ?? spec.additionalProperties ?? {},
      sdkTypes,
      problems,
      seen,
    );
    return;
  }
  if (sdk.kind !== "object") return;
  const key = `${sdk.ref} ${ours.ref}`;
  if (seen.has(key)) return;
  seen.add(key);
  const iface = sdkTypes.get(sdk.ref);
  const type = schema.types[ours.ref];
  if (!iface) {
    problems.push(`${where}: SDK type ${sdk.ref} not found in its .d.ts (check script)`);
    return;
  }
  for (const [prop, p] of iface) {
    if (!type.properties?.[prop]) {
      problems.push(`${where}.${prop}: SDK field not in schema type ${ours.ref}`);
      continue;
    }
    compareShape(`${where}.${prop}`, tsShape(p.type), type.properties[prop], sdkTypes, problems, seen);
  }
  for (const req of type.required ?? []) {
    const p = iface.get(req);
    if (p && p.optional) problems.push(`${where}.${req}: schema requires it, SDK lets it be omitted`);
  }
}

// --------------------------------------------------------------- the SDK's JavaScript

// One generated class or function file: what it sends and reads.
function parseJs(file) {
  const src = fs.readFileSync(file, "utf8");
  const res = { file: path.relative(sdkDir, file) };
  let m;
  if ((m = /__pulumiType = '([^']+)'/.exec(src))) {
    res.kind = "resource";
    res.token = m[1];
    res.className = (/^class (\w+) extends pulumi\.(?:Custom|Provider|Component)Resource/m.exec(src) ||
      [])[1];
    res.inputs = new Set();
    res.outputs = new Set();
    res.state = new Set();
    for (const a of src.matchAll(/resourceInputs\["(\w+)"\] = ([^;]*);/g)) {
      if (/^state\b|\bstate\?\./.test(a[2])) res.state.add(a[1]);
      else if (/^undefined\b/.test(a[2])) res.outputs.add(a[1]);
      else res.inputs.add(a[1]);
    }
    res.required = new Set([...src.matchAll(/Missing required property '(\w+)'/g)].map((x) => x[1]));
    res.secretOutputs = new Set(
      ((/additionalSecretOutputs: \[([^\]]*)\]/.exec(src) || [])[1] || "")
        .split(",")
        .map((s) => s.trim().replace(/"/g, ""))
        .filter(Boolean),
    );
    return res;
  }
  const invokes = [...src.matchAll(/invoke(?:Output|SingleOutput|Single)?\("([^"]+)", \{([^}]*)\}/g)];
  if (invokes.length) {
    res.kind = "function";
    res.token = invokes[0][1];
    res.args = new Set();
    for (const inv of invokes) for (const k of inv[2].matchAll(/"(\w+)":/g)) res.args.add(k[1]);
    return res;
  }
  if (/__config\.get/.test(src)) {
    res.kind = "config";
    res.keys = new Set(
      [...src.matchAll(/__config\.get(?:Object|Boolean|Number)?\("(\w+)"\)/g)].map((x) => x[1]),
    );
    return res;
  }
  return null;
}

function jsFiles(dir) {
  const out = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) {
      if (e.name !== "types" && e.name !== "node_modules") out.push(...jsFiles(p));
    } else if (e.name.endsWith(".js")) out.push(p);
  }
  return out;
}

// ---------------------------------------------------------------------- the check

const inputTypes = parseInterfaces(path.join(sdkDir, "types", "input.d.ts"));
const results = []; // { label, token, used, status: ok|mismatch|absent|known-absent, problems }

for (const file of jsFiles(sdkDir).sort()) {
  const js = parseJs(file);
  if (!js) continue;
  const dts = parseInterfaces(file.replace(/\.js$/, ".d.ts"));
  const problems = [];
  if (js.kind === "config") {
    const vars = schema.config?.variables ?? {};
    for (const k of js.keys) if (!vars[k]) problems.push(`config key '${pkgName}:${k}' not in schema config`);
    results.push({
      label: `config (${js.file})`,
      token: "config",
      used: false,
      problems,
      counts: `${js.keys.size} keys`,
    });
    continue;
  }
  if (js.kind === "function") {
    const fn = schema.functions?.[js.token];
    const label = path.basename(js.file, ".js");
    if (!fn) {
      results.push({
        label,
        token: js.token,
        used: false,
        absent: true,
        problems: ["function not in schema"],
      });
      continue;
    }
    const inputs = fn.inputs?.properties ?? {};
    const argIface = [...dts.entries()].find(([n]) => /Args$/.test(n) && !/OutputArgs$/.test(n))?.[1];
    for (const a of js.args) {
      if (!inputs[a]) problems.push(`argument '${a}' not in schema`);
      else if (argIface?.get(a))
        compareShape(
          `argument ${a}`,
          tsShape(argIface.get(a).type),
          inputs[a],
          inputTypes,
          problems,
          new Set(),
        );
    }
    for (const req of fn.inputs?.required ?? [])
      if (argIface && argIface.get(req)?.optional)
        problems.push(`argument '${req}': schema requires it, SDK optional`);
    const resIface = [...dts.entries()].find(([n]) => /Result$/.test(n))?.[1];
    const outs = fn.outputs?.properties ?? {};
    for (const [k] of resIface ?? []) if (!outs[k]) problems.push(`result field '${k}' not in schema`);
    results.push({ label, token: js.token, used: false, problems, counts: `${js.args.size} arguments` });
    continue;
  }
  const isProvider = js.token === pkgName;
  const label = isProvider ? "Provider" : js.className;
  const isUsed = used.has(label);
  const spec = isProvider ? schema.provider : schema.resources?.[js.token];
  if (!spec) {
    const why = KNOWN_ABSENT[js.token];
    results.push({
      label,
      token: js.token,
      used: isUsed,
      absent: true,
      known: Boolean(why),
      problems: [why ? `absent: ${why}` : "resource token not in schema"],
    });
    continue;
  }
  const argIface = dts.get(`${label}Args`) ?? new Map();
  const ins = spec.inputProperties ?? {};
  for (const p of js.inputs) {
    if (!ins[p]) {
      problems.push(`input '${p}' not an input in schema`);
      continue;
    }
    const t = argIface.get(p);
    if (t) compareShape(`input ${p}`, tsShape(t.type), ins[p], inputTypes, problems, new Set());
  }
  for (const req of spec.requiredInputs ?? []) {
    if (!js.inputs.has(req)) problems.push(`input '${req}': schema requires it, SDK never sends it`);
    else if (!js.required.has(req) && !isProvider)
      problems.push(`input '${req}': schema requires it, SDK lets a program omit it`);
  }
  if (!isProvider) {
    const props = spec.properties ?? {};
    const stateIface = dts.get(`${label}State`) ?? new Map();
    for (const p of new Set([...js.outputs, ...js.state])) {
      if (!props[p]) problems.push(`output '${p}' not produced by schema`);
    }
    const stateIn = spec.stateInputs?.properties ?? {};
    for (const p of js.state) {
      if (!stateIn[p]) problems.push(`state '${p}' not in schema stateInputs`);
      else if (stateIface.get(p) && !js.inputs.has(p))
        compareShape(
          `output ${p}`,
          tsShape(stateIface.get(p).type),
          stateIn[p],
          inputTypes,
          problems,
          new Set(),
        );
    }
  }
  const counts = `${js.inputs.size} inputs, ${new Set([...js.outputs, ...js.state]).size} outputs`;
  results.push({ label, token: js.token, used: isUsed, problems, counts });
}

// Provider methods the SDK calls (terraformConfig).
const providerJs = fs.readFileSync(path.join(sdkDir, "provider.js"), "utf8");
for (const m of providerJs.matchAll(/runtime\.call\("([^"]+)"/g)) {
  const ok = Object.values(schema.provider?.methods ?? {}).includes(m[1]);
  results.push({
    label: `Provider method ${m[1].split("/").pop()}`,
    token: m[1],
    used: false,
    problems: ok ? [] : ["provider method not in schema"],
  });
}

// ---------------------------------------------------------------------------- report

const tokensInSdk = new Set(results.map((r) => r.token));
const extra = [
  ...Object.keys(schema.resources ?? {}).filter((t) => !tokensInSdk.has(t)),
  ...Object.keys(schema.functions ?? {}).filter(
    (t) => !tokensInSdk.has(t) && !/\/(?:terraformConfig)$/.test(t),
  ),
];
const usedBad = results.filter((r) => r.used && r.problems.length);
const usedMissing = [...used].filter((u) => !results.some((r) => r.label === u));
const count = (f) => results.filter(f).length;

console.log(
  `check-sdk-compat: @pulumi/${pkgName}@${sdkVersion} against ${schemaPath} ` +
    `(${Object.keys(schema.resources ?? {}).length} resources, ${Object.keys(schema.functions ?? {}).length} functions)`,
);
for (const r of results) {
  const tag = r.problems.length ? (r.known ? "ABSENT (expected)" : r.absent ? "ABSENT" : "MISMATCH") : "ok";
  if (quiet && !r.problems.length && !r.used) continue;
  const counts = r.counts ? ` (${r.counts})` : "";
  console.log(`  ${r.used ? "[used] " : ""}${r.label} (${r.token}): ${tag}${counts}`);
  for (const p of r.problems) console.log(`      - ${p}`);
}
for (const u of usedMissing) console.log(`  [used] ${u}: not found in the SDK (check the --used list)`);
if (extra.length) console.log(`  in our schema but not in the SDK (harmless): ${extra.join(", ")}`);
console.log(
  `  summary: ${count((r) => !r.problems.length)} ok, ` +
    `${count((r) => r.problems.length && !r.absent)} mismatched, ` +
    `${count((r) => r.absent && !r.known)} absent, ${count((r) => r.known)} absent as expected; ` +
    `${fieldsCompared} property shapes compared (nested fields included); ` +
    `used: ${usedBad.length || usedMissing.length ? "MISMATCH" : "all match"} (${[...used].join(", ")})`,
);
process.exit(usedBad.length || usedMissing.length ? 1 : 0);
