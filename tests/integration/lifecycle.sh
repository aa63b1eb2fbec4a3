#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ipwalld's life: `make run` (the README's command, with RUN_LISTEN and
# RUN_DATA pointing at a free port and a temporary directory), systemd
# readiness notifications (NOTIFY_SOCKET read by socat), SIGHUP reload
# (good and bad files), a second instance on the same socket, a stale
# socket file, and refusal to start on a bad configuration.
# Loopback and a temporary directory only; every process started here is
# stopped by its PID.
set -u
cd "$(dirname "$0")/../.."
IPWALLD=${IPWALLD:-build/asan/src/daemon/ipwalld}
tmp=$(mktemp -d)
pids=()
n=0
fails=0

cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	wait 2>/dev/null
	rm -rf "$tmp"
}
trap cleanup EXIT

ok() { n=$((n + 1)); echo "ok $n - $1"; }
nok() { n=$((n + 1)); fails=$((fails + 1)); echo "not ok $n - $1"; }
check() { # check DESC CMD... (returns the command's status)
	local d=$1
	shift
	if "$@"; then
		ok "$d"
	else
		nok "$d"
		return 1
	fi
}
free_port() {
	local p
	while :; do
		# below the kernel's ephemeral range (32768-60999 here):
		# a port a client connection uses there cannot be bound
		p=$((20000 + RANDOM % 12000))
		(echo >/dev/tcp/127.0.0.1/$p) 2>/dev/null || { echo $p; return; }
	done
}
wait_health() { # wait_health PORT
	local i
	for i in $(seq 150); do
		curl -sf "http://127.0.0.1:$1/healthz" >/dev/null && return 0
		sleep 0.1
	done
	return 1
}
wait_gone() { # wait_gone PID
	local i
	for i in $(seq 100); do
		kill -0 "$1" 2>/dev/null || return 0
		sleep 0.1
	done
	return 1
}
# sd_notify datagrams have no trailing newline: socat writes them back to
# back, so notifications are counted with grep -o, not by line.
count_notify() { # count_notify WORD
	grep -o "$1" "$tmp/notify.log" 2>/dev/null | wc -l
}
wait_notify() { # wait_notify WORD MIN
	local i
	for i in $(seq 100); do
		[ "$(count_notify "$1")" -ge "$2" ] && return 0
		sleep 0.1
	done
	return 1
}
wait_grep() { # wait_grep PATTERN FILE
	local i
	for i in $(seq 100); do
		grep -q "$1" "$2" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# --- make run
port=$(free_port)
make run RUN_LISTEN=127.0.0.1:$port RUN_DATA="$tmp/run" >"$tmp/make.log" 2>&1 &
mpid=$!
pids+=("$mpid")
# make builds first (possibly minutes on a fresh machine): wait for the port
for _ in $(seq 600); do
	curl -sf "http://127.0.0.1:$port/healthz" >/dev/null && break
	kill -0 "$mpid" 2>/dev/null || break
	sleep 0.5
done
check "make run: /healthz answers" \
	curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null
check "make run prints how to check" \
	grep -q "curl -i 'http://127.0.0.1:$port/v1/check?ip=192.0.2.1'" "$tmp/make.log"
check "make run prints where the token is" \
	grep -q "cut -d: -f2 $tmp/run/tokens" "$tmp/make.log"
check "make run: tokens file created with mode 600" \
	test "$(stat -c %a "$tmp/run/tokens" 2>/dev/null)" = 600
check "make run: unix socket with mode 660" \
	test "$(stat -c %a "$tmp/run/ipwalld.sock" 2>/dev/null)" = 660
build/release/src/cli/ipwall --socket "$tmp/run/ipwalld.sock" ban 192.0.2.1 \
	--ttl 10m >/dev/null 2>&1
code=$(curl -s -o /dev/null -w '%{http_code}' \
	"http://127.0.0.1:$port/v1/check?ip=192.0.2.1")
check "make run: the printed CLI ban works and the check says 403" \
	test "$code" = 403
tok=$(cut -d: -f2 "$tmp/run/tokens")
code=$(curl -s -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $tok" \
	--json '{"target":"192.0.2.2","ttl":"10m"}' "http://127.0.0.1:$port/v1/bans")
check "make run: the printed token ban works (201)" test "$code" = 201
dpid=$(pgrep -P "$mpid" -x ipwalld || true)
check "make run: ipwalld runs in the foreground under make" test -n "$dpid"
[ -n "$dpid" ] && kill -TERM "$dpid"
check "make run: SIGTERM stops it" wait_gone "$mpid"
check "make run: stopped cleanly" grep -q "ipwalld: info: stopped" "$tmp/make.log"

# --- sd_notify: READY=1, RELOADING=1 + READY=1, STOPPING=1
sock="$tmp/notify.sock"
socat -u UNIX-RECV:"$sock" - >"$tmp/notify.log" 2>/dev/null &
spid=$!
pids+=("$spid")
for _ in $(seq 50); do [ -S "$sock" ] && break; sleep 0.1; done
port=$(free_port)
printf '[daemon]\nlog_level = info\n' >"$tmp/a.conf"
NOTIFY_SOCKET=$sock "$IPWALLD" --config "$tmp/a.conf" \
	--listen 127.0.0.1:$port --data-dir "$tmp/d1" 2>"$tmp/d1.log" &
dpid=$!
pids+=("$dpid")
check "sd_notify: READY=1 once listening" wait_notify READY=1 1
check "sd_notify: STATUS names the address" \
	grep -q "STATUS=serving on 127.0.0.1:$port" "$tmp/notify.log"
check "ready means listening" curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null

# --- SIGHUP: a good file applies; a bad one is refused and nothing changes
printf '[daemon]\nlog_level = info\n[http]\nmax_body = 1k\n' >"$tmp/a.conf"
kill -HUP "$dpid"
check "sd_notify: RELOADING=1 on SIGHUP" wait_notify RELOADING=1 1
check "reload logged" wait_grep 'info: reloaded' "$tmp/d1.log"
check "sd_notify: READY=1 again after the reload" wait_notify READY=1 2
big=$(head -c 2000 /dev/zero | tr '\0' x)
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$tmp/d1/ipwalld.sock" \
	--json "{\"target\":\"192.0.2.9\",\"reason\":\"$big\"}" http://x/v1/bans)
check "reloaded max_body = 1k is in force (413)" test "$code" = 413
printf '[daemon]\nlog_level = loud\n' >"$tmp/a.conf"
kill -HUP "$dpid"
check "a bad file on reload is reported with its line" \
	wait_grep "$tmp/a.conf:2: \[daemon\] log_level" "$tmp/d1.log"
check "a bad reload keeps the running configuration" \
	wait_grep 'keeping the running one' "$tmp/d1.log"
code=$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$tmp/d1/ipwalld.sock" \
	--json "{\"target\":\"192.0.2.9\",\"reason\":\"$big\"}" http://x/v1/bans)
check "after a bad reload the old max_body still holds (413)" test "$code" = 413
check "still serving after a bad reload" \
	curl -sf "http://127.0.0.1:$port/healthz" -o /dev/null

# --- a second ipwalld on the same data directory is refused
port2=$(free_port)
timeout -s KILL 30 "$IPWALLD" --listen 127.0.0.1:$port2 --data-dir "$tmp/d1" \
	>"$tmp/second.log" 2>&1
rc=$?
check "a second instance on a live socket exits 1" test "$rc" = 1
check "and says another ipwalld is running" \
	grep -q 'another ipwalld running' "$tmp/second.log"
check "the first one still answers on its socket" \
	curl -sf --unix-socket "$tmp/d1/ipwalld.sock" http://x/healthz -o /dev/null

kill -TERM "$dpid"
check "sd_notify: STOPPING=1 on SIGTERM" wait_notify STOPPING=1 1
check "SIGTERM: exits" wait_gone "$dpid"
wait "$dpid"
check "SIGTERM: exit status 0" test $? = 0
check "SIGTERM: the unix socket file is removed" test ! -e "$tmp/d1/ipwalld.sock"

# --- a stale socket file (nobody listening) is replaced
# (a listener killed with SIGKILL leaves its socket file behind)
socat -u UNIX-LISTEN:"$tmp/d1/ipwalld.sock" /dev/null &
lpid=$!
for _ in $(seq 50); do [ -S "$tmp/d1/ipwalld.sock" ] && break; sleep 0.1; done
kill -9 "$lpid" 2>/dev/null
wait "$lpid" 2>/dev/null
check "a stale socket file exists before the start" test -S "$tmp/d1/ipwalld.sock"
port=$(free_port)
"$IPWALLD" --listen 127.0.0.1:$port --data-dir "$tmp/d1" 2>"$tmp/d2.log" &
dpid=$!
pids+=("$dpid")
check "start over a stale socket file" wait_health "$port" ||
	sed 's/^/# /' "$tmp/d2.log"
check "the replaced socket answers" \
	curl -sf --unix-socket "$tmp/d1/ipwalld.sock" http://x/healthz -o /dev/null
kill -TERM "$dpid"
wait_gone "$dpid"

# --- --version: the version, then every optional subsystem (meson
# feature options) as +name when built in, -name when left out
out=$("$IPWALLD" --version)
check "--version: first line names the version" \
	grep -qE '^ipwalld [0-9]+\.[0-9]+\.[0-9]+$' <<<"$out"
check "--version: features line lists bpf, nftables, redis and pcre2" \
	grep -qE '^features: [+-]bpf [+-]nftables [+-]redis [+-]pcre2$' \
	<<<"$out"

# --- refusals at start
printf '[http]\nmax_body = lots\n' >"$tmp/bad.conf"
"$IPWALLD" --config "$tmp/bad.conf" --listen 127.0.0.1:$port \
	--data-dir "$tmp/d3" >"$tmp/bad.log" 2>&1
rc=$?
check "a bad configuration: exit 1" test "$rc" = 1
check "a bad configuration: FILE:LINE on stderr" \
	grep -q "$tmp/bad.conf:2: \[http\] max_body" "$tmp/bad.log"
check "a bad configuration: nothing created" test ! -e "$tmp/d3"
"$IPWALLD" --config "$tmp/nonexistent.conf" >"$tmp/bad.log" 2>&1
check "a missing configuration file: exit 1" test $? = 1
"$IPWALLD" --listen 'not-an-address' >"$tmp/bad.log" 2>&1
check "--listen with a bad value: exit 2" test $? = 2
"$IPWALLD" --bogus >"$tmp/bad.log" 2>&1
check "an unknown flag: exit 2" test $? = 2
printf '[auth]\ntokens_file = %s/missing-tokens\n' "$tmp" >"$tmp/tok.conf"
"$IPWALLD" --config "$tmp/tok.conf" --listen 127.0.0.1:$port \
	--data-dir "$tmp/d4" >"$tmp/bad.log" 2>&1
check "a configured tokens file that is missing is not created: exit 1" \
	test $? = 1
check "... and it is not created" test ! -e "$tmp/missing-tokens"

# --- the systemd unit under dist/ is one systemd accepts (Type=notify,
# the hardening directives spelled right), with ExecStart pointing at the
# binary built here. systemd-analyze comes with systemd; a machine without
# systemd (a container) skips this check.
if command -v systemd-analyze >/dev/null; then
	sed "s|/usr/sbin/ipwalld|$PWD/$IPWALLD|" dist/systemd/ipwalld.service \
		>"$tmp/ipwalld.service"
	check "dist/systemd/ipwalld.service passes systemd-analyze verify" \
		systemd-analyze verify "$tmp/ipwalld.service"
	check "the unit is Type=notify (ipwalld sends READY=1)" \
		grep -qx 'Type=notify' dist/systemd/ipwalld.service
	check "the unit alone grants no capability" \
		grep -qx 'CapabilityBoundingSet=' dist/systemd/ipwalld.service
	# With the kernel-enforcement drop-in beside it: still verified, no
	# warning (an unknown key is only a warning to systemd), and exactly
	# CAP_BPF and CAP_NET_ADMIN.
	mkdir -p "$tmp/ipwalld.service.d"
	cp dist/systemd/ipwalld.service.d/enforce.conf "$tmp/ipwalld.service.d/"
	out=$(systemd-analyze verify "$tmp/ipwalld.service" 2>&1)
	check "with the enforce.conf drop-in the unit passes systemd-analyze verify, silently" \
		test $? = 0 -a -z "$out"
	check "the drop-in grants CAP_BPF, CAP_NET_ADMIN and CAP_PERFMON, nothing else" \
		grep -qx 'CapabilityBoundingSet=CAP_BPF CAP_NET_ADMIN CAP_PERFMON' dist/systemd/ipwalld.service.d/enforce.conf
	echo "BogusKey=1" >>"$tmp/ipwalld.service.d/enforce.conf"
	out=$(systemd-analyze verify "$tmp/ipwalld.service" 2>&1)
	check "(control) a bad key in the drop-in is reported" \
		grep -q "Unknown key 'BogusKey'" <<<"$out"
else
	n=$((n + 1))
	echo "ok $n # skip systemd-analyze not installed"
fi

echo "1..$n"
[ "$fails" = 0 ]
