#!/bin/sh
# Installs the Debian packages closeloop needs to build and test, and only
# those that are missing. Idempotent: prints what it installs, or nothing.
# Usage: scripts/install-deps.sh [build|test|bench|fuzz]
set -eu

# cmocka is a build package: the one build directory of make run and make
# test configures the unit tests too.
build_pkgs="gcc make pkg-config meson ninja-build libh2o-evloop-dev libssl-dev libsqlite3-dev
libjansson-dev libcurl4-openssl-dev libpq-dev libcmocka-dev"
# systemd: only for systemd-analyze, which checks deploy/closeloop.service;
# nothing is started.
test_pkgs="python3 python3-pytest curl sqlite3 postgresql cppcheck clang-format
python3-yaml python3-jsonschema python3-psycopg2 nodejs systemd"
bench_pkgs="wrk nginx gnuplot-nox hyperfine"
# libFuzzer's runtime comes with clang's compiler-rt (make fuzz).
fuzz_pkgs="clang libclang-rt-14-dev"

want="$build_pkgs"
case "${1:-build}" in
build) ;;
test) want="$want $test_pkgs" ;;
bench) want="$want $test_pkgs $bench_pkgs" ;;
fuzz) want="$want $test_pkgs $fuzz_pkgs" ;;
*) echo "usage: $0 [build|test|bench|fuzz]" >&2; exit 2 ;;
esac

# npm ships inside NodeSource's nodejs package; Debian's nodejs needs its own.
case " $want " in
*" nodejs "*) command -v npm >/dev/null 2>&1 || want="$want npm" ;;
esac

missing=""
for p in $want; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $p"
    fi
done
[ -z "$missing" ] && exit 0

echo "install-deps: installing:$missing" >&2
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
# shellcheck disable=SC2086
$sudo apt-get install -y -qq --no-install-recommends $missing >/dev/null
