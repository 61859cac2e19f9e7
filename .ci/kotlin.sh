#!/usr/bin/env bash
# Android library on the host JVM: the JNI bridge (android/facekd/src/main/cpp) built with the host
# g++ against the JDK's jni.h, the library's Kotlin code compiled with kotlinc (npm kotlin-compiler),
# and its JUnit 4 tests run against the golden vectors. Idempotent; caches in .ci/cache/.
# Ends with "kotlin: N passed, N failed, N skipped".
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cache="$root/.ci/cache"
KOTLIN_VERSION=2.4.20
lib="$root/android/facekd/src/main/kotlin"
tests="$root/android/facekd/src/test/kotlin"
start=$(date +%s)
step() { echo "--- kotlin: $* ($(( $(date +%s) - start )) s)"; }

step "packages"
need=()
for pkg in openjdk-17-jdk-headless junit4 libhamcrest-java libgoogle-gson-java g++; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || need+=("$pkg")
done
command -v cmake >/dev/null || need+=(cmake)
command -v npm >/dev/null || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
export JAVA_HOME=/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)
export PATH="$JAVA_HOME/bin:$PATH"
share=/usr/share/java
for jar in junit4.jar hamcrest-core.jar gson.jar; do
  [ -f "$share/$jar" ] || { echo "kotlin: missing $share/$jar" >&2; exit 1; }
done

step "kotlinc $KOTLIN_VERSION"
kroot="$cache/kotlin-$KOTLIN_VERSION"
kotlinc="$kroot/node_modules/kotlin-compiler/bin/kotlinc"
if [ ! -x "$kotlinc" ]; then
  mkdir -p "$kroot"
  npm install --prefix "$kroot" --no-audit --no-fund --loglevel=error "kotlin-compiler@$KOTLIN_VERSION" >/dev/null
fi
"$kotlinc" -version 2>&1 | grep -q "$KOTLIN_VERSION" || { echo "kotlin: kotlinc is not $KOTLIN_VERSION" >&2; exit 1; }
stdlib="$kroot/node_modules/kotlin-compiler/lib/kotlin-stdlib.jar"

step "JNI bridge (host g++, JDK jni.h)"
jni="$cache/kotlin-jni"
cmake -S "$root/android/facekd/src/main/cpp" -B "$jni" -DCMAKE_BUILD_TYPE=Release -DJAVA_HOME="$JAVA_HOME" >/dev/null
cmake --build "$jni" -j2 >/dev/null
[ -f "$jni/libfacekd_jni.so" ] || { echo "kotlin: libfacekd_jni.so was not built" >&2; exit 1; }

# The library must stay platform-free: Android-only code lives in the app module.
if grep -rlE '^import (android|androidx)\.' "$lib"; then
  echo "kotlin: the files above import android.* — keep them out of the facekd library module" >&2; exit 1
fi

step "compile (library, then tests)"
out="$cache/kotlin-classes"
stamp=$(cat "$0" <(find "$lib" "$tests" "$root/android/hosttest" -name '*.kt' | sort | xargs cat) | sha256sum | cut -c1-16)
if [ "$(cat "$out/stamp" 2>/dev/null)" != "$stamp" ]; then
  rm -rf "$out"
  mkdir -p "$out/main" "$out/test"
  "$kotlinc" -jvm-target 17 -Werror -module-name facekd -cp "$share/gson.jar" -d "$out/main" $(find "$lib" -name '*.kt' | sort) 2>&1
  "$kotlinc" -jvm-target 17 -module-name facekd -Xfriend-paths="$out/main" -cp "$out/main:$share/gson.jar:$share/junit4.jar:$share/hamcrest-core.jar" -d "$out/test" \
    $(find "$tests" "$root/android/hosttest" -name '*.kt' | sort) 2>&1
  echo "$stamp" > "$out/stamp"
fi

step "JUnit"
java -Xcheck:jni -Djava.library.path="$jni" -Dfacekd.golden="$root/tests/golden" \
  -cp "$out/main:$out/test:$stdlib:$share/gson.jar:$share/junit4.jar:$share/hamcrest-core.jar" \
  HostTestRunnerKt "$out/test"
