#!/usr/bin/env bash
# Package check (issue 8, SPEC §16): install a configured and built netfence tree into a scratch
# prefix, check the layout, then build and run tests/package/consumer, a separate CMake project
# that finds the installed package with find_package(netfence) and links netfence::netfence.
#
#   tests/package/check_install.sh BUILD_DIR [WORK_DIR]
#
# BUILD_DIR must be built already (ctest runs this after `ninja`); nothing in it is reconfigured.
# The consumer uses the build's compiler, generator and build type. WORK_DIR (default
# BUILD_DIR/package-check) is wiped first. Exit 0 on success.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
source_dir=$(cd "$here/../.." && pwd)
[ $# -ge 1 ] || { sed -n '2,11p' "$0" >&2; exit 2; }
build=$(cd "$1" && pwd)
work=${2:-$build/package-check}
prefix=$work/prefix

fail() { echo "check_install: $*" >&2; exit 1; }
cache() {  # cache <VAR>: a value from the build's CMakeCache.txt
  sed -n "s/^$1:[A-Z]*=//p" "$build/CMakeCache.txt" | head -n 1
}
[ -f "$build/CMakeCache.txt" ] || fail "$build is not a CMake build directory"

rm -rf "$work"
mkdir -p "$work"

# 1. Install. Nothing outside the prefix may be written (DESTDIR stays unset on purpose).
if ! cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1; then
  cat "$work/install.log" >&2
  fail "cmake --install failed"
fi

# 2. Layout.
config=$(find "$prefix" -path '*/cmake/netfence/netfenceConfig.cmake' | head -n 1)
[ -n "$config" ] || fail "no netfenceConfig.cmake under $prefix"
for f in bin/netfence include/netfence/netfence.hpp include/netfence/config.hpp \
         share/man/man1/netfence.1 lib/systemd/system/netfence.service \
         etc/netfence/config.toml share/doc/netfence/examples/config.toml; do
  [ -e "$prefix/$f" ] || fail "missing $prefix/$f"
done
[ -f "$(dirname "$config")/netfenceConfigVersion.cmake" ] || fail "missing netfenceConfigVersion.cmake"
[ -f "$(dirname "$config")/netfenceTargets.cmake" ] || fail "missing netfenceTargets.cmake"
if find "$prefix/include" -type f ! -name '*.hpp' | grep -q .; then
  fail "non-header files installed under include/"
fi
# The unit follows the prefix it was installed to.
grep -qx "ExecStart=$prefix/bin/netfence run --config $prefix/etc/netfence/config.toml" \
  "$prefix/lib/systemd/system/netfence.service" || fail "unit ExecStart does not match $prefix"
grep -q "$source_dir\|$build" "$(dirname "$config")"/*.cmake &&
  fail "the installed CMake package refers to the source or build tree"

# 3. The installed CLI.
version=$(grep -m1 '^CMAKE_PROJECT_VERSION:' "$build/CMakeCache.txt" | sed 's/.*=//')
out=$("$prefix/bin/netfence" --version)
[ "$out" = "netfence $version" ] || fail "netfence --version printed '$out', want 'netfence $version'"
"$prefix/bin/netfence" check-config --config "$prefix/etc/netfence/config.toml" >/dev/null 2>&1 ||
  fail "the installed example config does not validate"

# 4. The consumer project, configured from scratch against the prefix only.
generator=$(cache CMAKE_GENERATOR)
args=(-S "$here/consumer" -B "$work/consumer" -G "$generator"
      -DCMAKE_PREFIX_PATH="$prefix" -DNETFENCE_EXPECTED_PREFIX="$prefix"
      -DCMAKE_CXX_COMPILER="$(cache CMAKE_CXX_COMPILER)"
      -DCMAKE_BUILD_TYPE="$(cache CMAKE_BUILD_TYPE)")
make_program=$(cache CMAKE_MAKE_PROGRAM)
[ -n "$make_program" ] && args+=(-DCMAKE_MAKE_PROGRAM="$make_program")
if ! cmake "${args[@]}" >"$work/consumer-configure.log" 2>&1; then
  cat "$work/consumer-configure.log" >&2
  fail "configuring the consumer failed"
fi
# Nothing of the source tree or of netfence's private build settings reaches the consumer.
commands=$work/consumer/compile_commands.json
if grep -q -e "$source_dir/include" -e "$source_dir/src" -e SEPARATE_COMPILATION \
     -e NETFENCE_VERSION -e -Wconversion "$commands"; then
  cat "$commands" >&2
  fail "the consumer's compile line leaks netfence's build settings"
fi
if ! cmake --build "$work/consumer" -j 2 >"$work/consumer-build.log" 2>&1; then
  cat "$work/consumer-build.log" >&2
  fail "building the consumer failed"
fi

# 5. Run it: builds, runs and stops a proxy on ephemeral loopback ports.
if ! timeout 30 "$work/consumer/app" >"$work/consumer-run.log" 2>&1; then
  cat "$work/consumer-run.log" >&2
  fail "the consumer failed"
fi
grep -q '^http_addr 127\.0\.0\.1:[1-9][0-9]*$' "$work/consumer-run.log" ||
  { cat "$work/consumer-run.log" >&2; fail "the consumer printed no bound HTTP address"; }
cat "$work/consumer-run.log"
echo "check_install: ok ($prefix)"
