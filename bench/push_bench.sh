#!/bin/sh
# Push throughput of one mdm-worker over one HTTP/2 connection to
# tools/apns-mock (--quiet), and the worker's CPU time per push.
#
#   bench/push_bench.sh [BUILD_DIR] [PUSHES]     (defaults: build 100000)
#
# Each run queues PUSHES jobs for PUSHES enrollments, starts a fresh worker
# and times it until every job is acked; CPU is utime+stime of the worker
# from /proc/<pid>/stat. Prints every run, then the median of 3.
set -eu

B=${1:-build}
N=${2:-100000}
RUNS=3
TOPIC=com.apple.mgmt.External.bench
WORKER=$B/mdm-worker
MOCK=$B/apns-mock
[ -x "$WORKER" ] && [ -x "$MOCK" ] || { echo "build $WORKER and $MOCK first" >&2; exit 1; }

TMP=$(mktemp -d "${TMPDIR:-/tmp}/push-bench.XXXXXX")
PIDS=
cleanup() {
    for p in $PIDS; do kill "$p" 2>/dev/null || true; done
    for p in $PIDS; do wait "$p" 2>/dev/null || true; done
    rm -rf "$TMP"
}
trap cleanup EXIT INT TERM

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport'
}

# --- certificates: a CA, the mock's server cert, the push cert (UID = topic)
ossl() { openssl "$@" >/dev/null 2>&1; }
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=bench-ca \
    -keyout "$TMP/ca.key" -out "$TMP/ca.pem"
echo "subjectAltName=IP:127.0.0.1" > "$TMP/server.ext"
for n in server push; do
    if [ $n = server ]; then subj=/CN=127.0.0.1; ext="-extfile $TMP/server.ext"
    else subj="/UID=$TOPIC/CN=bench"; ext=; fi
    ossl req -newkey rsa:2048 -nodes -subj "$subj" \
        -keyout "$TMP/$n.key" -out "$TMP/$n.csr"
    # shellcheck disable=SC2086
    ossl x509 -req -in "$TMP/$n.csr" -CA "$TMP/ca.pem" -CAkey "$TMP/ca.key" \
        -CAcreateserial -days 2 -out "$TMP/$n.pem" $ext
done

# --- redis and the mock
RPORT=$(free_port)
redis-server --port "$RPORT" --bind 127.0.0.1 --save '' --appendonly no \
    --dir "$TMP" --daemonize no >"$TMP/redis.log" 2>&1 &
PIDS="$PIDS $!"
R="redis-cli -p $RPORT"
until $R ping >/dev/null 2>&1; do sleep 0.05; done

"$MOCK" --port 0 --quiet --cert "$TMP/server.pem" --key "$TMP/server.key" \
    --ca "$TMP/ca.pem" >"$TMP/mock.out" 2>"$TMP/mock.err" &
PIDS="$PIDS $!"
until grep -q '^port=' "$TMP/mock.out" 2>/dev/null; do sleep 0.05; done
MPORT=$(sed -n 's/^port=//p' "$TMP/mock.out")

# RESP for redis-cli --pipe: binary tokens need the real protocol.
resp() {
    perl -e '
        my ($what, $n, $topic) = @ARGV;
        sub cmd { my $s = "*" . @_ . "\r\n"; $s .= "\$" . length($_) . "\r\n$_\r\n" for @_; $s }
        for my $i (1 .. $n) {
            print $what eq "enroll"
                ? cmd("HSET", "mdm:{bench-$i}:enr", "token", pack("N8", $i, 7, 7, 7, 7, 7, 7, $i),
                      "push_magic", "magic-$i", "topic", $topic, "enabled", "1")
                : cmd("XADD", "mdm:push", "*", "id", "bench-$i");
        }' "$@"
}
$R hset mdm:pushcert:$TOPIC cert "$(cat "$TMP/push.pem")" \
    key "$(cat "$TMP/push.key")" updated 1 >/dev/null
resp enroll "$N" "$TOPIC" | $R --pipe >/dev/null

unfinished() {
    $R xinfo groups mdm:push | awk '
        prev == "pending" { p = $1 } prev == "lag" { l = $1 } { prev = $1 }
        END { print (p == "" || l == "") ? -1 : p + l }'
}

TCK=$(getconf CLK_TCK)
results=
run=1
while [ $run -le $RUNS ]; do
    $R del mdm:push >/dev/null
    resp job "$N" | $R --pipe >/dev/null
    $R xgroup create mdm:push pushers 0 >/dev/null

    start=$(date +%s.%N)
    "$WORKER" --redis "127.0.0.1:$RPORT" --apns-url "https://127.0.0.1:$MPORT" \
        --apns-ca "$TMP/ca.pem" --name bench-$run --log-level warn \
        2>"$TMP/worker-$run.log" &
    wpid=$!
    PIDS="$PIDS $wpid"
    until [ "$(unfinished)" = 0 ]; do
        kill -0 $wpid 2>/dev/null || { cat "$TMP/worker-$run.log" >&2; exit 1; }
        sleep 0.02
    done
    end=$(date +%s.%N)
    ticks=$(awk '{ print $14 + $15 }' /proc/$wpid/stat)
    kill -TERM $wpid
    wait $wpid || true

    line=$(awk -v n="$N" -v s="$start" -v e="$end" -v t="$ticks" -v hz="$TCK" 'BEGIN {
        printf "%.0f %.2f", n / (e - s), t / hz * 1e6 / n }')
    echo "run $run: $N pushes: $(echo "$line" | awk '{ printf "%s pushes/s, %s us worker CPU per push", $1, $2 }')"
    results="$results$line
"
    run=$((run + 1))
done

rate=$(echo "$results" | awk 'NF' | sort -n -k1 | sed -n 2p | cut -d' ' -f1)
cpu=$(echo "$results" | awk 'NF' | sort -n -k2 | sed -n 2p | cut -d' ' -f2)
echo "median of $RUNS: $rate pushes/s, $cpu us worker CPU per push"
