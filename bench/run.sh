#!/bin/bash
# `make bench`: starts its own stack in a temp dir on free loopback ports
# (redis-server, nginx with the module, apns-mock, mdm-worker), runs the
# scenarios of BENCHMARKS.md, prints one table and writes
# bench/results/latest.txt.
#
#   bench/run.sh [BUILD_DIR]
#
# Environment: BENCH_RUNS (5), BENCH_DURATION (seconds per timed load, 4),
# BENCH_IDS (identity cache, build/bench-ids), MDM_NGINX (/usr/sbin/nginx),
# BENCH_KEEP=1 keeps the temp dir, BENCH_OUT (bench/results/latest.txt),
# BENCH_ONLY (scenario functions to run, e.g. "s46" or "s8"; default all),
# BENCH_N_ENR (devices enrolled per run of scenario 8, 200), BENCH_J_ENR
# (its client processes, 8), BENCH_SIGNER (its profile signer: ec, rsa).
#
# Every figure is the median of BENCH_RUNS runs with min-max. The load
# generator (mdmsim) runs on the same machine as the server.
set -euo pipefail

cd "$(dirname "$0")/.."
B=${1:-build}
# a Redis key, as libmdm/mdm_schema.c spells it: K <name> <arg>...
K() { "$B/mdm-schema" --key "$@"; }
RUNS=${BENCH_RUNS:-5}
DUR=${BENCH_DURATION:-4}
IDS=${BENCH_IDS:-build/bench-ids}
NGINX=${MDM_NGINX:-/usr/sbin/nginx}
OUT=${BENCH_OUT:-bench/results/latest.txt}

N_SIGN=${BENCH_N_SIGN:-200}          # RSA-2048 devices for signed Idle reports
C_SIGN=32
N_EC=${BENCH_N_EC:-10000}  # P-256 devices, enrolled through the check-in path: storm, sessions, queue depth
STORM_RUNS=${BENCH_STORM_RUNS:-3}  # a storm of 10,000 TokenUpdates takes 20-40 s here
N_SESS=${BENCH_N_SESS:-1000} # sessions per run (each device once)
C_SESS=32
C_STORM=64
QDEPTH=${BENCH_QDEPTH:-10000}
N_ENQ=${BENCH_N_ENQ:-100000}
N_MEM=${BENCH_N_MEM:-100000}
TOPIC=com.apple.mgmt.External.bench
API_KEY=bench-key
PFX_RSA=00008101-   # mdmsim's default prefix
PFX_EC=00008110-
PFX_ENQ=00008120-
PFX_MEM=00008130-

SIM=$B/mdmsim
WORKER=$B/mdm-worker
MOCK=$B/apns-mock
MODULE=$B/nginx/ngx_http_mdm_module.so
for f in "$SIM" "$WORKER" "$MOCK" "$MODULE"; do
    [ -e "$f" ] || { echo "bench: $f missing; run make first" >&2; exit 2; }
done
MODULE=$(cd "$(dirname "$MODULE")" && pwd)/$(basename "$MODULE")

TMP=$(mktemp -d "${TMPDIR:-/tmp}/mdm-bench.XXXXXX")
PIDS=()
cleanup() {
    local p
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    [ -n "${BENCH_KEEP:-}" ] && echo "bench: kept $TMP" >&2 || rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() { printf '%s bench: %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
# processes of others on these cores: logged with every scenario
loadavg() { cut -d' ' -f1 /proc/loadavg; }

free_port() {
    perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1", LocalPort => 0)->sockport'
}

wait_port() {
    local i
    for i in $(seq 200); do
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "bench: nothing listens on $1" >&2; exit 1
}

ossl() { openssl "$@" >/dev/null 2>&1; }

# --- PKI: the device CA is cached with the identities it issued ------------
mkdir -p "$IDS/rsa" "$IDS/ec"
if [ ! -s "$IDS/ca.pem" ] || [ ! -s "$IDS/ca.key" ]; then
    ossl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=ngx_mdm bench device CA" \
        -keyout "$IDS/ca.key" -out "$IDS/ca.pem"
fi
DCA=$(cd "$IDS" && pwd)/ca.pem
DCA_KEY=$(cd "$IDS" && pwd)/ca.key

P=$TMP/pki
mkdir -p "$P"
ossl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=ngx_mdm bench server CA" \
    -keyout "$P/sca.key" -out "$P/sca.pem"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$P/server.ext"
ossl req -newkey rsa:2048 -nodes -subj /CN=localhost -keyout "$P/server.key" -out "$P/server.csr"
ossl x509 -req -in "$P/server.csr" -CA "$P/sca.pem" -CAkey "$P/sca.key" -CAcreateserial \
    -days 2 -out "$P/server.pem" -extfile "$P/server.ext"
ossl req -newkey rsa:2048 -nodes -subj "/UID=$TOPIC/CN=bench push" -keyout "$P/push.key" -out "$P/push.csr"
ossl x509 -req -in "$P/push.csr" -CA "$P/sca.pem" -CAkey "$P/sca.key" -CAcreateserial \
    -days 2 -out "$P/push.pem"

# enrollment (scenario 8): the profile signer, a leaf of the server CA;
# ECDSA P-256 (BENCH_SIGNER=rsa for RSA-2048): a device verifies either,
# and the ECDSA signature is the cheaper one for the server
printf 'keyUsage=digitalSignature\n' > "$P/signer.ext"
case ${BENCH_SIGNER:-ec} in
    rsa) SIGNER_KEY=(-newkey rsa:2048) ;;
    *)   SIGNER_KEY=(-newkey ec -pkeyopt ec_paramgen_curve:P-256) ;;
esac
ossl req "${SIGNER_KEY[@]}" -nodes -subj "/CN=bench profile signer" -keyout "$P/signer.key" -out "$P/signer.csr"
ossl x509 -req -in "$P/signer.csr" -CA "$P/sca.pem" -CAkey "$P/sca.key" -CAcreateserial \
    -days 2 -out "$P/signer.pem" -extfile "$P/signer.ext"

SIMID_RSA=(--ca-cert "$DCA" --ca-key "$DCA_KEY" --id-dir "$IDS/rsa" --udid-prefix "$PFX_RSA" --topic "$TOPIC")
SIMID_EC=(--ca-cert "$DCA" --ca-key "$DCA_KEY" --id-dir "$IDS/ec" --ec --udid-prefix "$PFX_EC" --topic "$TOPIC")

log "identities: $N_SIGN RSA-2048 and $N_EC P-256 (cached in $IDS)"
t0=$(date +%s)
"$SIM" gen-ids "${SIMID_RSA[@]}" -n "$N_SIGN" >/dev/null
"$SIM" gen-ids "${SIMID_EC[@]}" -n "$N_EC" >/dev/null
log "identities ready in $(( $(date +%s) - t0 )) s"

# --- the stack ---------------------------------------------------------------
RPORT=$(free_port)
HPORT=$(free_port)
mkdir -p "$TMP/redis"
redis-server --port "$RPORT" --bind 127.0.0.1 --dir "$TMP/redis" --save '' \
    --appendonly no --daemonize no >"$TMP/redis.log" 2>&1 &
REDIS_PID=$!
PIDS+=("$REDIS_PID")
wait_port "$RPORT"
R() { redis-cli -p "$RPORT" "$@"; }

# The ceiling for a session: Idle (the only body of its length) gets the same
# command plist as the real server sends, the result gets an empty 200.
CMD_PLIST=$(perl bench/seed.pl command CE111116-0000-4000-8000-000000000000)
CMD_NGINX=$(printf '%s' "$CMD_PLIST" | perl -pe 's/\\/\\\\/g; s/"/\\"/g; s/\n/\\n/g; s/\t/\\t/g')

mkdir -p "$TMP/nginx"
USER_LINE=
[ "$(id -u)" = 0 ] && USER_LINE="user root;"
cat > "$TMP/nginx/nginx.conf" <<EOF
load_module $MODULE;
$USER_LINE
worker_processes 2;
daemon off;
master_process on;
pid $TMP/nginx/nginx.pid;
error_log $TMP/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $TMP/nginx/client_body;
    proxy_temp_path $TMP/nginx/proxy;
    fastcgi_temp_path $TMP/nginx/fastcgi;
    uwsgi_temp_path $TMP/nginx/uwsgi;
    scgi_temp_path $TMP/nginx/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    mdm_redis 127.0.0.1:$RPORT;

    map \$http_content_length \$ceiling_session {
        IDLE_LEN_PLACEHOLDER "$CMD_NGINX";
        default "";
    }

    server {
        listen 127.0.0.1:$HPORT ssl;
        ssl_certificate $P/server.pem;
        ssl_certificate_key $P/server.key;
        ssl_verify_client optional_no_ca;
        client_max_body_size 64k;
        client_body_buffer_size 64k;
        mdm_device_ca $DCA;

        location = /mdm { mdm_server; }
        location /api/ {
            mdm_api;
            mdm_api_key $API_KEY;
            client_max_body_size 16m;
            client_body_buffer_size 16m;
        }
        mdm_enroll_server_url https://127.0.0.1:$HPORT/mdm;
        mdm_enroll_push_cert $P/push.pem;
        mdm_enroll_signer $P/signer.pem $P/signer.key $P/sca.pem;
        location = /enroll { mdm_enroll; }
        location = /scep { mdm_scep; mdm_scep_ca $DCA $DCA_KEY; }
        location = /ceiling { return 200; }
        location = /ceiling-session { default_type application/xml; return 200 \$ceiling_session; }
    }
}
EOF

URL=https://127.0.0.1:$HPORT
SIMTLS=(--ca-file "$P/sca.pem")

# The length of an Idle body: a one-device session against a location that
# answers 200 (empty) and logs the request length.
idle_len() {
    sed 's/IDLE_LEN_PLACEHOLDER/-1/' "$TMP/nginx/nginx.conf" |
        sed "s|access_log off;|log_format len \$content_length; access_log $TMP/nginx/len.log len;|" \
        > "$TMP/nginx/probe.conf"
    "$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/probe.conf" -e "$TMP/nginx/error.log" &
    local pid=$!
    wait_port "$HPORT"
    "$SIM" session "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls -n 1 \
        --server-url "$URL/ceiling" >/dev/null 2>&1 || true
    kill "$pid"; wait "$pid" 2>/dev/null || true
    head -1 "$TMP/nginx/len.log"
}
IDLE_LEN=$(idle_len)
[[ "$IDLE_LEN" =~ ^[0-9]+$ ]] || { echo "bench: could not learn the Idle length" >&2; exit 1; }
sed -i "s/IDLE_LEN_PLACEHOLDER/$IDLE_LEN/" "$TMP/nginx/nginx.conf"

"$NGINX" -p "$TMP/nginx/" -c "$TMP/nginx/nginx.conf" -e "$TMP/nginx/error.log" &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_port "$HPORT"
sleep 0.3
NGINX_WORKERS=$(ps -o pid= --ppid "$NGINX_PID" | tr -d ' ' | tr '\n' ' ')

"$MOCK" --port 0 --quiet --cert "$P/server.pem" --key "$P/server.key" --ca "$P/sca.pem" \
    >"$TMP/mock.out" 2>"$TMP/mock.err" &
MOCK_PID=$!
PIDS+=("$MOCK_PID")
for i in $(seq 200); do grep -q '^port=' "$TMP/mock.out" 2>/dev/null && break; sleep 0.05; done
MPORT=$(sed -n 's/^port=//p' "$TMP/mock.out")
R hset "$(K pushcert "$TOPIC")" cert "$(cat "$P/push.pem")" key "$(cat "$P/push.key")" \
    updated "$(date +%s)" >/dev/null

WORKER_PID=
worker_start() {
    "$WORKER" --redis "127.0.0.1:$RPORT" --apns-url "https://127.0.0.1:$MPORT" \
        --apns-ca "$P/sca.pem" --name "bench-$1" --log-level warn 2>>"$TMP/worker.log" &
    WORKER_PID=$!
    PIDS+=("$WORKER_PID")
}
worker_stop() {
    [ -n "$WORKER_PID" ] || return 0
    kill -TERM "$WORKER_PID" 2>/dev/null || true
    wait "$WORKER_PID" 2>/dev/null || true
    WORKER_PID=
}

TCK=$(getconf CLK_TCK)
# utime+stime (ticks) of the given pids
ticks() {
    local sum=0 p s
    for p in "$@"; do
        s=$(awk '{ print $14 + $15 }' "/proc/$p/stat" 2>/dev/null || echo 0)
        sum=$((sum + s))
    done
    echo "$sum"
}
server_ticks() { ticks $NGINX_WORKERS "$REDIS_PID"; }
us_per() { awk -v t="$1" -v hz="$TCK" -v n="$2" 'BEGIN { printf "%.1f", (n > 0 ? t / hz * 1e6 / n : 0) }'; }

# median (min-max) of the numbers given
stat3() {
    printf '%s\n' "$@" | sort -g | awk -v fmt="${FMT:-%.0f}" '
        { v[NR] = $1 } END {
            if (NR == 0) { print "-"; exit }
            m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
            printf fmt " (" fmt "–" fmt ")", m, v[1], v[NR] }'
}
median() {
    printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
        print NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

NOTES=()
note() { NOTES+=("$*"); log "note: $*"; }

# mdmsim load ... --json into $TMP/sim.json; returns mdmsim's status
sim_load() {
    local limit=$1; shift
    local rc=0
    local out=${SIM_OUT:-$TMP/sim.json}
    timeout -k 5 "$limit" "$SIM" load "$@" --json >"$out" 2>"${out%.json}.err" || rc=$?
    if [ ! -s "$out" ]; then
        echo "bench: mdmsim produced no report (status $rc):" >&2
        cat "${out%.json}.err" >&2
        return 1
    fi
    return 0
}
jv() { jq -r "$1" "${SIM_OUT:-$TMP/sim.json}"; }
check_sim() {
    local what=$1
    local failed; failed=$(jv '.requests_failed')
    if [ "$failed" != 0 ]; then
        note "$what: $failed of $(jv '.requests') requests failed: status $(jv -c '.status') errors $(jv -c '.errors')"
    fi
    if [ "$(jv '.client_bound')" = true ]; then
        note "$what: mdmsim reported itself as the bottleneck (client CPU $(jv '.client_cpu'))"
    fi
}


# --- enrollment through the real check-in path -------------------------------
log "enrolling $N_SIGN RSA devices (signed) and $N_EC P-256 devices (TLS identity)"
t0=$(date +%s.%N)
"$SIM" enroll "${SIMID_RSA[@]}" "${SIMTLS[@]}" --mode sign -n "$N_SIGN" -c 16 \
    --server-url "$URL/mdm" >"$TMP/enroll-rsa.txt" 2>&1 || { cat "$TMP/enroll-rsa.txt" >&2; exit 1; }
"$SIM" enroll "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls -n "$N_EC" -c 32 \
    --server-url "$URL/mdm" >"$TMP/enroll-ec.txt" 2>&1 || { cat "$TMP/enroll-ec.txt" >&2; exit 1; }
log "enrolled in $(awk -v s="$t0" -v e="$(date +%s.%N)" 'BEGIN { printf "%.1f", e - s }') s; $(R zcard "$(K enrollments)") enrollments"

ROWS=()
row() { ROWS+=("$(printf '| %s | %s | %s | %s | %s | %s |' "$@")"); }
met() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN {
    if (v == "") { print "-"; exit }
    ok = op == ">=" ? v >= t : v <= t; print ok ? "met" : "not met" }'; }

# --- 1. signed Idle over keep-alive TLS --------------------------------------
s1() {
    log "[load $(loadavg)] 1. Idle reports with Mdm-Signature, keep-alive, $N_SIGN devices, c=$C_SIGN, ${DUR}s per run"
    local r rps=() p50=() p90=() p99=() cpu=() rcpu=() crps=() ccpu=() rat=() a b ra rb n
    for r in $(seq "$RUNS"); do
        a=$(server_ticks); ra=$(ticks "$REDIS_PID")
        sim_load $((DUR + 120)) "${SIMID_RSA[@]}" "${SIMTLS[@]}" --mode sign --keepalive \
            --scenario idle -n "$N_SIGN" -c "$C_SIGN" --duration "$DUR" --server-url "$URL/mdm"
        b=$(server_ticks); rb=$(ticks "$REDIS_PID")
        check_sim "1. signed Idle run $r"
        n=$(jv '.requests'); rps+=("$(jv '.requests_per_s')")
        rcpu+=("$(us_per $((rb - ra)) "$n")")
        p50+=("$(jv '.latency_us.p50')"); p90+=("$(jv '.latency_us.p90')"); p99+=("$(jv '.latency_us.p99')")
        cpu+=("$(us_per $((b - a)) "$n")")
        a=$(server_ticks)
        sim_load $((DUR + 120)) "${SIMID_RSA[@]}" "${SIMTLS[@]}" --mode sign --keepalive \
            --scenario idle -n "$N_SIGN" -c "$C_SIGN" --duration "$DUR" --server-url "$URL/ceiling"
        b=$(server_ticks)
        check_sim "1. ceiling run $r"
        n=$(jv '.requests'); crps+=("$(jv '.requests_per_s')")
        ccpu+=("$(us_per $((b - a)) "$n")")
        rat+=("$(ratio "${rps[-1]}" "${crps[-1]}")")
        log "   run $r: ${rps[-1]} req/s, ${cpu[-1]} us/req; ceiling ${crps[-1]} req/s, ${ccpu[-1]} us/req"
    done
    row "1" "Signed Idle reports, keep-alive TLS, req/s (ref: return 200)" "$(stat3 "${rps[@]}")" "$(stat3 "${crps[@]}")" \
        "$(FMT=%.2f stat3 "${rat[@]}")" "≥ 0.30: $(met "$(median "${rat[@]}")" ">=" 0.30)"
    row "1" "  latency p50 / p90 / p99 (µs)" "$(stat3 "${p50[@]}") / $(stat3 "${p90[@]}") / $(stat3 "${p99[@]}")" "" "" ""
    row "1" "  server CPU µs per request (nginx workers + redis)" "$(FMT=%.1f stat3 "${cpu[@]}")" \
        "$(FMT=%.1f stat3 "${ccpu[@]}")" "" "≤ 80: $(met "$(median "${cpu[@]}")" "<=" 80)"
    row "1" "  … of which redis-server" "$(FMT=%.1f stat3 "${rcpu[@]}")" "" "" ""
}

# --- 2. device sessions, new TLS connection each -----------------------------
s2() {
    log "[load $(loadavg)] 2. sessions: new TLS connection with client certificate, Idle → command → Acknowledged → empty; $N_SESS per run, c=$C_SESS"
    local r uuid code sps=() csps=() rat=() cpu=() ccpu=() a b acked rq
    for r in $(seq "$RUNS"); do
        uuid=$(perl -e 'printf "B2B2B2B2-0000-4000-8000-%012d", $ARGV[0]' "$r")
        perl bench/seed.pl enqueue-json "$PFX_EC" 0 "$N_SESS" "$uuid" > "$TMP/enq.json"
        code=$(curl -sS -o "$TMP/enq.out" -w '%{http_code}' --cacert "$P/sca.pem" \
            -u "nanomdm:$API_KEY" -X POST --data-binary @"$TMP/enq.json" "$URL/api/v1/enqueue?nopush=1")
        [ "$code" = 200 ] || { echo "bench: enqueue for sessions: $code $(head -c 300 "$TMP/enq.out")" >&2; exit 1; }
        a=$(server_ticks)
        sim_load $((N_SESS / 20 + 120)) "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls --scenario session \
            -n "$N_SESS" -c "$C_SESS" --sessions "$N_SESS" --server-url "$URL/mdm"
        b=$(server_ticks)
        check_sim "2. sessions run $r"
        acked=$(jv '.commands.Acknowledged')
        [ "$acked" = "$N_SESS" ] || note "2. sessions run $r: $acked of $N_SESS commands acknowledged"
        rq=$(jv '.requests')
        sps+=("$(jv '.sessions_per_s')"); cpu+=("$(us_per $((b - a)) "$(jv '.sessions')")")
        a=$(server_ticks)
        sim_load $((N_SESS / 20 + 120)) "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls --scenario session \
            -n "$N_SESS" -c "$C_SESS" --sessions "$N_SESS" --server-url "$URL/ceiling-session"
        b=$(server_ticks)
        check_sim "2. ceiling run $r"
        ccpu+=("$(us_per $((b - a)) "$(jv '.sessions')")")
        [ "$(jv '.requests')" = "$rq" ] ||
            note "2. ceiling run $r: $(jv '.requests') requests for $N_SESS sessions, the server's took $rq"
        csps+=("$(jv '.sessions_per_s')")
        rat+=("$(ratio "${sps[-1]}" "${csps[-1]}")")
        log "   run $r: ${sps[-1]} sessions/s (${cpu[-1]} us server CPU each); ceiling ${csps[-1]}/s (${ccpu[-1]} us)"
    done
    row "2" "Sessions, new TLS + client cert each (Idle→command, Acknowledged→empty), sessions/s (ref: return 200 with the same answers)" "$(stat3 "${sps[@]}")" \
        "$(stat3 "${csps[@]}")" "$(FMT=%.2f stat3 "${rat[@]}")" "≥ 0.5: $(met "$(median "${rat[@]}")" ">=" 0.5)"
    row "2" "  server CPU µs per session" "$(stat3 "${cpu[@]}")" "$(stat3 "${ccpu[@]}")" "" ""
}

# --- 3. check-in storm -------------------------------------------------------
s3() {
    log "[load $(loadavg)] 3. check-in storm: TokenUpdate from $N_EC devices, new TLS connection each, c=$C_STORM"
    local r mps=() p50=() cpu=() cmps=() ccpu=() rat=() a b
    for r in $(seq "$STORM_RUNS"); do
        a=$(server_ticks)
        sim_load $((N_EC / 50 + 120)) "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls --scenario checkin-storm \
            -n "$N_EC" -c "$C_STORM" --sessions "$N_EC" --server-url "$URL/mdm"
        b=$(server_ticks)
        check_sim "3. check-in storm run $r"
        mps+=("$(jv '.requests_per_s')"); p50+=("$(jv '.latency_us.p50')")
        cpu+=("$(us_per $((b - a)) "$(jv '.requests')")")
        # reference: the same devices, a new TLS connection and one request
        # to return 200 each, for DUR seconds
        a=$(server_ticks)
        sim_load $((DUR + 120)) "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls --scenario idle \
            -n "$N_EC" -c "$C_STORM" --duration "$DUR" --server-url "$URL/ceiling"
        b=$(server_ticks)
        check_sim "3. ceiling run $r"
        cmps+=("$(jv '.requests_per_s')")
        ccpu+=("$(us_per $((b - a)) "$(jv '.requests')")")
        rat+=("$(ratio "${mps[-1]}" "${cmps[-1]}")")
        log "   run $r: ${mps[-1]} TokenUpdates/s, ${cpu[-1]} us server CPU each; ceiling ${cmps[-1]}/s, ${ccpu[-1]} us"
    done
    row "3" "Check-in storm, $N_EC devices × TokenUpdate, new TLS each, messages/s, runs: $STORM_RUNS (ref: new TLS + return 200)" \
        "$(stat3 "${mps[@]}")" "$(stat3 "${cmps[@]}")" "$(FMT=%.2f stat3 "${rat[@]}")" "-"
    row "3" "  server CPU µs per TokenUpdate (incl. TLS handshake)" "$(stat3 "${cpu[@]}")" "$(stat3 "${ccpu[@]}")" "" ""
}

# --- 5. queue depth ------------------------------------------------------------
s5() {
    local deep short
    deep=$(printf '%s%016X' "$PFX_EC" 0)
    short=$(printf '%s%016X' "$PFX_EC" 1)
    log "[load $(loadavg)] 5. queue depth: $QDEPTH queued commands on $deep vs 1 on $short; Idle reports, TLS keep-alive, one connection each, at the same time"
    R del "$(K q "$deep")" "$(K q "$short")" >/dev/null
    perl bench/seed.pl queue "$deep" "$QDEPTH" deep | R --pipe >/dev/null
    perl bench/seed.pl queue "$short" 1 short | R --pipe >/dev/null
    log "   queue lengths: $(R llen "$(K q "$deep")") and $(R llen "$(K q "$short")")"
    # Both devices at the same time, one connection each, so that both see
    # the same machine (other load on these cores comes and goes).
    local r d=() s=() rat=() p1 p2
    for r in $(seq "$RUNS"); do
        SIM_OUT=$TMP/deep.json sim_load $((DUR + 60)) "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls --keepalive \
            --scenario idle -n 1 -c 1 --first-device 0 --duration "$DUR" --server-url "$URL/mdm" &
        p1=$!
        SIM_OUT=$TMP/short.json sim_load $((DUR + 60)) "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls --keepalive \
            --scenario idle -n 1 -c 1 --first-device 1 --duration "$DUR" --server-url "$URL/mdm" &
        p2=$!
        wait "$p1"; wait "$p2"
        SIM_OUT=$TMP/deep.json check_sim "5. deep queue run $r"
        [ "$(SIM_OUT=$TMP/deep.json jv '.commands.unanswered')" = "$(SIM_OUT=$TMP/deep.json jv '.requests')" ] ||
            note "5. deep queue run $r: not every Idle got a command"
        SIM_OUT=$TMP/short.json check_sim "5. short queue run $r"
        d+=("$(SIM_OUT=$TMP/deep.json jv '.latency_us.p50')")
        s+=("$(SIM_OUT=$TMP/short.json jv '.latency_us.p50')")
        rat+=("$(ratio "${d[-1]}" "${s[-1]}")")
        log "   run $r: p50 ${d[-1]} us (deep) vs ${s[-1]} us (1 queued)"
    done
    row "5" "Idle report → head command, p50 µs, $QDEPTH queued (ref: 1 queued)" "$(stat3 "${d[@]}")" "$(stat3 "${s[@]}")" \
        "$(FMT=%.2f stat3 "${rat[@]}")" "≤ 1.1: $(met "$(median "${rat[@]}")" "<=" 1.1)"
}

# --- 4 + 6. enqueue to 100k, then the pushes it queued -------------------------
unfinished() {
    R xinfo groups "$(K push)" | awk '
        prev == "pending" { p = $1 } prev == "lag" { l = $1 } { prev = $1 }
        END { print (p == "" || l == "") ? -1 : p + l }'
}
s46() {
    log "[load $(loadavg)] 4. seeding $N_ENQ enrollments (enabled, with push tokens) straight into Redis"
    perl bench/seed.pl enrollments "$N_ENQ" "$PFX_ENQ" "$TOPIC" | R --pipe >/dev/null
    R xgroup create "$(K push)" pushers '$' mkstream >/dev/null 2>&1 || true
    local r uuid code secs=() pps=() wcpu=() ocpu=() start end a b wt ok=1 pushes
    for r in $(seq "$RUNS"); do
        uuid=$(perl -e 'printf "E4E4E4E4-0000-4000-8000-%012d", $ARGV[0]' "$r")
        perl bench/seed.pl enqueue-json "$PFX_ENQ" 0 "$N_ENQ" "$uuid" > "$TMP/enq.json"
        R xtrim "$(K push)" maxlen 0 >/dev/null
        code=$(curl -sS -o "$TMP/enq.out" -w '%{http_code} %{time_total}' --cacert "$P/sca.pem" \
            -u "nanomdm:$API_KEY" -X POST --data-binary @"$TMP/enq.json" "$URL/api/v1/enqueue")
        [ "${code% *}" = 200 ] || { echo "bench: enqueue: $code $(head -c 300 "$TMP/enq.out")" >&2; exit 1; }
        secs+=("${code#* }")
        # push jobs = enrollment IDs: one stream entry carries a chunk of them
        pushes=$(R eval "local n = 0 for _, e in ipairs(redis.call('XRANGE', KEYS[1], '-', '+')) do n = n + #e[2] / 2 end return n" 1 "$(K push)")
        log "   run $r: enqueue to $N_ENQ in ${secs[-1]} s; $pushes push jobs"
        # 6: a fresh worker drains the jobs this enqueue queued
        a=$(ticks "$REDIS_PID" "$MOCK_PID")
        start=$(date +%s.%N)
        worker_start "$r"
        local deadline=$((SECONDS + 120))
        while [ "$(unfinished)" != 0 ]; do
            if ! kill -0 "$WORKER_PID" 2>/dev/null || [ $SECONDS -gt $deadline ]; then ok=0; break; fi
            sleep 0.02
        done
        end=$(date +%s.%N)
        wt=$(ticks "$WORKER_PID")
        b=$(ticks "$REDIS_PID" "$MOCK_PID")
        worker_stop
        if [ $ok = 0 ]; then
            note "6. run $r: the worker did not drain $pushes pushes within 120 s ($(unfinished) left); see worker log"
            tail -5 "$TMP/worker.log" >&2
            break
        fi
        pps+=("$(awk -v n="$pushes" -v s="$start" -v e="$end" 'BEGIN { printf "%.0f", n / (e - s) }')")
        wcpu+=("$(us_per "$wt" "$pushes")")
        ocpu+=("$(us_per $((b - a)) "$pushes")")
        log "   run $r: $pushes pushes in $(awk -v s="$start" -v e="$end" 'BEGIN { printf "%.2f", e - s }') s: ${pps[-1]}/s, ${wcpu[-1]} us worker CPU each, ${ocpu[-1]} us redis + apns-mock"
    done
    row "4" "Enqueue 1 command to $N_ENQ enrollments in one API call, s" "$(FMT=%.2f stat3 "${secs[@]}")" "" "" \
        "≤ 1 s: $(met "$(median "${secs[@]}")" "<=" 1)"
    if [ ${#pps[@]} -gt 0 ]; then
        row "6" "Pushes to apns-mock, 1 worker, the enqueue's $N_ENQ jobs, pushes/s" "$(stat3 "${pps[@]}")" "" "" \
            "≥ 40,000: $(met "$(median "${pps[@]}")" ">=" 40000)"
        row "6" "  worker CPU µs per push" "$(FMT=%.1f stat3 "${wcpu[@]}")" "" "" \
            "≤ 15: $(met "$(median "${wcpu[@]}")" "<=" 15)"
        row "6" "  redis + apns-mock CPU µs per push" "$(FMT=%.1f stat3 "${ocpu[@]}")" "" "" ""
    else
        row "6" "Pushes/s to apns-mock" "not measured (worker did not drain the jobs)" "" "" ""
    fi
    local mock
    mock=$(grep '^stats' "$TMP/mock.out" | tail -1 || true)
    if [ -n "$mock" ]; then log "   apns-mock: $mock"; fi
}

# --- 7. Redis memory per enrolled device ------------------------------------------
# The template device checks in through nginx with the fixture bodies
# (devices/ios-authenticate.plist, devices/ios-tokenupdate.plist without its
# UnlockToken), its UDID replaced by its own; whatever the server stores for
# it is then copied N times with per-device values.
FIXTURES=${MDM_FIXTURES:-../shared/fixtures}
checkin_put() {
    local body=$1 pem=$2 sig
    sig=$(openssl cms -sign -binary -in "$body" -signer "$pem" -inkey "$pem" \
        -outform DER -md sha256 | base64 -w0)
    curl -sS -o "$TMP/checkin.out" -w '%{http_code}' --cacert "$P/sca.pem" -X PUT \
        -H 'Content-Type: application/x-apple-aspen-mdm-checkin' -H "Mdm-Signature: $sig" \
        --data-binary @"$body" "$URL/mdm"
}
s7() {
    local tnum=4095 tid pem code
    tid=$(printf '%s%016X' "$PFX_RSA" "$tnum")
    "$SIM" gen-ids "${SIMID_RSA[@]}" --first-device "$tnum" -n 1 >/dev/null
    pem=$IDS/rsa/$tid.pem
    perl -0777 -pe "s{(<key>UDID</key>\\s*<string>)[^<]*}{\${1}$tid}" \
        "$FIXTURES/devices/ios-authenticate.plist" > "$TMP/t-auth.plist"
    perl -0777 -pe "s{(<key>UDID</key>\\s*<string>)[^<]*}{\${1}$tid}; s{\\s*<key>UnlockToken</key>\\s*<data>.*?</data>}{}s" \
        "$FIXTURES/devices/ios-tokenupdate.plist" > "$TMP/t-token.plist"
    for m in auth token; do
        code=$(checkin_put "$TMP/t-$m.plist" "$pem")
        [ "$code" = 200 ] || { echo "bench: template check-in ($m): $code $(head -c 200 "$TMP/checkin.out")" >&2; exit 1; }
    done
    perl bench/seed.pl template "$RPORT" "$tid" > "$TMP/template.json"
    log "[load $(loadavg)] 7. Redis memory: $N_MEM enrollments as checkin.lua stores them (template: $tid, fixture bodies; stored Authenticate $(R strlen "$(K auth "$tid")") B, $(R hlen "$(K enr "$tid")") hash fields)"
    local r before after per=()
    for r in $(seq "$RUNS"); do
        R flushall >/dev/null
        R memory purge >/dev/null 2>&1 || true
        before=$(R info memory | tr -d '\r' | sed -n 's/^used_memory://p')
        perl bench/seed.pl realistic "$N_MEM" "$PFX_MEM" "$TMP/template.json" | R --pipe >/dev/null
        after=$(R info memory | tr -d '\r' | sed -n 's/^used_memory://p')
        per+=("$(awk -v a="$before" -v b="$after" -v n="$N_MEM" 'BEGIN { printf "%.0f", (b - a) / n }')")
        log "   run $r: $(R dbsize) keys, used_memory +$((after - before)) B: ${per[-1]} B/device"
    done
    row "7" "Redis used_memory per enrolled device, $N_MEM devices, bytes" "$(stat3 "${per[@]}")" "" "" \
        "≤ 1536: $(met "$(median "${per[@]}")" "<=" 1536)"
}

# --- 8. enrollment: profile + SCEP + Authenticate + TokenUpdate ---------------
N_ENR=${BENCH_N_ENR:-200}    # devices enrolled per run
C_ENR=16
N_PROF=${BENCH_N_PROF:-400}  # profile downloads for the CPU breakdown
# Client processes for the blocking profile download + SCEP: enough that
# the server, not the client's round trips, sets the pace.
J_ENR=${BENCH_J_ENR:-8}
# N GETs of path, a new TLS connection each, 8 at a time
new_tls_gets() {
    seq "$2" | xargs -P 8 -I{} curl -sf -o /dev/null -H 'Connection: close' \
        --cacert "$P/sca.pem" "$URL$1" || note "8. some GETs of $1 failed"
}
s8() {
    log "[load $(loadavg)] 8. enrollment: $N_ENR devices × (profile download + SCEP + Authenticate + TokenUpdate), new TLS each, next to a TokenUpdate storm"
    local r eps=() cpu=() mps=() scpu=() rat=() crat=() pcpu=() ccpu=() a b t0 t1 n
    mkdir -p "$IDS/scep"
    # untimed: makes (or finds) the devices' keys, which is their work
    "$SIM" enroll --profile "$URL/enroll" "${SIMTLS[@]}" --id-dir "$IDS/scep" \
        --udid-prefix 00008140- -n "$N_ENR" -c "$C_ENR" --jobs "$J_ENR" >"$TMP/enroll8.txt" 2>&1 ||
        note "8. warm-up enrollment failed: $(tail -3 "$TMP/enroll8.txt" | tr '\n' ' ')"
    for r in $(seq "$RUNS"); do
        # the storm of scenario 3, shorter, in the same run
        a=$(server_ticks)
        sim_load $((DUR + 120)) "${SIMID_EC[@]}" "${SIMTLS[@]}" --mode tls --scenario checkin-storm \
            -n "$N_EC" -c "$C_STORM" --duration "$DUR" --server-url "$URL/mdm"
        b=$(server_ticks)
        check_sim "8. storm run $r"
        mps+=("$(jv '.requests_per_s')")
        scpu+=("$(us_per $((b - a)) "$(jv '.requests')")")
        a=$(server_ticks)
        t0=$(date +%s.%N)
        if ! timeout -k 5 $((N_ENR + 120)) "$SIM" enroll --profile "$URL/enroll" "${SIMTLS[@]}" \
            --id-dir "$IDS/scep" --udid-prefix 00008140- \
            -n "$N_ENR" -c "$C_ENR" --jobs "$J_ENR" >"$TMP/enroll8.txt" 2>&1; then
            note "8. run $r: mdmsim enroll --profile failed: $(tail -3 "$TMP/enroll8.txt" | tr '\n' ' ')"
            continue
        fi
        t1=$(date +%s.%N)
        b=$(server_ticks)
        eps+=("$(awk -v n="$N_ENR" -v s="$t0" -v e="$t1" 'BEGIN { printf "%.1f", n / (e - s) }')")
        cpu+=("$(us_per $((b - a)) "$N_ENR")")
        rat+=("$(ratio "${eps[-1]}" "${mps[-1]}")")
        crat+=("$(ratio "${scpu[-1]}" "${cpu[-1]}")")
        log "   run $r: ${eps[-1]} enrollments/s, ${cpu[-1]} us server CPU each; storm ${mps[-1]} TokenUpdates/s, ${scpu[-1]} us"
    done
    # where the CPU goes: a profile download alone, a new TLS connection alone
    a=$(server_ticks); new_tls_gets /enroll "$N_PROF"; b=$(server_ticks)
    pcpu=("$(us_per $((b - a)) "$N_PROF")")
    a=$(server_ticks); new_tls_gets /ceiling "$N_PROF"; b=$(server_ticks)
    ccpu=("$(us_per $((b - a)) "$N_PROF")")
    n=$(openssl speed -seconds 2 rsa2048 2>/dev/null | awk '/^rsa 2048/ { print 1e6 / $6 }')
    if [ ${#eps[@]} -gt 0 ]; then
        row "8" "Enrollments/s: profile + SCEP + Authenticate + TokenUpdate, new TLS each, $N_ENR devices (ref: TokenUpdate storm, same run)" \
            "$(FMT=%.1f stat3 "${eps[@]}")" "$(stat3 "${mps[@]}")" "$(FMT=%.3f stat3 "${rat[@]}")" \
            "≥ 0.5: $(met "$(median "${rat[@]}")" ">=" 0.5)"
        row "8" "  server CPU µs per enrollment (ref: per TokenUpdate); ratio: enrollments per TokenUpdate at equal server CPU" "$(stat3 "${cpu[@]}")" "$(stat3 "${scpu[@]}")" "$(FMT=%.3f stat3 "${crat[@]}")" ""
    else
        row "8" "Enrollments/s (ref: TokenUpdate storm, same run)" "not measured (see notes)" "$(stat3 "${mps[@]}")" "" ""
    fi
    row "8" "  … one profile download, new TLS (ref: new TLS + return 200)" "$(stat3 "${pcpu[@]}")" "$(stat3 "${ccpu[@]}")" "" ""
    row "8" "  … one RSA-2048 signature (openssl speed, one core)" "$(FMT=%.0f stat3 "$n")" "" "" ""
}

START=$(date +%s)
LOAD0=$(cut -d' ' -f1-3 /proc/loadavg)
# --- 9. declarative management ------------------------------------------------
N_DDM_DECLS=${BENCH_N_DDM_DECLS:-200}
N_DDM_FAN=${BENCH_N_DDM_FAN:-100000}
kd() { curl -sS -o "$TMP/kd.out" -w '%{http_code} %{time_total}' --cacert "$P/sca.pem" -u "kmfddm:$API_KEY" "$@"; }
kd_ok() {
    local code; code=$(kd "$@")
    case "${code% *}" in 204|304) ;; *) echo "bench: DDM API $*: $code $(head -c 300 "$TMP/kd.out")" >&2; exit 1 ;; esac
}
s9() {
    log "[load $(loadavg)] 9. DDM: $N_DDM_DECLS declarations in one set, assigned to the $N_SIGN signed devices (nonotify)"
    local api="$URL/api/v1" i id r a b n irps=() icpu=() drps=() dcpu=() rat=() secs=() code
    for i in $(seq 1 "$N_DDM_DECLS"); do
        id=$(printf 'bench-%03d' "$i")
        printf '{"Type":"com.apple.management.properties","Identifier":"%s","Payload":{"n":%d}}' "$id" "$i" >"$TMP/decl.json"
        kd_ok -X PUT --data-binary @"$TMP/decl.json" "$api/declarations?nonotify=1"
        kd_ok -X PUT "$api/set-declarations/bench?declaration=$id&nonotify=1"
    done
    for i in $(seq 0 $((N_SIGN - 1))); do
        kd_ok -X PUT "$api/enrollment-sets/$(printf '%s%016X' "$PFX_RSA" "$i")?set=bench&nonotify=1"
    done
    for r in $(seq "$RUNS"); do
        a=$(server_ticks)
        sim_load $((DUR + 120)) "${SIMID_RSA[@]}" "${SIMTLS[@]}" --mode sign --keepalive \
            --scenario idle -n "$N_SIGN" -c "$C_SIGN" --duration "$DUR" --server-url "$URL/mdm"
        b=$(server_ticks)
        check_sim "9. signed Idle run $r"
        n=$(jv '.requests'); irps+=("$(jv '.requests_per_s')"); icpu+=("$(us_per $((b - a)) "$n")")
        a=$(server_ticks)
        sim_load $((DUR + 120)) "${SIMID_RSA[@]}" "${SIMTLS[@]}" --mode sign --keepalive \
            --scenario ddm-items -n "$N_SIGN" -c "$C_SIGN" --duration "$DUR" --check-in-url "$URL/mdm"
        b=$(server_ticks)
        check_sim "9. declaration-items run $r"
        n=$(jv '.requests'); drps+=("$(jv '.requests_per_s')"); dcpu+=("$(us_per $((b - a)) "$n")")
        rat+=("$(ratio "${dcpu[-1]}" "${icpu[-1]}")")
        log "   run $r: declaration-items ${drps[-1]} req/s, ${dcpu[-1]} us/req; Idle ${irps[-1]} req/s, ${icpu[-1]} us/req"
    done
    row "9" "DDM declaration-items, $N_DDM_DECLS declarations, signed, keep-alive, req/s (ref: signed Idle)" \
        "$(stat3 "${drps[@]}")" "$(stat3 "${irps[@]}")" "" ""
    row "9" "  server CPU µs per request (ratio: items / Idle)" "$(FMT=%.1f stat3 "${dcpu[@]}")" \
        "$(FMT=%.1f stat3 "${icpu[@]}")" "$(FMT=%.2f stat3 "${rat[@]}")" "≤ 1.5: $(met "$(median "${rat[@]}")" "<=" 1.5)"

    log "[load $(loadavg)] 9. DDM: one declaration change reaching $N_DDM_FAN enrollments (seeded)"
    perl bench/seed.pl enrollments "$N_DDM_FAN" "$PFX_ENQ" "$TOPIC" | R --pipe >/dev/null
    printf '{"Type":"com.apple.management.properties","Identifier":"fan","Payload":{"n":0}}' >"$TMP/decl.json"
    kd_ok -X PUT --data-binary @"$TMP/decl.json" "$api/declarations"
    kd_ok -X PUT "$api/set-declarations/fan?declaration=fan"
    perl bench/seed.pl ddm-assign "$N_DDM_FAN" "$PFX_ENQ" fan | R --pipe >/dev/null
    for r in $(seq "$RUNS"); do
        # every enrollment without a pending command, so that each run
        # enqueues one to all of them
        R eval "for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do redis.call('HDEL', (string.gsub(ARGV[1], '@ID@', id)), 'notify') end return 0" \
            1 "$(K ddm_set_enrs fan)" "$(K ddm @ID@)" >/dev/null
        printf '{"Type":"com.apple.management.properties","Identifier":"fan","Payload":{"n":%d}}' "$r" >"$TMP/decl.json"
        code=$(kd -X PUT --data-binary @"$TMP/decl.json" "$api/declarations")
        [ "${code% *}" = 204 ] || { echo "bench: fan-out PUT: $code $(head -c 300 "$TMP/kd.out")" >&2; exit 1; }
        secs+=("${code#* }")
        log "   run $r: views of $N_DDM_FAN enrollments updated and commands queued in ${secs[-1]} s"
    done
    row "9" "DDM: one declaration change in a set of $N_DDM_FAN enrollments: views updated + commands queued, s" \
        "$(FMT=%.2f stat3 "${secs[@]}")" "" "" "≤ 2 s: $(met "$(median "${secs[@]}")" "<=" 2)"
}

# --- 10. Device Assignment sync (bench/dep_bench.pl) ------------------------
s10() {
    log "[load $(loadavg)] 10. DEP: mdm-worker fetching ${BENCH_DEP_N:-20000} devices from dep-mock"
    local out
    out=$(MDM_BUILD=$B BENCH_RUNS=$RUNS perl bench/dep_bench.pl) \
        || { echo "bench: dep_bench failed" >&2; exit 1; }
    f() { awk -v k="$1" '$1 == k { printf "%s (%s–%s)", $2, $3, $4 }' <<<"$out"; }
    m() { awk -v k="$1" '$1 == k { print $2 }' <<<"$out"; }
    row "10" "DEP fetch of ${BENCH_DEP_N:-20000} devices from dep-mock, pages of 1000, stored + linked, devices/s (ref: the same pages fetched, not stored)" \
        "$(f dep_sync_devices_per_s)" "$(f dep_fetch_only_devices_per_s)" \
        "$(awk -v a="$(m dep_sync_devices_per_s)" -v b="$(m dep_fetch_only_devices_per_s)" 'BEGIN { printf "%.2f", a / b }')" ""
    row "10" "  mdm-worker CPU µs per device" "$(f dep_worker_cpu_us_per_device)" "" "" ""
    row "10" "  Redis used_memory per DEP device (record + link), bytes" "$(f dep_redis_bytes_per_device)" "" "" ""
}

for s in ${BENCH_ONLY:-s1 s2 s3 s5 s46 s8 s7 s9 s10}; do "$s"; done

# --- report --------------------------------------------------------------------
mkdir -p "$(dirname "$OUT")"
{
    echo "ngx_mdm make bench — $(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- libmdm ngx_mdm_module worker tools 2>/dev/null || echo ' (+ uncommitted changes)')"
    echo "machine: $(nproc) cores, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(awk '/MemTotal/ { printf "%.1f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "nginx $("$NGINX" -v 2>&1 | sed 's|.*/||'), redis $(redis-server --version | sed 's/.*v=\([^ ]*\).*/\1/'), $(openssl version | cut -d' ' -f1-2)"
    echo "load average before / after: $LOAD0 / $(cut -d' ' -f1-3 /proc/loadavg) (other work on the machine shares the cores)"
    echo "runs: $RUNS per figure, median (min–max); load generator on the same cores; $(( $(date +%s) - START )) s"
    echo
    echo "| # | Measure | ngx_mdm | Reference | Ratio | Target |"
    echo "|---|---|---|---|---|---|"
    printf '%s\n' "${ROWS[@]}"
    if [ ${#NOTES[@]} -gt 0 ]; then
        echo
        echo "Notes:"
        printf -- '- %s\n' "${NOTES[@]}"
    fi
} > "$OUT.tmp"
mv "$OUT.tmp" "$OUT"
echo
cat "$OUT"
