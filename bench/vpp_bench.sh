#!/bin/bash
# `make bench`, Apps and Books (BENCHMARKS.md): one app assigned to N
# enrolled devices (BENCH_VPP_N, 100000) through POST /v1/vpp/assign, with
# mdm-worker associating the licences at tools/vpp-mock (Apple's documented
# limits: 1000 serials per call, 15 calls per second) and queueing
# InstallApplication for every licensed device. Measures the API calls, the
# time to the last install queued, the calls made to the mock, the worker's
# CPU and Redis memory per licensed device; the baseline is the same
# InstallApplication enqueued to the same devices with POST /v1/enqueue.
#
#   bench/vpp_bench.sh [BUILD_DIR]
# Environment: BENCH_VPP_N (100000), BENCH_VPP_RUNS (3), MDM_NGINX,
# BENCH_OUT (bench/results/vpp.txt), BENCH_KEEP=1 keeps the temp dir.
set -euo pipefail

cd "$(dirname "$0")/.."
B=${1:-build}
N=${BENCH_VPP_N:-100000}
RUNS=${BENCH_VPP_RUNS:-3}
NGINX=${MDM_NGINX:-/usr/sbin/nginx}
OUT=${BENCH_OUT:-bench/results/vpp.txt}
ADAM=361309726
PFX=00008140-
K() { "$B/mdm-schema" --key "$@"; }
PY=/usr/bin/python3; [ -x "$PY" ] || PY=python3

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mdm-vpp-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${BENCH_KEEP:-}" ] && echo "vpp bench: kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
log() { printf '%s vpp bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport'
}
wait_port() {
    for _ in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "vpp bench: nothing listens on $1" >&2; exit 1
}
now() { date +%s.%N; }
# utime + stime of a process, in clock ticks
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
median() { sort -g | awk '{ v[NR] = $1 } END { printf "%s (%s–%s)", v[int((NR + 1) / 2)], v[1], v[NR] }'; }

RPORT=$(free_port); HPORT=$(free_port); VPORT=$(free_port)
mkdir -p "$TMP/redis" "$TMP/nginx"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP/redis" --save '' \
    --appendonly no >"$TMP/redis.log" 2>&1 &
PIDS+=($!)
wait_port "$RPORT"
R() { redis-cli -p "$RPORT" "$@"; }

# TLS for the notification location (Apple only posts to https)
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 \
    -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$TMP/srv.key" -out "$TMP/srv.pem" 2>/dev/null
user=""; [ "$(id -u)" -eq 0 ] && user="user root;"
cat > "$TMP/nginx/nginx.conf" <<CONF
load_module $(cd "$B/nginx" && pwd)/ngx_http_mdm_module.so;
$user
worker_processes 1;
daemon off;
pid $TMP/nginx.pid;
error_log $TMP/nginx-error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/body;
    mdm_redis 127.0.0.1:$RPORT;
    server {
        listen 127.0.0.1:$HPORT ssl;
        ssl_certificate $TMP/srv.pem;
        ssl_certificate_key $TMP/srv.key;
        client_max_body_size 64m;
        client_body_buffer_size 64m;
        location /vpp/notify/ { mdm_vpp_notify; }
        location / { mdm_api; mdm_api_key bench; }
    }
}
CONF
"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx-error.log" &
PIDS+=($!)
wait_port "$HPORT"
API="https://localhost:$HPORT"
C() { curl -sS --cacert "$TMP/srv.pem" -u nanomdm:bench "$@"; }

"$PY" tools/vpp-mock/vpp-mock --port "$VPORT" --notify-ca "$TMP/srv.pem" \
    --event-delay 0.2 --page-size 100 > "$TMP/vpp-mock.out" 2> "$TMP/vpp-mock.log" &
PIDS+=($!)
wait_port "$VPORT"
MOCK="http://127.0.0.1:$VPORT"

cat > "$TMP/worker.conf" <<CONF
redis = 127.0.0.1:$RPORT
name = bench-worker
apns_url = https://127.0.0.1:$(free_port)
vpp_url = $MOCK/mdm/v2
vpp_notify_url = https://localhost:$HPORT/vpp/notify
vpp_ca = $TMP/srv.pem
vpp_interval_ms = 100
vpp_poll_interval = 30
CONF
"$B/mdm-worker" -c "$TMP/worker.conf" > "$TMP/worker.log" 2>&1 &
WPID=$!
PIDS+=($WPID)

# N enrollments with serial numbers, as Authenticate leaves them
log "seeding $N enrollments"
ENR=$(K enr '@@'); ALL=$(K enrollments)
perl -e '
    my ($n, $pfx, $enr, $all) = @ARGV;
    for my $i (0 .. $n - 1) {
        my $id = sprintf "%s%016X", $pfx, $i;
        (my $k = $enr) =~ s/\@\@/$id/;
        my @c = ("HSET", $k, "type", "Device", "enabled", "1", "topic", "com.apple.mgmt.External.bench",
                 "token", sprintf("%064x", $i), "push_magic", "m", "serial", sprintf("C02B%08d", $i));
        print "*", scalar @c, "\r\n", map({ "\$" . length($_) . "\r\n$_\r\n" } @c);
        my @z = ("ZADD", $all, "1", $id);
        print "*4\r\n", map({ "\$" . length($_) . "\r\n$_\r\n" } @z);
    }' "$N" "$PFX" "$ENR" "$ALL" | R --pipe >/dev/null
perl -e 'my ($n, $pfx) = @ARGV; print join("\n", map { sprintf "%s%016X", $pfx, $_ } 0 .. $n - 1), "\n"' \
    "$N" "$PFX" > "$TMP/ids.txt"

# the command the worker queues, for the baseline
CMDPLIST=$(perl -e 'print qq{<?xml version="1.0" encoding="UTF-8"?>\n<plist version="1.0"><dict><key>Command</key><dict><key>RequestType</key><string>InstallApplication</string><key>iTunesStoreID</key><integer>361309726</integer><key>Options</key><dict><key>PurchaseMethod</key><integer>1</integer></dict><key>ManagementFlags</key><integer>1</integer><key>InstallAsManaged</key><true/></dict><key>CommandUUID</key><string>$ARGV[0]</string></dict></plist>}' X)

vt=() api=() calls=() wcpu=() mem=() base=() ratio=()
for r in $(seq "$RUNS"); do
    loc="bench$r"
    tok=$(curl -sS -X POST "$MOCK/_mock/locations" -d "{\"orgName\":\"Bench\",\"locationName\":\"$loc\",\"assets\":[{\"adamId\":\"$ADAM\",\"totalCount\":$N}]}" \
          | perl -ne 'print $1 if /"sToken": "([^"]+)"/')
    printf '%s' "$tok" > "$TMP/tok"
    C -T "$TMP/tok" "$API/v1/vpp/tokens/$loc" >/dev/null
    for _ in $(seq 600); do
        [ "$(R HGET "$(K vpp_token "$loc")" synced)" != "" ] && break
        sleep 0.1
    done
    curl -sS -X DELETE "$MOCK/_mock/requests" >/dev/null
    mem0=$(R INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
    c0=$(cpu "$WPID")
    t0=$(now)
    # the API takes up to 10000 enrollments per call
    split -l 10000 "$TMP/ids.txt" "$TMP/chunk."
    for f in "$TMP"/chunk.*; do
        perl -e 'my @i = map { chomp; qq{"$_"} } <STDIN>; print qq({"adamId":"$ARGV[0]","enrollments":[), join(",", @i), "]}"' \
            "$ADAM" < "$f" > "$f.json"
        code=$(C -o /dev/null -w '%{http_code}' -X POST --data-binary @"$f.json" "$API/v1/vpp/assign/$loc")
        [ "$code" = 202 ] || { echo "vpp bench: assign answered $code" >&2; exit 1; }
    done
    rm -f "$TMP"/chunk.*
    t1=$(now)
    # done when no job and no event is left: every state is final
    for _ in $(seq 6000); do
        [ "$(R LLEN "$(K vpp_jobs "$loc")")" = 0 ] && [ "$(R ZCARD "$(K vpp_events "$loc")")" = 0 ] && break
        sleep 0.05
    done
    t2=$(now)
    c1=$(cpu "$WPID")
    mem1=$(R INFO memory | sed -n 's/^used_memory:\([0-9]*\).*/\1/p')
    queued=$(R EVAL "local n = 0 for _, v in ipairs(redis.call('HVALS', KEYS[1])) do if string.sub(v, 1, 6) == 'queued' then n = n + 1 end end return n" 1 "$(K vpp_install "$loc" "$ADAM")")
    [ "$queued" = "$N" ] || { echo "vpp bench: $queued of $N queued" >&2; exit 1; }
    n_calls=$(curl -sS "$MOCK/_mock/requests" | perl -ne 'my $n = () = /"path": "\/mdm\/v2\//g; print $n')
    vt+=("$(printf '%.2f' "$(echo "$t2 - $t0" | bc)")")
    api+=("$(printf '%.2f' "$(echo "$t1 - $t0" | bc)")")
    calls+=("$n_calls")
    wcpu+=("$(echo "($c1 - $c0) / $(getconf CLK_TCK)" | bc -l | xargs printf '%.2f')")
    mem+=("$(( (mem1 - mem0) / N ))")
    log "run $r: assign ${api[-1]} s, last install queued at ${vt[-1]} s, $n_calls calls to Apple, worker ${wcpu[-1]} s CPU, $(( (mem1 - mem0) / N )) B/device"

    # baseline: the same command to the same devices through POST /v1/enqueue
    uuid=$(printf 'BA5E11NE-0000-4000-8000-%012d' "$r")
    perl -e 'my ($uuid, $plist) = @ARGV; $plist =~ s/<string>X<\/string>/<string>$uuid<\/string>/;
             $plist =~ s/\\/\\\\/g; $plist =~ s/"/\\"/g; $plist =~ s/\n/\\n/g;
             my @i = map { chomp; qq{"$_"} } <STDIN>;
             print qq({"ids":[), join(",", @i), qq(],"command":"$plist"})' "$uuid" "$CMDPLIST" \
        < "$TMP/ids.txt" > "$TMP/enq.json"
    b0=$(now)
    code=$(C -o "$TMP/enq.out" -w '%{http_code}' -X POST --data-binary @"$TMP/enq.json" "$API/v1/enqueue?nopush=1")
    b1=$(now)
    [ "$code" = 200 ] || { echo "vpp bench: baseline enqueue answered $code $(head -c 200 "$TMP/enq.out")" >&2; exit 1; }
    base+=("$(printf '%.2f' "$(echo "$b1 - $b0" | bc)")")
    ratio+=("$(echo "${vt[-1]} / ${base[-1]}" | bc -l | xargs printf '%.1f')")
done

mkdir -p "$(dirname "$OUT")"
{
    echo "Apps and Books: one app assigned to $N devices, $RUNS runs, median (min–max); $(nproc) cores, load $(cut -d' ' -f1 /proc/loadavg)"
    echo
    echo "| Measure | ngx_mdm |"
    echo "|---|---|"
    echo "| API: POST /v1/vpp/assign, $(( (N + 9999) / 10000 )) calls of ≤ 10000 (s) | $(printf '%s\n' "${api[@]}" | median) |"
    echo "| assign to the last InstallApplication queued (s) | $(printf '%s\n' "${vt[@]}" | median) |"
    echo "| calls to the Apps and Books API (associate, status, config, assets) | $(printf '%s\n' "${calls[@]}" | median) |"
    echo "| mdm-worker CPU (s) | $(printf '%s\n' "${wcpu[@]}" | median) |"
    echo "| Redis memory per licensed device, state + queued command (B) | $(printf '%s\n' "${mem[@]}" | median) |"
    echo "| baseline: the same InstallApplication by POST /v1/enqueue (s) | $(printf '%s\n' "${base[@]}" | median) |"
    echo "| ratio: assign to last queued / baseline | $(printf '%s\n' "${ratio[@]}" | median) |"
} | tee "$OUT"
