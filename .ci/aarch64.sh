#!/usr/bin/env bash
# The C++ kernel set and its doctest unit tests (csrc/tests, with the golden vectors) cross-compiled
# for aarch64 — the code path phones run — and executed under qemu-user. Idempotent; the build is
# cached in .ci/cache/aarch64-build. Ends with ctest's summary and "aarch64: N passed, N failed".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build="$root/.ci/cache/aarch64-build"
start=$(date +%s)
step() { echo "--- aarch64: $* ($(( $(date +%s) - start )) s)"; }

step "packages"
need=()
for pkg in g++-aarch64-linux-gnu qemu-user-static doctest-dev; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
command -v cmake >/dev/null || need+=(cmake)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

step "cross-compile (aarch64-linux-gnu-g++)"
generator=()
command -v ninja >/dev/null && generator=(-G Ninja)
if [ -f "$build/CMakeCache.txt" ] && ! grep -q "CMAKE_GENERATOR:INTERNAL=${generator[1]:-Unix Makefiles}" "$build/CMakeCache.txt"; then
  rm -rf "$build"
fi
cmake -S "$root" -B "$build" "${generator[@]}" -DCMAKE_TOOLCHAIN_FILE="$root/.ci/aarch64-toolchain.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DFACEKD_BUILD_TESTS=ON -DFACEKD_BUILD_PYTHON=OFF >/dev/null
cmake --build "$build" -j2
exe="$build/csrc/facekd_tests"
machine=$(readelf -h "$exe" | awk -F: '/Machine/ {gsub(/^ +/, "", $2); print $2}')
echo "facekd_tests: $machine"
[ "$machine" = "AArch64" ] || { echo "aarch64: $exe is not an AArch64 binary" >&2; exit 1; }

step "run under qemu-aarch64-static"
log="$build/doctest.log"
set +e
ctest --test-dir "$build" --output-on-failure -V > "$log" 2>&1
rc=$?
set -e
grep -E '^\S*\s*\[doctest\]|tests passed|tests failed|Failed|FAILED|ERROR' "$log" | sed 's/^[0-9]*: //'
[ $rc -eq 0 ] || tail -n 60 "$log"
cases=$(sed -n 's/.*\[doctest\] test cases: *\([0-9]*\) | *\([0-9]*\) passed | *\([0-9]*\) failed.*/\2 \3/p' "$log" | tail -1)
echo "aarch64: ${cases% *} passed, ${cases#* } failed"
exit $rc
