#!/usr/bin/env bash
# Fuzz smoke run for CI (~30 s of fuzzing once built): builds the sanitized fuzz targets of fuzz/
# with clang, then runs the libFuzzer C API harness and the atheris binding harness for
# FUZZ_SECONDS each (default 15). Exits non-zero on a crash, a sanitizer report, a violated property
# or a build failure. Installs what it needs (clang + compiler-rt from apt, atheris from PyPI).
# Long runs: see fuzz/README.md.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_EACH="${FUZZ_SECONDS:-15}"
BUILD="${FUZZ_BUILD_DIR:-build/fuzz}"

# -- dependencies ---------------------------------------------------------------------------------
rt_ok() {
  command -v clang++ >/dev/null 2>&1 && [ -f "$(clang++ --print-file-name=libclang_rt.fuzzer_no_main-x86_64.a)" ]
}
if ! rt_ok; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  ver=$(apt-cache policy clang 2>/dev/null | sed -n 's/^ *Candidate: *\(1:\)\{0,1\}\([0-9]*\).*/\2/p')
  apt-get install -y -qq --no-install-recommends clang "libclang-rt-${ver}-dev" >/dev/null
fi
rt_ok || { echo "fuzz_smoke: clang with libFuzzer runtimes is not available" >&2; exit 1; }
python -c "import atheris" 2>/dev/null || python -m pip install -q atheris
python -c "import pybind11" 2>/dev/null || python -m pip install -q pybind11

# -- build ----------------------------------------------------------------------------------------
CC=clang CXX=clang++ cmake -S fuzz -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DPython_EXECUTABLE="$(command -v python)" >/dev/null
cmake --build "$BUILD" -j2 >/dev/null
BUILD=$(cd "$BUILD" && pwd)
CORE=$(ls "$BUILD"/python/_core*.so)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/c" "$work/py"
# minimised seed corpora of the long runs (libFuzzer -merge=1), one per harness
[ -f fuzz/corpus/c_api.tar.gz ] && tar -xzf fuzz/corpus/c_api.tar.gz -C "$work/c"
[ -f fuzz/corpus/bindings.tar.gz ] && tar -xzf fuzz/corpus/bindings.tar.gz -C "$work/py"

# -- run ------------------------------------------------------------------------------------------
echo "fuzz_smoke: C API harness (libFuzzer, ASan+UBSan), ${SECONDS_EACH}s"
"$BUILD/fuzz_c_api" -max_total_time="$SECONDS_EACH" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
  -artifact_prefix="$work/" "$work/c" 2>"$work/c.log" || { tail -n 60 "$work/c.log"; exit 1; }
grep -E "stat::number_of_executed_units" "$work/c.log"

echo "fuzz_smoke: binding harness (atheris, sanitized facekd._core), ${SECONDS_EACH}s"
LD_PRELOAD="$BUILD/asan_with_fuzzer.so" ASAN_OPTIONS=detect_leaks=0:allocator_may_return_null=1 \
FACEKD_FUZZ_CORE="$CORE" python fuzz/fuzz_bindings.py -max_total_time="$SECONDS_EACH" -timeout=10 \
  -rss_limit_mb=4096 -print_final_stats=1 -artifact_prefix="$work/" "$work/py" 2>"$work/py.log" \
  || { tail -n 60 "$work/py.log"; exit 1; }
grep -E "stat::number_of_executed_units" "$work/py.log"
echo "fuzz_smoke: OK"
