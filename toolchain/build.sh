#!/usr/bin/env bash
# Builds the Pulumi toolchain pinned in toolchain/versions.json from Go modules,
# because this project's machines reach only the Go module proxy, npm and
# Debian (Pulumi's usual installers download from elsewhere and fail here).
#
#   bash toolchain/build.sh            # build what is missing, then verify
#   source toolchain/env.sh            # put it on PATH (never builds)
#
# Layout (outside the clone, shared by every clone and CI run on the machine):
#   ${ROLLOUT_CACHE_DIR:-~/.cache/rollout-as-code}/toolchain/<key>/
#     bin/          pulumi, pulumi-language-nodejs, pulumi-resource-pulumi-nodejs
#     providers/    pulumi-resource-{docker,postgresql} as built
#     pulumi-home/  PULUMI_HOME with those providers registered as plugins
#     .complete     written last, once everything is present and verified
# <key> is derived only from the version set (see lib.sh).
#
# ROLLOUT_BUILD_TOOLCHAIN=auto (default): a `pulumi` on PATH that prints the
#   pinned version (someone with internet installed it) is used instead of
#   building the CLI; provider plugins it already has are reused.
# ROLLOUT_BUILD_TOOLCHAIN=always: ignore any other pulumi; use our own build.
#
# Each piece is built into a temp dir inside the cache and moved into place
# with rename(2), so a killed build never leaves a file that looks finished;
# pieces already in place are never rebuilt. A failing piece does not stop
# the others; the script exits non-zero and lists what failed.
set -euo pipefail

TOOLCHAIN_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(dirname "$TOOLCHAIN_DIR")
SELF="$TOOLCHAIN_DIR/build.sh"
# Logging (say/step/warn/error/die): progress on stdout, warnings and errors on stderr.
log_name=toolchain log_fd=1
# shellcheck source-path=SCRIPTDIR source=../scripts/log.sh
source "$REPO_DIR/scripts/log.sh"

# A go.mod asking for a newer Go must fail fast, not download a toolchain.
export GOTOOLCHAIN=local
# Go may be installed but not on PATH in non-login shells.
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
  PATH="$PATH:/usr/local/go/bin"
fi

# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$TOOLCHAIN_DIR/lib.sh"
_rollout_toolchain_paths "$TOOLCHAIN_DIR"
CACHE=$ROLLOUT_TOOLCHAIN_DIR
BIN=$CACHE/bin
PROVIDERS=$CACHE/providers
MARKER=$CACHE/.complete
STATS=$CACHE/build-stats.tsv
# The caller's own plugin cache, where a user with internet may already have
# the providers (ignored when it is ours, e.g. after `source toolchain/env.sh`).
USER_PULUMI_HOME=${PULUMI_HOME:-$HOME/.pulumi}
[[ $USER_PULUMI_HOME == "$CACHE/pulumi-home" ]] && USER_PULUMI_HOME=$HOME/.pulumi
export USER_PULUMI_HOME
export PULUMI_HOME=$CACHE/pulumi-home
export PULUMI_SKIP_UPDATE_CHECK=true
# Never let the engine try to download anything while we drive it.
export PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION=true

MODE=${ROLLOUT_BUILD_TOOLCHAIN:-auto}
case $MODE in
  auto | always) ;;
  *) die 2 "ROLLOUT_BUILD_TOOLCHAIN must be auto or always, not '$MODE'" ;;
esac

# The version set, read once from versions.json.
VERSION_VARS=$(node -e '
  const v = require(process.argv[1]);
  const p = v.plugins;
  const out = {
    PULUMI_VERSION: v.pulumi.version,
    DOCKER_VERSION: p.docker.version, POSTGRESQL_VERSION: p.postgresql.version,
  };
  for (const [k, x] of Object.entries(out)) {
    if (!/^[A-Za-z0-9._\/-]*$/.test(String(x))) throw new Error(`odd value for ${k}: ${x}`);
    console.log(`${k}=${x}`);
  }
' "$TOOLCHAIN_DIR/versions.json")
eval "$VERSION_VARS"

PKG_MODULE=github.com/pulumi/pulumi/pkg/v3
SDK_MODULE=github.com/pulumi/pulumi/sdk/v3
PULUMI_VERSION_VAR=github.com/pulumi/pulumi/sdk/v3/go/common/version.Version

rel() { printf '%s' "${1#"$REPO_DIR"/}"; }

plugin_version() {
  case $1 in
    docker) echo "$DOCKER_VERSION" ;;
    postgresql) echo "$POSTGRESQL_VERSION" ;;
  esac
}

# ---------------------------------------------------------------- helpers

# The one Go environment every build uses (an `env` prefix, so it also works
# under /usr/bin/time). GOFLAGS is set whole, not appended to, so a user's
# GOFLAGS cannot change what is built; -mod=readonly makes the committed
# go.mod/go.sum the only source of versions.
GO_ENV=(env GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS="-mod=readonly -buildvcs=false")

# timed CMD...: runs CMD, prints its wall time and peak RSS and keeps them in
# TIMED_SECS/TIMED_RSS_KB for record_stats. GNU time reports the largest RSS
# among the command and all the processes it waited for (the Go linker is
# usually the peak).
timed() {
  local start=$SECONDS tf rss_kb=""
  tf=$(mktemp "$CACHE/.tmp.time.XXXXXX")
  if [[ -x /usr/bin/time ]]; then
    /usr/bin/time -v -o "$tf" "$@" || { local rc=$?; rm -f "$tf"; return "$rc"; }
    rss_kb=$(sed -n 's/^[[:space:]]*Maximum resident set size (kbytes): //p' "$tf")
  else
    "$@" || { local rc=$?; rm -f "$tf"; return "$rc"; }
  fi
  rm -f "$tf"
  local secs=$((SECONDS - start))
  TIMED_SECS=$secs
  TIMED_RSS_KB=${rss_kb:-}
  if [[ -n $rss_kb ]]; then
    say "    done in ${secs}s (peak RSS $((rss_kb / 1024)) MiB)"
  else
    say "    done in ${secs}s"
  fi
}

record_stats() { # piece file
  local size
  size=$(stat -c %s "$2")
  printf '%s\t%s\t%s\t%s\t%s\n' "$(date -u +%FT%TZ)" "$1" "${TIMED_SECS:-}" "${TIMED_RSS_KB:-}" "$size" >>"$STATS"
  say "    $(basename "$2"): $((size / 1024 / 1024)) MiB"
}

# stage_dir: a fresh temp dir inside the cache (same filesystem as the final
# place, so the last `mv` is an atomic rename). Removed when the piece exits.
stage_dir() {
  STAGE=$(mktemp -d "$CACHE/.tmp.XXXXXX")
  trap 'rm -rf "$STAGE"' EXIT
}

# required_version DIR MODULE: the version DIR/go.mod requires, or nothing.
# Parses go.mod only (no network).
required_version() {
  go -C "$1" mod edit -json | node -e '
    let s = ""; process.stdin.on("data", d => s += d).on("end", () => {
      const r = (JSON.parse(s).Require || []).find(r => r.Path === process.argv[1]);
      if (r) process.stdout.write(r.Version);
    });' "$2"
}

# langhost_stamp: a hash of our language host's sources (go.mod, go.sum and
# the non-test .go files). The host is ours and changes with the repository,
# so bin/.pulumi-language-nodejs.stamp records which sources the cached
# binary was built from, and a change rebuilds it (a few seconds).
langhost_stamp() {
  local f files=()
  for f in "$TOOLCHAIN_DIR"/go/langhost/{go.mod,go.sum,*.go}; do
    [[ $f == *_test.go ]] || files+=("$f")
  done
  cat "${files[@]}" | sha256sum | cut -d' ' -f1
}

# is_pseudo_of VERSION COMMIT: VERSION is a pseudo-version of COMMIT.
is_pseudo_of() {
  local hash=${1##*-}
  [[ $1 == *-* && ${#hash} -eq 12 && $hash == "$2"* ]]
}

# resolve_commit MODULE COMMIT [GOVERSION]: prints the canonical
# pseudo-version: GOVERSION when versions.json gives one, else the module
# proxy's answer to `go mod download -json MODULE@COMMIT`.
resolve_commit() {
  if [[ -n ${3:-} ]]; then
    is_pseudo_of "$3" "$2" || { error "$3 is not a pseudo-version of commit $2"; return 1; }
    printf '%s' "$3"
    return 0
  fi
  local json out
  json=$("${GO_ENV[@]}" go mod download -json "$1@$2" 2>/dev/null) || true
  out=$(node -e '
    let r; try { r = JSON.parse(process.argv[1]); } catch { r = { Error: "no answer from go mod download" }; }
    if (r.Error || !r.Version) { process.stdout.write(`cannot resolve ${process.argv[2]}: ${r.Error}`); process.exit(1); }
    process.stdout.write(r.Version);
  ' "$json" "$1@$2") || { error "$out"; return 1; }
  printf '%s' "$out"
}

# pin DIR MODULE@VERSION...: records versions in DIR/go.mod and go.sum. Runs
# only when versions.json and go.mod disagree (a version bump, or a piece
# never pinned); the changed files are meant to be committed. It honours the
# caller's GONOSUMDB for a checksum database that lacks an entry.
pin() {
  local dir=$1
  shift
  step "pinning $* in $(rel "$dir")/go.mod"
  (cd "$dir" && GOTOOLCHAIN=local GOFLAGS=-mod=mod go get "$@" && GOTOOLCHAIN=local go mod tidy) || {
    error "pinning failed in $(rel "$dir")"
    return 1
  }
  say "    updated $(rel "$dir")/go.mod and go.sum: commit them"
}

# go_build DIR PKG NAME XFLAGS DEST: builds PKG from the module in DIR into
# DEST/NAME, atomically.
go_build() {
  local dir=$1 pkg=$2 name=$3 xflags=$4 dest=$5
  stage_dir
  timed "${GO_ENV[@]}" go -C "$dir" build -trimpath -tags osusergo,grpcnotrace \
    -ldflags "-s -w $xflags" -o "$STAGE/$name" "$pkg"
  mkdir -p "$dest"
  mv -f "$STAGE/$name" "$dest/$name"
  record_stats "$name" "$dest/$name"
}

# ------------------------------------------------------------------ pieces
# Each runs in its own bash process (see run_piece), so `set -e` holds inside.

piece_cli() {
  if [[ -x $BIN/pulumi && "$("$BIN/pulumi" version 2>/dev/null)" == "v$PULUMI_VERSION" ]]; then
    say "    pulumi CLI v$PULUMI_VERSION: cached"
    return 0
  fi
  local dir=$TOOLCHAIN_DIR/go/pulumi
  if [[ $(required_version "$dir" "$PKG_MODULE") != "v$PULUMI_VERSION" ||
    $(required_version "$dir" "$SDK_MODULE") != "v$PULUMI_VERSION" ]]; then
    pin "$dir" "$PKG_MODULE@v$PULUMI_VERSION" "$SDK_MODULE@v$PULUMI_VERSION"
  fi
  step "building pulumi CLI v$PULUMI_VERSION (this takes several minutes on 2 cores)"
  go_build "$dir" "$PKG_MODULE/cmd/pulumi" pulumi "-X $PULUMI_VERSION_VAR=v$PULUMI_VERSION" "$BIN"
  local got
  got=$("$BIN/pulumi" version)
  [[ $got == "v$PULUMI_VERSION" ]] || { error "built pulumi prints '$got', expected v$PULUMI_VERSION"; rm -f "$BIN/pulumi"; return 1; }
}

piece_language_host() {
  local name=pulumi-language-nodejs stamp
  stamp=$(langhost_stamp)
  if [[ -x $BIN/$name && "$(cat "$BIN/.$name.stamp" 2>/dev/null)" == "$stamp" ]]; then
    say "    $name (ours): cached"
    return 0
  fi
  # Pulumi's own host, module
  # github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3, is
  # refused by the Go module proxy here (403 "This module version is not
  # available." for the release commit, its pseudo-version and v3.248.0
  # alike), while sdk/v3 v3.248.0 is served. So we build our own small host
  # on sdk/v3 from toolchain/go/langhost (see docs/toolchain.md, "Our
  # language host"); its go.sum reuses the CLI module's versions.
  step "building $name (ours, from toolchain/go/langhost)"
  go_build "$TOOLCHAIN_DIR/go/langhost" . "$name" "-X $PULUMI_VERSION_VAR=v$PULUMI_VERSION" "$BIN"
  printf '%s\n' "$stamp" >"$BIN/.$name.stamp"
}

# The engine runs dynamic providers through `pulumi-resource-pulumi-nodejs`,
# a small shell script shipped in the npm package @pulumi/pulumi; it must sit
# beside `pulumi` (or on PATH). No pulumi-analyzer-policy-* shim is needed: the
# engine falls back to it only when no language plugin is found.
piece_shim() {
  local name=pulumi-resource-pulumi-nodejs
  if [[ -x $BIN/$name ]]; then
    say "    $name: cached"
    return 0
  fi
  stage_dir
  local pkgdir=$REPO_DIR/node_modules/@pulumi/pulumi installed=""
  [[ -f $pkgdir/package.json ]] && installed=$(node -p 'require(process.argv[1]).version' "$pkgdir/package.json")
  if [[ $installed == "$PULUMI_VERSION" && -f $pkgdir/$name ]]; then
    step "copying $name from node_modules/@pulumi/pulumi"
    cp "$pkgdir/$name" "$STAGE/$name"
  else
    step "fetching $name from npm (@pulumi/pulumi@$PULUMI_VERSION)"
    (cd "$STAGE" && npm pack "@pulumi/pulumi@$PULUMI_VERSION" --silent >/dev/null)
    tar -xzf "$STAGE/pulumi-pulumi-$PULUMI_VERSION.tgz" -C "$STAGE" "package/$name"
    mv "$STAGE/package/$name" "$STAGE/$name"
  fi
  chmod 755 "$STAGE/$name"
  mkdir -p "$BIN"
  mv -f "$STAGE/$name" "$BIN/$name"
}

# docker and postgresql are Terraform-bridged and need their upstream source
# laid out beside them; build-bridged.sh does that. Its contract: builds
# $2/pulumi-resource-$1 for the version in versions.json, non-zero on failure.
# provider_stamp NAME: a hash of what the NAME provider is built from (our bridge module,
# build-bridged.sh, the SDK check and the version set), kept beside the binary, so that a change
# to any of them rebuilds the provider instead of leaving an old build in the cache.
provider_stamp() {
  {
    (cd "$TOOLCHAIN_DIR/go/providers/$1" &&
      find . -type f ! -name schema.json ! -name bridge-metadata.json -print0 | LC_ALL=C sort -z | xargs -0 -r sha256sum)
    sha256sum <"$TOOLCHAIN_DIR/build-bridged.sh"
    sha256sum <"$TOOLCHAIN_DIR/check-sdk-compat.mjs"
    sha256sum <"$TOOLCHAIN_DIR/versions.json"
  } | sha256sum | cut -d' ' -f1
}

# provider_stale NAME: true when our cached build of NAME is missing or was built from other sources.
provider_stale() {
  [[ ! -x $PROVIDERS/pulumi-resource-$1 ]] ||
    [[ "$(cat "$PROVIDERS/.pulumi-resource-$1.source" 2>/dev/null)" != "$(provider_stamp "$1")" ]]
}

piece_bridged() {
  local name=$1 version
  version=$(plugin_version "$name")
  local out=$PROVIDERS/pulumi-resource-$name
  if ! provider_stale "$name"; then
    say "    $name provider v$version: cached"
    return 0
  fi
  if [[ ! -f $TOOLCHAIN_DIR/build-bridged.sh ]]; then
    error "toolchain/build-bridged.sh not found: cannot build the $name provider"
    return 1
  fi
  step "building $name provider v$version (bridged; 5-10 minutes on 2 cores)"
  stage_dir
  timed bash "$TOOLCHAIN_DIR/build-bridged.sh" "$name" "$STAGE"
  [[ -x $STAGE/pulumi-resource-$name ]] || { error "build-bridged.sh did not produce pulumi-resource-$name"; return 1; }
  mkdir -p "$PROVIDERS"
  mv -f "$STAGE/pulumi-resource-$name" "$out"
  provider_stamp "$name" >"$PROVIDERS/.pulumi-resource-$name.source"
  # Drop the registration of the previous build, so the new one is registered below.
  rm -rf "$PULUMI_HOME/plugins/resource-$name-v$version" "$PULUMI_HOME/plugins/resource-$name-v$version.lock"
  record_stats "pulumi-resource-$name" "$out"
}

# --------------------------------------------------------- plugin registry

# missing_plugins CLI HOME: provider names not listed by `pulumi plugin ls`
# at the pinned versions in the PULUMI_HOME given.
missing_plugins() {
  local json
  json=$(PULUMI_HOME=$2 "$1" plugin ls --json 2>/dev/null) || json=null
  node -e '
    let list; try { list = JSON.parse(process.argv[1]) || []; } catch { list = []; }
    const have = new Set(list.filter(p => p.kind === "resource")
      .map(p => `${p.name}@${String(p.version).replace(/^v/, "")}`));
    for (const want of process.argv.slice(2))
      if (!have.has(want)) console.log(want.split("@")[0]);
  ' "$json" "docker@$DOCKER_VERSION" "postgresql@$POSTGRESQL_VERSION"
}

# register_plugins CLI: `pulumi plugin install --file` copies each provider
# into our PULUMI_HOME, offline. A plugin already in the caller's own
# PULUMI_HOME (a user with internet) is reused from there instead of built.
register_plugins() {
  local cli=$1 name version src rc=0 user_home=$USER_PULUMI_HOME
  for name in $(missing_plugins "$cli" "$PULUMI_HOME"); do
    version=$(plugin_version "$name")
    src=$PROVIDERS/pulumi-resource-$name
    if [[ ! -x $src ]]; then
      local theirs=$user_home/plugins/resource-$name-v$version
      if [[ -x $theirs/pulumi-resource-$name && ! -e $theirs.partial ]]; then
        src=$theirs/pulumi-resource-$name
      else
        rc=1 # its piece failed and said why
        continue
      fi
    fi
    step "registering $name v$version in $PULUMI_HOME"
    "$cli" plugin install resource "$name" "$version" --file "$src" || rc=1
  done
  return "$rc"
}

# ----------------------------------------------------------- system pulumi

# system_pulumi: a `pulumi` on PATH, other than ours, printing the pinned version.
system_pulumi() {
  local dir p
  local IFS=:
  for dir in $PATH; do
    p=$dir/pulumi
    [[ -x $p && ! -d $p ]] || continue
    [[ $(realpath "$p") == "$(realpath -m "$BIN/pulumi")" ]] && continue
    if [[ "$(PULUMI_SKIP_UPDATE_CHECK=true "$p" version 2>/dev/null)" == "v$PULUMI_VERSION" ]]; then
      printf '%s' "$p"
      return 0
    fi
    return 1 # the first pulumi on PATH is the one a user would run
  done
  return 1
}

# ------------------------------------------------------------------- main

# Internal entry point: one piece per process (see run_piece).
if [[ ${1:-} == __piece ]]; then
  "piece_$2" "${@:3}"
  exit
fi

FAILED=()
# run_piece LABEL PIECE [ARGS]: a separate process keeps `set -e` in force
# inside the piece (bash ignores it in functions called from `if`/`||`), and
# lets the other pieces go on when one fails.
run_piece() {
  local label=$1
  shift
  if ! bash "$SELF" __piece "$@"; then
    FAILED+=("$label")
  fi
}

marker_cli() { sed -n 's/^cli=//p' "$MARKER" 2>/dev/null; }

# warm: everything was verified before and still answers. Costs one
# `pulumi version` and one `pulumi plugin ls`: well under a second.
warm() {
  [[ -f $MARKER ]] || return 1
  local cli
  cli=$(marker_cli)
  [[ -n $cli && -x $cli ]] || return 1
  [[ $MODE == always && $cli != "$BIN/pulumi" ]] && return 1
  [[ "$("$cli" version 2>/dev/null)" == "v$PULUMI_VERSION" ]] || return 1
  # Our own CLI runs programs with our language host: rebuild it when its
  # sources changed (a system pulumi brings its own host).
  if [[ $cli == "$BIN/pulumi" ]]; then
    [[ "$(cat "$BIN/.pulumi-language-nodejs.stamp" 2>/dev/null)" == "$(langhost_stamp)" ]] || return 1
  fi
  # Providers we built are rebuilt when their sources changed (ones reused from a user's own
  # PULUMI_HOME are not in $PROVIDERS and are left alone).
  local name
  for name in docker postgresql; do
    if [[ -e $PROVIDERS/pulumi-resource-$name ]] && provider_stale "$name"; then return 1; fi
  done
  [[ -z "$(missing_plugins "$cli" "$PULUMI_HOME")" ]]
}

mkdir -p "$CACHE"
# One build per cache at a time (two terminals, or CI and a developer).
exec 9>"$CACHE/.lock"
if command -v flock >/dev/null 2>&1 && ! flock -n 9; then
  step "waiting for another toolchain build in $CACHE"
  flock 9
fi

if warm; then
  say "toolchain ready: $(dirname "$(marker_cli)") (cached: $ROLLOUT_TOOLCHAIN_KEY)"
  exit 0
fi

START=$SECONDS
rm -f "$MARKER"
rm -rf "$CACHE"/.tmp.* # left by a killed build; we hold the lock
step "toolchain $ROLLOUT_TOOLCHAIN_KEY in $CACHE"

CLI=""
if [[ $MODE == auto ]] && CLI=$(system_pulumi); then
  step "using pulumi v$PULUMI_VERSION found on PATH: $CLI (not building the CLI; ROLLOUT_BUILD_TOOLCHAIN=always builds our own)"
  # Build only the providers that neither our PULUMI_HOME nor the user's has.
  theirs_missing=" $(missing_plugins "$CLI" "$USER_PULUMI_HOME" | tr '\n' ' ') "
  for name in $(missing_plugins "$CLI" "$PULUMI_HOME"); do
    if [[ $theirs_missing != *" $name "* ]]; then
      say "    $name provider: reusing the one in $USER_PULUMI_HOME"
    else
      run_piece "$name provider" bridged "$name"
    fi
  done
else
  run_piece "pulumi CLI" cli
  run_piece "pulumi-language-nodejs" language_host
  run_piece "pulumi-resource-pulumi-nodejs" shim
  run_piece "docker provider" bridged docker
  run_piece "postgresql provider" bridged postgresql
  [[ -x $BIN/pulumi ]] && CLI=$BIN/pulumi
fi

if [[ -n $CLI ]]; then
  register_plugins "$CLI" || true
  # Verify before declaring the cache complete.
  still_missing=$(missing_plugins "$CLI" "$PULUMI_HOME" | tr '\n' ' ')
  [[ -z ${still_missing// /} ]] || FAILED+=("plugin registration (not listed by pulumi plugin ls: ${still_missing% })")
else
  FAILED+=("plugin registration (no pulumi CLI)")
fi

if ((${#FAILED[@]})); then
  error "toolchain incomplete after $((SECONDS - START))s; failed:"
  printf '    - %s\n' "${FAILED[@]}" >&2
  warn "pieces already built stay cached in $CACHE; rerun to retry the rest"
  exit 1
fi

# Written last: its presence means the whole toolchain was verified.
printf 'cli=%s\nkey=%s\nbuilt=%s\n' "$CLI" "$ROLLOUT_TOOLCHAIN_KEY" "$(date -u +%FT%TZ)" >"$MARKER.tmp"
mv -f "$MARKER.tmp" "$MARKER"
step "toolchain ready in $((SECONDS - START))s: $(dirname "$CLI")"
PULUMI_HOME=$PULUMI_HOME "$CLI" plugin ls
