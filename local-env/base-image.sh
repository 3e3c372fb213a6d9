#!/usr/bin/env bash
# Builds rollout/node-base:<node version>, a Node.js base image made from this
# machine's own files, because no container registry is reachable here (so
# `FROM node:20-slim` cannot be pulled). Service Dockerfiles keep
#   ARG BASE_IMAGE=node:20-slim
#   FROM ${BASE_IMAGE}
# and local builds pass --build-arg BASE_IMAGE=<tag printed by this script>.
#
#   local-env/base-image.sh [--force]
#
# Contents: the node binary, exactly the shared libraries ldd reports for it,
# a static busybox as /bin/sh (+ applets: RUN steps and health checks such as
# `wget -qO- http://127.0.0.1:PORT/health` work), a minimal /etc, /tmp, and
# the CA bundle. No npm/yarn: install dependencies before COPY, or on the host.
#
# The tag is the last line on stdout; progress goes to stderr.
#
# Environment:
#   ROLLOUT_NODE_BIN   node binary to package (default /usr/bin/node)
#   ROLLOUT_BASE_REPO  image repository (default rollout/node-base)
set -euo pipefail

log_name=base-image
# shellcheck source-path=SCRIPTDIR source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE_BIN="${ROLLOUT_NODE_BIN:-/usr/bin/node}"
REPO="${ROLLOUT_BASE_REPO:-rollout/node-base}"
FORCE=0

for arg in "$@"; do
  case $arg in
    --force) FORCE=1 ;;
    -h | --help)
      sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//' >&2
      exit 0
      ;;
    *) die "unknown argument '$arg' (usage: $0 [--force])" ;;
  esac
done

[[ -x $NODE_BIN ]] || die "node binary not found at $NODE_BIN (set ROLLOUT_NODE_BIN, or install nodejs)"
need_cmd ldd "libc-bin"
need_cmd tar
require_docker

NODE_VERSION=$("$NODE_BIN" --version) || die "$NODE_BIN --version failed"
NODE_VERSION=${NODE_VERSION#v}
TAG="$REPO:$NODE_VERSION"

if [[ $FORCE -eq 0 ]] && "$DOCKER" image inspect "$TAG" >/dev/null 2>&1; then
  say "$TAG already exists; skipping (use --force to rebuild)"
  # Stack config names the stable alias, so a node upgrade needs no config change.
  "$DOCKER" tag "$TAG" "$REPO:local"
  echo "$TAG"
  exit 0
fi

t0=$(now)

# A static busybox needs no extra libraries; Debian's busybox-static ships
# one at /bin/busybox. A dynamic busybox would also work (its libraries are
# collected below), so only install when there is none at all.
BUSYBOX=$(command -v busybox 2>/dev/null || true)
if [[ -z $BUSYBOX ]]; then
  need_root "to apt-get install busybox-static"
  apt_install busybox-static
  BUSYBOX=$(command -v busybox 2>/dev/null) || die "busybox-static installed but busybox not on PATH"
fi

ROOTFS=$(mktemp -d "${TMPDIR:-/tmp}/node-base.XXXXXX")
cleanup() { rm -rf "$ROOTFS"; }
trap cleanup EXIT
trap 'exit 130' INT TERM

# Merged-/usr layout like Debian 12, with relative links so nothing in the
# image points back at the host.
mkdir -p "$ROOTFS"/usr/{bin,sbin,lib,lib64,local/bin} "$ROOTFS"/{etc,tmp,root,home/node,dev,proc,sys,app}
ln -s usr/bin "$ROOTFS/bin"
ln -s usr/sbin "$ROOTFS/sbin"
ln -s usr/lib "$ROOTFS/lib"
ln -s usr/lib64 "$ROOTFS/lib64"
# mktemp -d makes the dir 0700; it becomes the image's "/", which must be
# traversable for non-root users (USER node), whatever the storage driver.
chmod 755 "$ROOTFS"
chmod 1777 "$ROOTFS/tmp"
chmod 700 "$ROOTFS/root"

# copy_with_libs FILE DEST: copies FILE (dereferenced) to DEST in the rootfs
# plus every library ldd resolves for it, at the path ldd prints (the loader
# looks them up there).
copy_with_libs() {
  local src=$1 dest=$2 lib
  install -D -m 755 "$(readlink -f "$src")" "$ROOTFS$dest"
  if ldd "$src" >/dev/null 2>&1; then
    while read -r lib; do
      [[ -n $lib ]] || continue
      [[ -e $lib ]] || die "ldd lists $lib for $src but it does not exist"
      if [[ ! -e $ROOTFS$lib ]]; then
        mkdir -p "$ROOTFS$(dirname "$lib")"
        cp -L "$lib" "$ROOTFS$lib"
      fi
    done < <(ldd "$src" | awk '/=> \// { print $3 } /^[[:space:]]*\/[^ ]+ \(0x/ { print $1 }')
  fi
}

say "packaging $NODE_BIN (v$NODE_VERSION) and $BUSYBOX"
copy_with_libs "$NODE_BIN" /usr/bin/node
copy_with_libs "$BUSYBOX" /usr/bin/busybox

# Applet links (sh, env, wget, cat, ...), never over files we put there.
while read -r applet; do
  [[ -n $applet && ! -e $ROOTFS/usr/bin/$applet ]] || continue
  ln -s busybox "$ROOTFS/usr/bin/$applet"
done < <("$ROOTFS/usr/bin/busybox" --list)

# Minimal /etc. glibc >= 2.34 has the files and dns NSS modules built in, so
# nsswitch.conf needs no extra libnss_* libraries. uid/gid 1000 'node' as in
# the official node images, so `USER node` keeps working.
cat >"$ROOTFS/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000::/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin
EOF
cat >"$ROOTFS/etc/group" <<'EOF'
root:x:0:
node:x:1000:
nogroup:x:65534:
EOF
cat >"$ROOTFS/etc/nsswitch.conf" <<'EOF'
passwd: files
group:  files
hosts:  files dns
EOF
cat >"$ROOTFS/etc/hosts" <<'EOF'
127.0.0.1 localhost
::1       localhost ip6-localhost ip6-loopback
EOF
chown 1000:1000 "$ROOTFS/home/node"
# CA bundle so outbound TLS from node (where allowed) verifies certificates.
if [[ -r /etc/ssl/certs/ca-certificates.crt ]]; then
  install -D -m 644 /etc/ssl/certs/ca-certificates.crt "$ROOTFS/etc/ssl/certs/ca-certificates.crt"
fi

# Fail here, not in a later docker build, if the loader set is incomplete.
if [[ $EUID -eq 0 ]] && ! chroot "$ROOTFS" /usr/bin/node -e 'process.exit(0)' 2>/dev/null; then
  die "node does not run inside the assembled rootfs (missing libraries?)"
fi

old_id=$("$DOCKER" image inspect --format '{{.Id}}' "$TAG" 2>/dev/null || true)
say "importing $TAG"
tar -C "$ROOTFS" --numeric-owner -cf - . |
  "$DOCKER" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change "ENV NODE_VERSION=$NODE_VERSION" \
    --change 'CMD ["node"]' \
    --change "LABEL org.opencontainers.image.title=$REPO org.opencontainers.image.version=$NODE_VERSION org.opencontainers.image.description=node-from-host+busybox,built-by-local-env/base-image.sh" \
    --message "local-env/base-image.sh: node $NODE_VERSION from $NODE_BIN" \
    - "$TAG" >/dev/null

# Smoke test through the engine itself: shell, node, localhost resolution.
if ! out=$("$DOCKER" run --rm --network host "$TAG" \
  sh -c 'node -e "require(\"dns\").lookup(\"localhost\", (e, a) => { if (e) throw e; console.log(process.version, a) })"' 2>&1); then
  die "smoke test of $TAG failed: $out"
fi
say "smoke test: $out"

# --force: drop the image the tag pointed to before, unless something uses it.
new_id=$("$DOCKER" image inspect --format '{{.Id}}' "$TAG")
if [[ -n $old_id && $old_id != "$new_id" ]]; then
  "$DOCKER" rmi "$old_id" >/dev/null 2>&1 || say "previous image ${old_id:7:12} kept (still in use)"
fi

size=$("$DOCKER" image inspect --format '{{.Size}}' "$TAG")
say "built $TAG ($(awk -v b="$size" 'BEGIN { printf "%.1f MB", b / 1e6 }')) in $(elapsed_since "$t0")s"
"$DOCKER" tag "$TAG" "$REPO:local"
echo "$TAG"
