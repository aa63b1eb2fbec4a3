#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Kernel enforcement end to end: two network namespaces made by this test
# and joined by a veth pair (10.213.0.1 and fd00:213::1 in "wall", .2 and
# ::2 in "peer"); ipwalld runs in "wall" with [enforce] xdp on its end,
# and the peer's pings show what the XDP program drops. Bans, unbans,
# CIDR, an allowed hole, allowlist mode and a restart with bans in the
# store. Nothing outside the two namespaces is touched; they are removed
# at exit.
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl ip ping

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
DIR=$IPW_TMP/enforce
mkdir -p "$DIR"
WALL_PID=

cleanup() {
	if [ -n "$WALL_PID" ] && kill -0 "$WALL_PID" 2>/dev/null; then
		kill "$WALL_PID"
		wait "$WALL_PID" 2>/dev/null
	fi
	ip netns del "$W" 2>/dev/null
	ip netns del "$P" 2>/dev/null
	ipw_cleanup
}
trap cleanup EXIT

ip netns add "$W" && ip netns add "$P" &&
	ip link add ipwt-w$$ netns "$W" type veth peer name ipwt-p$$ netns "$P" &&
	ip -n "$W" link set lo up && ip -n "$P" link set lo up &&
	ip -n "$W" addr add 10.213.0.1/24 dev ipwt-w$$ &&
	ip -n "$P" addr add 10.213.0.2/24 dev ipwt-p$$ &&
	ip -n "$W" addr add fd00:213::1/64 dev ipwt-w$$ nodad &&
	ip -n "$P" addr add fd00:213::2/64 dev ipwt-p$$ nodad &&
	ip -n "$W" link set ipwt-w$$ up && ip -n "$P" link set ipwt-p$$ up
tap_is "$?" 0 "two namespaces joined by a veth pair"

# reach4 / reach6: can the peer reach the wall (one ping, 1 s)?
reach4() { ip netns exec "$P" ping -c 1 -W 1 -q 10.213.0.1 >/dev/null 2>&1; }
reach6() { ip netns exec "$P" ping -6 -c 1 -W 1 -q fd00:213::1 >/dev/null 2>&1; }
# eventually CMD: true within 3 s (a first ping may wait for neighbours)
eventually() {
	local i
	for i in 1 2 3; do
		"$@" && return 0
	done
	return 1
}

tap_ok "before ipwalld: the peer reaches the wall over IPv4" eventually reach4
tap_ok "before ipwalld: ... and over IPv6" eventually reach6

printf '[enforce]\nxdp = ipwt-w%s\nxdp_mode = native\n' "$$" >"$DIR/wall.conf"
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
# api METHOD PATH [BODY]
api() {
	if [ $# -ge 3 ]; then
		curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$1" \
			-H 'Content-Type: application/json' --data-binary "$3" "http://x$2"
	else
		curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$1" "http://x$2"
	fi
}

if wall_start; then
	tap_like "$(cat "$DIR/log")" "enforce: XDP \(native\) attached to ipwt-w$$" "the log says XDP is attached"
	tap_like "$(ip -n "$W" link show ipwt-w$$)" 'xdp' "the interface has an XDP program"
	tap_ok "no ban: the peer still reaches the wall" eventually reach4

	tap_is "$(api POST /v1/bans '{"target":"10.213.0.2"}')" 201 "ban 10.213.0.2"
	tap_not "banned: the peer's IPv4 pings are dropped" reach4
	tap_ok "... its IPv6 pings are not (not banned)" eventually reach6
	tap_is "$(api DELETE '/v1/bans?target=10.213.0.2')" 200 "unban 10.213.0.2"
	tap_ok "unbanned: it reaches the wall again" eventually reach4

	api POST /v1/bans '{"target":"fd00:213::/64"}' >/dev/null
	tap_not "an IPv6 /64 banned: the peer's IPv6 pings are dropped" reach6
	tap_ok "... IPv4 still passes" eventually reach4
	api POST /v1/bans '{"target":"10.213.0.0/24"}' >/dev/null
	tap_not "an IPv4 /24 banned: dropped" reach4
	tap_is "$(api POST /v1/allow '{"target":"10.213.0.2"}')" 201 "allow 10.213.0.2 inside the banned /24"
	tap_ok "the allowed hole passes" eventually reach4
	api DELETE '/v1/allow?target=10.213.0.2' >/dev/null
	tap_not "the allow removed: dropped again" reach4
	api DELETE '/v1/bans?target=10.213.0.0/24' >/dev/null
	api POST /v1/bans '{"target":"10.213.0.0/24","ttl":2}' >/dev/null
	tap_not "a ban of 2 s on the /24: dropped now" reach4
	sleep 3
	tap_ok "after its expiry the program lets it through (before any purge)" eventually reach4

	ml=$(curl -s --unix-socket "$SOCK" http://x/metrics)
	drops4=$(sed -n 's/^ipwall_xdp_packets_total{verdict="drop",reason="banned",family="ipv4"} //p' <<<"$ml")
	drops6=$(sed -n 's/^ipwall_xdp_packets_total{verdict="drop",reason="banned",family="ipv6"} //p' <<<"$ml")
	pass4=$(sed -n 's/^ipwall_xdp_packets_total{verdict="pass",reason="judged",family="ipv4"} //p' <<<"$ml")
	tap_ok "/metrics: packets dropped for a ban, IPv4 (${drops4:-none}) and IPv6 (${drops6:-none})" \
		test "${drops4:-0}" -gt 0 -a "${drops6:-0}" -gt 0
	tap_ok "/metrics: packets judged and passed, IPv4 (${pass4:-none})" test "${pass4:-0}" -gt 0
	tap_like "$ml" $'\nipwall_xdp_interfaces 1\n' "/metrics: ipwall_xdp_interfaces 1"
	api DELETE '/v1/bans?target=fd00:213::/64' >/dev/null
	tap_is "$(api PUT /v1/mode '{"mode":"allowlist"}')" 200 "allowlist mode"
	tap_not "allowlist mode: the peer is not allowed, dropped" reach4
	api POST /v1/allow '{"target":"10.213.0.2"}' >/dev/null
	tap_ok "allowlist mode: allowed over IPv4" eventually reach4
	api PUT /v1/mode '{"mode":"denylist"}' >/dev/null
	api DELETE '/v1/allow?target=10.213.0.2' >/dev/null
	tap_is "$(api POST /v1/bans '{"target":"10.213.0.2"}')" 201 "denylist again, ban 10.213.0.2"
	tap_not "... dropped" reach4

	wall_stop
	tap_is "$?" 0 "ipwalld exits 0"
	tap_not "stopped: the XDP program is detached (no pinning yet)" \
		grep -q xdp <<<"$(ip -n "$W" link show ipwt-w$$)"
	tap_ok "stopped: the peer reaches the wall" eventually reach4

	# A start with the ban in the store: the maps are filled before the
	# program is attached, so the first packet is judged on the table.
	if wall_start; then
		tap_not "restarted with the ban in the store: dropped at once" reach4
		tap_like "$(cat "$DIR/log")" 'enforce: the maps hold the table at sequence [0-9]+ \([1-9][0-9]* entries put' \
			"the log says the maps were loaded from the table"
		wall_stop
	else
		tap_fail "ipwalld restarts" "$(tail -20 "$DIR/log")"
	fi

	# An interface that already has an XDP program is refused.
	ip -n "$W" link set dev ipwt-w$$ xdpgeneric obj "$(find build/asan -name 'ipwall.bpf.o' | head -1)" sec xdp 2>/dev/null
	if ip -n "$W" link show ipwt-w$$ | grep -q xdp; then
		if wall_start; then
			tap_fail "an interface with another XDP program is refused"
			wall_stop
		else
			tap_like "$(tail -5 "$DIR/log")" 'cannot attach XDP .* to ipwt-w' "an interface with another XDP program is refused, and said"
			WALL_PID=
		fi
		ip -n "$W" link set dev ipwt-w$$ xdpgeneric off
	else
		tap_skip "an interface with another XDP program is refused" "ip could not attach a program"
	fi
	grep -E 'ERROR: |runtime error' "$DIR/log" && tap_fail "no sanitizer report" || tap_pass "no sanitizer report"
else
	tap_fail "ipwalld starts with [enforce] xdp" "$(tail -20 "$DIR/log")"
fi

tap_done
