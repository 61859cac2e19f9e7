#!/usr/bin/env bash
# The iOS Swift package (ios/) built and tested on Linux: Swift 6 (Debian's swiftlang) inside a
# Debian trixie chroot made with debootstrap and reused from /var/cache/facekd-swift-chroot
# (override with FACEKD_SWIFT_CHROOT). The repo is bind-mounted at /src/facekd in the chroot; the
# build is cached in .ci/cache/swift-build. Ends with XCTest's summary and "swift: N passed, N failed".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
jail=${FACEKD_SWIFT_CHROOT:-/var/cache/facekd-swift-chroot}
ready="$jail/.facekd-swift-ready"
start=$(date +%s)
step() { echo "--- swift: $* ($(( $(date +%s) - start )) s)"; }

# The host's Debian mirror (deb822 .sources or one-line sources.list).
mirror() {
  local uri
  uri=$(grep -hsE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}' | grep -v security | head -1)
  [ -n "$uri" ] || uri=$(grep -hsE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null \
                         | awk '{print $2}' | grep -E 'debian/?$' | head -1)
  echo "${uri:-http://deb.debian.org/debian}"
}

mounted=()
cleanup() {
  local i
  for (( i=${#mounted[@]}-1; i>=0; i-- )); do umount -l "${mounted[$i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
mount_in() {  # mount_in <target> <mount args...>
  local target=$1; shift
  mkdir -p "$target"
  if ! mountpoint -q "$target"; then
    mount "$@" "$target"
    mounted+=("$target")
  fi
}

if [ ! -f "$ready" ]; then
  step "toolchain: debootstrap trixie into $jail (first run only)"
  if ! command -v debootstrap >/dev/null; then
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends debootstrap >/dev/null
  fi
  # A half-made chroot from an interrupted run: unmount what is inside and start over.
  if [ -d "$jail" ]; then
    grep -o " $jail/[^ ]*" /proc/mounts | sort -r | xargs -r -n1 umount -l
    # Never delete through a bind mount (the repo is bind-mounted inside).
    if grep -q " $jail/" /proc/mounts; then echo "swift: cannot unmount everything under $jail" >&2; exit 1; fi
    rm -rf --one-file-system "$jail"
  fi
  mkdir -p "$(dirname "$jail")"
  debootstrap --variant=minbase trixie "$jail" "$(mirror)" > "$jail.debootstrap.log" 2>&1 \
    || { tail -20 "$jail.debootstrap.log"; exit 1; }
  cp /etc/resolv.conf "$jail/etc/resolv.conf"
  mount_in "$jail/proc" -t proc proc
  chroot "$jail" /bin/sh -c 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends swiftlang libc6-dev g++ >/dev/null'
  touch "$ready"
fi
mount_in "$jail/proc" -t proc proc
# /src/facekd must be this checkout (a stale bind of another checkout is replaced).
if mountpoint -q "$jail/src/facekd" && [ "$(stat -c %d:%i "$root")" != "$(stat -c %d:%i "$jail/src/facekd")" ]; then
  umount -l "$jail/src/facekd"
fi
mount_in "$jail/src/facekd" --bind "$root"
[ -f "$jail/src/facekd/ios/Package.swift" ] || { echo "swift: bind mount of $root failed" >&2; exit 1; }
chroot "$jail" swift --version 2>&1 | head -1

step "swift build (ios/)"
in_jail() { chroot "$jail" /bin/bash -c "set -o pipefail; cd /src/facekd/ios && $*"; }
scratch=/src/facekd/.ci/cache/swift-build
in_jail "swift build --build-tests -j 2 --scratch-path $scratch 2>&1 | grep -vE '^\[[0-9]+/[0-9]+\] '"

step "parse the demo app sources (iOS-only frameworks: syntax check here, build in Xcode)"
in_jail "swiftc -parse App/FacekdDemo/*.swift"

step "swift test"
log="$root/.ci/cache/swift-test.log"
set +e
in_jail "swift test --skip-build --disable-swift-testing --scratch-path $scratch" > "$log" 2>&1
rc=$?
set -e
grep -vE "^Test Case '.*' (started|passed)" "$log" | grep -v '^\s*$' || true
summary=$(grep -E "^\s*Executed [0-9]+ tests?, with [0-9]+ failures?" "$log" | tail -1)
total=$(sed -E 's/.*Executed ([0-9]+) tests?.*/\1/' <<< "$summary")
failed=$(sed -E 's/.*with ([0-9]+) failures?.*/\1/' <<< "$summary")
if [ -z "$summary" ]; then echo "swift: no XCTest summary" >&2; exit 1; fi
echo "swift: $(( total - failed )) passed, $failed failed"
exit $rc
