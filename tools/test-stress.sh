#!/bin/bash
# make test-stress: the t/ suite ROUNDS times in a row on a machine kept busy
# by another full run of the suite (looping, its results ignored) and by
# stress-ng --cpu 2, then a table of failures per file. Exit 0 only if every
# round passed.
#   tools/test-stress.sh [ROUNDS]     (make test-stress STRESS_ROUNDS=N)
# Environment: MDM_BUILD (build dir), TEST_JOBS (prove -j), STRESS_FILES
# (the files of the measured runs, default t/*.t), MDM_TEST_TIMEOUT_SCALE
# (default 2: the machine is busier than CI will ever be).
# t/120-packages.t installs Debian packages on the machine: it stays out of
# the background run, as two runs cannot install them at once.
set -u

rounds=${1:-10}
build=${MDM_BUILD:-build}
jobs=${TEST_JOBS:-2}
files=${STRESS_FILES:-$(ls t/*.t)}
export MDM_BUILD=$build
export MDM_TEST_TIMEOUT_SCALE=${MDM_TEST_TIMEOUT_SCALE:-2}

command -v stress-ng >/dev/null \
    || { echo "test-stress: stress-ng is missing (make deps)" >&2; exit 2; }

out=$build/stress
rm -rf "$out"
mkdir -p "$out"

# Both load makers run in their own process group, which is what we stop.
setsid stress-ng --cpu 2 --timeout 0 >"$out/stress-ng.log" 2>&1 &
hog=$!
setsid bash -c '
    while :; do
        prove -j'"$jobs"' $(ls t/*.t | grep -v 120-packages) >>"'"$out"'/background.log" 2>&1
    done' &
background=$!

stop_load() {
    kill -TERM -- -"$hog" -"$background" 2>/dev/null
    wait "$hog" "$background" 2>/dev/null
}
trap stop_load EXIT
trap 'exit 130' INT TERM

echo "test-stress: $rounds round(s) of prove -j$jobs under stress-ng --cpu 2" \
     "and a background run (MDM_TEST_TIMEOUT_SCALE=$MDM_TEST_TIMEOUT_SCALE)"
failed_rounds=0
for round in $(seq 1 "$rounds"); do
    log=$out/round-$round.log
    start=$(date +%s)
    if prove -j"$jobs" $files >"$log" 2>&1; then
        result=pass
    else
        result=FAIL
        failed_rounds=$((failed_rounds + 1))
    fi
    echo "round $round: $result ($(( $(date +%s) - start )) s) $log"
done

# prove's summary names each failed file: "t/x.t (Wstat: ... Failed: n)".
echo
echo "failures per file over $rounds round(s):"
cat "$out"/round-*.log | sed -n 's/^\(t\/[^ ]*\.t\) (Wstat.*/\1/p' \
    | sort | uniq -c | sort -rn | awk '{ printf "  %-32s %d\n", $2, $1 }' \
    | tee "$out/failures.txt"
[ -s "$out/failures.txt" ] || echo "  none"
echo "test-stress: $failed_rounds of $rounds round(s) failed"
[ "$failed_rounds" -eq 0 ]
