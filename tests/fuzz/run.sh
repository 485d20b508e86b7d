#!/bin/sh
# Runs the fuzz targets of a build directory configured with -Dfuzz=true.
# Usage: tests/fuzz/run.sh BUILD_DIR SECONDS [TARGET...]
#
# For each target: first every input of tests/fuzz/regressions/<target>/,
# once each (inputs that once crashed must not again), then fuzzing for
# SECONDS on a copy of tests/fuzz/corpus/<target>/ in a temporary directory,
# so that the committed corpus never grows by itself. FUZZ_JOBS targets run
# at a time (default 2). A crashing input is kept in BUILD_DIR/fuzz-crashes/
# <target>/; once fixed, it belongs in tests/fuzz/regressions/<target>/.
# Prints one summary line per target and fails if any target failed.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 BUILD_DIR SECONDS [TARGET...]" >&2; exit 2; }
build=$1
secs=$2
shift 2
here=$(cd "$(dirname "$0")" && pwd)
targets=${*:-form date json_write case_body auth_header token page}
jobs=${FUZZ_JOBS:-2}
work=$(mktemp -d "${TMPDIR:-/tmp}/closeloop-fuzz.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

# The longest input worth trying per target: a little above the largest
# meaningful input (a date, a header, a 5000-byte note, a page of cases).
max_len() {
    case $1 in
    date) echo 64 ;;
    token) echo 512 ;;
    form | json_write | auth_header) echo 4096 ;;
    case_body) echo 8192 ;;
    page) echo 16384 ;;
    *) echo 4096 ;;
    esac
}

# Runs one target; writes its summary line to $work/<target>.summary.
run_one() {
    t=$1
    exe=$build/tests/fuzz/fuzz_$t
    log=$work/$t.log
    out=$work/$t
    mkdir -p "$out/corpus" "$out/artifacts"
    if [ ! -x "$exe" ]; then
        echo "fuzz_$t: FAILED: $exe not built" >"$work/$t.summary"
        return 1
    fi
    regressions=0
    if [ -n "$(find "$here/regressions/$t" -type f 2>/dev/null)" ]; then
        regressions=$(find "$here/regressions/$t" -type f | wc -l)
        if ! "$exe" "$here/regressions/$t"/* >"$log.regressions" 2>&1; then
            cat "$log.regressions" >&2
            echo "fuzz_$t: FAILED: a regression input crashes again (log above)" >"$work/$t.summary"
            return 1
        fi
    fi
    cp -R "$here/corpus/$t/." "$out/corpus/"
    dict=""
    [ -f "$here/$t.dict" ] && dict="-dict=$here/$t.dict"
    # shellcheck disable=SC2086
    if "$exe" -max_total_time="$secs" -max_len="$(max_len "$t")" -timeout=10 \
        -rss_limit_mb=2048 -print_final_stats=1 -artifact_prefix="$out/artifacts/" \
        $dict "$out/corpus" >"$log" 2>&1; then
        status=ok
    else
        status=FAILED
    fi
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
    rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
    cov=$(sed -n 's/^#[0-9]*.*DONE *cov: \([0-9]*\).*/\1/p' "$log" | tail -n 1)
    corpus=$(find "$out/corpus" -type f | wc -l)
    line="fuzz_$t: $status: ${execs:-?} execs in ${secs}s (${rate:-?}/s), cov ${cov:-?},"
    line="$line corpus $corpus, $regressions regression inputs"
    if [ "$status" != ok ]; then
        keep=$build/fuzz-crashes/$t
        mkdir -p "$keep"
        cp "$out/artifacts/"* "$keep/" 2>/dev/null || true
        tail -n 60 "$log" >&2
        line="$line; crash inputs in $keep/"
    fi
    echo "$line" >"$work/$t.summary"
    [ "$status" = ok ]
}

failed=0
# shellcheck disable=SC2086 # the list is split into words on purpose
set -- $targets
while [ $# -gt 0 ]; do
    pids=""
    batch=""
    i=0
    while [ $# -gt 0 ] && [ $i -lt "$jobs" ]; do
        echo "fuzz: running fuzz_$1 for ${secs}s" >&2
        run_one "$1" &
        pids="$pids $!"
        batch="$batch $1"
        i=$((i + 1))
        shift
    done
    for p in $pids; do
        wait "$p" || failed=1
    done
    for t in $batch; do
        cat "$work/$t.summary"
    done
done
exit $failed
