#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Hostile clients (tests/tools/hostile.c) against ipwalld with its
# default configuration: 1,000 slowloris connections (a header byte every
# 2 s), a client opening connections as fast as it can, and pipelined
# garbage, each from its own loopback address, for 10 s each run. Other
# clients' checks (127.0.0.1, 100 a second, half on a kept-alive
# connection, half on new ones) must all be answered (each within the
# tool's 1 s; the p99 is reported, not judged: a timing is no test on a
# shared machine).
# Then the same slowloris against a daemon without a per-address limit:
# it does shut other clients out, so the attack is real and the limit is
# what stops it. Loopback only; every run stops by itself.
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl
HOSTILE=${HOSTILE:-build/asan/tests/tools/hostile}

# field LINE NAME: the value of NAME=... in LINE
field() { sed -n "s/.*[[:space:]]$2=\([0-9]*\).*/\1/p" <<<"$1"; }

# judge OUT DESC: every check answered (within the tool's 1 s each), for
# both kinds; the p99 goes into the message.
judge() {
	local out=$1 desc=$2 kind line n f p99
	for kind in keepalive new; do
		line=$(grep "^$kind " <<<"$out")
		n=$(field "$line" checks) f=$(field "$line" failed) p99=$(field "$line" p99_us)
		if [ -n "$n" ] && [ "$n" -ge 150 ] && [ "$f" -eq 0 ]; then
			tap_pass "$desc: $kind checks all answered ($n checks, p99 ${p99} us)"
		else
			tap_fail "$desc: $kind checks all answered" "$line"
		fi
	done
}

if ipw_start main; then
	P=${IPWD_PORT[main]}
	out=$(timeout 60 "$HOSTILE" --port "$P" --seconds 6 --rate 100)
	tap_diag "no attack: $(tr '\n' ' ' <<<"$out")"
	judge "$out" "no attack"

	# attack DESC FIELD MIN WHAT ARGS...: one attacker for 10 s; it really
	# attacked (FIELD of its counts >= MIN), and the checks held.
	attack() {
		local desc=$1 fld=$2 min=$3 what=$4 att
		shift 4
		out=$(timeout 60 "$HOSTILE" --port "$P" --seconds 10 --rate 100 "$@")
		tap_diag "$desc: $(tr '\n' ' ' <<<"$out")"
		att=$(grep '^attackers' <<<"$out")
		tap_ok "$desc: $what ($fld $(field "$att" "$fld"))" \
			test "$(field "$att" "$fld")" -ge "$min"
		judge "$out" "$desc"
	}
	attack "1,000 slowloris connections" slowloris_opened 1000 \
		"1,000 connections were attempted" --slowloris 1000
	attack "a connection flood" flood_connects 1000 \
		"the flooder connected over 1,000 times" --flood
	attack "pipelined garbage" garbage_connections 100 \
		"over 100 connections of pipelined garbage" --garbage

	out=$(timeout 60 "$HOSTILE" --port "$P" --seconds 10 --rate 100 --slowloris 1000 --flood --garbage)
	tap_diag "all three: $(tr '\n' ' ' <<<"$out")"
	judge "$out" "all three at once"

	ipw_http main GET /metrics
	refused=$(sed -n 's/^ipwall_http_connections_refused_total{reason="per_ip"} //p' <<<"$HTTP_BODY")
	tap_ok "the per-address limit refused connections (ipwall_http_connections_refused_total{reason=\"per_ip\"} ${refused:-none})" \
		test "${refused:-0}" -gt 0
	ipw_http main GET /healthz
	tap_is "$HTTP_STATUS" 200 "the daemon is healthy afterwards"
	ipw_stop main
	tap_is "${IPWD_STATUS[main]}" 0 "ipwalld exits 0 on SIGTERM"
	tap_ok "ipwalld: no sanitizer report" ipw_sanitizer_clean main
else
	tap_fail "ipwalld starts"
fi

# The control: without a per-address limit (and 512 connections in all),
# the same 1,000 slowloris connections shut everyone else out.
printf '[http]\nmax_connections = 512\nmax_connections_per_ip = 0\n' >"$IPW_TMP/nolimit.conf"
if ipw_start nolimit --config "$IPW_TMP/nolimit.conf"; then
	out=$(timeout 60 "$HOSTILE" --port "${IPWD_PORT[nolimit]}" --seconds 6 --rate 50 --slowloris 1000)
	tap_diag "no limit, slowloris: $(tr '\n' ' ' <<<"$out")"
	line=$(grep '^new ' <<<"$out")
	tap_ok "without max_connections_per_ip, slowloris does deny new connections (failed $(field "$line" failed) of $(($(field "$line" checks) + $(field "$line" failed))))" \
		test "$(field "$line" failed)" -gt "$(field "$line" checks)"
	ipw_stop nolimit
else
	tap_fail "ipwalld (nolimit) starts"
fi

tap_done
