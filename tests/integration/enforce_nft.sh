#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Kernel enforcement through nftables, end to end. Three network
# namespaces made by this test: "peer" and "inner" on either side of
# "wall", a router:
#   peer 10.213.0.2 / fd00:213::2 -- 10.213.0.1 / fd00:213::1 wall
#   wall 10.215.0.1 -- 10.215.0.2 inner   (peer reaches inner through wall)
# ipwalld runs in "wall" with [enforce] nftables = yes. The peer's pings,
# TCP connections and a UDP probe show what the table "inet ipwall" drops:
# bans, unbans, expiry, nested CIDR and an allowed hole, allowlist mode
# (IPv6 link-local passes), forwarded traffic with nftables_forward, drift
# repaired by the periodic reconcile, kill -9 with a probe sending through
# the crash and the restart, and ipwalld --detach. Each namespace has its
# own nftables ruleset; the machine's is never touched. They are removed
# at exit.
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl ip ping socat nft timeout jq

if ! "$IPWALLD" --version | grep -q '+nftables'; then
	echo "1..0 # SKIP ipwalld is built without the nftables feature"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root for network namespaces and nftables"
	exit 0
fi

W=ipwn-wall-$$
P=ipwn-peer-$$
I=ipwn-in-$$
DIR=$IPW_TMP/nft
mkdir -p "$DIR"
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
	ip netns del "$I" 2>/dev/null
	ipw_cleanup
}
trap cleanup EXIT

ip netns add "$W" && ip netns add "$P" && ip netns add "$I" &&
	ip link add na$$ netns "$W" type veth peer name pa$$ netns "$P" &&
	ip link add nc$$ netns "$W" type veth peer name ic$$ netns "$I" &&
	for ns in "$W" "$P" "$I"; do ip -n "$ns" link set lo up; done &&
	ip -n "$W" addr add 10.213.0.1/24 dev na$$ &&
	ip -n "$P" addr add 10.213.0.2/24 dev pa$$ &&
	ip -n "$W" addr add fd00:213::1/64 dev na$$ nodad &&
	ip -n "$P" addr add fd00:213::2/64 dev pa$$ nodad &&
	ip -n "$W" addr add 10.215.0.1/24 dev nc$$ &&
	ip -n "$I" addr add 10.215.0.2/24 dev ic$$ &&
	ip -n "$W" link set na$$ up && ip -n "$P" link set pa$$ up &&
	ip -n "$W" link set nc$$ up && ip -n "$I" link set ic$$ up &&
	ip -n "$P" route add 10.215.0.0/24 via 10.213.0.1 &&
	ip -n "$I" route add default via 10.215.0.1 &&
	ip netns exec "$W" sysctl -qw net.ipv4.ip_forward=1
tap_is "$?" 0 "three namespaces, the wall routing between peer and inner"

reach4() { ip netns exec "$P" ping -c 1 -W 1 -q 10.213.0.1 >/dev/null 2>&1; }
reach6() { ip netns exec "$P" ping -6 -c 1 -W 1 -q fd00:213::1 >/dev/null 2>&1; }
reachI() { ip netns exec "$P" ping -c 1 -W 1 -q 10.215.0.2 >/dev/null 2>&1; }
eventually() {
	local i
	for i in 1 2 3; do
		"$@" && return 0
	done
	return 1
}
# tcp ADDR: "ok", "refused" or "dropped" (no answer in 2 s)
tcp() {
	timeout 2 ip netns exec "$P" bash -c "exec 3<>/dev/tcp/$1/7000" 2>/dev/null
	case $? in
	0) echo ok ;;
	124) echo dropped ;;
	*) echo refused ;;
	esac
}

tap_ok "before ipwalld: the peer reaches the wall" eventually reach4
tap_ok "before ipwalld: ... and inner, through the wall" eventually reachI
ip netns exec "$W" socat TCP-LISTEN:7000,fork,reuseaddr SYSTEM:true >/dev/null 2>&1 &
SINK_PID=$!
sleep 0.3

conf() {
	printf '[enforce]\nnftables = yes\nnftables_forward = %s\nreconcile_interval = 2s\n' \
		"${1:-no}" >"$DIR/wall.conf"
}
conf no
SOCK=$DIR/data/ipwalld.sock
wall_start() {
	ip netns exec "$W" "$IPWALLD" --listen "" --data-dir "$DIR/data" \
		--config "$DIR/wall.conf" >>"$DIR/log" 2>&1 &
	WALL_PID=$!
	for _ in $(seq 1 200); do
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
# every committed op: an answer of the API means durable and in the
# table; the kernel follows through the op log (an nftables transaction
# takes milliseconds, more for a delete: libnftables first reads the
# interval sets back).
settle() {
	local i
	for i in $(seq 1 100); do
		[ "$(curl -s --unix-socket "$SOCK" http://x/healthz | jq -r '.subscribers.enforce.lag')" = 0 ] && return 0
		sleep 0.05
	done
	return 1
}
# api METHOD PATH [BODY]: the status code, once the kernel has the op
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
log_since() { tail -n +"$(($1 + 1))" "$DIR/log"; }
ruleset() { ip netns exec "$W" nft list ruleset; }

if ! wall_start; then
	tap_fail "ipwalld starts with [enforce] nftables" "$(tail -20 "$DIR/log")"
	tap_done
	exit
fi
tap_like "$(ruleset)" 'table inet ipwall' "the table inet ipwall is there"
tap_is "$(tcp 10.213.0.1)" ok "no ban: a TCP connection succeeds"

tap_is "$(api POST /v1/bans '{"target":"10.213.0.2"}')" 201 "ban 10.213.0.2"
tap_not "banned: the peer's IPv4 pings are dropped" reach4
tap_is "$(tcp 10.213.0.1)" dropped "banned: a TCP connection is dropped (no answer, not refused)"
tap_ok "... IPv6 still passes" eventually reach6
tap_ok "... and without nftables_forward, forwarded traffic to inner passes" eventually reachI
tap_is "$(api DELETE '/v1/bans?target=10.213.0.2')" 200 "unban"
tap_is "$(tcp 10.213.0.1)" ok "unbanned: TCP succeeds again"

# Nested prefixes and an allowed hole: a /16 with a /24 inside, an
# allow inside both; then the /16 removed, the /24 still bans.
api POST /v1/bans '{"target":"10.213.0.0/16"}' >/dev/null
tap_is "$(api POST /v1/bans '{"target":"10.213.0.0/24"}')" 201 "a /24 ban inside a banned /16"
tap_not "nested: dropped" reach4
tap_is "$(api POST /v1/allow '{"target":"10.213.0.2"}')" 201 "allow 10.213.0.2 inside both"
tap_ok "the allowed hole passes" eventually reach4
tap_is "$(tcp 10.213.0.1)" ok "... TCP through the hole"
api DELETE '/v1/allow?target=10.213.0.2' >/dev/null
tap_not "the allow removed: dropped" reach4
api DELETE '/v1/bans?target=10.213.0.0/16' >/dev/null
tap_not "the /16 removed: the /24 inside still drops" reach4
api DELETE '/v1/bans?target=10.213.0.0/24' >/dev/null
tap_ok "both removed: passes" eventually reach4
api POST /v1/bans '{"target":"fd00:213::/64"}' >/dev/null
tap_not "an IPv6 /64 ban drops IPv6" reach6
api DELETE '/v1/bans?target=fd00:213::/64' >/dev/null
tap_ok "... and its removal admits" eventually reach6

# Expiry: the set's own timeout, before any purge or delete.
api POST /v1/bans '{"target":"10.213.0.0/24","ttl":2}' >/dev/null
api POST /v1/bans '{"target":"10.213.0.2","ttl":2}' >/dev/null
tap_not "bans of 2 s: dropped now" reach4
sleep 3
tap_ok "after their expiry nftables admits" eventually reach4

# Allowlist mode.
tap_is "$(api PUT /v1/mode '{"mode":"allowlist"}')" 200 "allowlist mode"
tap_not "allowlist mode: the peer is not allowed, dropped" reach4
ll=$(ip -n "$W" -6 addr show dev na$$ scope link | sed -n 's/.*inet6 \(fe80::[0-9a-f:]*\)\/.*/\1/p')
tap_ok "allowlist mode: IPv6 link-local still passes" \
	eventually ip netns exec "$P" ping -6 -c 1 -W 1 -q "$ll%pa$$"
api POST /v1/allow '{"target":"10.213.0.2"}' >/dev/null
tap_ok "allowlist mode: the allowed peer passes" eventually reach4
api PUT /v1/mode '{"mode":"denylist"}' >/dev/null
api DELETE '/v1/allow?target=10.213.0.2' >/dev/null

# Drift: a set flushed by hand is repaired by the periodic reconcile.
api POST /v1/bans '{"target":"10.213.0.2"}' >/dev/null
tap_not "ban again: dropped" reach4
before=$(metric 'ipwall_enforce_repaired_total{backend="nftables",reason="periodic"}')
sets=$(ip netns exec "$W" nft -j list sets inet | jq -r '.nftables[].set? | select(.table=="ipwall") | .name')
for s in $sets; do ip netns exec "$W" nft flush set inet ipwall "$s"; done
tap_ok "every set of the table flushed with nft ($(echo $sets | wc -w) sets): the peer gets through" eventually reach4
sleep 3
tap_not "the periodic reconcile put the elements back: dropped again" reach4
after=$(metric 'ipwall_enforce_repaired_total{backend="nftables",reason="periodic"}')
tap_ok "/metrics: the repair counted (${before:-?} -> ${after:-?})" test "${after:-0}" -gt "${before:-0}"

# kill -9 with a UDP probe from the banned peer all along: nothing gets in.
ip netns exec "$W" socat -u UDP-RECV:7001 OPEN:"$DIR/got",creat,append 2>/dev/null &
sink_udp=$!
: >"$DIR/got"
ip netns exec "$P" bash -c 'for i in $(seq 1 600); do echo probe$i >/dev/udp/10.213.0.1/7001; sleep 0.01; done' 2>/dev/null &
PROBE_PID=$!
sleep 0.5
kill -9 "$WALL_PID"
wait "$WALL_PID" 2>/dev/null
WALL_PID=
tap_like "$(ruleset)" 'table inet ipwall' "kill -9: the table stays"
tap_not "kill -9: the ban stays in force" reach4
if wall_start; then
	tap_pass "ipwalld restarts on the table it left"
else
	tap_fail "ipwalld restarts after kill -9" "$(tail -20 "$DIR/log")"
fi
wait "$PROBE_PID"
PROBE_PID=
tap_is "$(wc -c <"$DIR/got")" 0 "600 datagrams through the crash and the restart: none got through"
api DELETE '/v1/bans?target=10.213.0.2' >/dev/null
ip netns exec "$P" bash -c 'for i in 1 2 3 4 5; do echo ctl$i >/dev/udp/10.213.0.1/7001; sleep 0.1; done' 2>/dev/null
sleep 0.3
tap_like "$(cat "$DIR/got")" 'ctl' "control: unbanned, the probe gets through (the sink works)"
kill "$sink_udp" 2>/dev/null
wait "$sink_udp" 2>/dev/null
wall_stop
tap_is "$?" 0 "ipwalld exits 0"

# Forwarded traffic, with nftables_forward.
conf yes
if wall_start; then
	api POST /v1/bans '{"target":"10.213.0.2"}' >/dev/null
	tap_not "nftables_forward: a banned peer cannot reach inner through the wall" reachI
	api DELETE '/v1/bans?target=10.213.0.2' >/dev/null
	tap_ok "... unbanned, it can" eventually reachI
	api POST /v1/bans '{"target":"10.213.0.2"}' >/dev/null
	wall_stop
else
	tap_fail "ipwalld starts with nftables_forward" "$(tail -20 "$DIR/log")"
fi

tap_not "stopped: the ban stays in force" reach4
ip netns exec "$W" "$IPWALLD" --detach --config "$DIR/wall.conf" >>"$DIR/log" 2>&1
tap_is "$?" 0 "ipwalld --detach exits 0"
tap_not "--detach: the table is gone" grep -q 'table inet ipwall' <<<"$(ruleset)"
tap_ok "--detach: the peer passes" eventually reach4
grep -E 'ERROR: |runtime error' "$DIR/log" && tap_fail "no sanitizer report" || tap_pass "no sanitizer report"
tap_done
