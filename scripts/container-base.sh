#!/usr/bin/env bash
# Makes the base image tests/container.rs builds deploy/Dockerfile on,
# without an image registry: a minimal Debian bookworm made by debootstrap
# from Debian's package registry, trimmed as debian:bookworm-slim is, and
# imported as localhost/debian:bookworm-slim. Then checks that the runtime
# can start a container from it, with the settings the tests use.
#
#   scripts/container-base.sh                # podman
#   CONTAINER_RUNTIME=docker scripts/container-base.sh
#
# Does nothing but the check if the image is already there. The root file
# system is kept as a tarball in target/container-base, so importing it
# again (into another runtime, or after `podman rmi`) needs no download.
# Needs root, debootstrap and the runtime (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/.."

runtime=${CONTAINER_RUNTIME:-podman}
image=localhost/debian:bookworm-slim
cache="${CARGO_TARGET_DIR:-target}/container-base"
tarball="$cache/bookworm-slim.tar"
# The mirror apt already uses here, else Debian's own.
mirror=$(sed -nE 's|^URIs: (http[^ ]*/debian)/?$|\1|p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -n 1)
mirror=${mirror:-http://deb.debian.org/debian}

# podman as root asks for nofile=1048576 (and nproc=1048576 once any
# --ulimit is given), which may exceed this machine's hard limits, and
# raising a hard limit needs CAP_SYS_RESOURCE, which a sandboxed root may
# lack. So both are given, within this shell's hard limits: nofile at most
# 1048576, nproc at most 32768, the limit podman itself runs with here.
# tests/container.rs passes the same.
at_most() { if [ "$1" = unlimited ] || [ "$1" -gt "$2" ]; then echo "$2"; else echo "$1"; fi; }
nofile=$(at_most "$(ulimit -Hn)" 1048576)
nproc=$(at_most "$(ulimit -Hu)" 32768)
ulimits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")

if "$runtime" image inspect "$image" >/dev/null 2>&1; then
  echo "$image: already in $runtime"
else
  if [ ! -s "$tarball" ]; then
    echo "debootstrap: a minimal Debian bookworm from $mirror; this takes a few minutes (about 2 here)"
    mkdir -p "$cache"
    root=$(mktemp -d "$cache/root.XXXXXX")
    trap 'rm -rf "$root"' EXIT
    debootstrap --variant=minbase bookworm "$root" "$mirror" >"$cache/debootstrap.log" 2>&1 || {
      tail -n 20 "$cache/debootstrap.log" >&2
      echo "debootstrap failed; its whole log is $cache/debootstrap.log" >&2
      exit 1
    }
    # What debian:bookworm-slim leaves out: documentation, manual pages,
    # translations and apt's downloaded lists and packages. The dpkg
    # setting keeps them out of packages installed later, as in that image.
    cat >"$root/etc/dpkg/dpkg.cfg.d/slim" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/info/*
path-exclude /usr/share/locale/*
path-exclude /usr/share/man/*
EOF
    find "$root/usr/share/doc" -mindepth 1 -not -name copyright -not -type d -delete
    rm -rf "$root"/usr/share/{info,locale,man}/* "$root"/var/lib/apt/lists/* \
      "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb
    tar --numeric-owner -C "$root" -cf "$tarball.part" .
    mv "$tarball.part" "$tarball"
    rm -rf "$root"
    trap - EXIT
  fi
  echo "importing $tarball as $image"
  "$runtime" import --change 'CMD ["bash"]' "$tarball" "$image" >/dev/null
fi

# The check: a container starts and runs as PID 1.
pid=$("$runtime" run --rm --network host "${ulimits[@]}" "$image" sh -c 'echo $$')
[ "$pid" = 1 ] || {
  echo "a container from $image ran, but its process was PID $pid, not 1" >&2
  exit 1
}
echo "$image: $("$runtime" --version), a container starts and its process is PID 1"
