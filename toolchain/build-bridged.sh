#!/usr/bin/env bash
# Build a bridged provider plugin (docker or postgresql) from the project's own Go module.
#
#   toolchain/build-bridged.sh NAME OUTDIR
#
# Writes OUTDIR/pulumi-resource-NAME for the version pinned in toolchain/versions.json.
#
# Why our own module: Pulumi's provider modules github.com/pulumi/pulumi-postgresql/provider/v3
# and github.com/pulumi/pulumi-docker/provider/v5 are refused by the Go module proxy this
# project's machines reach (403 "This module version is not available." for the release
# commits, their pseudo-versions and the release numbers alike), so the plugins are built
# from toolchain/go/providers/NAME instead: the Terraform bridge
# (github.com/pulumi/pulumi-terraform-bridge/v3) around the upstream Terraform provider, both
# served by the proxy, with resource tokens mapped the way @pulumi/NAME expects.
# Details, versions and figures: docs/toolchain-bridged.md.
#
# Steps (each prints its wall time and peak RSS):
#   1. copy toolchain/go/providers/NAME into a temp work dir and check that its go.mod
#      builds the upstream pinned in versions.json (plugins.NAME.upstream);
#   2. download the modules both programs need, checked against the committed go.sum
#      (-mod=readonly: go.mod/go.sum are never rewritten, the checksum database is not asked);
#   3. build the schema generator cmd/pulumi-tfgen-NAME and run it: it writes schema.json and
#      bridge-metadata.json into cmd/pulumi-resource-NAME, which embeds them;
#   4. check the schema against the npm SDK in node_modules/@pulumi/NAME
#      (toolchain/check-sdk-compat.mjs); a mismatch in a resource the project uses fails the build;
#   5. build cmd/pulumi-resource-NAME with the version stamped in (-X MODULE.Version=VERSION);
#   6. check `-version`, move the binary into OUTDIR (only on success) and write a stamp
#      beside it, so that a second run with the same inputs does nothing.
#
# Environment:
#   FORCE=1                  rebuild even when OUTDIR holds a binary built from the same inputs
#   KEEP_WORK=1              keep the temp work dir (its path is printed)
#   BRIDGED_WORK_ROOT=DIR    parent of the temp work dir (default: ${TMPDIR:-/tmp})
#   BRIDGED_VERSIONS_JSON    read this file instead of toolchain/versions.json (tests)
#   BRIDGED_SKIP_SDK_CHECK=1 skip step 4 (e.g. no node_modules yet); says so loudly
# Go's own variables (GOPROXY, GOMODCACHE, GOCACHE, ...) are passed through; GOFLAGS is set.
set -euo pipefail

# Everything runs inside main, so bash has read the whole file before anything starts:
# editing this script while a long build runs cannot derail that build.
main() {
  local script_dir repo_dir versions_json
  script_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
  repo_dir="$(dirname "$script_dir")"
  versions_json="${BRIDGED_VERSIONS_JSON:-${script_dir}/versions.json}"

  [[ $# -eq 2 ]] || usage
  name="$1"
  local outdir="$2"
  local tags="osusergo,grpcnotrace"
  case "$name" in
    postgresql) ;;
    # no_compose leaves out the upstream's docker-compose resource (plugin framework, not
    # served by this bridge program and not in @pulumi/docker 5.0.0) and its large dependencies.
    docker) tags="${tags},no_compose" ;;
    *) error "unknown provider '$name'"; usage ;;
  esac

  if ! command -v go >/dev/null && [[ -x /usr/local/go/bin/go ]]; then PATH="$PATH:/usr/local/go/bin"; fi
  command -v go >/dev/null || die "go not found on PATH (/usr/local/go/bin)"
  command -v node >/dev/null || die "node not found on PATH"
  [[ -f "$versions_json" ]] || die "missing $versions_json"

  local src="${script_dir}/go/providers/${name}"
  [[ -f "$src/go.mod" ]] || die "missing ${src}/go.mod"

  local up_module up_ver go_want sdk_dir sdk_version
  version="$(json_get ".plugins.${name}.version" <"$versions_json")"
  up_module="$(json_get ".plugins.${name}.upstream.module" <"$versions_json")"
  up_ver="$(json_get ".plugins.${name}.upstream.goVersion" <"$versions_json")"
  go_want="$(json_get ".go" <"$versions_json")"
  [[ -n "$version" && -n "$up_module" && -n "$up_ver" ]] ||
    die "plugins.${name} in $versions_json lacks version, upstream.module or upstream.goVersion"
  sdk_dir="${repo_dir}/node_modules/@pulumi/${name}"
  sdk_version="$({ json_get ".version" <"${sdk_dir}/package.json"; } 2>/dev/null || true)"

  # The SDK the schema is checked against (step 4) must be there, at the plugin's version.
  if [[ "${BRIDGED_SKIP_SDK_CHECK:-0}" != 1 ]]; then
    [[ -n "$sdk_version" ]] ||
      die "node_modules/@pulumi/${name} is missing: run 'npm ci' first (or BRIDGED_SKIP_SDK_CHECK=1)"
    [[ "$sdk_version" == "$version" ]] ||
      die "node_modules/@pulumi/${name} is ${sdk_version}, the plugin is ${version}: run 'npm ci'"
  fi

  export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false"
  local go_have
  go_have="$(go env GOVERSION)"
  if [[ -n "$go_want" && "$go_have" != "go${go_want}" && "$go_have" != go"${go_want}".* ]]; then
    warn "versions.json asks for Go ${go_want}, found ${go_have}"
  fi

  # go.mod must build the upstream versions.json names: the replace of the upstream's
  # declared module path points at UPSTREAM_MODULE VERSION.
  local mod_json mod_path up_repl bridge_ver
  mod_json="$(go -C "$src" mod edit -json)"
  mod_path="$(json_get .Module.Path <<<"$mod_json")"
  up_repl="$(json_replaces <<<"$mod_json" | awk -v m="$up_module" '$2 == m {print $3}' | head -n1)"
  [[ "$up_repl" == "$up_ver" ]] ||
    die "toolchain/go/providers/${name}/go.mod builds ${up_module}@${up_repl:-?}, versions.json says ${up_ver}"
  bridge_ver="$(json_requires <<<"$mod_json" | awk '$1 == "github.com/pulumi/pulumi-terraform-bridge/v3" {print $2}')"
  local version_var="${mod_path}.Version"

  # --- idempotence: nothing to do when the same inputs already produced OUTDIR/bin ---
  local bin_name="pulumi-resource-${name}" tfgen_name="pulumi-tfgen-${name}"
  local stamp_want stamp_file
  stamp_want="$(
    {
      echo "$name $version $up_module $up_ver $tags $go_have sdk=${sdk_version} skip=${BRIDGED_SKIP_SDK_CHECK:-0}"
      (cd "$src" && find . -type f ! -name schema.json ! -name bridge-metadata.json -print0 |
        LC_ALL=C sort -z | xargs -0 -r sha256sum)
      sha256sum <"${BASH_SOURCE[0]}"
      sha256sum <"${script_dir}/check-sdk-compat.mjs"
    } | sha256sum | cut -d' ' -f1
  )"
  stamp_file="${outdir}/.${bin_name}.stamp"
  if [[ "${FORCE:-0}" != 1 && -x "${outdir}/${bin_name}" && -f "$stamp_file" &&
    "$(cat "$stamp_file")" == "$stamp_want" ]]; then
    step "${name} provider ${version}: ${outdir}/${bin_name} is up to date (FORCE=1 rebuilds)"
    return 0
  fi

  t_start=$(date +%s)
  step "building ${name} provider ${version} ..."
  mkdir -p "${BRIDGED_WORK_ROOT:-${TMPDIR:-/tmp}}"
  work="$(mktemp -d "${BRIDGED_WORK_ROOT:-${TMPDIR:-/tmp}}/build-bridged-${name}.XXXXXX")"
  trap cleanup EXIT

  # --- 1. a copy of the module (schema files get written into it) --------------------
  say "    module: ${mod_path} (toolchain/go/providers/${name})"
  say "    upstream: ${up_module}@${up_ver}; bridge: github.com/pulumi/pulumi-terraform-bridge/v3@${bridge_ver}"
  cp -R "$src" "$work/src"
  chmod -R u+w "$work/src"
  rm -f "$work/src/cmd/${bin_name}/schema.json" "$work/src/cmd/${bin_name}/bridge-metadata.json"
  cd "$work/src"

  # --- 2. dependencies --------------------------------------------------------------
  # `go list -deps` fetches exactly the modules the two programs need, checked against
  # go.sum. -e because the provider's embedded schema does not exist yet; real errors
  # resurface in the builds.
  phase "module download (go list -deps)" \
    go list -e -deps -tags "$tags" -f '{{if false}}{{end}}' "./cmd/${tfgen_name}" "./cmd/${bin_name}" ||
    die "downloading the dependencies failed$(sum_hint)"

  # --- 3. schema ----------------------------------------------------------------------
  local ldflags="-s -w -X ${version_var}=${version}"
  mkdir -p "$work/bin" "$work/out"
  phase "go build ${tfgen_name}" go build -trimpath -tags "$tags" -ldflags "$ldflags" \
    -o "$work/bin/${tfgen_name}" "./cmd/${tfgen_name}" ||
    die "go build of cmd/${tfgen_name} failed$(sum_hint)"
  # --skip-docs: descriptions from the upstream's Markdown are not needed to serve the
  # provider, and finding them would need the upstream's git checkout.
  # shellcheck disable=SC2016 # $1.. belong to the inner sh
  phase "generate schema.json" \
    sh -c '"$1" schema --out "$2" --skip-docs --skip-examples >"$3" 2>&1' _ \
    "$work/bin/${tfgen_name}" "cmd/${bin_name}" "$work/tfgen.log" ||
    { sed 's/^/    | /' "$work/tfgen.log" >&2; die "${tfgen_name} schema failed"; }
  rm -f "cmd/${bin_name}/Pulumi.yaml"
  local schema_json="cmd/${bin_name}/schema.json"
  [[ -s "$schema_json" && -s "cmd/${bin_name}/bridge-metadata.json" ]] ||
    die "${tfgen_name} did not write ${schema_json} and bridge-metadata.json"
  # shellcheck disable=SC2016 # a JavaScript template literal, not a shell expansion
  say "    schema.json: $(stat -c %s "$schema_json") bytes, $(node -e '
    const s = require(process.argv[1]);
    process.stdout.write(`${Object.keys(s.resources || {}).length} resources, ${Object.keys(s.functions || {}).length} functions`);
  ' "$work/src/$schema_json")"

  # --- 4. the npm SDK against the schema ----------------------------------------------
  if [[ "${BRIDGED_SKIP_SDK_CHECK:-0}" == 1 ]]; then
    warn "BRIDGED_SKIP_SDK_CHECK=1: schema NOT checked against @pulumi/${name}"
  else
    # shellcheck disable=SC2016 # $1.. belong to the inner sh
    phase "SDK compatibility (@pulumi/${name}@${sdk_version})" \
      sh -c 'node "$1" "$2" "$3" --quiet >"$4" 2>&1' _ \
      "${script_dir}/check-sdk-compat.mjs" "$name" "$work/src/$schema_json" "$work/compat.txt" || {
      sed 's/^/    | /' "$work/compat.txt" >&2
      die "the schema does not match what @pulumi/${name} ${sdk_version} sends for a resource the project uses"
    }
    sed -n 's/^  summary: /    compat: /p' "$work/compat.txt"
  fi

  # --- 5. the provider ----------------------------------------------------------------
  phase "go build ${bin_name}" go build -trimpath -tags "$tags" -ldflags "$ldflags" \
    -o "$work/out/${bin_name}" "./cmd/${bin_name}" ||
    die "go build of cmd/${bin_name} failed$(sum_hint)"

  # --- 6. check + install -------------------------------------------------------------
  local bin="$work/out/${bin_name}" size reported
  size="$(stat -c %s "$bin")"
  say "    binary: $((size / 1024 / 1024)) MiB (${size} bytes)"
  # tfbridge.Main prints the version for -version and exits.
  reported="$(timeout 10 "$bin" -version 2>/dev/null | head -n1 || true)"
  [[ "$reported" == "$version" || "$reported" == "v$version" ]] ||
    die "${bin_name} -version printed '${reported}', expected ${version} (ldflag -X ${version_var})"
  say "    ${bin_name} -version: ${reported}"
  mkdir -p "$outdir"
  local tmp_dst
  tmp_dst="$(mktemp "${outdir}/.${bin_name}.XXXXXX")"
  cp "$bin" "$tmp_dst"
  chmod 0755 "$tmp_dst"
  mv -f "$tmp_dst" "${outdir}/${bin_name}"
  echo "$stamp_want" >"$stamp_file"
  printf 'name=%s\nversion=%s\nmodule=%s\nupstream=%s@%s\nbridge=%s\ntags=%s\ngo=%s\nsdk=%s\n' \
    "$name" "$version" "$mod_path" "$up_module" "$up_ver" "$bridge_ver" "$tags" "$go_have" "$sdk_version" \
    >"${outdir}/.${bin_name}.info"
  step "${outdir}/${bin_name} (${name} ${version}) done in $(($(date +%s) - t_start))s"
}

# Globals shared with the EXIT trap and helpers.
name="" version="" work="" t_start=0

# Logging (say/step/warn/error/die): progress on stdout, warnings and errors on stderr.
log_name=build-bridged log_fd=1
# shellcheck source-path=SCRIPTDIR source=../scripts/log.sh
source "$(dirname "${BASH_SOURCE[0]}")/../scripts/log.sh"

usage() {
  error "usage: build-bridged.sh NAME OUTDIR   (NAME: docker | postgresql)"
  exit 2
}
# The shared die (scripts/log.sh), plus how long the build had run when it fails after starting.
die() {
  error "$*"
  if [[ -n "$work" && $t_start -gt 0 ]]; then
    error "FAILED: ${name} provider ${version} after $(($(date +%s) - t_start))s"
  fi
  exit 1
}

cleanup() {
  [[ -n "$work" && -d "$work" ]] || return 0
  if [[ "${KEEP_WORK:-0}" == 1 ]]; then
    say "    work dir kept: $work"
  else
    chmod -R u+w "$work" 2>/dev/null || true
    rm -rf "$work"
  fi
}

sum_hint() {
  echo " ('missing go.sum entry' => go.sum of toolchain/go/providers/${name} is stale: see 'Updating' in docs/toolchain-bridged.md)"
}

# json_get PATH < JSON: the value at a dotted path (.a.b.c), empty when absent.
json_get() {
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      let v; try { v = JSON.parse(s); } catch { return; }
      for (const k of process.argv[1].split(".").filter(Boolean)) v = v == null ? v : v[k];
      if (v !== undefined && v !== null) console.log(v);
    });' "$1"
}

# json_replaces < `go mod edit -json`: "OLD NEW VERSION" per replace directive.
json_replaces() {
  # shellcheck disable=SC2016 # a JavaScript template literal, not a shell expansion
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const r of JSON.parse(s).Replace || []) console.log(`${r.Old.Path} ${r.New.Path} ${r.New.Version || ""}`);
    });'
}

# json_requires < `go mod edit -json`: "PATH VERSION" per requirement.
json_requires() {
  # shellcheck disable=SC2016 # a JavaScript template literal, not a shell expansion
  node -e '
    let s = ""; process.stdin.on("data", (d) => (s += d)).on("end", () => {
      for (const r of JSON.parse(s).Require || []) console.log(`${r.Path} ${r.Version}`);
    });'
}

# phase LABEL CMD...: run CMD; print its wall time (and peak RSS when /usr/bin/time exists).
phase() {
  local label="$1" t0 rc=0 dt rss_kb
  shift
  t0=$(date +%s)
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -f '%e %M' -o "$work/.time" "$@" || rc=$?
  else
    "$@" || rc=$?
  fi
  dt=$(($(date +%s) - t0))
  if [[ $rc -ne 0 ]]; then
    error "step '${label}' failed (exit ${rc}) after ${dt}s"
    return "$rc"
  fi
  if [[ -x /usr/bin/time && -s "$work/.time" ]]; then
    rss_kb="$(tail -n1 "$work/.time" | awk '{print $2}')"
    say "    ${label}: ${dt}s, peak RSS $((rss_kb / 1024)) MiB"
  else
    say "    ${label}: ${dt}s"
  fi
}

main "$@"
