#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Auto-ban end to end (issue 17): the real ipwalld with [rule NAME]
# sections, failure events through POST /v1/events and through the event
# datagram socket (tests/tools/report_events, a service linked with
# libipwall-client), bans read back through /v1/check, /v1/history and the
# audit log. Loopback and unix sockets only.
#
# Daemons (lib.sh):
#   ab     rules ssh (3 in 10 s, 1 h, escalate x2 up to 3 h, /24 after 3
#          offenders), v6 (3 in 10 s, /48 after 2 offending /64s), web
#          (dry run); [http] max_batch 100; three tokens of scopes admin,
#          report and check
#   plain  no rule: auto-ban off
# What is checked: a threshold fires at exactly N and not at N-1 (events
# counted first: the engine's counter is waited for, never a sleep); the
# ban's actor, source, score and reason (count and window) in the history
# and the audit log; escalation multiplies and stops at its cap; IPv4 /24
# and IPv6 /64 and /48 aggregation; allowed, loopback and own addresses are
# never banned; dry run bans nothing and counts; the socket path; bad
# events refused with their code, field and index, nothing queued; the
# report scope; 404 without rules; a rule the engine refuses stops the
# start with its name; /metrics; a clean stop removes the socket.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl jq
REPORT=${REPORT:-build/asan/tests/tools/report_events}
[ -x "$REPORT" ] || {
	echo "Bail out! $REPORT is not built (ninja -C build/asan)"
	exit 1
}
TIME_LIMIT=${TIME_LIMIT:-240}
cleanup() {
	ipw_watchdog_stop
	ipw_cleanup
}
trap cleanup EXIT
trap 'echo "Bail out! interrupted (or over the ${TIME_LIMIT}s time limit)"; exit 1' INT TERM HUP
ipw_watchdog "$TIME_LIMIT"

D=ab
secret() { head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n'; }
ADMIN=$(secret) REPORTER=$(secret) READER=$(secret)
mkdir -p "$IPW_TMP/$D/data"
printf 'admin:%s:admin\nreporter:%s:report\nreader:%s:check\n' \
	"$ADMIN" "$REPORTER" "$READER" >"$IPW_TMP/$D/data/tokens"
chmod 600 "$IPW_TMP/$D/data/tokens"
cat >"$IPW_TMP/ab.conf" <<'EOF'
[http]
max_batch = 100

[rule ssh]
events = ssh_auth_fail, ssh_invalid_user
threshold = 3
window = 10s
ban = 1h
escalate = 2
max_ban = 3h
aggregate_v4 = 3

[rule v6]
events = v6_fail
threshold = 3
window = 10s
ban = 10m
aggregate_v6 = 2

[rule web]
events = http_401
threshold = 2
window = 10s
ban = 10m
dry_run = yes
EOF

if ! ipw_start "$D" --config "$IPW_TMP/ab.conf"; then
	tap_fail "ipwalld starts with [rule] sections"
	tap_done
	exit 1
fi
tap_pass "ipwalld starts with [rule] sections"
SOCK=${IPWD_DIR[$D]}/events.sock
tap_ok "the event socket is there" test -S "$SOCK"
tap_like "$(cat "${IPWD_LOG[$D]}")" "autoban: 3 rules" "the log says auto-ban is on"

# ev IP TYPE [N]: N events over HTTP as the reporter token (202 each)
ev() {
	local k
	for ((k = 0; k < ${3:-1}; k++)); do
		ipw_http "$D" POST /v1/events -H "Authorization: Bearer $REPORTER" \
			-H 'Content-Type: application/json' \
			--data-binary "{\"ip\":\"$1\",\"type\":\"$2\",\"service\":\"sshd\"}"
		[ "$HTTP_STATUS" = 202 ] || return 1
	done
}
metric() { # metric NAME{LABELS}: its value (0 when absent)
	ipw_http "$D" GET /metrics -H "Authorization: Bearer $READER"
	local v
	v=$(awk -v m="$1" '$1 == m { print $2; exit }' <<<"$HTTP_BODY")
	echo "${v:-0}"
}
# counted N: wait until the engine has counted N events in all (5 s)
counted() {
	for _ in $(seq 100); do
		[ "$(metric ipwall_autoban_events_total)" -ge "$1" ] && return 0
		sleep 0.05
	done
	return 1
}
verdict() { # verdict IP: admitted or blocked
	ipw_http "$D" GET "/v1/check?ip=$1" -H "Authorization: Bearer $READER"
	ipw_jq .verdict
}
# blocked IP: wait until IP is blocked (the ban is applied behind the
# engine: 5 s at most)
blocked() {
	for _ in $(seq 100); do
		[ "$(verdict "$1")" = blocked ] && return 0
		sleep 0.05
	done
	return 1
}
total=0
sent() { total=$((total + $1)); }

# ---------------------------------------------------------------- threshold
A=198.51.100.7
ev "$A" ssh_auth_fail 2 && sent 2
tap_ok "two events are accepted (202)" counted "$total"
tap_is "$(verdict "$A")" admitted "threshold 3: after 2 events (counted) the source is admitted"
ev "$A" ssh_invalid_user && sent 1
tap_ok "the 3rd event (another type of the same rule) bans it" blocked "$A"
ipw_http "$D" GET "/v1/bans?within=$A&auto=true" -H "Authorization: Bearer $READER"
tap_is "$(ipw_jq '.items[0] | "\(.actor) \(.source) \(.auto) \(.score > 0)"')" \
	"rule:ssh autoban true true" "the ban's actor is the rule, its source autoban, marked automatic, with a score"
ipw_http "$D" GET "/v1/history?target=$A" -H "Authorization: Bearer $READER"
tap_is "$(ipw_jq '.ops[0] | "\(.action) \(.actor)"')" "ban rule:ssh" "the history has the ban op with its actor"
tap_like "$(ipw_jq '.ops[0].reason')" \
	'^auto-ban rule ssh: 3 events within 10s \(score [0-9]+, 0 earlier bans\)$' \
	"its reason names the rule, the count and the window"
ttl=$(ipw_jq '.ops[0].expires - .ops[0].time')
tap_ok "first offence: 1 h (ttl $ttl s)" test "$ttl" -ge 3595 -a "$ttl" -le 3600
line=$(grep "\"$A\"" "${IPWD_DIR[$D]}/audit.log" | tail -1)
tap_like "$line" '"actor":"rule:ssh"' "the audit log has the automatic ban with its actor"
tap_like "$line" '"reason":"auto-ban rule ssh: 3 events within 10s \(score [0-9]+' "... its reason (count, window, score)"
tap_like "$line" '"score":[1-9]' "... and its score"
tap_like "$(cat "${IPWD_LOG[$D]}")" "autoban: banned $A for 1h" "and ipwalld's log says it"

ipw_http "$D" GET "/v1/history?target=$A&action=ban" -H "Authorization: Bearer $READER"
n0=$(ipw_jq '.ops | length')
ex0=$(metric ipwall_autoban_exempt_total)
ev "$A" ssh_auth_fail 6 && sent 6
counted "$total"
sleep 0.3 # the banner's turn, were there a decision (none is expected)
ipw_http "$D" GET "/v1/history?target=$A&action=ban" -H "Authorization: Bearer $READER"
tap_is "$(ipw_jq '.ops | length')" "$n0" "6 more events while it is banned: no second ban op"
tap_is "$(metric ipwall_autoban_exempt_total)" $((ex0 + 6)) "... they are counted as exempt (already banned)"

# ---------------------------------------------------------------- escalation
unban() {
	ipw_http "$D" DELETE "/v1/bans?target=$1" -H "Authorization: Bearer $ADMIN"
}
# ttl_of IP: the latest ban op's duration in seconds
ttl_of() {
	ipw_http "$D" GET "/v1/history?target=$1&action=ban" -H "Authorization: Bearer $READER"
	ipw_jq '.ops[0].expires - .ops[0].time'
}
unban "$A"
ev "$A" ssh_auth_fail 3 && sent 3
if blocked "$A"; then
	ttl=$(ttl_of "$A")
	tap_ok "second offence: 2 h (x2; ttl $ttl s)" test "$ttl" -ge 7195 -a "$ttl" -le 7200
else
	tap_fail "second offence: banned again"
fi
unban "$A"
ev "$A" ssh_auth_fail 3 && sent 3
if blocked "$A"; then
	ttl=$(ttl_of "$A")
	tap_ok "third offence: 3 h, the cap, not 4 h (ttl $ttl s)" test "$ttl" -ge 10795 -a "$ttl" -le 10800
	ipw_http "$D" GET "/v1/history?target=$A&action=ban" -H "Authorization: Bearer $READER"
	tap_like "$(ipw_jq '.ops[0].reason')" '2 earlier bans' "... the reason counts the earlier bans"
else
	tap_fail "third offence: banned again"
fi

# ---------------------------------------------------------------- aggregation
for h in 1 2; do ev "203.0.113.$h" ssh_auth_fail 3 && sent 3; done
counted "$total"
blocked 203.0.113.2 >/dev/null
tap_is "$(verdict 203.0.113.200)" admitted "two offenders in 203.0.113.0/24: the rest of it is admitted"
ev 203.0.113.3 ssh_auth_fail 3 && sent 3
tap_ok "the third offender bans 203.0.113.0/24 (aggregate_v4 = 3)" blocked 203.0.113.200
ipw_http "$D" GET "/v1/history?target=203.0.113.0/24&action=ban" -H "Authorization: Bearer $READER"
tap_like "$(ipw_jq '[.ops[] | select(.target == "203.0.113.0/24")][0].reason')" \
	'^auto-ban rule ssh: 3 offenders within' "the /24's reason counts offenders"

# IPv6: a source is its /64 (addresses rotating inside it are one source)
ev 2001:db8:7:1::1 v6_fail && ev 2001:db8:7:1::2 v6_fail && ev 2001:db8:7:1::3 v6_fail && sent 3
tap_ok "three events from three addresses of one /64 ban the /64" blocked 2001:db8:7:1::ffff
tap_is "$(verdict 2001:db8:7:2::1)" admitted "one offending /64: the rest of the /48 is admitted"
ev 2001:db8:7:2::1 v6_fail 3 && sent 3
tap_ok "a second offending /64 bans the /48 (aggregate_v6 = 2)" blocked 2001:db8:7:ffff::1

# ---------------------------------------------------------------- safety rails
ipw_http "$D" POST /v1/allow -H "Authorization: Bearer $ADMIN" \
	-H 'Content-Type: application/json' --data-binary '{"target":"192.0.2.50"}'
ex0=$(metric ipwall_autoban_exempt_total)
ev 192.0.2.50 ssh_auth_fail 3 && sent 3
ev 127.0.0.1 ssh_auth_fail 3 && sent 3
ev ::1 v6_fail 3 && sent 3
counted "$total"
tap_ok "allowed, loopback and ::1 events are counted as exempt" \
	test "$(metric ipwall_autoban_exempt_total)" -ge $((ex0 + 9))
ipw_http "$D" GET "/v1/history/count?target=192.0.2.50" -H "Authorization: Bearer $READER"
tap_is "$(ipw_jq .bans.target)" 0 "an allowed address is never banned"
ipw_http "$D" GET "/v1/history/count?target=127.0.0.0/8" -H "Authorization: Bearer $READER"
tap_is "$(ipw_jq .bans.target)" 0 "loopback is never banned"
own=$(ip -o -4 addr show scope global 2>/dev/null | awk '{print $4}' | cut -d/ -f1 | head -1)
if [ -n "$own" ]; then
	ev "$own" ssh_auth_fail 3 && sent 3
	counted "$total"
	ipw_http "$D" GET "/v1/history/count?target=$own" -H "Authorization: Bearer $READER"
	tap_is "$(ipw_jq .bans.target)" 0 "this node's own address ($own) is never banned"
else
	tap_skip "this node's own address is never banned" "no global IPv4 address"
fi

# ---------------------------------------------------------------- dry run
W=198.51.100.80
ev "$W" http_401 2 && sent 2
counted "$total"
for _ in $(seq 100); do
	[ "$(metric 'ipwall_autoban_dry_run_total{rule="web"}')" -ge 1 ] && break
	sleep 0.05
done
tap_is "$(metric 'ipwall_autoban_dry_run_total{rule="web"}')" 1 "a dry-run rule counts what it would do"
tap_is "$(verdict "$W")" admitted "... and bans nothing"
tap_like "$(cat "${IPWD_LOG[$D]}")" "autoban: dry run: would ban $W for 10m" "... and logs it"

# ---------------------------------------------------------------- the socket
S=198.51.100.90
out=$("$REPORT" "$SOCK" "$S" ssh_auth_fail 3)
sent 3
tap_is "$out" "sent 3 dropped 0" "libipwall-client sends 3 events to the socket"
tap_ok "events through the socket ban like any other" blocked "$S"
tap_like "$(metric 'ipwall_autoban_events_received_total{via="socket"}')" '^[3-9]' \
	"/metrics counts them as via socket"
inv0=$(metric ipwall_autoban_events_invalid_total)
"$REPORT" "$SOCK" --raw '198.51.100.91\tssh_auth_fail\n10.0.0.0/8\tssh_auth_fail\n198.51.100.91\tBAD TYPE\n198.51.100.91\tssh_auth_fail\n' >/dev/null
sent 2
for _ in $(seq 100); do
	[ "$(metric ipwall_autoban_events_invalid_total)" -ge $((inv0 + 2)) ] && break
	sleep 0.05
done
tap_is "$(metric ipwall_autoban_events_invalid_total)" $((inv0 + 2)) \
	"a datagram with two bad lines: both refused and counted"
tap_like "$(cat "${IPWD_LOG[$D]}")" "event socket: line 2, offset [0-9]+, field ip" \
	"... the log names the line, the offset and the field"
"$REPORT" "$SOCK" 198.51.100.91 ssh_auth_fail >/dev/null
sent 1
tap_ok "... while its good lines were counted (2 of them + 1 more ban it)" blocked 198.51.100.91

# ---------------------------------------------------------------- bad input
# bad DESC STATUS CODE FIELD BODY [INDEX]: POST BODY, expect the error;
# nothing may be queued
bad() {
	local before after
	before=$(metric 'ipwall_autoban_events_received_total{via="http"}')
	ipw_http "$D" POST /v1/events -H "Authorization: Bearer $REPORTER" \
		-H 'Content-Type: application/json' --data-binary "$5"
	local got="$HTTP_STATUS $(ipw_jq '"\(.error.code) \(.error.field // "-")"')"
	after=$(metric 'ipwall_autoban_events_received_total{via="http"}')
	if [ "$got" = "$2 $3 $4" ] && [ "$before" = "$after" ]; then
		tap_pass "$1 ($got)"
	else
		tap_fail "$1" "got: $got (received $before -> $after)" "expected: $2 $3 $4" "body: ${HTTP_BODY:0:200}"
	fi
}
bad "invalid JSON" 400 invalid_json - '{"ip":'
bad "not an object" 400 not_an_object - '[1]'
bad "no ip" 400 missing_field ip '{"type":"ssh_auth_fail"}'
bad "no type" 400 missing_field type '{"ip":"192.0.2.1"}'
bad "a prefix is no event source" 400 invalid_ip ip '{"ip":"10.0.0.0/8","type":"x"}'
bad "a bad address" 400 invalid_ip ip '{"ip":"300.1.2.3","type":"x"}'
bad "ip as a number" 400 wrong_type ip '{"ip":1,"type":"x"}'
bad "an upper-case type" 400 invalid_string type '{"ip":"192.0.2.1","type":"SSH"}'
bad "a type of 33 bytes" 400 string_too_long type "{\"ip\":\"192.0.2.1\",\"type\":\"$(printf 'a%.0s' $(seq 33))\"}"
bad "a NUL in user" 400 invalid_string user '{"ip":"192.0.2.1","type":"x","user":"ro\u0000ot"}'
bad "a newline in detail" 400 invalid_string detail '{"ip":"192.0.2.1","type":"x","detail":"a\nb"}'
bad "an unknown member" 400 unknown_field color '{"ip":"192.0.2.1","type":"x","color":"red"}'
bad "events not an array" 400 wrong_type events '{"events":{}}'
bad "a member beside events" 400 unknown_field ip '{"events":[],"ip":"192.0.2.1"}'
bad "one bad event of three: the whole batch refused" 400 invalid_ip ip \
	'{"events":[{"ip":"192.0.2.1","type":"x"},{"ip":"nope","type":"x"},{"ip":"192.0.2.2","type":"x"}]}'
tap_like "$(ipw_jq .error.message)" '^events\[1\]: ' "... and the message names the event's index"
# hostile bytes outside the body: in the query and in a header
before=$(metric 'ipwall_autoban_events_received_total{via="http"}')
ipw_http "$D" POST "/v1/events?type=x%00y" -H "Authorization: Bearer $REPORTER" \
	-H 'Content-Type: application/json' --data-binary '{"ip":"192.0.2.1","type":"x"}'
tap_is "$HTTP_STATUS" 400 "a %00 in the query of POST /v1/events: 400 ($(ipw_jq .error.code))"
ipw_http "$D" POST "/v1/events?ip=192.0.2.1" -H "Authorization: Bearer $REPORTER" \
	-H 'Content-Type: application/json' --data-binary '{"ip":"192.0.2.1","type":"x"}'
tap_is "$HTTP_STATUS $(ipw_jq .error.code)" "400 unknown_parameter" "a query parameter POST /v1/events does not take: 400 unknown_parameter"
ipw_http "$D" POST /v1/events -H "Authorization: Bearer $REPORTER" \
	-H $'X-Note: a\x01b' -H 'Content-Type: application/json' --data-binary '{"ip":"192.0.2.1","type":"x"}'
tap_is "$HTTP_STATUS" 400 "a control byte in a header value: 400 ($(ipw_jq .error.code))"
tap_is "$(metric 'ipwall_autoban_events_received_total{via="http"}')" "$before" "... and none of the three queued an event"
many=$(for i in $(seq 101); do printf '{"ip":"192.0.2.%d","type":"x"},' $((i % 250)); done)
bad "101 events, more than max_batch 100" 413 batch_too_large events "{\"events\":[${many%,}]}"
ipw_http "$D" POST /v1/events -H "Authorization: Bearer $REPORTER" -H 'Content-Type: application/json' \
	--data-binary "{\"events\":[$(for i in $(seq 100); do printf '{"ip":"192.0.2.%d","type":"unknown_kind"},' "$i"; done | sed 's/,$//')]}"
tap_is "$HTTP_STATUS $(jq -c . <<<"$HTTP_BODY")" '202 {"queued":100,"dropped":0}' "a batch of 100 is queued"
sent 100
counted "$total"
tap_like "$(metric ipwall_autoban_events_unknown_type_total)" '^[1-9][0-9]{2}' "events of a type no rule counts are counted as unknown"

# ---------------------------------------------------------------- scopes
ipw_http "$D" POST /v1/events -H "Authorization: Bearer $READER" -H 'Content-Type: application/json' \
	--data-binary '{"ip":"192.0.2.1","type":"x"}'
tap_is "$HTTP_STATUS $(ipw_jq .error.code)" "403 forbidden" "a check token may not report"
ipw_http "$D" POST /v1/events -H 'Content-Type: application/json' --data-binary '{"ip":"192.0.2.1","type":"x"}'
tap_is "$HTTP_STATUS" 401 "no token: 401"
ipw_http_unix "$D" POST /v1/events -H 'Content-Type: application/json' --data-binary '{"ip":"192.0.2.1","type":"x"}'
tap_is "$HTTP_STATUS" 202 "the unix socket is trusted"
sent 1

# ---------------------------------------------------------------- the CLI
IPWALL=${IPWALL:-build/asan/src/cli/ipwall}
cli() { "$IPWALL" --socket "${IPWD_SOCK[$D]}" "$@"; }
C=198.51.100.100
for k in 1 2 3; do
	out=$(cli report "$C" ssh_auth_fail --service sshd --user root --detail "Failed password")
	rc=$?
done
sent 3
tap_is "$rc $out" "0 reported $C ssh_auth_fail (queued)" "ipwall report: queued, exit 0"
tap_ok "three ipwall reports ban the address" blocked "$C"
out=$(cli report "$C" SSH 2>&1)
tap_is "$? $out" "3 ipwall: type may hold only a-z, 0-9, '_', '.' and '-' (invalid_string)" \
	"ipwall report: the daemon's refusal, exit 3"
printf '# from sshd\n198.51.100.110 ssh_auth_fail sshd root Failed password\n\n198.51.100.110 ssh_auth_fail\n198.51.100.300 ssh_auth_fail\n198.51.100.110 ssh_invalid_user sshd admin\n198.51.100.111\n' >"$IPW_TMP/events.txt"
out=$(cli report --file "$IPW_TMP/events.txt" 2>"$IPW_TMP/err")
tap_is "$? $out" "3 $IPW_TMP/events.txt: 7 lines read, 5 events: 3 queued, 0 dropped; 2 bad lines" \
	"ipwall report --file: the good lines queued, the bad ones counted, exit 3"
sent 3
tap_like "$(cat "$IPW_TMP/err")" "events.txt:5: refused by the daemon: ip: .*\(invalid_ip\)" \
	"... each bad line named by its line number"
tap_like "$(cat "$IPW_TMP/err")" "events.txt:7: refused by the daemon: type is required" "... the other one too"
tap_ok "... and the file's three good events ban 198.51.100.110" blocked 198.51.100.110

# ---------------------------------------------------------------- metrics
counted "$total"
ipw_http "$D" GET /metrics -H "Authorization: Bearer $READER"
for m in 'ipwall_autoban_bans_total{rule="ssh",scope="source"}' 'ipwall_autoban_bans_total{rule="ssh",scope="prefix"}' \
	'ipwall_autoban_bans_total{rule="v6",scope="prefix"}' ipwall_autoban_memory_bytes ipwall_autoban_tracked_slots; do
	tap_like "$(awk -v m="$m" '$1 == m' <<<"$HTTP_BODY")" ' [1-9][0-9]*$' "/metrics: $m above 0"
done
tap_is "$(metric ipwall_autoban_memory_bytes)" $((64 << 20)) "the engine holds its budget (64M), no more"
tap_is "$(metric ipwall_autoban_events_total)" "$total" "the engine counted every event sent ($total)"

ipw_stop "$D"
tap_is "${IPWD_STATUS[$D]}" 0 "ipwalld exits 0 on SIGTERM"
tap_ok "the event socket is removed at stop" test ! -e "$SOCK"
tap_ok "no sanitizer report" ipw_sanitizer_clean "$D"

# ---------------------------------------------------------------- off, refused
if ipw_start plain; then
	ipw_http_unix plain POST /v1/events -H 'Content-Type: application/json' \
		--data-binary '{"ip":"192.0.2.1","type":"x"}'
	tap_is "$HTTP_STATUS $(ipw_jq .error.code)" "404 no_autoban" "no [rule] section: 404 no_autoban"
	out=$("$IPWALL" --socket "${IPWD_SOCK[plain]}" report 192.0.2.1 x 2>&1)
	tap_is "$? $out" "3 ipwall: auto-ban is off: no [rule NAME] section in the configuration (no_autoban)" \
		"... which ipwall report says, exit 3"
	tap_ok "... and no event socket" test ! -e "${IPWD_DIR[plain]}/events.sock"
	ipw_stop plain
else
	tap_fail "ipwalld starts without rules"
fi
# ---------------------------------------------------------------- check rate limits
# 0.5 checks a second (a token every 2 s), burst 3; an address limited
# for 1 s makes each limited check an event rate_limited, 3 of which
# within 10 s ban it.
printf '[rule checks]\nevents = rate_limited\nthreshold = 3\nwindow = 10s\nban = 10m\ncheck_rate = 0.5\ncheck_burst = 3\ncheck_sustain = 1s\n' >"$IPW_TMP/rl.conf"
if ipw_start rl --config "$IPW_TMP/rl.conf"; then
	chk() { ipw_http_unix rl GET "/v1/check?ip=$1"; }
	codes=''
	for k in 1 2 3 4; do
		chk 198.51.100.150
		codes+="$HTTP_STATUS "
	done
	tap_is "$codes" "200 200 200 429 " "check_rate 0.5/s, burst 3: three checks admitted, the 4th 429"
	tap_is "$(ipw_jq '"\(.verdict) \(.reason) \(.retry_after >= 1)"')" "blocked rate_limited true" \
		"... with reason rate_limited and retry_after"
	tap_like "$(cat "$HTTP_HEADERS")" 'Retry-After: [12]' "... and a Retry-After header of 1-2 s"
	chk 198.51.100.151
	tap_is "$HTTP_STATUS" 200 "another address is not limited"
	ipw_http_unix rl POST /v1/allow -H 'Content-Type: application/json' --data-binary '{"target":"198.51.100.152"}'
	codes=''
	for k in 1 2 3 4 5 6; do
		chk 198.51.100.152
		codes+="$HTTP_STATUS "
	done
	tap_is "$codes" "200 200 200 200 200 200 " "an allowed address is never limited"
	sleep 2.2 # a token comes back every 2 s (the configured rate)
	chk 198.51.100.150
	tap_is "$HTTP_STATUS" 200 "after 2 s one more check is admitted (the rate recovers)"
	# keep checking: limited for more than 1 s, each limited check an event
	for _ in $(seq 100); do
		chk 198.51.100.150
		[ "$HTTP_STATUS" = 403 ] && break
		sleep 0.1
	done
	tap_is "$HTTP_STATUS $(ipw_jq .reason)" "403 banned" "sustained overage becomes a ban (403, banned)"
	ipw_http_unix rl GET "/v1/history?target=198.51.100.150"
	tap_is "$(ipw_jq '.ops[0].actor')" "rule:checks" "... by the rule that limits checks"
	ipw_http_unix rl GET /metrics
	tap_like "$(awk '$1 == "ipwall_check_rate_limited_total"' <<<"$HTTP_BODY")" ' [1-9][0-9]*$' \
		"/metrics: ipwall_check_rate_limited_total"
	tap_like "$(awk '$1 == "ipwall_check_rate_sustained_total"' <<<"$HTTP_BODY")" ' [1-9][0-9]*$' \
		"/metrics: ipwall_check_rate_sustained_total"
	ipw_stop rl
	tap_is "${IPWD_STATUS[rl]}" 0 "ipwalld with a check rate limit stops cleanly"
	tap_ok "no sanitizer report (rate limits)" ipw_sanitizer_clean rl
else
	tap_fail "ipwalld starts with check_rate"
fi
# ---------------------------------------------------------------- breaker, full table
# 300 new sources in one second against a breaker at 50 a second, on a
# table of 20 entries: the breaker opens (metric and log), and the bans
# that do not fit are refused and counted, never more entries than that.
# (rule b: 2 events within a minute; rule f: every event bans)
printf '[table]\nmax_entries = 20\n[autoban]\nbreaker = 50\n[rule b]\nevents = b\nthreshold = 2\nwindow = 1m\nban = 1h\n[rule f]\nevents = f\nthreshold = 1\nban = 1h\n' >"$IPW_TMP/br.conf"
if ipw_start br --config "$IPW_TMP/br.conf"; then
	body=$(for i in $(seq 0 299); do printf '{"ip":"10.77.%d.%d","type":"b"},' $((i / 200)) $((i % 200 + 1)); done)
	ipw_http_unix br POST /v1/events -H 'Content-Type: application/json' --data-binary "{\"events\":[${body%,}]}"
	tap_is "$HTTP_STATUS $(ipw_jq .queued)" "202 300" "300 events from 300 new sources queued"
	body=$(for i in $(seq 1 40); do printf '{"ip":"10.78.0.%d","type":"f"},' "$i"; done)
	ipw_http_unix br POST /v1/events -H 'Content-Type: application/json' --data-binary "{\"events\":[${body%,}]}"
	for _ in $(seq 100); do
		ipw_http_unix br GET /metrics
		[ "$(awk '$1 == "ipwall_autoban_events_total" {print $2}' <<<"$HTTP_BODY")" = 340 ] && break
		sleep 0.05
	done
	sleep 0.5 # the banner's last batch (its outcome is counted below)
	ipw_http_unix br GET /metrics
	tap_is "$(awk '$1 == "ipwall_autoban_breaker_trips_total" {print $2}' <<<"$HTTP_BODY")" 1 \
		"the breaker opened once (ipwall_autoban_breaker_trips_total)"
	tap_is "$(awk '$1 == "ipwall_autoban_breaker_open" {print $2}' <<<"$HTTP_BODY")" 1 "... and is open"
	tap_like "$(cat "${IPWD_LOG[br]}")" 'autoban: breaker open: more than 50 new sources a second' "... and the log says so"
	tap_like "$(awk '$1 == "ipwall_autoban_bans_failed_total{reason=\"table_full\"}" {print $2}' <<<"$HTTP_BODY")" '^[1-9]' \
		"bans past max_entries are refused and counted (table_full)"
	tap_like "$(cat "${IPWD_LOG[br]}")" 'autoban: cannot ban 10\.78\.0\.[0-9]+ \(rule f\): table is full' "... and logged"
	ipw_http_unix br GET /v1/stats
	tap_ok "the table holds at most its 20 entries ($(ipw_jq .entries.bans.ipv4))" test "$(ipw_jq .entries.bans.ipv4)" -le 20
	ipw_http_unix br GET /healthz
	tap_is "$HTTP_STATUS" 200 "ipwalld stays healthy"
	ipw_stop br
	tap_ok "no sanitizer report (breaker, full table)" ipw_sanitizer_clean br
else
	tap_fail "ipwalld starts with a small table and breaker"
fi

printf '[rule a]\nevents = x\ncheck_rate = 5\n[rule b]\nevents = y\ncheck_rate = 5\n' >"$IPW_TMP/two.conf"
if ipw_start tworates --config "$IPW_TMP/two.conf" 2>/dev/null; then
	tap_fail "two rules with check_rate are refused"
	ipw_stop tworates
else
	tap_like "$(cat "${IPWD_LOG[tworates]}")" 'autoban: \[rule b\] check_rate: only one rule may limit checks \(\[rule a\] does\)' \
		"two rules with check_rate are refused, naming both"
fi

printf '[rule lone]\nevents = x\naggregate_v4 = 1\n' >"$IPW_TMP/bad.conf"
if ipw_start badrule --config "$IPW_TMP/bad.conf" 2>/dev/null; then
	tap_fail "a rule the engine refuses stops the start"
	ipw_stop badrule
else
	tap_like "$(cat "${IPWD_LOG[badrule]}")" 'autoban: \[rule lone\]: aggregation threshold' \
		"a rule the engine refuses (aggregate_v4 = 1) stops the start, naming it"
fi

tap_done
