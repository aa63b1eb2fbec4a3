#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Kernel enforcement (the BPF backend) end to end. Two network namespaces
# made by this test, "wall" and "peer", joined by two veth pairs:
#   A: 10.213.0.1 / fd00:213::1 (wall) -- 10.213.0.2 / fd00:213::2 (peer)
#   B: 10.214.0.1 (wall) -- 10.214.0.2 (peer)
# ipwalld runs in "wall" with XDP on A and TC on B, its maps pinned on a
# bpf file system mounted by the test in its own folder. The peer's pings,
# TCP connections and a UDP probe show what the programs drop: bans,
# unbans, expiry, CIDR, an allowed hole, allowlist mode (IPv6 link-local
# passes), drops per entry (GET /v1/top?by=drops), drift repaired by the
# periodic reconcile, kill -9 with a probe sending through the crash and
# the restart (not one packet gets through), generic mode, a program
# another tool attached (refused), and ipwalld --detach. Nothing outside
# the two namespaces and the test's folder is touched; they are removed at
# exit.
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl ip ping socat bpftool tc timeout jq setpriv
IPWALL=${IPWALL:-build/asan/src/cli/ipwall}

if ! "$IPWALLD" --version | grep -q '+bpf'; then
	echo "1..0 # SKIP ipwalld is built without the bpf feature"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root for network namespaces and XDP"
	exit 0
fi

W=ipwt-wall-$$
P=ipwt-peer-$$
A=ipwt-a$$  # wall's end of pair A (XDP)
B=ipwt-b$$  # wall's end of pair B (TC)
DIR=$IPW_TMP/enforce
BPFFS=$DIR/bpffs
PIN=$BPFFS/ipwall
mkdir -p "$DIR" "$BPFFS"
WALL_PID=
SINK_PID=
PROBE_PID=

cleanup() {
	for p in "$WALL_PID" "$SINK_PID" "$PROBE_PID"; do
		if [ -n "$p" ] && kill -0 "$p" 2>/dev/null; then
			kill -9 "$p"
			wait "$p" 2>/dev/null
		fi
	done
	ip netns del "$W" 2>/dev/null
	ip netns del "$P" 2>/dev/null
	rm -rf "$PIN" 2>/dev/null
	umount "$BPFFS" 2>/dev/null
	ipw_cleanup
}
trap cleanup EXIT

mount -t bpf bpf "$BPFFS"
tap_is "$?" 0 "a bpf file system of the test's own for the pinned maps"

ip netns add "$W" && ip netns add "$P" &&
	ip link add "$A" netns "$W" type veth peer name pa$$ netns "$P" &&
	ip link add "$B" netns "$W" type veth peer name pb$$ netns "$P" &&
	ip -n "$W" link set lo up && ip -n "$P" link set lo up &&
	ip -n "$W" addr add 10.213.0.1/24 dev "$A" &&
	ip -n "$P" addr add 10.213.0.2/24 dev pa$$ &&
	ip -n "$W" addr add fd00:213::1/64 dev "$A" nodad &&
	ip -n "$P" addr add fd00:213::2/64 dev pa$$ nodad &&
	ip -n "$W" addr add 10.214.0.1/24 dev "$B" &&
	ip -n "$P" addr add 10.214.0.2/24 dev pb$$ &&
	ip -n "$W" link set "$A" up && ip -n "$P" link set pa$$ up &&
	ip -n "$W" link set "$B" up && ip -n "$P" link set pb$$ up
tap_is "$?" 0 "two namespaces joined by two veth pairs"

# reach4 / reach6 / reachB: can the peer ping the wall (one ping, 1 s)?
reach4() { ip netns exec "$P" ping -c 1 -W 1 -q 10.213.0.1 >/dev/null 2>&1; }
reach6() { ip netns exec "$P" ping -6 -c 1 -W 1 -q fd00:213::1 >/dev/null 2>&1; }
reachB() { ip netns exec "$P" ping -c 1 -W 1 -q 10.214.0.1 >/dev/null 2>&1; }
# eventually CMD: true within 3 tries (a first ping may wait for ARP/ND)
eventually() {
	local i
	for i in 1 2 3; do
		"$@" && return 0
	done
	return 1
}
# tcp ADDR: a TCP connection from the peer to the wall's listener on port
# 7000: "ok", "refused" (an RST came back) or "dropped" (no answer in 2 s).
tcp() {
	timeout 2 ip netns exec "$P" bash -c "exec 3<>/dev/tcp/$1/7000" 2>/dev/null
	case $? in
	0) echo ok ;;
	124) echo dropped ;;
	*) echo refused ;;
	esac
}

tap_ok "before ipwalld: the peer reaches the wall over IPv4" eventually reach4
tap_ok "before ipwalld: ... over IPv6" eventually reach6
tap_ok "before ipwalld: ... and over pair B" eventually reachB

# A TCP listener and a UDP sink in the wall namespace (bounded: they die
# with the namespace at the latest).
ip netns exec "$W" socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:true >/dev/null 2>&1 &
SINK_PID=$!
sleep 0.3

conf() {
	printf '[enforce]\nxdp = %s\nxdp_mode = %s\ntc = %s\npin_dir = %s\nreconcile_interval = %s\n' \
		"$1" "${2:-native}" "$3" "$PIN" "${4:-2s}" >"$DIR/wall.conf"
}
conf "$A" native "$B"
SOCK=$DIR/data/ipwalld.sock
# wall_start: ipwalld in the wall namespace, unix socket only.
wall_start() {
	ip netns exec "$W" "$IPWALLD" --listen "" --data-dir "$DIR/data" \
		--config "$DIR/wall.conf" >>"$DIR/log" 2>&1 &
	WALL_PID=$!
	for _ in $(seq 1 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://x/healthz)" == 200 ] && return 0
		kill -0 "$WALL_PID" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}
wall_stop() {
	kill "$WALL_PID"
	wait "$WALL_PID"
	local st=$?
	WALL_PID=
	return $st
}
# settle: wait (at most 5 s) until the enforce subscriber has applied
# every committed op (an answer of the API means durable and in the table;
# the maps follow through the op log, within a millisecond).
settle() {
	local i
	for i in $(seq 1 100); do
		[ "$(curl -s --unix-socket "$SOCK" http://x/healthz | jq -r '.subscribers.enforce.lag')" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}
# api METHOD PATH [BODY]: the status code, once the maps have the op
api() {
	_api "$@"
	settle
}
_api() {
	if [ $# -ge 3 ]; then
		curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$1" \
			-H 'Content-Type: application/json' --data-binary "$3" "http://x$2"
	else
		curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$1" "http://x$2"
	fi
}
get() { curl -s --unix-socket "$SOCK" "http://x$1"; }
metric() { sed -n "s/^$1 //p" <<<"$(get /metrics)"; }
# log_since N: the log after its first N lines
log_since() { tail -n +"$(($1 + 1))" "$DIR/log"; }

if ! wall_start; then
	tap_fail "ipwalld starts with [enforce] xdp and tc" "$(tail -20 "$DIR/log")"
	tap_done
	exit
fi
tap_like "$(cat "$DIR/log")" "enforce: XDP \(native\) attached to $A \(link pinned at $PIN/link_xdp_$A\)" "the log says XDP is attached, its link pinned"
tap_like "$(cat "$DIR/log")" "enforce: TC \(clsact ingress\) attached to $B" "the log says TC is attached"
tap_like "$(ip -n "$W" link show "$A")" 'xdp' "interface A has an XDP program"
tap_like "$(tc -n "$W" filter show dev "$B" ingress)" 'ipwall_tc_cells' "interface B has ipwall's TC filter"
tap_ok "the maps are pinned" test -e "$PIN/ipw_entries"
tap_ok "no ban: the peer still reaches the wall" eventually reach4
tap_is "$(tcp 10.213.0.1)" ok "no ban: a TCP connection succeeds"

tap_is "$(api POST /v1/bans '{"target":"10.213.0.2"}')" 201 "ban 10.213.0.2"
tap_not "banned: the peer's IPv4 pings are dropped" reach4
tap_is "$(tcp 10.213.0.1)" dropped "banned: a TCP connection is dropped (no answer, not refused)"
tap_ok "... its IPv6 pings are not (not banned)" eventually reach6
tap_is "$(api DELETE '/v1/bans?target=10.213.0.2')" 200 "unban 10.213.0.2"
tap_ok "unbanned: it reaches the wall again" eventually reach4
tap_is "$(tcp 10.213.0.1)" ok "unbanned: a TCP connection succeeds again"

api POST /v1/bans '{"target":"fd00:213::/64"}' >/dev/null
tap_not "an IPv6 /64 banned: the peer's IPv6 pings are dropped" reach6
tap_ok "... IPv4 still passes" eventually reach4
api POST /v1/bans '{"target":"10.213.0.0/24"}' >/dev/null
tap_not "an IPv4 /24 banned: dropped" reach4
tap_is "$(tcp 10.213.0.1)" dropped "... TCP too"
tap_is "$(api POST /v1/allow '{"target":"10.213.0.2"}')" 201 "allow 10.213.0.2 inside the banned /24"
tap_ok "the allowed hole passes" eventually reach4
tap_is "$(tcp 10.213.0.1)" ok "... TCP through the hole"
api DELETE '/v1/allow?target=10.213.0.2' >/dev/null
tap_not "the allow removed: dropped again" reach4
api DELETE '/v1/bans?target=10.213.0.0/24' >/dev/null
api POST /v1/bans '{"target":"10.213.0.0/24","ttl":2}' >/dev/null
tap_not "a ban of 2 s on the /24: dropped now" reach4
sleep 3
tap_ok "after its expiry the program lets it through (before any purge)" eventually reach4

# TC on pair B judges the same table.
api POST /v1/bans '{"target":"10.214.0.2"}' >/dev/null
tap_not "TC: a ban of the peer's B address drops its pings on B" reachB
tap_is "$(tcp 10.214.0.1)" dropped "TC: ... and its TCP connections"
tap_ok "TC: ... while pair A, not banned, passes" eventually reach4
api DELETE '/v1/bans?target=10.214.0.2' >/dev/null
tap_ok "TC: unbanned, B passes again" eventually reachB

ml=$(get /metrics)
xd4=$(sed -n 's/^ipwall_bpf_packets_total{hook="xdp",verdict="drop",reason="banned",family="ipv4"} //p' <<<"$ml")
xd6=$(sed -n 's/^ipwall_bpf_packets_total{hook="xdp",verdict="drop",reason="banned",family="ipv6"} //p' <<<"$ml")
xp4=$(sed -n 's/^ipwall_bpf_packets_total{hook="xdp",verdict="pass",reason="judged",family="ipv4"} //p' <<<"$ml")
td4=$(sed -n 's/^ipwall_bpf_packets_total{hook="tc",verdict="drop",reason="banned",family="ipv4"} //p' <<<"$ml")
tap_ok "/metrics: XDP drops for a ban, IPv4 (${xd4:-none}) and IPv6 (${xd6:-none})" \
	test "${xd4:-0}" -gt 0 -a "${xd6:-0}" -gt 0
tap_ok "/metrics: XDP packets judged and passed (${xp4:-none})" test "${xp4:-0}" -gt 0
tap_ok "/metrics: TC drops, apart from XDP's (${td4:-none})" test "${td4:-0}" -gt 0
tap_is "$(metric 'ipwall_bpf_interfaces{hook="xdp"}')" 1 "/metrics: one XDP interface"
tap_is "$(metric 'ipwall_bpf_interfaces{hook="tc"}')" 1 "/metrics: one TC interface"
tap_is "$(metric 'ipwall_enforce_reconciles_total{backend="bpf",reason="start"}')" 1 "/metrics: the start-up reconcile"

# Per-entry drops: the /64 ban dropped the IPv6 pings.
top=$(get '/v1/top?by=drops&k=5')
tap_like "$top" '"target": *"fd00:213::/64"' "GET /v1/top?by=drops lists the /64 ban"
d64=$(jq -r '.items[] | select(.target=="fd00:213::/64") | .drops' <<<"$top")
tap_ok "... with its drops (${d64:-none})" test "${d64:-0}" -gt 0
tap_like "$(get '/v1/top?by=dropz')" 'invalid_parameter' "GET /v1/top?by=dropz: 400 invalid_parameter"
tap_like "$("$IPWALL" --socket "$SOCK" top --drops 2>&1)" 'fd00:213::/64' "ipwall top --drops shows it"
api DELETE '/v1/bans?target=fd00:213::/64' >/dev/null

# Allowlist mode: only the allowed pass; IPv6 link-local keeps working.
tap_is "$(api PUT /v1/mode '{"mode":"allowlist"}')" 200 "allowlist mode"
tap_not "allowlist mode: the peer is not allowed, dropped" reach4
tap_not "allowlist mode: ... over IPv6 too" reach6
ll=$(ip -n "$W" -6 addr show dev "$A" scope link | sed -n 's/.*inet6 \(fe80::[0-9a-f:]*\)\/.*/\1/p')
tap_ok "allowlist mode: IPv6 link-local still passes (the host keeps its link)" \
	eventually ip netns exec "$P" ping -6 -c 1 -W 1 -q "$ll%pa$$"
api POST /v1/allow '{"target":"10.213.0.2"}' >/dev/null
tap_ok "allowlist mode: allowed over IPv4" eventually reach4
ml=$(get /metrics)
tap_ok "/metrics: link passes counted" test "$(sed -n 's/^ipwall_bpf_packets_total{hook="xdp",verdict="pass",reason="link",family="ipv6"} //p' <<<"$ml")" -gt 0
tap_ok "/metrics: passes by an allow counted apart" test "$(sed -n 's/^ipwall_bpf_packets_total{hook="xdp",verdict="pass",reason="allowed",family="ipv4"} //p' <<<"$ml")" -gt 0
api PUT /v1/mode '{"mode":"denylist"}' >/dev/null
api DELETE '/v1/allow?target=10.213.0.2' >/dev/null

# Drift: an entry deleted from the pinned map behind ipwalld's back is put
# back by the periodic reconcile (every 2 s here), and counted.
tap_is "$(api POST /v1/bans '{"target":"10.213.0.2"}')" 201 "ban 10.213.0.2 again"
tap_not "... dropped" reach4
# its key: ::ffff:10.213.0.2, list 0 (ban), length 128, 6 bytes of padding
key="0 0 0 0 0 0 0 0 0 0 0xff 0xff 10 213 0 2 0 128 0 0 0 0 0 0"
before=$(metric 'ipwall_enforce_repaired_total{backend="bpf",reason="periodic"}')
lines=$(wc -l <"$DIR/log")
# shellcheck disable=SC2086
bpftool map delete pinned "$PIN/ipw_entries" key $key
tap_is "$?" 0 "the ban's entry deleted from the pinned map with bpftool"
tap_ok "... so the peer gets through (the drift is real)" eventually reach4
sleep 3
tap_not "the periodic reconcile put it back: dropped again" reach4
after=$(metric 'ipwall_enforce_repaired_total{backend="bpf",reason="periodic"}')
tap_ok "/metrics: the repair counted (periodic ${before:-?} -> ${after:-?})" test "${after:-0}" -gt "${before:-0}"
tap_like "$(log_since "$lines")" 'enforce: bpf had drifted from the table: 1 entries repaired' "the log says what was repaired"

# kill -9 with a probe sending all along: not one datagram from the banned
# peer may reach the wall, during the crash, the downtime or the restart.
ip netns exec "$W" socat -u UDP-RECV:7001 OPEN:"$DIR/got",creat,append 2>/dev/null &
sink_udp=$!
: >"$DIR/got"
ip netns exec "$P" bash -c 'for i in $(seq 1 600); do echo probe$i >/dev/udp/10.213.0.1/7001; sleep 0.01; done' 2>/dev/null &
PROBE_PID=$!
sleep 0.5
kill -9 "$WALL_PID"
wait "$WALL_PID" 2>/dev/null
WALL_PID=
tap_like "$(ip -n "$W" link show "$A")" 'xdp' "kill -9: the XDP program stays attached (its link is pinned)"
tap_like "$(tc -n "$W" filter show dev "$B" ingress)" 'ipwall_tc_cells' "kill -9: the TC filter stays"
tap_not "kill -9: the ban stays in force" reach4
lines=$(wc -l <"$DIR/log")
if wall_start; then
	tap_like "$(log_since "$lines")" "reusing the maps pinned in $PIN \([0-9]+ entries" "restart: the pinned maps are reused"
	tap_like "$(log_since "$lines")" "XDP \(native\) on $A: the pinned link now runs this process's program \(replaced without a gap\)" "restart: the link gets the new program, no gap"
	tap_like "$(log_since "$lines")" "TC \(clsact ingress\) replaced on $B" "restart: the TC filter is replaced in place"
else
	tap_fail "ipwalld restarts after kill -9" "$(tail -20 "$DIR/log")"
fi
wait "$PROBE_PID"
PROBE_PID=
tap_is "$(wc -c <"$DIR/got")" 0 "600 datagrams sent through the crash and the restart: none got through"
api DELETE '/v1/bans?target=10.213.0.2' >/dev/null
ip netns exec "$P" bash -c 'for i in 1 2 3 4 5; do echo ctl$i >/dev/udp/10.213.0.1/7001; sleep 0.1; done' 2>/dev/null
sleep 0.3
tap_like "$(cat "$DIR/got")" 'ctl' "control: unbanned, the same probe gets through (the sink works)"
kill "$sink_udp" 2>/dev/null
wait "$sink_udp" 2>/dev/null

# A graceful stop keeps enforcing too.
api POST /v1/bans '{"target":"10.213.0.2"}' >/dev/null
wall_stop
tap_is "$?" 0 "ipwalld exits 0"
tap_like "$(ip -n "$W" link show "$A")" 'xdp' "stopped: XDP stays attached"
tap_not "stopped: the ban stays in force" reach4
# A map entry the table does not have (put behind ipwalld's back while
# it is down) is removed by the restart's reconcile, and only that.
stray="0 0 0 0 0 0 0 0 0 0 0xff 0xff 10 214 0 2 0 128 0 0 0 0 0 0"
# shellcheck disable=SC2086
bpftool map update pinned "$PIN/ipw_entries" key $stray \
	value 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 >/dev/null 2>&1
tap_is "$?" 0 "a stray entry (10.214.0.2) put into the pinned map while ipwalld is down"
lines=$(wc -l <"$DIR/log")
if wall_start; then
	# shellcheck disable=SC2086
	tap_not "restart: the stray entry is reconciled away" \
		bpftool map lookup pinned "$PIN/ipw_entries" key $stray
	tap_ok "restart: B passes" eventually reachB
	tap_not "restart: the stored ban is still enforced" reach4
	tap_like "$(log_since "$lines")" 'enforce: bpf holds the table at sequence [0-9]+ \(start reconcile: 1 entries added, changed or removed' \
		"the log says the start-up reconcile changed exactly one entry"
	wall_stop
else
	tap_fail "ipwalld restarts" "$(tail -20 "$DIR/log")"
fi

# A wall-clock step: the maps keep expiries on the boot clock, so when the
# wall clock steps back an hour, a ban of 6 s becomes (for the table) a
# ban of an hour and 6 s; the kernel's expiries must move with it, or the
# kernel would admit the peer after 6 s while the table still bans it.
# ipwalld runs under libfaketime, whose offset file this test rewrites;
# CLOCK_BOOTTIME stays real.
FT_LIB=$(ls /usr/lib/*/faketime/libfaketimeMT.so.1 2>/dev/null | head -1)
if [ -n "$FT_LIB" ]; then
	echo "+0" >"$DIR/faketime"
	lines=$(wc -l <"$DIR/log")
	api_ok=0
	if FAKETIME_TIMESTAMP_FILE=$DIR/faketime FAKETIME_NO_CACHE=1 \
		FAKETIME_DONT_FAKE_MONOTONIC=1 LD_PRELOAD=$FT_LIB \
		ASAN_OPTIONS=$ASAN_OPTIONS:verify_asan_link_order=0 wall_start; then
		api DELETE '/v1/bans?target=10.213.0.2' >/dev/null
		tap_is "$(api POST /v1/bans '{"target":"10.213.0.2","ttl":6}')" 201 "clock: a ban of 6 s"
		tap_not "clock: dropped" reach4
		echo "-3600" >"$DIR/faketime"
		for _ in $(seq 1 30); do
			log_since "$lines" | grep -q 'the wall clock stepped by -3600' && break
			sleep 0.2
		done
		tap_like "$(log_since "$lines")" 'enforce: the wall clock stepped by -3600\.[0-9] s: the kernel.s expiries are rewritten' \
			"clock: the step back of an hour is seen"
		sleep 7
		tap_like "$(get '/v1/check?ip=10.213.0.2')" '"verdict": *"blocked"' "clock: 7 s later the table still bans (its expiry is an hour away now)"
		tap_not "clock: ... and so does the kernel (its expiry moved with the step)" reach4
		tap_is "$(metric 'ipwall_enforce_reconciles_total{backend="bpf",reason="clock"}')" 1 "/metrics: one reconcile for the clock"
		echo "+0" >"$DIR/faketime"
		sleep 1.5 # the step forward seen, the ban purged
		api DELETE '/v1/bans?target=10.213.0.2' >/dev/null
		api POST /v1/bans '{"target":"10.213.0.2"}' >/dev/null
		tap_like "$(get '/v1/check?ip=10.213.0.2')" '"expires_at": *null' "clock: back at +0, a permanent ban again"
		wall_stop
	else
		tap_fail "ipwalld starts under libfaketime" "$(tail -20 "$DIR/log")"
	fi
else
	tap_skip "clock: a wall-clock step" "libfaketime is not installed (scripts/deps)"
fi

# Generic mode on A: the native link is replaced (the log says so).
conf "$A" generic "$B"
lines=$(wc -l <"$DIR/log")
if wall_start; then
	tap_like "$(ip -n "$W" link show "$A")" 'xdpgeneric' "xdp_mode = generic attaches in generic mode"
	tap_like "$(log_since "$lines")" "XDP on $A: the pinned link is stale" "the mode change is said in the log"
	tap_not "generic mode: the ban is enforced" reach4
	wall_stop
else
	tap_fail "ipwalld starts in generic mode" "$(tail -20 "$DIR/log")"
fi

# An interface dropped from [enforce] xdp is detached at the next start.
conf "" native "$B"
lines=$(wc -l <"$DIR/log")
if wall_start; then
	tap_not "A no longer configured: its XDP program is detached" grep -q xdp <<<"$(ip -n "$W" link show "$A")"
	tap_ok "... and its link unpinned" test ! -e "$PIN/link_xdp_$A"
	tap_ok "... the peer passes on A" eventually reach4
	wall_stop
else
	tap_fail "ipwalld starts with tc only" "$(tail -20 "$DIR/log")"
fi

# An interface dropped from [enforce] tc loses ipwall's filter at the
# next start (a TC filter is not pinned: ipwalld finds it by its handle,
# priority and program name).
tap_like "$(tc -n "$W" filter show dev "$B" ingress)" 'ipwall' "B in [enforce] tc: ipwall's filter on B"
conf "$A" native ""
lines=$(wc -l <"$DIR/log")
if wall_start; then
	tap_not "B no longer configured: its TC filter is detached" grep -q ipwall <<<"$(tc -n "$W" filter show dev "$B" ingress)"
	tap_like "$(log_since "$lines")" "TC detached from $B" "... and the log says so"
	wall_stop
else
	tap_fail "ipwalld starts with xdp only" "$(tail -20 "$DIR/log")"
fi

# ipwalld --detach takes everything away, the TC filter of an interface
# no longer in the config included.
conf "$A" native "$B"
if wall_start; then
	wall_stop
fi
tap_like "$(tc -n "$W" filter show dev "$B" ingress)" 'ipwall' "before --detach: ipwall's filter on B"
conf "$A" native ""
tap_like "$(ip -n "$W" link show "$A")" 'xdp' "before --detach: XDP on A"
ip netns exec "$W" "$IPWALLD" --detach --config "$DIR/wall.conf" >>"$DIR/log" 2>&1
tap_is "$?" 0 "ipwalld --detach exits 0"
tap_not "--detach: no XDP on A" grep -q xdp <<<"$(ip -n "$W" link show "$A")"
tap_not "--detach: no ipwall filter on B" grep -q ipwall <<<"$(tc -n "$W" filter show dev "$B" ingress)"
tap_ok "--detach: the pin folder is gone" test ! -e "$PIN"
tap_ok "--detach: the banned peer reaches the wall again" eventually reach4
conf "$A" native "$B"

# The systemd drop-in's capabilities are exactly enough: ipwalld as an
# unprivileged user (nobody) with only them attaches and enforces; without
# CAP_PERFMON (a control) the verifier refuses the program.
caps=$(sed -n 's/^CapabilityBoundingSet=//p' dist/systemd/ipwalld.service.d/enforce.conf |
	tr 'A-Z' 'a-z' | sed 's/cap_/+/g; s/ /,/g')
tap_is "$caps" "+bpf,+net_admin,+perfmon" "the drop-in's capability set"
# as_nobody CAPS: ipwalld in the wall namespace as nobody with CAPS only
as_nobody() {
	ip netns exec "$W" setpriv --reuid=65534 --regid=65534 --clear-groups \
		--inh-caps=-all,"$1" --ambient-caps=-all,"$1" --bounding-set=-all,"$1" \
		"$IPWALLD" --listen "" --data-dir "$DIR/nobody" --config "$DIR/wall.conf" >>"$DIR/log" 2>&1 &
	WALL_PID=$!
}
if command -v setpriv >/dev/null; then
	rm -rf "$DIR/nobody" "$PIN"
	install -d -o 65534 -g 65534 "$DIR/nobody"
	install -d -o 65534 -g 65534 -m 0700 "$PIN"
	chmod o+x "$IPW_TMP" "$DIR"
	chmod o+r "$DIR/wall.conf"
	lines=$(wc -l <"$DIR/log")
	as_nobody "+bpf,+net_admin"
	wait "$WALL_PID"
	tap_ok "(control) without CAP_PERFMON ipwalld cannot load the program" test $? != 0
	tap_like "$(log_since "$lines")" 'pointer arithmetic .*prohibited for !root' "... the verifier says why"
	WALL_PID=
	SOCK=$DIR/nobody/ipwalld.sock
	as_nobody "$caps"
	for _ in $(seq 1 100); do
		[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://x/healthz)" == 200 ] && break
		sleep 0.1
	done
	tap_like "$(ip -n "$W" link show "$A")" 'xdp' "with the drop-in's capabilities only, as nobody: XDP attached"
	tap_like "$(tc -n "$W" filter show dev "$B" ingress)" 'ipwall_tc_cells' "... TC attached"
	api POST /v1/bans '{"target":"10.213.0.2"}' >/dev/null
	tap_not "... and a ban is enforced" reach4
	wall_stop
	SOCK=$DIR/data/ipwalld.sock
	ip netns exec "$W" "$IPWALLD" --detach --config "$DIR/wall.conf" >>"$DIR/log" 2>&1
else
	tap_skip "ipwalld with the drop-in's capabilities only" "no setpriv"
fi

# An interface that already has an XDP program is refused.
ip -n "$W" link set dev "$A" xdpgeneric obj "$(find build/asan -name 'ipwall.bpf.o' | head -1)" sec xdp 2>/dev/null
if ip -n "$W" link show "$A" | grep -q xdp; then
	if wall_start; then
		tap_fail "an interface with another XDP program is refused"
		wall_stop
	else
		tap_like "$(tail -5 "$DIR/log")" "cannot attach XDP .* to $A" "an interface with another XDP program is refused, and said"
		WALL_PID=
	fi
	ip -n "$W" link set dev "$A" xdpgeneric off
else
	tap_skip "an interface with another XDP program is refused" "ip could not attach a program"
fi
ip netns exec "$W" "$IPWALLD" --detach --config "$DIR/wall.conf" >>"$DIR/log" 2>&1
grep -E 'ERROR: |runtime error' "$DIR/log" && tap_fail "no sanitizer report" || tap_pass "no sanitizer report"

tap_done
