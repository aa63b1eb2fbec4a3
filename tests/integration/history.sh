#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Black-box tests of the history queries (issue 5): GET /v1/history,
# GET /v1/history/count and `ipwall history`, against the real ipwalld
# with its durable store; docs/api.md ("History") is the contract.
#
# Run from the repository root: bash tests/integration/history.sh (TAP on
# stdout; exit status 1 if anything failed). Daemons (lib.sh: free ports of
# 127.0.0.1, throw-away data directories):
#   hist     defaults (store DATA/ipwall.db, audit log DATA/audit.log)
#   nostore  [store] path = none: no history (404 no_store)
#
# What is checked: the rows of an address (its own ops and those of the
# prefixes containing it) and of a prefix (and every target inside it),
# newest first, with their fields; the filters; paging by cursor (the
# pages together are the whole history, no duplicate, no gap); the counts
# (IPv4 /24, IPv6 /64); every bad parameter refused with its code and
# field; expiries recorded as expire ops; the audit log and the history
# agree op by op; the history survives a restart; the CLI prints the same.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl jq
IPWALL=${IPWALL:-build/asan/src/cli/ipwall}
[ -x "$IPWALL" ] || {
	echo "Bail out! $IPWALL is not built (ninja -C build/asan)"
	exit 1
}

D=hist
post() { ipw_json "$D" POST "$@"; }
del() { ipw_json "$D" DELETE "$1"; }
get() { ipw_http "$D" GET "$1"; }
cli() { "$IPWALL" --socket "${IPWD_SOCK[$D]}" "$@"; }

# expect_error DESC STATUS CODE FIELD: the last answer is that error
# (FIELD "-": no field expected).
expect_error() {
	local want="$2 $3 field=${4/#-/}" got
	got="$HTTP_STATUS $(ipw_jq '"\(.error.code) field=\(.error.field // "")"')"
	if [ "$got" == "$want" ]; then
		tap_pass "$1"
	else
		tap_fail "$1" "got:      $got" "expected: $want" \
			"body: ${HTTP_BODY:0:300}"
	fi
}

# ops_of QUERY: "op action result target" of every op of every page of
# GET /v1/history?QUERY (page size from QUERY), one a line, in $OPS; the
# number of pages in $PAGES. Stops after 1000 pages; 1 on an error.
ops_of() {
	local q=$1 cursor=''
	OPS='' PAGES=0
	while [ "$PAGES" -lt 1000 ]; do
		get "/v1/history?$q${cursor:+&cursor=$cursor}"
		if [ "$HTTP_STATUS" != 200 ]; then
			OPS+="HTTP $HTTP_STATUS $HTTP_BODY"
			return 1
		fi
		PAGES=$((PAGES + 1))
		OPS+=$(ipw_jq '.ops[] | "\(.op) \(.action) \(.result) \(.target)"')
		OPS+=$'\n'
		cursor=$(ipw_jq '.next_cursor // empty')
		[ -n "$cursor" ] || break
	done
	OPS=$(sed '/^$/d' <<<"$OPS")
}

# every_op: the ops of every IPv4 and IPv6 target, in $OPS.
every_op() {
	local v4
	ops_of "target=0.0.0.0/0&limit=1000"
	v4=$OPS
	ops_of "target=::/0&limit=1000"
	OPS=$(printf '%s\n%s\n' "$v4" "$OPS" | sed '/^$/d')
}

# ---------------------------------------------------------------- start

if ! ipw_start "$D"; then
	tap_fail "ipwalld starts"
	tap_done
	exit 1
fi
tap_pass "ipwalld starts (store and audit log in its data dir)"

# ---------------------------------------------------------------- ops

post /v1/bans '{"target":"192.0.2.7","ttl":"10m","reason":"ssh brute force","score":2}'
s1=$HTTP_STATUS
post /v1/bans '{"target":"192.0.2.0/24","ttl":"10m","reason":"scan"}'
s2=$HTTP_STATUS
post /v1/bans '{"target":"192.0.2.7","ttl":"20m","score":5}'
s3=$HTTP_STATUS
post /v1/bans '{"target":"192.0.2.8","ttl":"10m"}'
s4=$HTTP_STATUS
post /v1/bans '{"target":"192.0.3.1","ttl":"10m"}'
s5=$HTTP_STATUS
post /v1/allow '{"target":"198.51.100.0/24","reason":"office"}'
s6=$HTTP_STATUS
del "/v1/bans?target=192.0.2.7"
s7=$HTTP_STATUS
del "/v1/bans?target=192.0.2.7"
s8=$HTTP_STATUS
post /v1/bans '{"target":"2001:db8::1","ttl":"10m"}'
post /v1/bans '{"target":"2001:db8::1","ttl":"30m"}'
post /v1/bans '{"target":"2001:db8::2","ttl":"10m"}'
post /v1/bans '{"target":"2001:db8:0:1::1","ttl":"10m"}'
post /v1/bans '{"target":"2001:db8::/64","ttl":"10m"}'
s9=$HTTP_STATUS
tap_is "$s1 $s2 $s3 $s4 $s5 $s6 $s7 $s8 $s9" "201 201 200 201 201 201 200 200 201" \
	"the ops go through the API"

# ---------------------------------------------------------------- rows

get "/v1/history?target=192.0.2.7"
tap_is "$HTTP_STATUS" 200 "GET /v1/history?target=ADDRESS: 200 without a token"
tap_is "$(ipw_jq '[.ops[] | "\(.action) \(.result) \(.target)"] | join(", ")')" \
	"unban absent 192.0.2.7, unban removed 192.0.2.7, ban extended 192.0.2.7, ban added 192.0.2.0/24, ban added 192.0.2.7" \
	"an address: its ops and the /24 that contains it, newest first"
tap_is "$(ipw_jq '.target + " " + (.next_cursor | tostring)')" "192.0.2.7 null" \
	"target echoed; next_cursor null on the last page"
tap_like "$(ipw_jq '.ops[-1] | "\(.ts) \(.time) \(.actor) \(.node) \(.list) \(.reason) \(.score) \(.before)"')" \
	'^20[0-9]{2}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z [0-9]{10} token:admin [^ ]+ bans ssh brute force 2 null$' \
	"an added ban: ts, time, actor, node, list, reason, score; before null"
tap_is "$(ipw_jq '.ops[2] | "\(.score) \(.reason) \(.before.score) \(.before.reason) \(.expires - .before.expires >= 600)"')" \
	"5 ssh brute force 2 ssh brute force true" \
	"an extended ban: the entry after it and before it (expiry 10 min later)"
tap_is "$(ipw_jq '.ops[0] | "\(.reason) \(.score) \(.expires) \(.before)"')" \
	"null null null null" "an absent unban has no entry"
tap_like "$(ipw_jq '.ops[0].op')" '^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$' \
	"op is a UUIDv7"

get "/v1/history?target=192.0.2.0/24"
tap_is "$(ipw_jq '[.ops[] | .target] | join(" ")')" \
	"192.0.2.7 192.0.2.7 192.0.2.8 192.0.2.7 192.0.2.0/24 192.0.2.7" \
	"a prefix: its own ops and every target inside it (not 192.0.3.1)"
get "/v1/history?target=192.0.0.0/16&action=ban"
tap_is "$(ipw_jq '[.ops[] | .target] | join(" ")')" \
	"192.0.3.1 192.0.2.8 192.0.2.7 192.0.2.0/24 192.0.2.7" \
	"action=ban filters"
get "/v1/history?target=2001:db8::1"
tap_is "$(ipw_jq '[.ops[] | "\(.result) \(.target)"] | join(", ")')" \
	"added 2001:db8::/64, extended 2001:db8::1, added 2001:db8::1" \
	"IPv6: the address and its /64, not ::2 nor the next /64"
get "/v1/history?target=198.51.100.9"
tap_is "$(ipw_jq '[.ops[] | "\(.action) \(.list) \(.target)"] | join(", ")')" \
	"allow allows 198.51.100.0/24" "allows are history too"
get "/v1/history?target=203.0.113.1"
tap_is "$HTTP_STATUS $(ipw_jq '"\(.ops | length) \(.next_cursor)"')" "200 0 null" \
	"a target without history: 200, no ops"

# ---------------------------------------------------------------- paging

ops_of "target=0.0.0.0/0&limit=1000"
all=$OPS
n_all=$(wc -l <<<"$all")
ops_of "target=0.0.0.0/0&limit=2"
paged=$OPS
tap_is "$paged" "$all" "limit=2 pages by cursor, all together: the same ops in the same order ($n_all)"
tap_is "$PAGES" $(((n_all + 1) / 2)) "... in ceil(n/2) pages"
tap_is "$(cut -d' ' -f1 <<<"$all" | sort | uniq -d | wc -l)" 0 "no op twice"
get "/v1/history?target=0.0.0.0/0&limit=1"
tap_is "$(ipw_jq '.next_cursor == .ops[0].op')" true "next_cursor is the op id of the page's last op"

# ---------------------------------------------------------------- since, until

get "/v1/history?target=192.0.2.7&since=1h"
tap_is "$(ipw_jq '.ops | length')" 5 "since=1h: every op of the last hour"
get "/v1/history?target=192.0.2.7&since=$(($(date +%s) + 3600))"
tap_is "$(ipw_jq '.ops | length')" 0 "since a Unix time in the future: none"
get "/v1/history?target=192.0.2.7&until=1700000000"
tap_is "$(ipw_jq '.ops | length')" 0 "until a Unix time in the past: none"
get "/v1/history?target=192.0.2.7&since=1700000000&until=$(($(date +%s) + 60))"
tap_is "$(ipw_jq '.ops | length')" 5 "since and until around now: all"

# ---------------------------------------------------------------- counts

get "/v1/history/count?target=192.0.2.7"
tap_is "$HTTP_STATUS $(jq -c . <<<"$HTTP_BODY")" \
	'200 {"target":"192.0.2.7","since":null,"bans":{"target":2,"/24":4},"network":"192.0.2.0/24"}' \
	"count of an address: its bans (added, extended) and its /24's"
get "/v1/history/count?target=2001:db8::1&since=7d"
tap_like "$HTTP_STATUS $(jq -c . <<<"$HTTP_BODY")" \
	'^200 \{"target":"2001:db8::1","since":[0-9]+,"bans":\{"target":2,"/64":4\},"network":"2001:db8::/64"\}$' \
	"IPv6: the address and its /64; since resolved to a Unix time"
get "/v1/history/count?target=192.0.0.0/16"
tap_is "$(jq -c .bans <<<"$HTTP_BODY")" '{"target":5}' "count of a prefix: the bans inside it"

# ---------------------------------------------------------------- bad input

bad() {
	local desc=$1 q=$2 code=$3 field=$4 path=${5:-/v1/history}
	get "$path?$q"
	expect_error "$desc" 400 "$code" "$field"
}
long=$(printf '1%.0s' $(seq 1 300))
bad "no target" "since=1d" missing_field target
bad "target without a value" "target" missing_field target
bad "bad target" "target=192.0.2.300" invalid_target target
bad "target with host bits" "target=192.0.2.7/24" invalid_target target
bad "oversized target" "target=$long" invalid_target target
bad "bad since" "target=192.0.2.7&since=yesterday" invalid_parameter since
bad "since without a value" "target=192.0.2.7&since" invalid_parameter since
bad "empty since" "target=192.0.2.7&since=" invalid_parameter since
bad "oversized since" "target=192.0.2.7&since=$long" invalid_parameter since
bad "since past 9999" "target=192.0.2.7&since=253402300800" invalid_parameter since
bad "bad until" "target=192.0.2.7&until=-5" invalid_parameter until
bad "until not after since" "target=192.0.2.7&since=1700000000&until=1700000000" invalid_parameter until
bad "action mode" "target=192.0.2.7&action=mode" invalid_parameter action
bad "unknown action" "target=192.0.2.7&action=BAN" invalid_parameter action
bad "limit 0" "target=192.0.2.7&limit=0" invalid_parameter limit
bad "limit 1001" "target=192.0.2.7&limit=1001" invalid_parameter limit
bad "huge limit" "target=192.0.2.7&limit=$long" invalid_parameter limit
bad "cursor not an op id" "target=192.0.2.7&cursor=192.0.2.7" invalid_parameter cursor
bad "cursor of no op" "target=192.0.2.7&cursor=01234567-89ab-7def-8123-456789abcdef" invalid_parameter cursor
bad "oversized cursor" "target=192.0.2.7&cursor=$long" invalid_parameter cursor
bad "unknown parameter" "target=192.0.2.7&within=10.0.0.0/8" unknown_parameter within
bad "repeated parameter" "target=192.0.2.7&target=192.0.2.8" invalid_parameter target
bad "count: bad target" "target=nope" invalid_target target /v1/history/count
bad "count: limit is unknown there" "target=192.0.2.7&limit=5" unknown_parameter limit /v1/history/count
bad "count: bad since" "target=192.0.2.7&since=7x" invalid_parameter since /v1/history/count
ipw_json "$D" POST "/v1/history?target=192.0.2.7" '{}'
expect_error "POST /v1/history: 405" 405 method_not_allowed -

# ---------------------------------------------------------------- expiry

post /v1/bans '{"target":"203.0.113.9","ttl":1,"reason":"short"}'
found=
for _ in $(seq 1 50); do
	get "/v1/history?target=203.0.113.9&action=expire"
	if [ "$(ipw_jq '.ops | length')" == 1 ]; then
		found=$(ipw_jq '.ops[0] | "\(.action) \(.result) \(.actor) \(.reason)"')
		break
	fi
	sleep 0.2
done
tap_is "$found" "expire removed purger short" "an expiry is an expire op (actor purger, the entry it removed)"

# ---------------------------------------------------------------- audit log

# The line of an op is written just after its commit: give the purger's
# last one a moment.
for _ in $(seq 1 20); do
	audit=$(jq -r 'select(.target != null) | "\(.op) \(.action) \(.result) \(.target)"' \
		"${IPWD_DIR[$D]}/audit.log" 2>&1 | sort)
	every_op
	hist=$(sort <<<"$OPS")
	[ "$hist" == "$audit" ] && break
	sleep 0.1
done
tap_is "$hist" "$audit" "the audit log and /v1/history agree op by op ($(wc -l <<<"$audit") ops: id, action, result, target)"

# ---------------------------------------------------------------- CLI

out=$(cli history 192.0.2.7)
rc=$?
tap_is "$rc $(head -1 <<<"$out" | tr -s ' ')" "0 TIME ACTION RESULT LIST TARGET ACTOR SCORE REASON" \
	"ipwall history: a table"
tap_is "$(tail -n +2 <<<"$out" | awk '{print $2, $3, $5}' | paste -sd,)" \
	"unban absent 192.0.2.7,unban removed 192.0.2.7,ban extended 192.0.2.7,ban added 192.0.2.0/24,ban added 192.0.2.7" \
	"... the API's rows, newest first"
get "/v1/history?target=192.0.2.0/24&limit=3&action=ban"
tap_is "$(cli history 192.0.2.0/24 --limit 3 --action ban --json 2>/dev/null | jq -c .)" \
	"$(jq -c . <<<"$HTTP_BODY")" "ipwall history --json: the daemon's page"
tap_is "$(cli history 192.0.2.0/24 --limit 1 --all --json | jq -r '.ops[].op' | paste -sd,)" \
	"$(get '/v1/history?target=192.0.2.0/24&limit=1000' && ipw_jq '.ops[].op' | paste -sd,)" \
	"ipwall history --all follows the cursor to the end"
out=$(cli history --count 192.0.2.7 --since 30d)
tap_like "$out" $'^192\\.0\\.2\\.7 +banned 2 times since [0-9T:Z-]+\n192\\.0\\.2\\.0/24 +banned 4 times since' \
	"ipwall history --count: the address and its /24"
cli history 192.0.2.7 --since yesterday >/dev/null 2>&1
tap_is "$?" 2 "ipwall history --since yesterday: usage error (2), nothing sent"
cli history 192.0.2.7 --action mode >/dev/null 2>&1
tap_is "$?" 2 "ipwall history --action mode: 2"
cli history --count 192.0.2.7 --limit 5 >/dev/null 2>&1
tap_is "$?" 2 "ipwall history --count --limit: 2"
cli history 192.0.2.7 --since 1700000000 --until 1600000000 >/dev/null 2>&1
tap_is "$?" 3 "until before since: refused by the daemon (3)"

# ---------------------------------------------------------------- restart

every_op
before=$OPS
ipw_stop "$D"
tap_is "$?" 0 "ipwalld stops (SIGTERM)"
if ipw_start "$D"; then
	every_op
	after=$OPS
	tap_is "$after" "$before" "the history survives a restart ($(wc -l <<<"$before") ops)"
	get "/v1/history/count?target=192.0.2.7"
	tap_is "$(jq -c .bans <<<"$HTTP_BODY")" '{"target":2,"/24":4}' "... and so do the counts"
else
	tap_fail "ipwalld restarts"
fi
ipw_stop "$D"
tap_ok "no sanitizer report (hist)" ipw_sanitizer_clean "$D"

# ---------------------------------------------------------------- no store

printf '[store]\npath = none\n' >"$IPW_TMP/nostore.conf"
if ipw_start nostore --config "$IPW_TMP/nostore.conf"; then
	D=nostore
	get "/v1/history?target=192.0.2.7"
	expect_error "without a store: GET /v1/history is 404 no_store" 404 no_store -
	get "/v1/history/count?target=192.0.2.7"
	expect_error "... and /v1/history/count" 404 no_store -
	get "/v1/history?target=bogus"
	expect_error "... bad input is still 400 first" 400 invalid_target target
	cli history 192.0.2.7 >/dev/null 2>&1
	tap_is "$?" 3 "ipwall history without a store: 3"
	ipw_stop nostore
	tap_ok "no sanitizer report (nostore)" ipw_sanitizer_clean nostore
else
	tap_fail "ipwalld starts with [store] path = none"
fi

tap_done
