#!/bin/bash
# SPDX-License-Identifier: MIT
#
# nginx auth_request in front of a real ipwalld, end to end.
#
# Starts ipwalld (build/asan/src/daemon/ipwalld, or $IPWALLD) on a free
# loopback port with a temporary data directory, and a real nginx ($NGINX,
# default: the one on PATH or /usr/sbin/nginx) on free loopback ports, with
#   - a tiny application server answering "upstream ok",
#   - dist/nginx/ipwall-auth.conf itself (the operators' example), with only
#     its listen, ipwalld and application addresses rewritten, and
#   - the fail-open recipe from that file's comments on a third port
# (tests/integration/nginx/nginx.conf.in). Clients are curl bound to
# different loopback source addresses (127.0.0.5, 127.0.0.96, ...), which
# nginx sees as $remote_addr and asks ipwalld about.
#
# Checks: admitted clients reach the application; exact and prefix bans
# give 403 (the friendly page) while others still pass; the application
# never sees a blocked request; allow beats a covering ban; allowlist mode;
# unban; every request really was a check (ipwall_checks_total in
# GET /metrics); the connection to ipwalld is kept alive; with ipwalld
# stopped the protected server answers 500 (fails closed) and the fail-open
# recipe admits; after a restart checks work again at once.
#
# Output is TAP. Run from anywhere: bash tests/integration/nginx.sh.
# Everything listens on 127.0.0.1; everything written goes to one temporary
# directory, removed at exit; only the processes started here are stopped.
set -u
cd "$(dirname "$0")/../.." || exit 1

IPWALLD=${IPWALLD:-build/asan/src/daemon/ipwalld}
NGINX=${NGINX:-$(command -v nginx 2>/dev/null || echo /usr/sbin/nginx)}
EXAMPLE=dist/nginx/ipwall-auth.conf
TEMPLATE=tests/integration/nginx/nginx.conf.in

# ---------------------------------------------------------------- TAP

n=0
failed=0

# report RC DESC [DIAGNOSTIC...]: one TAP line; diagnostics on failure.
report() {
	local rc=$1 desc=$2 d
	shift 2
	n=$((n + 1))
	if [ "$rc" -eq 0 ]; then
		echo "ok $n - $desc"
	else
		echo "not ok $n - $desc"
		failed=$((failed + 1))
		for d in "$@"; do
			echo "#   $d"
		done
	fi
}

bail() {
	echo "Bail out! $*"
	exit 1
}

# ---------------------------------------------------------------- processes

T=
DPID=
NPID=
WPID=
TIME_LIMIT=${TIME_LIMIT:-40}

# alive PID: the process exists and is not a zombie (kill -0 succeeds on
# an unreaped child that has already exited).
alive() {
	local st
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ] && [ "$st" != X ]
}

# stop PID SIGNAL SECONDS: signal one process we started, wait for it to
# exit (SIGKILL after SECONDS), reap it; the exit status is in $STOP_RC.
stop() {
	local pid=$1 sig=$2 i
	STOP_RC=
	[ -n "$pid" ] || return 0
	kill "-$sig" "$pid" 2>/dev/null
	for ((i = 0; i < $3 * 10; i++)); do
		alive "$pid" || break
		sleep 0.1
	done
	if alive "$pid"; then
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	STOP_RC=$?
}

# stop_nginx: fast shutdown of the master we started; its workers exit
# with it. Should the master have to be killed, its workers (its
# children, and only those) are killed first.
stop_nginx() {
	local w kids=()
	[ -n "$NPID" ] || return 0
	kill -TERM "$NPID" 2>/dev/null
	for ((w = 0; w < 50; w++)); do
		alive "$NPID" || break
		sleep 0.1
	done
	if alive "$NPID"; then
		read -ra kids 2>/dev/null <"/proc/$NPID/task/$NPID/children"
		for w in "${kids[@]}"; do
			kill -KILL "$w" 2>/dev/null
		done
		kill -KILL "$NPID" 2>/dev/null
	fi
	wait "$NPID" 2>/dev/null
	NPID=
}

cleanup() {
	if [ -n "$WPID" ]; then
		kill -TERM "$WPID" 2>/dev/null
		wait "$WPID" 2>/dev/null
	fi
	stop_nginx
	if [ -n "$DPID" ]; then
		stop "$DPID" TERM 5
		DPID=
	fi
	[ -n "$T" ] && rm -rf "$T"
}
trap cleanup EXIT
trap 'echo "Bail out! interrupted (or over the ${TIME_LIMIT}s time limit)"; exit 1' INT TERM HUP

# The watchdog: past TIME_LIMIT seconds the script gets SIGTERM (it stops
# at the end of the current command, at most one curl -m 5), and cleans up.
(
	trap 'kill -TERM "$sp" 2>/dev/null; exit 0' TERM
	sleep "$TIME_LIMIT" &
	sp=$!
	wait "$sp" && kill -TERM $$
) >/dev/null 2>&1 &
WPID=$!

# ---------------------------------------------------------------- helpers

# port_busy PORT: something listens on 127.0.0.1:PORT (or ss shows it).
port_busy() {
	if (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; then
		return 0
	fi
	if command -v ss >/dev/null &&
		[ -n "$(ss -Htan "( sport = :$1 )" 2>/dev/null)" ]; then
		return 0
	fi
	return 1
}

USED_PORTS=" "
# free_port: a port in 20000..31999 (below the kernel's ephemeral range,
# where client connections take theirs) nothing uses, not handed out
# before.
free_port() {
	local p i
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % 12000))
		case $USED_PORTS in *" $p "*) continue ;; esac
		if ! port_busy "$p"; then
			USED_PORTS+="$p "
			echo "$p"
			return 0
		fi
	done
	return 1
}

# wait_http URL SECONDS [CURL-ARGS...]: until URL answers 200.
wait_http() {
	local url=$1 secs=$2 i
	shift 2
	for ((i = 0; i < secs * 20; i++)); do
		if [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' "$@" "$url")" = 200 ]; then
			return 0
		fi
		sleep 0.05
	done
	return 1
}

# start_ipwalld: ipwalld on $DPORT with data dir $DATA, until /healthz
# answers. Sets DPID.
start_ipwalld() {
	"$IPWALLD" --listen "127.0.0.1:$DPORT" --data-dir "$DATA" \
		>>"$T/ipwalld.log" 2>&1 &
	DPID=$!
	local i
	for ((i = 0; i < 200; i++)); do
		alive "$DPID" || break
		if [ "$(curl -s -m 1 -o /dev/null -w '%{http_code}' \
			"http://127.0.0.1:$DPORT/healthz")" = 200 ] &&
			[ -S "$DATA/ipwalld.sock" ]; then
			return 0
		fi
		sleep 0.05
	done
	stop "$DPID" TERM 3
	DPID=
	return 1
}

# api METHOD PATH [JSON]: one request on ipwalld's unix socket (trusted,
# no token). Sets API_STATUS and API_BODY.
api() {
	local args=(-sS -m 5 --unix-socket "$DATA/ipwalld.sock" -X "$1"
		-o "$T/api.out" -w '%{http_code}')
	[ $# -ge 3 ] && args+=(-H 'Content-Type: application/json'
		--data-binary "$3")
	rm -f "$T/api.out"
	API_STATUS=$(curl "${args[@]}" "http://ipwalld$2" 2>>"$T/curl.err")
	API_BODY=$(cat "$T/api.out" 2>/dev/null)
}

# expect_api DESC WANT_STATUS METHOD PATH [JSON]
expect_api() {
	local desc=$1 want=$2
	shift 2
	api "$@"
	[ "$API_STATUS" = "$want" ]
	report $? "$desc" "$1 $2 ${3-}: want $want, got $API_STATUS" \
		"body: $API_BODY"
}

# metric PREFIX: the sum of ipwalld's /metrics samples whose line starts
# with PREFIX ("" if /metrics did not answer).
metric() {
	local m
	m=$(curl -sS -m 5 "http://127.0.0.1:$DPORT/metrics" 2>>"$T/curl.err") ||
		return 0
	awk -v k="$1" 'index($0, k) == 1 { s += $NF } END { print s + 0 }' <<<"$m"
}
CHECKS='ipwall_checks_total{'
BANNED='ipwall_checks_total{verdict="blocked",reason="banned"}'
ALLOWED='ipwall_checks_total{verdict="admitted",reason="allowed"}'
NOT_ALLOWED='ipwall_checks_total{verdict="blocked",reason="not_allowed"}'

# fetch SRC PORT PATH [CURL-ARGS...]: a client request from source address
# SRC. Sets ST (000 when no answer) and leaves the body in $T/body.
fetch() {
	local src=$1 port=$2 path=$3
	shift 3
	rm -f "$T/body"
	ST=$(curl -sS -m 5 --interface "$src" -o "$T/body" -w '%{http_code}' \
		"$@" "http://127.0.0.1:$port$path" 2>>"$T/curl.err")
	[ -n "$ST" ] || ST=000
}

# expect DESC SRC PORT WANT_STATUS WANT_BODY [CURL-ARGS...]: fetch "/" (or
# the path in $EXPECT_PATH) and compare. WANT_BODY: "upstream" (exactly
# the application's answer), "blocked" (the friendly 403 page), "other"
# (anything but the application's answer).
expect() {
	local desc=$1 src=$2 port=$3 want=$4 body=$5 rc=0 what
	shift 5
	fetch "$src" "$port" "${EXPECT_PATH:-/}" "$@"
	[ "$ST" = "$want" ] || rc=1
	case $body in
	upstream) cmp -s "$T/body" "$T/upstream.expected" || rc=1 ;;
	blocked) grep -q 'Access denied' "$T/body" 2>/dev/null || rc=1 ;;
	other) ! cmp -s "$T/body" "$T/upstream.expected" || rc=1 ;;
	esac
	what="from $src to :$port${EXPECT_PATH:-/}: want $want ($body), got $ST"
	report $rc "$desc" "$what" "body: $(head -c 300 "$T/body" 2>/dev/null)"
}

# upstream_hits: requests the application has logged so far.
upstream_hits() {
	if [ -f "$T/upstream-access.log" ]; then
		wc -l <"$T/upstream-access.log"
	else
		echo 0
	fi
}

# keepalive_ports: local ports of established connections to ipwalld's TCP
# port (nginx's idle upstream connections; no curl is running then).
keepalive_ports() {
	ss -Htn state established "( dport = :$DPORT )" 2>/dev/null |
		awk '{ n = split($(NF - 1), a, ":"); print a[n] }' | sort -u
}

# ---------------------------------------------------------------- setup

if [ ! -x "$NGINX" ]; then
	echo "1..0 # SKIP nginx not found (set NGINX=)"
	exit 0
fi
"$NGINX" -V 2>&1 | grep -q http_auth_request_module ||
	bail "$NGINX lacks http_auth_request_module"
[ -x "$IPWALLD" ] || bail "$IPWALLD not built"
[ -f "$EXAMPLE" ] || bail "$EXAMPLE missing"
[ -f "$TEMPLATE" ] || bail "$TEMPLATE missing"
command -v curl >/dev/null || bail "curl not found"

T=$(mktemp -d "${TMPDIR:-/tmp}/ipwall-nginx.XXXXXX") || bail "mktemp failed"
chmod 755 "$T" # nginx workers read nothing here, but keep it traversable
DATA=$T/data
mkdir -p "$DATA" "$T/check"
printf 'upstream ok\n' >"$T/upstream.expected"
: >"$T/curl.err"

# 1. ipwalld on a free port (a few tries, in case another process takes the
# port between the probe and the bind).
started=1
for _ in 1 2 3; do
	DPORT=$(free_port) || bail "no free port"
	if start_ipwalld; then
		started=0
		break
	fi
done
report $started "ipwalld starts on 127.0.0.1:$DPORT and answers /healthz" \
	"log: $(tail -5 "$T/ipwalld.log" 2>/dev/null)"
[ $started -eq 0 ] || bail "ipwalld did not start"

if [ -f "$DATA/tokens" ] && [ "$(stat -c %a "$DATA/tokens")" = 600 ] &&
	grep -Eq '^admin:.+' "$DATA/tokens"; then
	report 0 "ipwalld created DATA/tokens (mode 0600, an admin token)"
else
	report 1 "ipwalld created DATA/tokens (mode 0600, an admin token)" \
		"$(ls -l "$DATA" 2>&1)"
fi

# 2. The example, with its addresses rewritten; every rewrite must apply,
# else the example changed and the test would run something else.
UPORT=$(free_port) || bail "no free port"
NPORT=$(free_port) || bail "no free port"
FPORT=$(free_port) || bail "no free port"

sed -e "s|^\(    server \)127\.0\.0\.1:7420;|\1127.0.0.1:$DPORT;|" \
	-e "s|^    listen 80;|    listen 127.0.0.1:$NPORT;|" \
	-e "/^    listen \[::\]:80;/d" \
	-e "s|proxy_pass http://127\.0\.0\.1:8080;|proxy_pass http://127.0.0.1:$UPORT;|" \
	"$EXAMPLE" >"$T/ipwall-auth.conf"
rc=0
diags=()
# shellcheck disable=SC2016 # $remote_addr is nginx's, literally
for want in "server 127.0.0.1:$DPORT;" "listen 127.0.0.1:$NPORT;" \
	"proxy_pass http://127.0.0.1:$UPORT;" \
	'auth_request /_ipwall_check;' \
	'proxy_pass http://ipwalld/v1/check?ip=$remote_addr;'; do
	if ! grep -qF -- "$want" "$T/ipwall-auth.conf"; then
		rc=1
		diags+=("missing after rewrite: $want")
	fi
done
for gone in ':7420' 'listen 80' 'listen [::]:80' '127.0.0.1:8080'; do
	if grep -v '^ *#' "$T/ipwall-auth.conf" | grep -qF -- "$gone"; then
		rc=1
		diags+=("still there after rewrite: $gone")
	fi
done
report $rc "the example's ipwalld, listen and application addresses rewritten for the test" "${diags[@]}"

user=
[ "$(id -u)" -eq 0 ] && user='user root;'
sed -e "s|@TMP@|$T|g" -e "s|@UPSTREAM_PORT@|$UPORT|g" \
	-e "s|@FAILOPEN_PORT@|$FPORT|g" -e "s|@USER@|$user|g" \
	"$TEMPLATE" >"$T/nginx.conf"

# 3. nginx -t on the example exactly as shipped (in a bare http {}), then
# on the test configuration.
cat >"$T/check/nginx.conf" <<EOF
$user
pid $T/check/nginx.pid;
error_log $T/check/error.log;
events { }
http {
    client_body_temp_path $T/check/client_body;
    proxy_temp_path $T/check/proxy;
    fastcgi_temp_path $T/check/fastcgi;
    uwsgi_temp_path $T/check/uwsgi;
    scgi_temp_path $T/check/scgi;
    access_log off;
    include $PWD/$EXAMPLE;
}
EOF
out=$("$NGINX" -t -q -p "$T/check" -c "$T/check/nginx.conf" -e "$T/check/error.log" 2>&1)
report $? "nginx -t accepts $EXAMPLE as shipped" "$out" \
	"$(cat "$T/check/error.log" 2>/dev/null)"

out=$("$NGINX" -t -q -p "$T" -c "$T/nginx.conf" -e "$T/nginx-error.log" 2>&1)
report $? "nginx -t accepts the test configuration" "$out" \
	"$(tail -5 "$T/nginx-error.log" 2>/dev/null)"

# 4. nginx in the foreground (daemon off), so $! is its master.
"$NGINX" -p "$T" -c "$T/nginx.conf" -e "$T/nginx-error.log" \
	-g 'daemon off;' >"$T/nginx.out" 2>&1 &
NPID=$!
rc=0
wait_http "http://127.0.0.1:$UPORT/" 10 && alive "$NPID" || rc=1
report $rc "nginx starts (application on :$UPORT, protected :$NPORT, fail-open :$FPORT)" \
	"$(tail -5 "$T/nginx-error.log" 2>/dev/null)" "$(cat "$T/nginx.out")"
[ $rc -eq 0 ] || bail "nginx did not start"

# The clients' source addresses must work (any 127/8 address is local on
# Linux's lo).
fetch 127.0.0.5 "$UPORT" /
[ "$ST" = 200 ] || bail "curl --interface 127.0.0.5 does not work here ($ST)"

# ---------------------------------------------------------------- denylist

c0=$(metric "$CHECKS")
h0=$(upstream_hits)
for src in 127.0.0.5 127.0.0.6 127.0.0.7 127.0.0.97 127.0.0.100; do
	expect "$src (nothing banned) gets 200 and the application's answer" \
		"$src" "$NPORT" 200 upstream
done
c1=$(metric "$CHECKS")
[ "$((c1 - c0))" -eq 5 ]
report $? "nginx asked ipwalld once per request (ipwall_checks_total +5)" \
	"ipwall_checks_total went from '$c0' to '$c1'"
[ "$(($(upstream_hits) - h0))" -eq 5 ]
report $? "the application saw the 5 admitted requests" \
	"upstream access log: $(tail -3 "$T/upstream-access.log" 2>/dev/null)"

EXPECT_PATH=/_ipwall_check expect "the check location is internal (404 from outside)" \
	127.0.0.6 "$NPORT" 404 other

expect_api "ban 127.0.0.5 (exact) through ipwalld" 201 \
	POST /v1/bans '{"target": "127.0.0.5", "reason": "nginx.sh"}'
expect_api "ban 127.0.0.96/28 (prefix) through ipwalld" 201 \
	POST /v1/bans '{"target": "127.0.0.96/28", "reason": "nginx.sh"}'

b0=$(metric "$BANNED")
h0=$(upstream_hits)
expect "banned 127.0.0.5 gets 403 and the friendly page" 127.0.0.5 "$NPORT" 403 blocked
expect "127.0.0.97 (in the banned /28) gets 403" 127.0.0.97 "$NPORT" 403 blocked
expect "127.0.0.96 (first of the /28) gets 403" 127.0.0.96 "$NPORT" 403 blocked
expect "127.0.0.111 (last of the /28) gets 403" 127.0.0.111 "$NPORT" 403 blocked
EXPECT_PATH="/some/deep/path?q=1" expect "a banned client gets 403 on every path" \
	127.0.0.5 "$NPORT" 403 blocked
expect "a banned client's POST with a body gets 403" 127.0.0.5 "$NPORT" 403 blocked \
	-H 'Content-Type: application/json' --data-binary '{"login": "x"}'
b1=$(metric "$BANNED")
[ "$((b1 - b0))" -eq 6 ]
report $? "each 403 was ipwalld's verdict (checks blocked/banned +6)" \
	"went from '$b0' to '$b1'"
[ "$(upstream_hits)" -eq "$h0" ]
report $? "the application saw none of the blocked requests" \
	"upstream access log: $(tail -3 "$T/upstream-access.log" 2>/dev/null)"

expect "127.0.0.6 (not banned) still gets 200 and the application's answer" \
	127.0.0.6 "$NPORT" 200 upstream
expect "127.0.0.95 (just below the /28) gets 200" 127.0.0.95 "$NPORT" 200 upstream
expect "127.0.0.112 (just above the /28) gets 200" 127.0.0.112 "$NPORT" 200 upstream
expect "an admitted client's POST with a body reaches the application" \
	127.0.0.6 "$NPORT" 200 upstream \
	-H 'Content-Type: application/json' --data-binary '{"login": "x"}'

# Allow beats deny.
expect_api "allow 127.0.0.100 (inside the banned /28)" 201 \
	POST /v1/allow '{"target": "127.0.0.100"}'
a0=$(metric "$ALLOWED")
expect "allowed 127.0.0.100 gets 200 despite the /28 ban" 127.0.0.100 "$NPORT" 200 upstream
a1=$(metric "$ALLOWED")
[ "$((a1 - a0))" -eq 1 ]
report $? "that 200 was ipwalld's verdict (checks admitted/allowed +1)" \
	"went from '$a0' to '$a1'"
expect "127.0.0.101 (banned /28, not allowed) still gets 403" 127.0.0.101 "$NPORT" 403 blocked

# Unban.
expect_api "unban 127.0.0.5" 200 DELETE '/v1/bans?target=127.0.0.5'
expect "127.0.0.5 gets 200 again after the unban" 127.0.0.5 "$NPORT" 200 upstream
expect "127.0.0.97 is still banned by the /28" 127.0.0.97 "$NPORT" 403 blocked
expect_api "unban 127.0.0.96/28" 200 DELETE '/v1/bans?target=127.0.0.96/28'
expect "127.0.0.97 gets 200 again after the /28 unban" 127.0.0.97 "$NPORT" 200 upstream

# ---------------------------------------------------------------- allowlist

expect_api "switch to allowlist mode" 200 PUT /v1/mode '{"mode": "allowlist"}'
n0=$(metric "$NOT_ALLOWED")
expect "allowlist: 127.0.0.6 (not allowed) gets 403" 127.0.0.6 "$NPORT" 403 blocked
expect "allowlist: allowed 127.0.0.100 gets 200" 127.0.0.100 "$NPORT" 200 upstream
n1=$(metric "$NOT_ALLOWED")
[ "$((n1 - n0))" -eq 1 ]
report $? "that 403 was ipwalld's verdict (checks blocked/not_allowed +1)" \
	"went from '$n0' to '$n1'"
expect_api "switch back to denylist mode" 200 PUT /v1/mode '{"mode": "denylist"}'
expect "denylist again: 127.0.0.6 gets 200" 127.0.0.6 "$NPORT" 200 upstream

# ---------------------------------------------------------------- keepalive

if command -v ss >/dev/null; then
	k0=$(keepalive_ports)
	for i in 1 2 3 4 5 6 7 8 9 10; do
		fetch 127.0.0.6 "$NPORT" /
	done
	k1=$(keepalive_ports)
	# Connections nginx held before and after 10 more checks: at least
	# one is the same (reused), and nginx did not pile up new ones.
	same=$(comm -12 <(echo "$k0") <(echo "$k1") | grep -c .)
	[ -n "$k0" ] && [ "$same" -ge 1 ] && [ "$(echo "$k1" | grep -c .)" -le 2 ]
	report $? "nginx keeps its connection to ipwalld alive across checks" \
		"local ports before: $(tr '\n' ' ' <<<"$k0"), after: $(tr '\n' ' ' <<<"$k1")"
else
	n=$((n + 1))
	echo "ok $n - nginx keeps its connection to ipwalld alive # SKIP no ss"
fi

# ---------------------------------------------------------------- ipwalld down

expect_api "ban 127.0.0.7" 201 POST /v1/bans '{"target": "127.0.0.7"}'
expect "fail-open server: banned 127.0.0.7 gets 403 while ipwalld runs" \
	127.0.0.7 "$FPORT" 403 other
expect "fail-open server: 127.0.0.6 gets 200 while ipwalld runs" \
	127.0.0.6 "$FPORT" 200 upstream

stop "$DPID" TERM 12
DPID=
rc=0
[ "$STOP_RC" = 0 ] || rc=1
grep -Eq 'ERROR: (Address|Leak)Sanitizer|runtime error' "$T/ipwalld.log" && rc=1
report $rc "ipwalld stops on SIGTERM with status 0, no sanitizer report" \
	"exit status $STOP_RC" "$(tail -5 "$T/ipwalld.log")"

h0=$(upstream_hits)
expect "ipwalld down: 127.0.0.6 gets 500 (fails closed)" 127.0.0.6 "$NPORT" 500 other
expect "ipwalld down: banned 127.0.0.7 gets 500" 127.0.0.7 "$NPORT" 500 other
EXPECT_PATH=/x expect "ipwalld down: a POST gets 500" 127.0.0.6 "$NPORT" 500 other \
	--data-binary 'x=1'
[ "$(upstream_hits)" -eq "$h0" ]
report $? "ipwalld down: the application saw none of those requests"
grep -q 'auth request unexpected status: 502' "$T/nginx-error.log"
report $? "ipwalld down: nginx logs 'auth request unexpected status: 502'" \
	"$(tail -3 "$T/nginx-error.log")"
expect "ipwalld down: the fail-open recipe admits 127.0.0.6" \
	127.0.0.6 "$FPORT" 200 upstream
expect "ipwalld down: the fail-open recipe admits even banned 127.0.0.7" \
	127.0.0.7 "$FPORT" 200 upstream

# ---------------------------------------------------------------- restart

rc=0
start_ipwalld || rc=1
report $rc "ipwalld restarts on the same port and data directory" \
	"$(tail -5 "$T/ipwalld.log")"
[ $rc -eq 0 ] || bail "ipwalld did not restart"

# Whether the ban survived the restart is the store's promise, tested
# elsewhere; note it, then make sure it is there.
fetch 127.0.0.7 "$NPORT" /
echo "# note: after the restart, banned 127.0.0.7 got $ST (403 = the ban survived)"
expect "right after the restart, 127.0.0.6 gets 200 again (no back-off)" \
	127.0.0.6 "$NPORT" 200 upstream
api POST /v1/bans '{"target": "127.0.0.7"}'
[ "$API_STATUS" = 201 ] || [ "$API_STATUS" = 200 ]
report $? "ban 127.0.0.7 again after the restart (201 or 200)" \
	"got $API_STATUS: $API_BODY"
expect "after the restart, banned 127.0.0.7 gets 403" 127.0.0.7 "$NPORT" 403 blocked
c2=$(metric "$CHECKS")
[ "${c2:-0}" -ge 2 ]
report $? "the restarted ipwalld answered those checks (ipwall_checks_total >= 2)" \
	"ipwall_checks_total: '$c2'"

stop_nginx
rc=0
grep -Eq '\[(emerg|alert|crit)\]' "$T/nginx-error.log" && rc=1
report $rc "nginx logged nothing at crit level or worse" \
	"$(grep -E '\[(emerg|alert|crit)\]' "$T/nginx-error.log" | head -3)"

echo "1..$n"
[ "$failed" -eq 0 ]
