#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Black-box tests of ipwalld's HTTP API; docs/api.md is the contract.
#
# Run from the repository root: bash tests/integration/api.sh (TAP on
# stdout; exit status 1 if anything failed). It starts the real daemon
# ($IPWALLD, default build/asan/src/daemon/ipwalld) on free ports of
# 127.0.0.1 with throw-away data directories (tests/integration/lib.sh),
# and talks to it with curl and jq, over TCP and the unix socket only.
#
# Daemons:
#   main    defaults: the endpoints, auth, TTLs, metrics, bad input, SIGTERM
#   lists   node it-lists, hit_sample 1: paging, filters, top, stats
#   limits  max_body 2k, max_batch 5, max_connections 4, one thread
#   strict  timeout 2s, protect_reads = yes
#   tokens  named tokens, SIGHUP reload
#
# Every request the docs say must be refused is checked twice: its status,
# error.code (and error.field where the docs name one), and that nothing
# changed: both lists (every page, volatile members dropped) and the mode
# are the same before and after.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl jq

JSON='Content-Type: application/json'
D=main # the daemon that post/del/state/refuse talk to
WHOAMI=$(id -un)

# ---------------------------------------------------------------- helpers

# post PATH BODY [CURL ARGS...], put PATH BODY, del PATH: with the token;
# get PATH: without (reads need none by default).
post() { ipw_json "$D" POST "$@"; }
put() { ipw_json "$D" PUT "$@"; }
del() { ipw_json "$D" DELETE "$1"; }
get() { ipw_http "$D" GET "$1"; }
# noauth METHOD PATH BODY [CURL ARGS...]: a JSON request without a token.
noauth() {
	local m=$1 p=$2 b=$3
	shift 3
	ipw_http "$D" "$m" "$p" -H "$JSON" --data-binary "$b" "$@"
}

# state: both lists of $D (all pages; ttl_left, hits, last_hit_at dropped)
# and its mode, one entry a line. Read with the token (protect_reads).
state() {
	local name=$D u=${IPWD_URL[$D]} list page cursor out='' i
	local auth="Authorization: Bearer ${IPWD_TOKEN[$D]}"
	# Usually one page each holds everything: one curl, and the volatile
	# members cut out of jansson's compact output with sed (jq costs more
	# than the rest of a request).
	out=$(curl -s -g -m 10 -H "$auth" "$u/v1/bans?limit=10000" \
		"$u/v1/allow?limit=10000" "$u/v1/mode")
	if ! [[ $out =~ ^\{\"items\":\[.*\],\"next\":null\}\{\"items\":\[.*\],\"next\":null\}\{\"mode\":\"[a-z]+\"\}$ ]]; then
		if [[ $out =~ \"next\":\" ]]; then
			out= # paged: below
		else
			# Never equal to another state: the comparison fails.
			printf 'state unavailable (%s): %s\n' "$RANDOM$RANDOM" "${out:0:200}"
			return
		fi
	fi
	if [ -n "$out" ]; then
		sed -E 's/"ttl_left":([0-9]+|null),//g; s/"hits":[0-9]+,//g
			s/,"last_hit_at":(null|"[0-9TZ:-]+")//g; s/\},\{/}\n{/g' <<<"$out"
		return
	fi
	for list in bans allow; do
		cursor=
		for i in $(seq 1 100); do
			page=$(curl -s -g -m 10 -H "$auth" "${IPWD_URL[$name]}/v1/$list?limit=500${cursor:+&cursor=$cursor}")
			out+=$(jq -c '.items[] | del(.ttl_left, .hits, .last_hit_at)' \
				<<<"$page" 2>&1)$'\n'
			cursor=$(jq -r '.next // empty' <<<"$page" 2>/dev/null)
			[ -n "$cursor" ] || break
		done
	done
	out+=$(curl -s -m 10 -H "$auth" "${IPWD_URL[$name]}/v1/mode")
	printf '%s\n' "$out"
}

# expect_error DESC STATUS CODE [FIELD]: the last answer is that error.
# CODE "-": the status only. FIELD "-" or absent: not checked.
expect_error() {
	local desc=$1 want=$2 got=$HTTP_STATUS
	if [ "$3" != - ] && [ $# -ge 4 ] && [ "$4" != - ]; then
		want+=" $3 field=$4"
		got+=" $(ipw_jq '"\(.error.code) field=\(.error.field // "")"')"
	elif [ "$3" != - ]; then
		want+=" $3"
		got+=" $(ipw_jq '.error.code')"
	fi
	if [ "$got" == "$want" ]; then
		tap_pass "$desc"
	else
		tap_fail "$desc" "got:      $got" "expected: $want" \
			"body: ${HTTP_BODY:0:400}"
	fi
}

# refuse DESC STATUS CODE FIELD CMD [ARGS...]: CMD's request gets that
# error, and the state of $D is the same afterwards.
refuse() {
	local desc=$1 st=$2 code=$3 field=$4 before after label
	shift 4
	before=$(state)
	"$@"
	label=$st
	[ "$code" != - ] && label+=" $code"
	[ "$field" != - ] && label+=" ($field)"
	expect_error "$desc: $label" "$st" "$code" "$field"
	after=$(state)
	if [ "$before" == "$after" ]; then
		tap_pass "$desc: nothing changed"
	else
		tap_fail "$desc: nothing changed" "state before (<) and after (>):" \
			"$(diff <(echo "$before") <(echo "$after") | head -20)"
	fi
}

# answer_is DESC STATUS JQ-FILTER WANT: status and one value of the body.
answer_is() {
	local got
	got="$HTTP_STATUS $(ipw_jq "$3")"
	if [ "$got" == "$2 $4" ]; then
		tap_pass "$1"
	else
		tap_fail "$1" "got:      $got" "expected: $2 $4" \
			"body: ${HTTP_BODY:0:400}"
	fi
}

# targets: the targets of the last answer's items, space-separated.
targets() { ipw_jq '[.items[].target] | join(" ")'; }

# walk NAME PATH LIMIT: follow next from PATH (with limit=LIMIT) to the
# end; prints the targets in page order, one line, then "pages=N max=M"
# (M the largest page). Bounded to 200 pages.
walk() {
	local name=$1 path=$2 limit=$3 cursor='' page all='' n=0 max=0 size sep='?' words
	[[ $path == *\?* ]] && sep=\&
	while [ $n -lt 200 ]; do
		page=$(curl -s -g -m 10 "${IPWD_URL[$name]}$path${sep}limit=$limit${cursor:+&cursor=$cursor}" |
			jq -r '"\(.items | length)|\(.next // "")|\([.items[].target] | join(" "))"' 2>/dev/null)
		n=$((n + 1))
		IFS="|" read -r size cursor page <<<"$page"
		[[ ${size:-x} =~ ^[0-9]+$ ]] || size=999999
		[ "$size" -gt "$max" ] && max=$size
		all+=" $page"
		[ -n "$cursor" ] || break
	done
	read -ra words <<<"$all"
	all=${words[*]}
	printf '%s\npages=%d max=%d\n' "$all" "$n" "$max"
}

# metric TEXT NAME [LABEL="VALUE"...]: the sum of the samples of NAME whose
# labels include all those given.
metric() {
	local text=$1 name=$2
	shift 2
	awk -v name="$name" -v want="$*" '
		/^#/ { next }
		{
			m = $1; n = m; sub(/\{.*/, "", n)
			if (n != name) next
			k = split(want, w, " "); ok = 1
			for (i = 1; i <= k; i++) if (index(m, w[i]) == 0) ok = 0
			if (ok) sum += $NF
		}
		END { printf "%d\n", sum }' <<<"$text"
}

scrape() { curl -s -m 10 "${IPWD_URL[$D]}/metrics"; }

# check_ip IP: GET /v1/check?ip=IP on $D.
check_ip() { get "/v1/check?ip=$1"; }

# verdict DESC IP STATUS VERDICT REASON ENTRY-TARGET ("null": no entry)
verdict() {
	local desc=$1 ip=$2 st=$3 v=$4 r=$5 e=$6 got want
	check_ip "$ip"
	got="$HTTP_STATUS $(ipw_jq '[.verdict, .reason, (.entry.target // "null")] | join(" ")')"
	want="$st $v $r $e"
	if [ "$got" == "$want" ]; then
		tap_pass "$desc"
	else
		tap_fail "$desc" "request:  GET /v1/check?ip=$ip" "got:      $got" \
			"expected: $want" "body: ${HTTP_BODY:0:400}"
	fi
}

# stop_clean NAME: SIGTERM, exit status 0, no sanitizer report.
stop_clean() {
	ipw_stop "$1"
	tap_is "${IPWD_STATUS[$1]}" 0 "ipwalld ($1) exits 0 on SIGTERM"
	if ipw_sanitizer_clean "$1"; then
		tap_pass "ipwalld ($1): no sanitizer report"
	else
		tap_fail "ipwalld ($1): no sanitizer report" \
			"$(grep -E -A12 'ERROR: |runtime error' "${IPWD_LOG[$1]}" | head -30)"
	fi
}

repeat() { printf "%${2}s" '' | tr ' ' "$1"; }

# ================================================================ main
if ! ipw_start main; then
	tap_fail "ipwalld starts and answers /healthz"
	tap_done
	exit 1
fi
tap_pass "ipwalld starts and answers /healthz"

# ---------------------------------------------------------------- basics
get /healthz
answer_is "GET /healthz: 200 status ok" 200 .status ok
tap_like "$(ipw_header Content-Type)" '^application/json' \
	"GET /healthz: Content-Type application/json"

tok=${IPWD_DIR[main]}/tokens
tap_is "$(stat -c %a "$tok" 2>&1)" 600 "tokens file created with mode 0600"
tap_like "$(cat "$tok")" '^admin:[0-9a-f]{64}:admin$' \
	"tokens file holds one token named admin, of scope admin"
tap_is "$(stat -c %a "${IPWD_SOCK[main]}" 2>&1)" 660 \
	"unix socket DATA_DIR/ipwalld.sock has mode 0660"

# ---------------------------------------------------------------- auth
refuse "POST /v1/bans without Authorization" 401 unauthorized - \
	noauth POST /v1/bans '{"target":"192.0.2.5"}'
tap_is "$(ipw_header WWW-Authenticate)" 'Bearer realm="ipwalld"' \
	"401 carries WWW-Authenticate: Bearer realm=\"ipwalld\""
refuse "POST /v1/bans with an unknown token" 401 unauthorized - \
	noauth POST /v1/bans '{"target":"192.0.2.5"}' \
	-H "Authorization: Bearer not-a-configured-token-0123"
tap_is "$(ipw_header WWW-Authenticate)" 'Bearer realm="ipwalld"' \
	"401 (unknown token) carries WWW-Authenticate"
refuse "POST /v1/bans with the token plus one byte" 401 unauthorized - \
	noauth POST /v1/bans '{"target":"192.0.2.5"}' \
	-H "Authorization: Bearer ${IPWD_TOKEN[main]}x"
refuse "POST /v1/bans with the token minus one byte" 401 unauthorized - \
	noauth POST /v1/bans '{"target":"192.0.2.5"}' \
	-H "Authorization: Bearer ${IPWD_TOKEN[main]%?}"
refuse "POST /v1/bans with Basic admin:TOKEN" 401 unauthorized - \
	noauth POST /v1/bans '{"target":"192.0.2.5"}' \
	-H "Authorization: Basic $(printf 'admin:%s' "${IPWD_TOKEN[main]}" | base64 -w0)"
tap_is "$(ipw_header WWW-Authenticate)" 'Bearer realm="ipwalld"' \
	"401 (Basic) carries WWW-Authenticate"
refuse "POST /v1/bans with Basic TOKEN" 401 unauthorized - \
	noauth POST /v1/bans '{"target":"192.0.2.5"}' \
	-H "Authorization: Basic ${IPWD_TOKEN[main]}"
refuse "POST /v1/bans with an empty Bearer" 401 unauthorized - \
	noauth POST /v1/bans '{"target":"192.0.2.5"}' -H "Authorization: Bearer "
refuse "PUT /v1/mode without Authorization" 401 unauthorized - \
	noauth PUT /v1/mode '{"mode":"allowlist"}'
refuse "POST /v1/allow without Authorization" 401 unauthorized - \
	noauth POST /v1/allow '{"target":"192.0.2.5"}'
refuse "POST /v1/bans/batch without Authorization" 401 unauthorized - \
	noauth POST /v1/bans/batch '{"items":[{"target":"192.0.2.5"}]}'

post /v1/bans '{"target":"192.0.2.5","reason":"auth test"}'
answer_is "POST /v1/bans with the admin token: 201 added" 201 .result added
answer_is "a token write records actor token:admin" 201 .entry.actor token:admin
refuse "DELETE /v1/bans without Authorization keeps the ban" 401 unauthorized - \
	ipw_http main DELETE "/v1/bans?target=192.0.2.5"
tap_is "$(ipw_header WWW-Authenticate)" 'Bearer realm="ipwalld"' \
	"401 (DELETE) carries WWW-Authenticate"
get /v1/bans
answer_is "GET /v1/bans needs no token" 200 '.items | length' 1

ipw_http_unix main POST /v1/bans -H "$JSON" --data-binary '{"target":"192.0.2.6"}'
answer_is "POST /v1/bans on the unix socket without a token: 201" 201 .result added
answer_is "a unix socket write records actor unix:$WHOAMI" 201 .entry.actor "unix:$WHOAMI"
ipw_http_unix main GET /healthz
answer_is "GET /healthz on the unix socket: 200" 200 .status ok
ipw_http_unix main DELETE "/v1/bans?target=192.0.2.6"
answer_is "DELETE on the unix socket without a token: removed" 200 .result removed

# ---------------------------------------------------------------- POST /v1/bans
post /v1/bans '{"target":"192.0.2.10","ttl":600,"score":5,"reason":"first","source":"sshd"}'
answer_is "new ban: 201 added" 201 .result added
answer_is "new ban: entry has exactly the documented members" 201 \
	'.entry | keys | join(",")' \
	actor,auto,created_at,expires_at,hits,last_hit_at,list,reason,score,source,target,ttl_left
answer_is "new ban: target, list, score, reason, source, auto as given" 201 \
	'.entry | [.target, .list, .score, .reason, .source, .auto] | map(tostring) | join(" ")' \
	"192.0.2.10 bans 5 first sshd false"
answer_is "new ban: hits 0, last_hit_at null" 201 '.entry | "\(.hits) \(.last_hit_at)"' "0 null"
tap_like "$(ipw_jq .entry.ttl_left)" '^(599|600)$' "new ban ttl 600: ttl_left 600"
tap_like "$(ipw_jq .entry.expires_at)" '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$' \
	"expires_at is an ISO 8601 UTC time"
exp1=$(ipw_jq .entry.expires_at)

post /v1/bans '{"target":"192.0.2.10","ttl":300,"score":3}'
answer_is "same ban, earlier expiry, lower score: 200 unchanged" 200 .result unchanged
answer_is "unchanged: the later expiry and higher score are kept" 200 \
	'.entry | "\(.expires_at) \(.score)"' "$exp1 5"
post /v1/bans '{"target":"192.0.2.10","ttl":"1h","score":3}'
answer_is "same ban, later expiry: 200 extended" 200 .result extended
tap_like "$(ipw_jq .entry.ttl_left)" '^(3599|3600)$' "extended: the later expiry wins"
answer_is "extended by expiry: the higher score (5) is kept" 200 .entry.score 5
answer_is "a merge without reason and source keeps the stored ones" 200 \
	'.entry | "\(.reason) \(.source)"' "first sshd"
exp2=$(ipw_jq .entry.expires_at)
post /v1/bans '{"target":"192.0.2.10","ttl":60,"score":9,"reason":"second"}'
answer_is "same ban, higher score: 200 extended" 200 .result extended
answer_is "extended by score: score 9, the later expiry kept" 200 \
	'.entry | "\(.score) \(.expires_at)"' "9 $exp2"
answer_is "a merge with a reason replaces it, the source stays" 200 \
	'.entry | "\(.reason) \(.source)"' "second sshd"
post /v1/bans '{"target":"192.0.2.10","ttl":0,"source":"import"}'
answer_is "same ban, ttl 0: extended to permanent" 200 \
	'"\(.result) \(.entry.expires_at) \(.entry.ttl_left)"' "extended null null"
answer_is "a merge with a source replaces it, the reason stays" 200 \
	'.entry | "\(.reason) \(.source)"' "second import"
post /v1/bans '{"target":"192.0.2.10","ttl":"10m","score":1}'
answer_is "permanent ban, ttl 10m: unchanged, still permanent" 200 \
	'"\(.result) \(.entry.expires_at) \(.entry.score)"' "unchanged null 9"
post /v1/bans '{"target":"192.0.2.10","reason":"third"}'
answer_is "a merge that changes neither expiry nor score is unchanged, reason kept (idempotent)" 200 \
	'"\(.result) \(.entry.reason) \(.entry.source) \(.entry.score) \(.entry.expires_at)"' "unchanged second import 9 null"
get "/v1/bans?within=192.0.2.0/28"
answer_is "merged bans are one entry" 200 '[.items[] | select(.target == "192.0.2.10")] | length' 1
post /v1/bans '{"target":"192.0.2.11"}'
answer_is "a ban without ttl is permanent (default_ban_ttl 0)" 201 \
	'"\(.entry.expires_at) \(.entry.ttl_left)"' "null null"
answer_is "a ban without reason and source: both null" 201 \
	'"\(.entry.reason) \(.entry.source)"' "null null"
post /v1/bans '{"target":"192.0.2.12","score":1000000,"reason":"'"$(repeat r 255)"'","source":"'"$(repeat s 63)"'"}'
answer_is "score 1000000, reason of 255 bytes, source of 63: accepted" 201 \
	'"\(.entry.score) \(.entry.reason | length) \(.entry.source | length)"' "1000000 255 63"
post /v1/bans '{"target":"192.0.2.13","auto":true}'
answer_is "auto: true is recorded" 201 .entry.auto true
post /v1/bans '{"target":"2001:DB8:0:0:0:0:0:1/128"}'
answer_is "IPv6 target in any spelling is stored canonical" 201 .entry.target 2001:db8::1

# ---------------------------------------------------------------- GET /v1/check
post /v1/bans '{"target":"203.0.113.0/24"}'
post /v1/bans '{"target":"203.0.113.128/25","ttl":"1h"}'
exp25=$(ipw_jq .entry.expires_at)
post /v1/bans '{"target":"203.0.113.200"}'
answer_is "nested bans: /24, /25 and /32 added" 201 .result added
verdict "check a banned address: 403 blocked banned, the /32" \
	203.0.113.200 403 blocked banned 203.0.113.200
verdict "check: the most specific covering ban decides (/25)" \
	203.0.113.150 403 blocked banned 203.0.113.128/25
verdict "check: the /24 decides outside the /25" \
	203.0.113.5 403 blocked banned 203.0.113.0/24
check_ip 203.0.113.150
answer_is "check body: ip, mode denylist" 403 '"\(.ip) \(.mode)"' "203.0.113.150 denylist"
answer_is "check body: entry list and expires_at of the deciding entry" 403 \
	'"\(.entry.list) \(.entry.expires_at)"' "bans $exp25"
check_ip 203.0.113.5
answer_is "check body: expires_at null for a permanent entry" 403 .entry.expires_at null
verdict "check an address nothing covers: 200 admitted no_match" \
	203.0.114.1 200 admitted no_match null
for ipst in 203.0.113.5:403 203.0.114.1:200; do
	ip=${ipst%:*}
	curl -s -I -m 10 -o "$IPW_TMP/head.out" -w '%{http_code} %{size_download}' \
		"${IPWD_URL[main]}/v1/check?ip=$ip" >"$IPW_TMP/head.code"
	tap_is "$(cat "$IPW_TMP/head.code")" "${ipst#*:} 0" "HEAD /v1/check?ip=$ip: ${ipst#*:} without a body"
done
check_ip 203.0.114.1
answer_is "no_match: entry is null" 200 '.entry | tostring' null
tap_like "$(ipw_header Content-Type)" '^application/json' "check: Content-Type application/json"
verdict "check IPv4-mapped IPv6 ::ffff:203.0.113.5 as IPv4: blocked" \
	::ffff:203.0.113.5 403 blocked banned 203.0.113.0/24
verdict "check IPv4-mapped IPv6 of a free address: admitted" \
	::ffff:203.0.114.1 200 admitted no_match null
post /v1/bans '{"target":"2001:db8:100::/48"}'
post /v1/bans '{"target":"2001:db8:100::7"}'
verdict "check IPv6: banned address" 2001:db8:100::7 403 blocked banned 2001:db8:100::7
verdict "check IPv6: covering /48" 2001:db8:100::8 403 blocked banned 2001:db8:100::/48
verdict "check IPv6: uncompressed spelling" 2001:DB8:100:0:0:0:0:8 403 blocked banned 2001:db8:100::/48
verdict "check IPv6: outside the /48" 2001:db8:101::1 200 admitted no_match null
post /v1/bans '{"target":"::ffff:198.18.0.9"}'
verdict "a ban on ::ffff:198.18.0.9 blocks 198.18.0.9" 198.18.0.9 403 blocked banned 198.18.0.9

get /v1/check
expect_error "check without ip: 400 missing_field (ip)" 400 missing_field ip
for bad in 203.0.113.0/24 203.0.113 01.2.3.4 garbage '' '[2001:db8::1]' fe80::1%25eth0; do
	check_ip "$bad"
	expect_error "check ip=$bad: 400 invalid_ip (ip)" 400 invalid_ip ip
done
get "/v1/check?ip=192.0.2.1&foo=1"
expect_error "check with an unknown parameter: 400 unknown_parameter (foo)" 400 unknown_parameter foo
get "/v1/check?ip=192.0.2.1&ip=192.0.2.2"
expect_error "check with ip twice: 400 invalid_parameter (ip)" 400 invalid_parameter ip

# ---------------------------------------------------------------- allow
post /v1/allow '{"target":"203.0.113.77","reason":"office"}'
answer_is "POST /v1/allow: 201 added, list allows" 201 '"\(.result) \(.entry.list)"' "added allows"
answer_is "an allow without ttl is permanent" 201 .entry.expires_at null
post /v1/allow '{"target":"203.0.113.77"}'
answer_is "POST /v1/allow again: 200 unchanged" 200 .result unchanged
post /v1/allow '{"target":"203.0.113.77","ttl":"1h"}'
answer_is "POST /v1/allow with a ttl on a permanent allow: unchanged" 200 .result unchanged
verdict "an allow wins over a covering ban" 203.0.113.77 200 admitted allowed 203.0.113.77
check_ip 203.0.113.77
answer_is "allowed: entry.list is allows" 200 .entry.list allows
verdict "the covering ban still blocks the neighbour" 203.0.113.78 403 blocked banned 203.0.113.0/24
refuse "POST /v1/bans wholly covered by an allow" 409 covered_by_allow - \
	post /v1/bans '{"target":"203.0.113.77"}'
post /v1/bans '{"target":"203.0.113.76/30"}'
answer_is "a ban only partly covered by an allow is added" 201 .result added
verdict "the partly covered ban blocks outside the allow" 203.0.113.76 403 blocked banned 203.0.113.76/30
verdict "the allow still wins inside the partly covered ban" 203.0.113.77 200 admitted allowed 203.0.113.77
post /v1/allow '{"target":"198.51.100.0/24"}'
answer_is "allow a prefix" 201 .result added
refuse "POST /v1/bans of a prefix inside an allowed prefix" 409 covered_by_allow - \
	post /v1/bans '{"target":"198.51.100.128/25"}'
post /v1/allow '{"target":"2001:db8:100::7"}'
verdict "an IPv6 allow wins over the same banned address" 2001:db8:100::7 200 admitted allowed 2001:db8:100::7
get /v1/allow
answer_is "GET /v1/allow lists the allows" 200 '[.items[].target] | join(" ")' \
	"198.51.100.0/24 203.0.113.77 2001:db8:100::7"
answer_is "GET /v1/allow: every item has list allows" 200 '[.items[].list] | unique | join(",")' allows
del "/v1/allow?target=203.0.113.77"
answer_is "DELETE /v1/allow: removed with the entry" 200 '"\(.result) \(.entry.target) \(.entry.list)"' \
	"removed 203.0.113.77 allows"
verdict "after the allow is gone the ban blocks" 203.0.113.77 403 blocked banned 203.0.113.76/30
del "/v1/allow?target=203.0.113.77"
answer_is "DELETE /v1/allow again: absent" 200 '"\(.result) \(.entry)"' "absent null"

# ---------------------------------------------------------------- DELETE /v1/bans
del "/v1/bans?target=203.0.113.128%2F25"
answer_is "DELETE /v1/bans (encoded prefix): removed with the entry" 200 \
	'"\(.result) \(.entry.target) \(.entry.list)"' "removed 203.0.113.128/25 bans"
verdict "after the /25 is removed the /24 decides" 203.0.113.150 403 blocked banned 203.0.113.0/24
del "/v1/bans?target=203.0.113.128/25"
answer_is "DELETE /v1/bans again: 200 absent" 200 .result absent
del "/v1/bans?target=2001:db8:100::/48"
answer_is "DELETE /v1/bans of an IPv6 prefix: removed" 200 .result removed
verdict "IPv6 address admitted after its prefix is removed" 2001:db8:100::8 200 admitted no_match null

# ---------------------------------------------------------------- batch
post /v1/bans/batch '{"items":[
	{"target":"192.0.2.100","ttl":600},
	{"target":"192.0.2.101","reason":"b"},
	{"target":"198.51.100.9"},
	{"target":"192.0.2.10","score":1},
	{"target":"192.0.2.100","ttl":"2h"},
	{"target":"2001:db8:200::/48","auto":true},
	{"target":"198.51.100.10"}]}'
answer_is "batch: 200 with added/extended/unchanged/failed counts" 200 \
	'"\(.added) \(.extended) \(.unchanged) \(.failed)"' "3 1 1 2"
answer_is "batch: errors list the refused items with index, target, code" 200 \
	'[.errors[] | "\(.index) \(.target) \(.code)"] | join(", ")' \
	"2 198.51.100.9 covered_by_allow, 6 198.51.100.10 covered_by_allow"
answer_is "batch: every error has a message" 200 '[.errors[] | .message | type] | unique | join(",")' string
get "/v1/bans?within=192.0.2.96/28"
answer_is "batch: the added bans are listed" 200 '[.items[].target] | join(" ")' "192.0.2.100 192.0.2.101"
tap_like "$(ipw_jq '.items[0].ttl_left')" '^(7199|7200)$' "batch: a later item extends an earlier one (ttl 2h)"
answer_is "batch: items record the actor" 200 '[.items[].actor] | unique | join(",")' token:admin
get "/v1/bans?within=198.51.100.0/24"
answer_is "batch: refused items are not stored" 200 '.items | length' 0
post /v1/bans/batch '{"items":[]}'
answer_is "batch with no items: 200, all counts 0" 200 \
	'"\(.added) \(.extended) \(.unchanged) \(.failed) \(.errors | length)"' "0 0 0 0 0"
ipw_http_unix main POST /v1/bans/batch -H "$JSON" --data-binary '{"items":[{"target":"192.0.2.102"}]}'
answer_is "batch on the unix socket: added" 200 .added 1
get "/v1/bans?within=192.0.2.102/32"
answer_is "batch on the unix socket records actor unix:$WHOAMI" 200 '.items[0].actor' "unix:$WHOAMI"

refuse "batch with a malformed item at index 2" 400 invalid_target target \
	post /v1/bans/batch '{"items":[{"target":"192.0.2.150"},{"target":"192.0.2.151"},{"target":"192.0.2.300"},{"target":"192.0.2.152"}]}'
answer_is "batch malformed item: error.index 2" 400 .error.index 2
refuse "batch with a non-object item at index 1" 400 not_an_object - \
	post /v1/bans/batch '{"items":[{"target":"192.0.2.150"},"192.0.2.151"]}'
answer_is "batch non-object item: error.index 1" 400 .error.index 1
refuse "batch with an unknown member in item 0" 400 unknown_field tll \
	post /v1/bans/batch '{"items":[{"target":"192.0.2.150","tll":5},{"target":"192.0.2.151"}]}'
answer_is "batch unknown member: error.index 0" 400 .error.index 0
refuse "batch with a bad ttl in the last item" 400 invalid_ttl ttl \
	post /v1/bans/batch '{"items":[{"target":"192.0.2.150"},{"target":"192.0.2.151"},{"target":"192.0.2.152","ttl":"10x"}]}'
answer_is "batch bad ttl: error.index 2" 400 .error.index 2
refuse "batch with a wrong-typed score in item 1" 400 wrong_type score \
	post /v1/bans/batch '{"items":[{"target":"192.0.2.150"},{"target":"192.0.2.151","score":"5"}]}'
answer_is "batch wrong type: error.index 1" 400 .error.index 1
refuse "batch with items not an array" 400 wrong_type items \
	post /v1/bans/batch '{"items":{"target":"192.0.2.150"}}'
answer_is "batch items not an array: no item index" 400 '.error | has("index")' false
refuse "batch without items" 400 missing_field items post /v1/bans/batch '{}'
answer_is "batch without items: no item index" 400 '.error | has("index")' false
refuse "batch with an unknown top-level member" 400 unknown_field extra \
	post /v1/bans/batch '{"items":[{"target":"192.0.2.150"}],"extra":1}'
answer_is "batch unknown top-level member: no item index" 400 '.error | has("index")' false
refuse "batch body is an array" 400 not_an_object - post /v1/bans/batch '[{"target":"192.0.2.150"}]'
refuse "batch body is not JSON" 400 invalid_json - post /v1/bans/batch '{"items":[{"target":"192.0.2.150"}'

# ---------------------------------------------------------------- mode
get /v1/mode
answer_is "GET /v1/mode: denylist" 200 .mode denylist
put /v1/mode '{"mode":"allowlist"}'
answer_is "PUT /v1/mode allowlist: 200 changed" 200 '"\(.mode) \(.result)"' "allowlist changed"
put /v1/mode '{"mode":"allowlist"}'
answer_is "PUT /v1/mode allowlist again: 200 unchanged" 200 '"\(.mode) \(.result)"' "allowlist unchanged"
get /v1/mode
answer_is "GET /v1/mode: allowlist" 200 .mode allowlist
verdict "allowlist mode: an address no allow covers is blocked, not_allowed" \
	192.0.2.222 403 blocked not_allowed null
check_ip 192.0.2.222
answer_is "allowlist mode: check reports mode allowlist" 403 .mode allowlist
verdict "allowlist mode: an allowed address is admitted" 198.51.100.9 200 admitted allowed 198.51.100.0/24
check_ip 192.0.2.10
answer_is "allowlist mode: a banned, not allowed address is blocked" 403 .verdict blocked
get /v1/stats
answer_is "stats report the mode" 200 .mode allowlist
put /v1/mode '{"mode":"denylist"}'
answer_is "PUT /v1/mode denylist: changed" 200 '"\(.mode) \(.result)"' "denylist changed"
verdict "denylist again: an uncovered address is admitted" 192.0.2.222 200 admitted no_match null

# ---------------------------------------------------------------- TTL forms
i=30
for t in 600 '"600"' '"30s"' '"10m"' '"2h"' '"7d"' '"1h30m"' '"1w"' '"1d2h3m4s"'; do
	case $t in
	600 | '"600"') want=600 ;; '"30s"') want=30 ;; '"10m"') want=600 ;;
	'"2h"') want=7200 ;; '"7d"') want=604800 ;; '"1h30m"') want=5400 ;;
	'"1w"') want=604800 ;; '"1d2h3m4s"') want=93784 ;;
	esac
	post /v1/bans "{\"target\":\"192.0.2.$i\",\"ttl\":$t}"
	got=$(ipw_jq '(.entry.expires_at | fromdateiso8601) - (.entry.created_at | fromdateiso8601)')
	if [ "$HTTP_STATUS" == 201 ] && [[ $got =~ ^[0-9]+$ ]] &&
		[ "$got" -le "$want" ] && [ "$got" -ge $((want - 1)) ]; then
		tap_pass "ttl $t: 201, expires $want s after creation"
	else
		tap_fail "ttl $t: 201, expires $want s after creation" \
			"got: $HTTP_STATUS, expires_at - created_at = $got" "body: ${HTTP_BODY:0:300}"
	fi
	i=$((i + 1))
done
for t in 0 '"0"'; do
	post /v1/bans "{\"target\":\"192.0.2.$i\",\"ttl\":$t}"
	answer_is "ttl $t: permanent, expires_at and ttl_left null" 201 \
		'"\(.entry.expires_at) \(.entry.ttl_left)"' "null null"
	i=$((i + 1))
done
# the 30 s ban (the third: 192.0.2.32) would expire in the middle of the
# checks below
del "/v1/bans?target=192.0.2.32"
answer_is "the ttl 30s ban is listed until it expires" 200 .result removed
post /v1/allow '{"target":"192.0.2.128/27","ttl":"10m"}'
tap_like "$(ipw_jq .entry.ttl_left)" '^(599|600)$' "allow with ttl 10m"
del "/v1/allow?target=192.0.2.128/27"
now=$(date +%s)
post /v1/bans "{\"target\":\"192.0.2.60\",\"ttl\":$((4294967295 - now - 300))}"
answer_is "ttl ending just before 2106-02-07T06:28:15Z: accepted" 201 \
	'.entry.expires_at[0:10]' 2106-02-07
for t in '"10x"' -1 1.5 1e3 '""' true false null '[]' '{}' '"-5"' '"1.5h"' '"10 m"' \
	'"m"' '"1h30"' '"10M"' '"1h1h"' '"99999999999999999999"' 4294967296 \
	"$((4294967295 - now + 300))" '"200000d"'; do
	case $t in
	true | false | null | '[]' | '{}') code=wrong_type ;;
	*) code=invalid_ttl ;;
	esac
	refuse "POST /v1/bans ttl $t" 400 $code ttl \
		post /v1/bans "{\"target\":\"192.0.2.61\",\"ttl\":$t}"
done
refuse "POST /v1/allow ttl \"10x\"" 400 invalid_ttl ttl \
	post /v1/allow '{"target":"192.0.2.61","ttl":"10x"}'

post /v1/bans '{"target":"192.0.2.250","ttl":1}'
answer_is "ttl 1: added" 201 .result added
exp_before=$(metric "$(scrape)" ipwall_expirations_total)
sleep 3
verdict "ttl 1: after 3 s the ban no longer matches" 192.0.2.250 200 admitted no_match null
get "/v1/bans?within=192.0.2.240/28"
answer_is "ttl 1: after 3 s the ban is not listed" 200 '[.items[].target] | index("192.0.2.250")' null
exp_after=$(metric "$(scrape)" ipwall_expirations_total)
tap_ok "ipwall_expirations_total increments after an expiry ($exp_before -> $exp_after)" \
	test "$exp_after" -gt "$exp_before"

# ---------------------------------------------------------------- top, stats
get "/v1/top?k=5"
answer_is "GET /v1/top?k=5: 200 with at most 5 items" 200 '.items | length <= 5' true
get /v1/top
answer_is "GET /v1/top: 200 with at most 10 items" 200 '.items | length <= 10' true
for k in 0 1001 x ''; do
	get "/v1/top?k=$k"
	expect_error "GET /v1/top?k=$k: 400 invalid_parameter (k)" 400 invalid_parameter k
done
get "/v1/top?n=3"
expect_error "GET /v1/top?n=3: 400 unknown_parameter (n)" 400 unknown_parameter n

get /v1/stats
answer_is "GET /v1/stats: the documented members" 200 '
	[has("version", "node", "mode", "uptime_seconds", "entries", "prefixes",
	     "max_entries", "index_bytes", "entry_bytes", "rekeys")] | all' true
answer_is "stats: max_entries 4000000 (default)" 200 .max_entries 4000000
answer_is "stats: uptime_seconds and the byte counts are integers" 200 \
	'[.uptime_seconds, .index_bytes, .entry_bytes, .rekeys] | map(type == "number" and . == floor and . >= 0) | all' true
stats=$HTTP_BODY
nb4=$(walk main "/v1/bans?family=4" 1000 | head -1 | wc -w)
nb6=$(walk main "/v1/bans?family=6" 1000 | head -1 | wc -w)
na4=$(walk main "/v1/allow?family=4" 1000 | head -1 | wc -w)
na6=$(walk main "/v1/allow?family=6" 1000 | head -1 | wc -w)
tap_is "$(jq -r '[.entries.bans.ipv4, .entries.bans.ipv6, .entries.allows.ipv4, .entries.allows.ipv6] | join(" ")' <<<"$stats")" \
	"$nb4 $nb6 $na4 $na6" "stats: entries per list and family match the listings"

# ---------------------------------------------------------------- metrics
m0=$(scrape)
post /v1/bans '{"target":"192.0.2.70"}'
check_ip 192.0.2.70
check_ip 192.0.2.70
check_ip 192.0.2.71
post /v1/bans '{"target":"192.0.2.300"}'
m1=$(scrape)
ipw_http main GET /metrics
tap_is "$HTTP_STATUS" 200 "GET /metrics: 200"
tap_like "$(ipw_header Content-Type)" '^text/plain' "GET /metrics: Content-Type text/plain"
for nt in ipwall_checks_total:counter ipwall_check_duration_seconds:histogram \
	ipwall_write_duration_seconds:histogram ipwall_ops_total:counter \
	ipwall_writes_rejected_total:counter ipwall_entries:gauge \
	ipwall_expirations_total:counter ipwall_http_requests_total:counter \
	ipwall_table_max_entries:gauge ipwall_table_index_bytes:gauge \
	ipwall_table_entry_bytes:gauge ipwall_table_rekeys_total:counter \
	ipwall_start_time_seconds:gauge; do
	tap_ok "metrics: ${nt%%:*} is a ${nt##*:}" \
		grep -qx "# TYPE ${nt%%:*} ${nt##*:}" <<<"$m1"
done
d=$(($(metric "$m1" ipwall_checks_total 'verdict="blocked"') - $(metric "$m0" ipwall_checks_total 'verdict="blocked"')))
tap_is "$d" 2 "ipwall_checks_total{verdict=blocked} +2 after 2 blocked checks"
d=$(($(metric "$m1" ipwall_checks_total 'verdict="admitted"') - $(metric "$m0" ipwall_checks_total 'verdict="admitted"')))
tap_is "$d" 1 "ipwall_checks_total{verdict=admitted} +1 after 1 admitted check"
d=$(($(metric "$m1" ipwall_checks_total 'verdict="blocked"' 'reason="banned"') - $(metric "$m0" ipwall_checks_total 'verdict="blocked"' 'reason="banned"')))
tap_is "$d" 2 "ipwall_checks_total{verdict=blocked,reason=banned} +2"
d=$(($(metric "$m1" ipwall_http_requests_total 'route="/v1/check"' 'method="GET"' 'status="403"') - $(metric "$m0" ipwall_http_requests_total 'route="/v1/check"' 'method="GET"' 'status="403"')))
tap_is "$d" 2 "ipwall_http_requests_total{route=/v1/check,method=GET,status=403} +2"
d=$(($(metric "$m1" ipwall_http_requests_total 'route="/v1/bans"' 'method="POST"' 'status="201"') - $(metric "$m0" ipwall_http_requests_total 'route="/v1/bans"' 'method="POST"' 'status="201"')))
tap_is "$d" 1 "ipwall_http_requests_total{route=/v1/bans,method=POST,status=201} +1"
d=$(($(metric "$m1" ipwall_writes_rejected_total 'reason="invalid_target"') - $(metric "$m0" ipwall_writes_rejected_total 'reason="invalid_target"')))
tap_is "$d" 1 "ipwall_writes_rejected_total{reason=invalid_target} +1 after a rejected write"
d=$(($(metric "$m1" ipwall_ops_total 'action="ban"' 'result="added"') - $(metric "$m0" ipwall_ops_total 'action="ban"' 'result="added"')))
tap_is "$d" 1 "ipwall_ops_total{action=ban,result=added} +1"
inf=$(metric "$m1" ipwall_write_duration_seconds_bucket 'action="ban"' 'le="+Inf"')
cnt=$(metric "$m1" ipwall_write_duration_seconds_count 'action="ban"')
cnt0=$(metric "$m0" ipwall_write_duration_seconds_count 'action="ban"')
tap_ok "ipwall_write_duration_seconds{action=ban} has a +Inf bucket" \
	grep -q '^ipwall_write_duration_seconds_bucket{[^}]*action="ban"[^}]*le="+Inf"} ' <<<"$m1"
tap_ok "ipwall_write_duration_seconds has a _sum" \
	grep -q '^ipwall_write_duration_seconds_sum{[^}]*action="ban"' <<<"$m1"
tap_is "$cnt" "$inf" "ipwall_write_duration_seconds_count{action=ban} equals its +Inf bucket"
tap_is "$((cnt - cnt0))" 1 "ipwall_write_duration_seconds_count{action=ban} +1 after one ban"
buckets=$(grep '^ipwall_write_duration_seconds_bucket{[^}]*action="ban"' <<<"$m1" | awk '{print $NF}')
# shellcheck disable=SC2016 # an awk program
tap_ok "ipwall_write_duration_seconds{action=ban}: several buckets, cumulative" \
	awk 'NR > 1 && $1 < prev { bad = 1 } { prev = $1; n++ } END { exit bad || n < 3 }' <<<"$buckets"
tap_ok "ipwall_check_duration_seconds has a +Inf bucket" \
	grep -qE '^ipwall_check_duration_seconds_bucket\{([^}]*,)?le="\+Inf"\} ' <<<"$m1"
tap_ok "ipwall_check_duration_seconds has a _count" \
	grep -qE '^ipwall_check_duration_seconds_count ' <<<"$m1"
nb4=$(walk main "/v1/bans?family=4" 1000 | head -1 | wc -w)
tap_is "$(metric "$m1" ipwall_entries 'list="bans"' 'family="ipv4"') $(metric "$m1" ipwall_entries 'list="bans"' 'family="ipv6"') $(metric "$m1" ipwall_entries 'list="allows"' 'family="ipv4"') $(metric "$m1" ipwall_entries 'list="allows"' 'family="ipv6"')" \
	"$nb4 $nb6 $na4 $na6" "ipwall_entries{list,family} match what is stored"
tap_is "$(metric "$m1" ipwall_table_max_entries)" 4000000 "ipwall_table_max_entries 4000000"

# ---------------------------------------------------------------- bad input
# POST /v1/bans: the body
refuse "malformed JSON" 400 invalid_json - post /v1/bans '{target: "192.0.2.77"}'
refuse "truncated JSON" 400 invalid_json - post /v1/bans '{"target": "192.0.2.77", "ttl": 6'
refuse "empty body" 400 invalid_json - post /v1/bans ''
refuse "trailing garbage after the object" 400 invalid_json - post /v1/bans '{"target":"192.0.2.77"} x'
for b in '[]' '"x"' 1 null true '[{"target":"192.0.2.77"}]'; do
	refuse "body $b" 400 not_an_object - post /v1/bans "$b"
done
refuse "unknown member tll" 400 unknown_field tll post /v1/bans '{"target":"192.0.2.77","tll":600}'
refuse "unknown member in an allow: score" 400 unknown_field score post /v1/allow '{"target":"192.0.2.77","score":5}'
refuse "unknown member in an allow: auto" 400 unknown_field auto post /v1/allow '{"target":"192.0.2.77","auto":false}'
for mv in 'target 1' 'target null' 'target true' 'target []' 'target {}' \
	'reason 1' 'reason null' 'reason []' 'reason {}' 'reason true' \
	'source 1' 'source null' 'source false' \
	'score "5"' 'score true' 'score null' 'score []' 'score {}' \
	'auto "true"' 'auto 1' 'auto 0' 'auto null'; do
	m=${mv%% *} v=${mv#* }
	if [ "$m" == target ]; then b="{\"target\":$v}"; else b="{\"target\":\"192.0.2.77\",\"$m\":$v}"; fi
	refuse "wrong type $m: $v" 400 wrong_type "$m" post /v1/bans "$b"
done
refuse "allow: wrong type target" 400 wrong_type target post /v1/allow '{"target":42}'
refuse "missing target ({})" 400 missing_field target post /v1/bans '{}'
refuse "missing target (ttl and reason only)" 400 missing_field target post /v1/bans '{"ttl":600,"reason":"x"}'
refuse "allow: missing target" 400 missing_field target post /v1/allow '{"reason":"x"}'
for t in 192.0.02.7 010.1.1.1 10.0.0.1/8 1.2.3.4/33 2001:db8::1/32 2001:db8::/129 \
	fe80::1%eth0 garbage '' 1.2.3 1.2.3.4.5 256.1.1.1 ' 1.2.3.4' '1.2.3.4 ' \
	1.2.3.4/ 1.2.3.0/024 2001:db8:::1 '1.2.3.4/-1' '０.1.2.3'; do
	refuse "invalid target \"$t\"" 400 invalid_target target post /v1/bans "{\"target\":\"$t\"}"
done
refuse "allow: invalid target (host bits set)" 400 invalid_target target \
	post /v1/allow '{"target":"10.0.0.1/8"}'
printf '{"target":"%s"}' "$(repeat 9 100000)" >"$IPW_TMP/huge-target.json"
refuse "huge target (100 kB)" 400 invalid_target target post /v1/bans "@$IPW_TMP/huge-target.json"
printf '{"target":"192.0.2.77","reason":"%s"}' "$(repeat x 1048576)" >"$IPW_TMP/huge-reason.json"
refuse "huge reason (1 MiB)" 400 string_too_long reason post /v1/bans "@$IPW_TMP/huge-reason.json"
printf '{"target":"192.0.2.7\xff"}' >"$IPW_TMP/bad-utf8-1.json"
refuse "non-UTF-8 byte in target" 400 invalid_json - post /v1/bans "@$IPW_TMP/bad-utf8-1.json"
printf '{"target":"192.0.2.77","reason":"\xc3\x28"}' >"$IPW_TMP/bad-utf8-2.json"
refuse "invalid UTF-8 sequence in reason" 400 invalid_json - post /v1/bans "@$IPW_TMP/bad-utf8-2.json"
printf '{"target":"192.0.2.77","reason":"\xed\xa0\x80"}' >"$IPW_TMP/bad-utf8-3.json"
refuse "UTF-8-encoded surrogate in reason" 400 invalid_json - post /v1/bans "@$IPW_TMP/bad-utf8-3.json"
refuse "duplicate member target" 400 invalid_json - \
	post /v1/bans '{"target":"192.0.2.77","target":"192.0.2.78"}'
refuse "duplicate member ttl" 400 invalid_json - \
	post /v1/bans '{"target":"192.0.2.77","ttl":60,"ttl":0}'
for s in -1 1000001 1.5 1e2 9999999999999; do
	refuse "score $s" 400 invalid_score score post /v1/bans "{\"target\":\"192.0.2.77\",\"score\":$s}"
done
refuse "reason of 256 bytes" 400 string_too_long reason \
	post /v1/bans "{\"target\":\"192.0.2.77\",\"reason\":\"$(repeat r 256)\"}"
refuse "reason of 128 two-byte characters (256 bytes)" 400 string_too_long reason \
	post /v1/bans "{\"target\":\"192.0.2.77\",\"reason\":\"$(for _ in $(seq 128); do printf 'é'; done)\"}"
refuse "source of 64 bytes" 400 string_too_long source \
	post /v1/bans "{\"target\":\"192.0.2.77\",\"source\":\"$(repeat s 64)\"}"
refuse "allow: reason of 256 bytes" 400 string_too_long reason \
	post /v1/allow "{\"target\":\"192.0.2.77\",\"reason\":\"$(repeat r 256)\"}"

# query parameters
refuse "POST /v1/bans with an unknown query parameter" 400 unknown_parameter ttl \
	post "/v1/bans?ttl=600" '{"target":"192.0.2.77"}'
refuse "PUT /v1/mode with an unknown query parameter" 400 unknown_parameter force \
	put "/v1/mode?force=1" '{"mode":"allowlist"}'
refuse "DELETE /v1/bans with target twice" 400 invalid_parameter target \
	del "/v1/bans?target=192.0.2.10&target=192.0.2.10"
refuse "DELETE /v1/bans with target twice (different values)" 400 invalid_parameter target \
	del "/v1/bans?target=192.0.2.10&target=192.0.2.11"
refuse "DELETE /v1/bans with an unknown parameter" 400 unknown_parameter list \
	del "/v1/bans?target=192.0.2.10&list=bans"
refuse "DELETE /v1/bans without target" 400 missing_field target del "/v1/bans"
refuse "DELETE /v1/bans with an invalid target" 400 invalid_target target del "/v1/bans?target=192.0.2.300"
refuse "DELETE /v1/bans with host bits set" 400 invalid_target target del "/v1/bans?target=192.0.2.10/24"
refuse "DELETE /v1/allow with an invalid target" 400 invalid_target target del "/v1/allow?target=x"

# mode
refuse "PUT /v1/mode blocklist" 400 invalid_mode mode put /v1/mode '{"mode":"blocklist"}'
refuse "PUT /v1/mode Allowlist (case)" 400 invalid_mode mode put /v1/mode '{"mode":"Allowlist"}'
refuse "PUT /v1/mode with a number" 400 wrong_type mode put /v1/mode '{"mode":1}'
refuse "PUT /v1/mode with null" 400 wrong_type mode put /v1/mode '{"mode":null}'
refuse "PUT /v1/mode without mode" 400 missing_field mode put /v1/mode '{}'
refuse "PUT /v1/mode with an unknown member" 400 unknown_field x put /v1/mode '{"mode":"allowlist","x":1}'
refuse "PUT /v1/mode with a duplicate member" 400 invalid_json - put /v1/mode '{"mode":"allowlist","mode":"allowlist"}'
refuse "PUT /v1/mode body is a string" 400 not_an_object - put /v1/mode '"allowlist"'
refuse "PUT /v1/mode empty body" 400 invalid_json - put /v1/mode ''

# methods and paths
refuse "PUT /v1/bans" 405 method_not_allowed - put /v1/bans '{"target":"192.0.2.77"}'
tap_is "$(ipw_header Allow)" "GET, HEAD, POST, DELETE" "405 on /v1/bans: Allow: GET, HEAD, POST, DELETE"
refuse "PATCH /v1/mode" 405 method_not_allowed - ipw_json main PATCH /v1/mode '{"mode":"allowlist"}'
tap_is "$(ipw_header Allow)" "GET, HEAD, PUT" "405 on /v1/mode: Allow: GET, HEAD, PUT"
refuse "POST /v1/mode" 405 method_not_allowed - post /v1/mode '{"mode":"allowlist"}'
refuse "DELETE /v1/bans/batch" 405 method_not_allowed - del /v1/bans/batch
tap_is "$(ipw_header Allow)" "POST" "405 on /v1/bans/batch: Allow: POST"
refuse "GET /v1/bans/batch" 405 method_not_allowed - get /v1/bans/batch
refuse "POST /v1/check" 405 method_not_allowed - post "/v1/check?ip=192.0.2.77" '{}'
tap_is "$(ipw_header Allow)" "GET, HEAD" "405 on /v1/check: Allow: GET, HEAD"
refuse "PUT /v1/allow" 405 method_not_allowed - put /v1/allow '{"target":"192.0.2.77"}'
refuse "DELETE /v1/mode" 405 method_not_allowed - del /v1/mode
refuse "POST /metrics" 405 method_not_allowed - post /metrics '{}'
refuse "DELETE /healthz" 405 method_not_allowed - del /healthz
refuse "POST /v1/ban (no such path)" 404 not_found - post /v1/ban '{"target":"192.0.2.77"}'
refuse "POST /v1/bans/ (trailing slash)" 404 not_found - post /v1/bans/ '{"target":"192.0.2.77"}'
refuse "DELETE /v1/bans/192.0.2.10" 404 not_found - del /v1/bans/192.0.2.10
refuse "POST /v2/bans" 404 not_found - post /v2/bans '{"target":"192.0.2.77"}'
get /
expect_error "GET /: 404 not_found" 404 not_found
get /v1/checks
expect_error "GET /v1/checks: 404 not_found" 404 not_found

# media type, header size
refuse "Content-Type text/plain" 415 unsupported_media_type - \
	ipw_http main POST /v1/bans -H "Authorization: Bearer ${IPWD_TOKEN[main]}" \
	-H 'Content-Type: text/plain' --data-binary '{"target":"192.0.2.77"}'
refuse "Content-Type application/x-www-form-urlencoded" 415 unsupported_media_type - \
	ipw_http main POST /v1/bans -H "Authorization: Bearer ${IPWD_TOKEN[main]}" \
	--data-binary '{"target":"192.0.2.77"}'
refuse "PUT /v1/mode with Content-Type text/plain" 415 unsupported_media_type - \
	ipw_http main PUT /v1/mode -H "Authorization: Bearer ${IPWD_TOKEN[main]}" \
	-H 'Content-Type: text/plain' --data-binary '{"mode":"allowlist"}'
post /v1/bans '{"target":"192.0.2.78"}' -H 'Content-Type: application/json; charset=utf-8'
answer_is "Content-Type application/json; charset=utf-8 is accepted" 201 .result added
refuse "request headers over max_header (8 KiB default)" 431 header_too_large - \
	post /v1/bans '{"target":"192.0.2.77"}' -H "X-Pad: $(repeat p 20000)"
tap_is "$(ipw_header Content-Type)" application/json "431 is the API's JSON error, not the library's page"
# ---------------------------------------------------------------- malformed
# raw FORMAT: send the printf FORMAT as the whole request on a new
# connection to $D (%T stands for the token) and read the answer into
# HTTP_STATUS and HTTP_BODY.
raw() {
	local fmt=${1//%T/${IPWD_TOKEN[$D]}} fd out
	exec {fd}<>"/dev/tcp/127.0.0.1/${IPWD_PORT[$D]}" || {
		HTTP_STATUS=000 HTTP_BODY=
		return
	}
	# In a subshell that ignores SIGPIPE: the server may answer and close
	# before the request is all written (it refuses at the headers), and
	# a SIGPIPE in this shell would end the whole script.
	# shellcheck disable=SC2059 # the format is the point
	(
		trap '' PIPE
		printf "$fmt" >&"$fd"
	) 2>/dev/null
	out=$(timeout 10 cat <&"$fd" | tr -d '\0')
	exec {fd}>&-
	HTTP_STATUS=$(sed -n '1s/^HTTP\/1\.[01] \([0-9]*\).*/\1/p' <<<"$out")
	HTTP_STATUS=${HTTP_STATUS:-000}
	HTTP_BODY=$(sed '1,/^\r\{0,1\}$/d' <<<"$out")
}
post /v1/bans '{"target":"203.0.113.1"}'
post /v1/allow '{"target":"2001:db8::/32"}'
# The three of the hardening issue: a NUL in a query value was cut off and
# the rest acted on.
refuse "DELETE /v1/bans?target=203.0.113.1%00garbage" 400 invalid_parameter target \
	del "/v1/bans?target=203.0.113.1%00garbage"
tap_like "$(ipw_jq .error.message)" 'query parameter "target" contains a NUL byte \(%00\)' \
	"... and the message says what is wrong"
refuse "DELETE /v1/allow?target=2001:db8::/32%00x" 400 invalid_parameter target \
	del "/v1/allow?target=2001:db8::/32%00x"
get "/v1/check?ip=1.2.3.4%005.6.7.8"
expect_error "GET /v1/check?ip=1.2.3.4%005.6.7.8" 400 invalid_parameter ip
refuse "raw NUL in the request line: GET /v1/check?ip=192.0.2.1\\0junk" 400 bad_request - \
	raw 'GET /v1/check?ip=192.0.2.1\0junk HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n'
tap_like "$(ipw_jq .error.message)" 'request line contains a NUL byte' "... named as such"
refuse "raw NUL in a DELETE's request line" 400 bad_request - \
	raw 'DELETE /v1/bans?target=203.0.113.1\0garbage HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "raw NUL in the method" 400 bad_request - \
	raw 'DELETE\0X /v1/bans?target=203.0.113.1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "control character %0A in a target" 400 invalid_parameter target \
	del "/v1/bans?target=203.0.113.1%0A"
refuse "CRLF injection in a target" 400 invalid_parameter target \
	del "/v1/bans?target=203.0.113.1%0D%0AX-Admin:%201"
refuse "DEL (%7F) in a target" 400 invalid_parameter target del "/v1/bans?target=%7F"
refuse "C1 control (U+0085) in a target" 400 invalid_parameter target del "/v1/bans?target=%C2%85"
refuse "invalid UTF-8 (%FF) in a target" 400 invalid_parameter target del "/v1/bans?target=%FF"
refuse "truncated UTF-8 (%C3) in a target" 400 invalid_parameter target del "/v1/bans?target=203.0.113.1%C3"
refuse "overlong UTF-8 in a target" 400 invalid_parameter target del "/v1/bans?target=%C0%AF"
refuse "a '%' without two hex digits" 400 invalid_parameter target del "/v1/bans?target=203.0.113.1%zz"
refuse "NUL in a parameter's name" 400 invalid_parameter - del "/v1/bans?tar%00get=203.0.113.1"
refuse "NUL in the path" 400 bad_request - del "/v1/bans%00?target=203.0.113.1"
refuse "raw space inside the target (three parts in the request line)" 400 invalid_parameter target \
	raw 'DELETE /v1/bans?target=203.0.113.1 x HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "raw non-ASCII byte in the target" 400 invalid_parameter target \
	raw 'DELETE /v1/bans?target=203.0.113.1\xc3\xa9 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "raw tab in the target" 400 invalid_parameter target \
	raw 'DELETE /v1/bans?target=203.0.113.1\tx HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "NUL in a JSON target (\\u0000)" 400 invalid_target target \
	post /v1/bans '{"target":"203.0.113.9\u0000garbage"}'
tap_not "... and the message is not jansson's flag name" grep -q ALLOW_NUL <<<"$HTTP_BODY"
refuse "NUL in a JSON reason (\\u0000)" 400 invalid_string reason \
	post /v1/bans '{"target":"203.0.113.9","reason":"a\u0000b"}'
refuse "NUL in the JSON mode (\\u0000)" 400 invalid_mode mode \
	put /v1/mode '{"mode":"allowlist\u0000"}'
# Request lines and headers a strict server refuses
refuse "HTTP/1.1 without Host" 400 bad_request - \
	raw 'DELETE /v1/bans?target=203.0.113.1 HTTP/1.1\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "two Host headers" 400 bad_request - \
	raw 'DELETE /v1/bans?target=203.0.113.1 HTTP/1.1\r\nHost: a\r\nHost: b\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "a space before a header's colon (smuggling)" 400 bad_request - \
	raw 'POST /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nContent-Type: application/json\r\nContent-Length : 27\r\nConnection: close\r\n\r\n{"target":"203.0.113.77"}  '
refuse "Content-Length and Transfer-Encoding together (smuggling)" 400 bad_request - \
	raw 'POST /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nContent-Type: application/json\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1b\r\n{"target":"203.0.113.78"}  \r\n0\r\n\r\n'
refuse "two Content-Length headers" 400 bad_request - \
	raw 'POST /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nContent-Type: application/json\r\nContent-Length: 25\r\nContent-Length: 25\r\nConnection: close\r\n\r\n{"target":"203.0.113.79"}'
# libmicrohttpd refuses this one itself, before ipwalld sees the request:
# with its own page, so the status is all there is to check.
refuse "a Content-Length that is not a number" 400 - - \
	raw 'POST /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nContent-Type: application/json\r\nContent-Length: 25x\r\nConnection: close\r\n\r\n{"target":"203.0.113.80"}'
refuse "Transfer-Encoding gzip" 400 bad_request - \
	raw 'POST /v1/bans HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nContent-Type: application/json\r\nTransfer-Encoding: gzip\r\nConnection: close\r\n\r\n'
refuse "a control byte in a header value" 400 bad_request - \
	raw 'DELETE /v1/bans?target=203.0.113.1 HTTP/1.1\r\nHost: x\x01y\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "a header name with a '/'" 400 bad_request - \
	raw 'DELETE /v1/bans?target=203.0.113.1 HTTP/1.1\r\nHost: x\r\nX/Y: 1\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
refuse "request headers over max_header: the API's JSON error" 431 header_too_large - \
	post /v1/bans '{"target":"192.0.2.77"}' -H "X-Pad: $(repeat p 12000)"
refuse "a request line over max_header: the API's JSON error" 431 header_too_large - \
	raw "DELETE /v1/bans?target=203.0.113.1&x=$(repeat 1 9000) HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n"
refuse "a method in lower case" 405 method_not_allowed - \
	raw 'delete /v1/bans?target=203.0.113.1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nConnection: close\r\n\r\n'
# Refused by libmicrohttpd before ipwalld sees them (its own page): the
# status is what there is to check, and that nothing changed.
refuse "HTTP/9.9" 505 - - \
	raw 'DELETE /v1/bans?target=203.0.113.1 HTTP/9.9\r\nHost: x\r\nAuthorization: Bearer %T\r\n\r\n'
refuse "a request line without a version" 400 - - \
	raw 'DELETE /v1/bans?target=203.0.113.1\r\n\r\n'
refuse "a header line without a colon" 400 - - \
	raw 'DELETE /v1/bans?target=203.0.113.1 HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %T\r\nNoColonHere\r\n\r\n'
raw 'GET /v1/check?ip=203.0.113.1 HTTP/1.0\r\n\r\n'
answer_is "HTTP/1.0 without Host is still served" 403 .verdict blocked
get /healthz
answer_is "the daemon still answers after the bad input" 200 .status ok

# ================================================================ lists
cat >"$IPW_TMP/lists.conf" <<'EOF'
[daemon]
node = it-lists

[table]
hit_sample = 1
EOF
if ipw_start lists --config "$IPW_TMP/lists.conf"; then
	D=lists
	V4="10.0.0.0/8 10.0.0.0/16 10.0.0.1 10.0.0.2 10.1.0.0/16 192.0.2.0/24 192.0.2.1 192.0.2.200 198.51.100.7 203.0.113.0/24 203.0.113.9"
	V6="2001:db8::/32 2001:db8::/48 2001:db8::1 2001:db8:1::5 2001:db8:ffff::/48 fd00::/8 fd00::1"
	ALL="$V4 $V6"
	items='{"items":[
		{"target":"203.0.113.9"}, {"target":"fd00::1"}, {"target":"10.0.0.2"},
		{"target":"2001:db8::/48"}, {"target":"192.0.2.0/24"}, {"target":"10.0.0.0/16"},
		{"target":"198.51.100.7","auto":true}, {"target":"2001:db8:1::5","auto":true},
		{"target":"10.0.0.1"}, {"target":"2001:db8::/32"}, {"target":"192.0.2.200"},
		{"target":"fd00::/8"}, {"target":"10.1.0.0/16"}, {"target":"203.0.113.0/24","auto":true},
		{"target":"2001:db8:ffff::/48"}, {"target":"10.0.0.0/8"}, {"target":"192.0.2.1"},
		{"target":"2001:db8::1"}]}'
	post /v1/bans/batch "$items"
	answer_is "lists: batch of 18 bans: added 18" 200 '"\(.added) \(.failed)"' "18 0"
	post /v1/bans/batch "$items"
	answer_is "lists: the same batch again: unchanged 18" 200 '"\(.added) \(.extended) \(.unchanged)"' "0 0 18"
	for a in 172.16.5.5 2001:db8:aaaa::/48 127.0.0.1 172.16.0.0/12; do
		post /v1/allow "{\"target\":\"$a\"}"
	done
	answer_is "lists: 4 allows added" 201 .result added

	get "/v1/bans?limit=10000"
	answer_is "GET /v1/bans: target order (IPv4 first, address, shorter prefix first)" 200 \
		'[.items[].target] | join(" ")' "$ALL"
	answer_is "GET /v1/bans: one page, next null" 200 .next null
	answer_is "GET /v1/bans: only bans" 200 '[.items[].list] | unique | join(",")' bans
	answer_is "GET /v1/bans: auto flags as stored" 200 \
		'[.items[] | select(.auto) | .target] | join(" ")' "198.51.100.7 203.0.113.0/24 2001:db8:1::5"
	get "/v1/bans"
	answer_is "GET /v1/bans default limit (100) holds all 18" 200 '.items | length' 18
	for lim in 1 4 7 17 18; do
		w=$(walk lists /v1/bans "$lim")
		tap_is "$(head -1 <<<"$w")" "$ALL" "paging limit=$lim: every entry exactly once, in order"
		mx=$(sed -n 's/.*max=//p' <<<"$w")
		tap_ok "paging limit=$lim: no page over the limit (largest $mx)" test "$mx" -le "$lim"
	done
	get "/v1/bans?limit=4"
	answer_is "a page that is not the last has a next" 200 '.next | type' string
	w=$(walk lists "/v1/bans?family=6" 2)
	tap_is "$(head -1 <<<"$w")" "$V6" "paging family=6 limit=2 covers the IPv6 bans once"
	w=$(walk lists "/v1/bans?kind=prefix&family=4" 3)
	tap_is "$(head -1 <<<"$w")" "10.0.0.0/8 10.0.0.0/16 10.1.0.0/16 192.0.2.0/24 203.0.113.0/24" \
		"paging kind=prefix family=4 limit=3"
	for fq in "family=4|$V4" "family=6|$V6" \
		"kind=address|10.0.0.1 10.0.0.2 192.0.2.1 192.0.2.200 198.51.100.7 203.0.113.9 2001:db8::1 2001:db8:1::5 fd00::1" \
		"kind=prefix|10.0.0.0/8 10.0.0.0/16 10.1.0.0/16 192.0.2.0/24 203.0.113.0/24 2001:db8::/32 2001:db8::/48 2001:db8:ffff::/48 fd00::/8" \
		"within=10.0.0.0/15|10.0.0.0/16 10.0.0.1 10.0.0.2 10.1.0.0/16" \
		"within=192.0.2.128/25|192.0.2.200" \
		"within=2001:db8::/40|2001:db8::/48 2001:db8::1 2001:db8:1::5" \
		"within=172.16.0.0/12|" \
		"auto=true|198.51.100.7 203.0.113.0/24 2001:db8:1::5" \
		"auto=false|10.0.0.0/8 10.0.0.0/16 10.0.0.1 10.0.0.2 10.1.0.0/16 192.0.2.0/24 192.0.2.1 192.0.2.200 203.0.113.9 2001:db8::/32 2001:db8::/48 2001:db8::1 2001:db8:ffff::/48 fd00::/8 fd00::1" \
		"family=4&kind=prefix&auto=false|10.0.0.0/8 10.0.0.0/16 10.1.0.0/16 192.0.2.0/24" \
		"family=6&within=2001:db8::/32&kind=address|2001:db8::1 2001:db8:1::5"; do
		q=${fq%%|*} want=${fq#*|}
		get "/v1/bans?$q"
		answer_is "GET /v1/bans?$q" 200 '[.items[].target] | join(" ")' "$want"
	done
	w=$(walk lists /v1/allow 1)
	tap_is "$(head -1 <<<"$w")" "127.0.0.1 172.16.0.0/12 172.16.5.5 2001:db8:aaaa::/48" \
		"paging /v1/allow limit=1: every allow exactly once, in order"
	get "/v1/allow?kind=address"
	answer_is "GET /v1/allow?kind=address" 200 '[.items[].target] | join(" ")' "127.0.0.1 172.16.5.5"
	get "/v1/allow?family=6"
	answer_is "GET /v1/allow?family=6" 200 '[.items[].target] | join(" ")' "2001:db8:aaaa::/48"
	get "/v1/allow?within=172.16.0.0/16"
	answer_is "GET /v1/allow?within=172.16.0.0/16" 200 '[.items[].target] | join(" ")' "172.16.5.5"
	for pq in limit=0 limit=10001 limit=abc limit=-1 limit= cursor=garbage cursor=10.0.0.1/8 \
		family=5 family=ipv4 kind=host within=10.0.0.1/8 within=x auto=maybe; do
		get "/v1/bans?$pq"
		expect_error "GET /v1/bans?$pq: 400 invalid_parameter (${pq%%=*})" 400 invalid_parameter "${pq%%=*}"
	done
	get "/v1/bans?limit=10000"
	answer_is "limit=10000 (the maximum) is accepted" 200 '.items | length' 18
	get "/v1/bans?sort=desc"
	expect_error "GET /v1/bans?sort=desc: 400 unknown_parameter (sort)" 400 unknown_parameter sort
	get "/v1/bans?family=4&family=6"
	expect_error "GET /v1/bans with family twice: 400 invalid_parameter (family)" 400 invalid_parameter family
	get "/v1/allow?limit=2&foo=bar"
	expect_error "GET /v1/allow?foo=bar: 400 unknown_parameter (foo)" 400 unknown_parameter foo

	# top: hit_sample = 1 counts every hit
	for _ in 1 2 3; do check_ip 10.0.0.1; done
	for _ in 1 2; do check_ip 192.0.2.200; done
	check_ip 172.16.5.5
	get "/v1/top?k=3"
	answer_is "GET /v1/top?k=3: the most hit entries of both lists, hits descending" 200 \
		'[.items[] | "\(.target)/\(.list)=\(.hits)"] | join(" ")' \
		"10.0.0.1/bans=3 192.0.2.200/bans=2 172.16.5.5/allows=1"
	get "/v1/top?k=1"
	answer_is "GET /v1/top?k=1: one item" 200 '[.items[].target] | join(" ")' 10.0.0.1
	get "/v1/bans?within=10.0.0.1/32"
	answer_is "listing: hits counted, last_hit_at set after a hit" 200 \
		'.items[0] | "\(.hits) \(.last_hit_at | type)"' "3 string"

	# stats and the entries gauge
	get /v1/stats
	answer_is "stats: entries per list and family" 200 \
		'[.entries.bans.ipv4, .entries.bans.ipv6, .entries.allows.ipv4, .entries.allows.ipv6] | join(" ")' \
		"11 7 3 1"
	answer_is "stats: node from [daemon] node, mode" 200 '"\(.node) \(.mode)"' "it-lists denylist"
	answer_is "stats: version is a string" 200 '.version | type' string
	answer_is "stats: prefixes is per list and family" 200 \
		'[.prefixes.bans.ipv4, .prefixes.bans.ipv6, .prefixes.allows.ipv4, .prefixes.allows.ipv6] | map(type) | unique | join(",")' number
	get "/v1/stats?x=1"
	expect_error "GET /v1/stats?x=1: 400 unknown_parameter (x)" 400 unknown_parameter x
	ml=$(scrape)
	tap_is "$(metric "$ml" ipwall_entries 'list="bans"' 'family="ipv4"') $(metric "$ml" ipwall_entries 'list="bans"' 'family="ipv6"') $(metric "$ml" ipwall_entries 'list="allows"' 'family="ipv4"') $(metric "$ml" ipwall_entries 'list="allows"' 'family="ipv6"')" \
		"11 7 3 1" "ipwall_entries{list,family} match the stored entries"
	d=$(metric "$ml" ipwall_ops_total 'action="ban"' 'result="unchanged"')
	tap_is "$d" 18 "ipwall_ops_total{action=ban,result=unchanged} counts the batch items"
	tap_ok "ipwall_write_duration_seconds: a batch counts once" \
		grep -qx 'ipwall_write_duration_seconds_count{action="batch"} 2' <<<"$ml"
	stop_clean lists
	D=main
else
	tap_fail "lists daemon starts"
fi

# ================================================================ limits
cat >"$IPW_TMP/limits.conf" <<'EOF'
[http]
max_body = 2k
max_batch = 5
max_connections = 4
threads = 1
EOF
if ipw_start limits --config "$IPW_TMP/limits.conf"; then
	D=limits
	post /v1/bans '{"target":"192.0.2.1"}'
	answer_is "limits: a small body is accepted" 201 .result added
	body='{"target":"192.0.2.44"'
	body+=$(repeat ' ' $((2048 - ${#body} - 1)))'}'
	post /v1/bans "$body"
	answer_is "limits: a body of exactly max_body (2048 bytes) is accepted" 201 .result added
	refuse "limits: a body of max_body + 1 bytes" 413 body_too_large - \
		post /v1/bans "${body% \}}  }"
	refuse "limits: a 3 kB body (Content-Length)" 413 body_too_large - \
		post /v1/bans "{\"target\":\"192.0.2.45\"$(repeat ' ' 3000)}"
	refuse "limits: a 3 kB body (chunked, no Content-Length)" 413 body_too_large - \
		post /v1/bans "{\"target\":\"192.0.2.45\"$(repeat ' ' 3000)}" -H 'Transfer-Encoding: chunked'
	refuse "limits: a 3 kB batch" 413 body_too_large - \
		post /v1/bans/batch "{\"items\":[{\"target\":\"192.0.2.45\"}]$(repeat ' ' 3000)}"
	refuse "limits: 6 items with max_batch 5" 413 batch_too_large - \
		post /v1/bans/batch '{"items":[{"target":"192.0.2.51"},{"target":"192.0.2.52"},{"target":"192.0.2.53"},{"target":"192.0.2.54"},{"target":"192.0.2.55"},{"target":"192.0.2.56"}]}'
	post /v1/bans/batch '{"items":[{"target":"192.0.2.51"},{"target":"192.0.2.52"},{"target":"192.0.2.53"},{"target":"192.0.2.54"},{"target":"192.0.2.55"}]}'
	answer_is "limits: 5 items with max_batch 5: 200 added 5" 200 .added 5
	ml=$(scrape)
	tap_ok "limits: ipwall_writes_rejected_total{reason=body_too_large} counted" \
		test "$(metric "$ml" ipwall_writes_rejected_total 'reason="body_too_large"')" -ge 1
	tap_ok "limits: ipwall_writes_rejected_total{reason=batch_too_large} counted" \
		test "$(metric "$ml" ipwall_writes_rejected_total 'reason="batch_too_large"')" -ge 1

	# max_connections = 4: six idle connections fill it
	fds=()
	for _ in 1 2 3 4 5 6; do
		if exec {fd}<>"/dev/tcp/127.0.0.1/${IPWD_PORT[limits]}"; then
			fds+=("$fd")
		fi
	done
	tap_is "${#fds[@]}" 6 "limits: six idle connections opened"
	sleep 0.5
	code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "${IPWD_URL[limits]}/healthz")
	tap_ok "limits: with max_connections (4) idle connections held, another request is not served (got ${code:-000})" \
		test "${code:-000}" != 200
	for fd in "${fds[@]}"; do exec {fd}>&-; done
	code=000
	for _ in $(seq 1 50); do
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "${IPWD_URL[limits]}/healthz")
		[ "$code" == 200 ] && break
		sleep 0.1
	done
	tap_is "$code" 200 "limits: once they are closed, requests are served again"
	stop_clean limits
	D=main
else
	tap_fail "limits daemon starts"
fi

# ================================================================ strict
# timeout 2s, protect_reads
printf '[http]\ntimeout = 2s\n\n[auth]\nprotect_reads = yes\n' >"$IPW_TMP/strict.conf"
if ipw_start strict --config "$IPW_TMP/strict.conf"; then
	D=strict
	# Two idle connections, waited for together: one that never sends,
	# one kept alive after an answer.
	exec {fd1}<>"/dev/tcp/127.0.0.1/${IPWD_PORT[strict]}"
	exec {fd2}<>"/dev/tcp/127.0.0.1/${IPWD_PORT[strict]}"
	printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' >&"$fd2"
	read -r -t 10 -u "$fd1" line
	rc1=$?
	out=$(timeout 10 cat <&"$fd2")
	rc2=$?
	exec {fd1}>&- {fd2}>&-
	tap_is "$rc1" 1 "timeout 2s: the server closes a connection that sends nothing (EOF, not our 10 s timeout)"
	tap_is "$rc2" 0 "timeout 2s: an idle keep-alive connection is closed after its answer"
	tap_like "$out" '^HTTP/1.1 200' "timeout 2s: the request on it was answered"

	post /v1/bans '{"target":"192.0.2.1"}'
	answer_is "protect_reads: a write with the token works" 201 .result added
	for p in "/v1/bans" "/v1/allow" "/v1/check?ip=192.0.2.1" "/v1/mode" "/v1/top" "/v1/stats" "/metrics"; do
		refuse "protect_reads: GET $p without a token" 401 unauthorized - get "$p"
	done
	tap_is "$(ipw_header WWW-Authenticate)" 'Bearer realm="ipwalld"' \
		"protect_reads: 401 carries WWW-Authenticate"
	ipw_json strict GET /v1/bans
	answer_is "protect_reads: GET /v1/bans with the token: 200" 200 '.items | length' 1
	ipw_json strict GET /metrics
	tap_is "$HTTP_STATUS" 200 "protect_reads: GET /metrics with the token: 200"
	ipw_json strict GET "/v1/check?ip=192.0.2.1"
	answer_is "protect_reads: GET /v1/check with the token: 403 blocked" 403 .verdict blocked
	ipw_json strict GET "/v1/check?ip=192.0.2.2"
	answer_is "protect_reads: GET /v1/check with the token: 200 admitted" 200 .verdict admitted
	ipw_http_unix strict GET "/v1/check?ip=192.0.2.1"
	answer_is "protect_reads: GET /v1/check on the unix socket needs no token" 403 .verdict blocked
	ipw_http_unix strict GET /v1/bans
	answer_is "protect_reads: GET /v1/bans on the unix socket needs no token" 200 '.items | length' 1
	stop_clean strict
	D=main
else
	tap_fail "strict daemon starts"
fi

# ================================================================ tokens
if ipw_start tokens; then
	stop_clean tokens
	ta=alice-0123456789abcdef tb=bob-0123456789abcdef-b tc=carol-0123456789abcdef
	printf '# two named tokens\nalice:%s\n\nbob:%s\n' "$ta" "$tb" >"${IPWD_DIR[tokens]}/tokens"
	chmod 600 "${IPWD_DIR[tokens]}/tokens"
	old=${IPWD_TOKEN[tokens]}
	if ipw_start tokens; then
		D=tokens
		noauth POST /v1/bans '{"target":"192.0.2.1"}' -H "Authorization: Bearer $ta"
		answer_is "named token alice: actor token:alice" 201 .entry.actor token:alice
		noauth POST /v1/bans '{"target":"192.0.2.2"}' -H "Authorization: Bearer $tb"
		answer_is "named token bob: actor token:bob" 201 .entry.actor token:bob
		refuse "the admin token not in the file is refused" 401 unauthorized - \
			noauth POST /v1/bans '{"target":"192.0.2.3"}' -H "Authorization: Bearer $old"
		printf 'alice:%s\ncarol:%s\n' "$ta" "$tc" >"${IPWD_DIR[tokens]}/tokens"
		kill -HUP "${IPWD_PID[tokens]}"
		for _ in $(seq 1 50); do
			noauth POST /v1/bans '{"target":"192.0.2.4"}' -H "Authorization: Bearer $tc"
			[ "$HTTP_STATUS" == 401 ] || break
			sleep 0.1
		done
		answer_is "SIGHUP: a token added to the file works (actor token:carol)" 201 .entry.actor token:carol
		refuse "SIGHUP: a token removed from the file is refused" 401 unauthorized - \
			noauth POST /v1/bans '{"target":"192.0.2.5"}' -H "Authorization: Bearer $tb"
		noauth POST /v1/bans '{"target":"192.0.2.6"}' -H "Authorization: Bearer $ta"
		answer_is "SIGHUP: a token kept in the file still works" 201 .entry.actor token:alice
		tap_ok "SIGHUP: the daemon keeps running" ipw_running tokens
		stop_clean tokens
		D=main
	else
		tap_fail "tokens daemon restarts with a tokens file of two names"
	fi
else
	tap_fail "tokens daemon starts"
fi

# ================================================================ scopes
# Tokens of each scope, made with `ipwall token add` (and one line of the
# format before scopes); reads protected, so every route but /healthz needs
# a token. Every route of `ipwalld --routes` is walked with every scope: a
# scope below the route's gets 403 forbidden and changes nothing; one at
# or above it gets past the gate (whatever the handler answers then).
IPWALL_CLI=${IPWALL:-build/asan/src/cli/ipwall}
mkdir -p "$IPW_TMP/scopes/data"
TF=$IPW_TMP/scopes/data/tokens
declare -A SCOPE_TOKEN=()
for s in check report ban admin; do
	SCOPE_TOKEN[$s]=$("$IPWALL_CLI" token add "t-$s" --scope "$s" --file "$TF" 2>"$IPW_TMP/token-add.err")
	tap_like "${SCOPE_TOKEN[$s]}" '^[0-9a-f]{64}$' "ipwall token add t-$s --scope $s prints a secret of 64 hex digits"
done
tap_like "$(cat "$IPW_TMP/token-add.err")" 'reload' "ipwall token add says to reload ipwalld"
tap_is "$(stat -c %a "$TF")" 600 "ipwall token add leaves the tokens file at mode 0600"
tap_like "$(grep '^t-ban:' "$TF")" "^t-ban:${SCOPE_TOKEN[ban]}:ban\$" "the line is name:secret:scope"
"$IPWALL_CLI" token add t-ban --scope check --file "$TF" >/dev/null 2>&1
tap_is "$?" 2 "ipwall token add of an existing name: exit 2"
"$IPWALL_CLI" token add t-x --scope root --file "$TF" >/dev/null 2>&1
tap_is "$?" 2 "ipwall token add --scope root: exit 2"
"$IPWALL_CLI" token add 'bad name' --scope ban --file "$TF" >/dev/null 2>&1
tap_is "$?" 2 "ipwall token add with a space in the name: exit 2"
tap_is "$(grep -c . "$TF")" 4 "refused adds leave the file as it was (4 lines)"
old_secret=legacy-0123456789abcdef
printf 'legacy:%s\n' "$old_secret" >>"$TF"
list=$("$IPWALL_CLI" token list --file "$TF")
tap_like "$list" 't-report +report' "ipwall token list shows names and scopes"
tap_like "$list" 'legacy +admin \(no scope' "ipwall token list marks a line without scope as admin"
tap_not "ipwall token list shows no secret" grep -q "${SCOPE_TOKEN[admin]}" <<<"$list"
printf '[auth]\nprotect_reads = yes\n' >"$IPW_TMP/scopes.conf"
if ipw_start scopes --config "$IPW_TMP/scopes.conf"; then
	D=scopes
	IPWD_TOKEN[scopes]=${SCOPE_TOKEN[admin]}
	tap_like "$(cat "${IPWD_LOG[scopes]}")" 'token "legacy" has no scope, so it may do everything \(admin\)' \
		"a token line without a scope is admin, and the log says so"
	noauth POST /v1/bans '{"target":"192.0.2.200"}' -H "Authorization: Bearer $old_secret"
	answer_is "the unscoped token may ban (admin)" 201 .entry.actor token:legacy
	noauth PUT /v1/mode '{"mode":"denylist"}' -H "Authorization: Bearer $old_secret"
	answer_is "the unscoped token may set the mode (admin)" 200 .mode denylist

	# The routes and the scope each needs: the contract, checked against
	# the daemon's own table (a route added without a row here fails).
	want_routes='GET /v1/check check
GET /v1/bans check
POST /v1/bans ban
DELETE /v1/bans ban
POST /v1/bans/batch ban
GET /v1/allow check
POST /v1/allow admin
DELETE /v1/allow admin
GET /v1/mode check
PUT /v1/mode admin
GET /v1/top check
GET /v1/stats check
GET /healthz none
GET /metrics check
GET /v1/history check
GET /v1/history/count check
POST /v1/events report
GET /v1/cluster check'
	got_routes=$("$IPWALLD" --routes | awk '{print $1, $2, $3}')
	tap_is "$got_routes" "$want_routes" "ipwalld --routes: every route with the scope it needs"
	rank() { case $1 in none) echo 0 ;; check) echo 1 ;; report) echo 2 ;; ban) echo 3 ;; admin) echo 4 ;; esac; }
	# A request each route's handler can refuse without changing anything
	# (a body or parameter missing): past the gate it is 2xx or 4xx but
	# never 401 or 403.
	walk_req() {
		local m=$1 p=$2 auth=$3
		case $m in
		POST | PUT) ipw_http "$D" "$m" "$p" ${auth:+-H "Authorization: Bearer $auth"} -H "$JSON" --data-binary '{}' ;;
		*) ipw_http "$D" "$m" "$p" ${auth:+-H "Authorization: Bearer $auth"} ;;
		esac
	}
	bad_walk=0 walked=0
	while read -r m p need; do
		for s in none check report ban admin; do
			tok=
			[ "$s" != none ] && tok=${SCOPE_TOKEN[$s]}
			before=$(state)
			walk_req "$m" "$p" "$tok"
			code=$(ipw_jq '.error.code // empty')
			walked=$((walked + 1))
			if [ "$(rank "$s")" -lt "$(rank "$need")" ]; then
				if [ "$s" == none ]; then
					want="401 unauthorized"
				else
					want="403 forbidden"
				fi
				if [ "$HTTP_STATUS $code" != "$want" ]; then
					bad_walk=$((bad_walk + 1))
					tap_diag "$m $p with scope $s: got $HTTP_STATUS $code, want $want"
				fi
			elif [[ $HTTP_STATUS == 401 || $HTTP_STATUS == 403 || $HTTP_STATUS == 000 ]]; then
				bad_walk=$((bad_walk + 1))
				tap_diag "$m $p with scope $s (needs $need): got $HTTP_STATUS $code"
			fi
			after=$(state)
			if [ "$before" != "$after" ]; then
				bad_walk=$((bad_walk + 1))
				tap_diag "$m $p with scope $s changed the state"
			fi
		done
	done <<<"$want_routes"
	tap_is "$bad_walk" 0 "every route with every scope ($walked requests): 401 without a token, 403 below its scope, through at or above it, and nothing changed"
	noauth DELETE "/v1/allow?target=192.0.2.0/24" '' -H "Authorization: Bearer ${SCOPE_TOKEN[ban]}"
	tap_like "$(ipw_jq .error.message)" 'token:t-ban \(scope ban\) may not do this: DELETE /v1/allow needs scope admin' \
		"403 says which token, its scope, and the scope needed"
	refuse "a check token cannot ban" 403 forbidden - \
		noauth POST /v1/bans '{"target":"192.0.2.201"}' -H "Authorization: Bearer ${SCOPE_TOKEN[check]}"
	refuse "a report token cannot ban" 403 forbidden - \
		noauth POST /v1/bans/batch '{"items":[{"target":"192.0.2.202"}]}' -H "Authorization: Bearer ${SCOPE_TOKEN[report]}"
	refuse "a ban token cannot switch the mode" 403 forbidden - \
		noauth PUT /v1/mode '{"mode":"allowlist"}' -H "Authorization: Bearer ${SCOPE_TOKEN[ban]}"
	refuse "a ban token cannot add an allow" 403 forbidden - \
		noauth POST /v1/allow '{"target":"192.0.2.203"}' -H "Authorization: Bearer ${SCOPE_TOKEN[ban]}"
	noauth POST /v1/bans '{"target":"192.0.2.204"}' -H "Authorization: Bearer ${SCOPE_TOKEN[ban]}"
	answer_is "a ban token can ban (actor token:t-ban)" 201 .entry.actor token:t-ban
	refuse "a check token cannot unban" 403 forbidden - \
		ipw_http scopes DELETE "/v1/bans?target=192.0.2.204" -H "Authorization: Bearer ${SCOPE_TOKEN[check]}"
	ipw_http scopes GET "/v1/check?ip=192.0.2.204" -H "Authorization: Bearer ${SCOPE_TOKEN[check]}"
	answer_is "a check token can check (reads protected)" 403 .verdict blocked
	ml=$(curl -s -m 10 -H "Authorization: Bearer ${SCOPE_TOKEN[check]}" "${IPWD_URL[scopes]}/metrics")
	tap_ok "ipwall_writes_rejected_total{reason=forbidden} counts the refusals" \
		test "$(metric "$ml" ipwall_writes_rejected_total 'reason="forbidden"')" -ge 4
	# Revoking: remove the line, SIGHUP, the token is refused.
	"$IPWALL_CLI" token remove t-ban --file "$TF" 2>/dev/null
	tap_not "ipwall token remove drops the line" grep -q '^t-ban:' "$TF"
	kill -HUP "${IPWD_PID[scopes]}"
	for _ in $(seq 1 50); do
		noauth POST /v1/bans '{"target":"192.0.2.205"}' -H "Authorization: Bearer ${SCOPE_TOKEN[ban]}"
		[ "$HTTP_STATUS" == 201 ] || break
		sleep 0.1
	done
	expect_error "a removed token is refused after SIGHUP" 401 unauthorized
	stop_clean scopes
	D=main
else
	tap_fail "scopes daemon starts"
fi

# ================================================================ guard
# Wrong tokens lock an address out (429 + Retry-After, the right token
# refused too, other addresses unaffected); a per-address connection
# limit counted across workers and reported in /metrics.
printf '[http]\nthreads = 2\nmax_connections_per_ip = 3\n\n[auth]\nmax_failures = 3\nlockout = 4s\n' >"$IPW_TMP/guard.conf"
if ipw_start guard --config "$IPW_TMP/guard.conf"; then
	D=guard
	for i in 1 2 3; do
		refuse "wrong token $i of 3" 401 unauthorized - \
			noauth POST /v1/bans '{"target":"192.0.2.90"}' -H "Authorization: Bearer wrong-0123456789abcdef"
	done
	refuse "after 3 wrong tokens: 429, even with the right token" 429 too_many_auth_failures - \
		post /v1/bans '{"target":"192.0.2.90"}'
	tap_like "$(ipw_header Retry-After)" '^[1-4]$' "429 carries Retry-After (seconds left of the 4 s lock-out)"
	tap_like "$(cat "${IPWD_LOG[guard]}")" 'http: 127\.0\.0\.1 showed 3 wrong tokens within 4s' \
		"the lock-out is logged with the address"
	ipw_http guard GET "/v1/check?ip=192.0.2.90"
	tap_is "$HTTP_STATUS" 200 "a locked-out address can still check (no token needed)"
	post /v1/bans '{"target":"192.0.2.91"}' --interface 127.0.0.2
	answer_is "another address (127.0.0.2) with the right token is not locked out" 201 .result added
	for _ in $(seq 1 60); do
		post /v1/bans '{"target":"192.0.2.92"}'
		[ "$HTTP_STATUS" == 429 ] || break
		sleep 0.1
	done
	answer_is "after the lock-out, the right token works again" 201 .result added
	# Connections: three held from 127.0.0.1 fill its limit (threads = 2,
	# so MHD's own per-daemon limit would have let six in).
	fds=()
	for _ in 1 2 3; do
		exec {fd}<>"/dev/tcp/127.0.0.1/${IPWD_PORT[guard]}" && fds+=("$fd")
	done
	sleep 0.3
	code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' "${IPWD_URL[guard]}/healthz")
	tap_is "${code:-000}" 000 "a fourth connection from 127.0.0.1 is refused (max_connections_per_ip 3, across 2 workers)"
	code=$(curl -s -o /dev/null -m 3 -w '%{http_code}' --interface 127.0.0.2 "${IPWD_URL[guard]}/healthz")
	tap_is "$code" 200 "a connection from 127.0.0.2 is served meanwhile"
	ml=$(curl -s -m 5 --interface 127.0.0.2 "${IPWD_URL[guard]}/metrics")
	tap_is "$(metric "$ml" ipwall_http_connections)" 4 "ipwall_http_connections: the three held and this one"
	tap_is "$(metric "$ml" ipwall_http_connection_addresses)" 2 "ipwall_http_connection_addresses: two"
	tap_is "$(metric "$ml" ipwall_http_max_connections_per_ip)" 3 "ipwall_http_max_connections_per_ip: the limit"
	tap_ok "ipwall_http_connections_refused_total{reason=per_ip} counts the refusal" \
		test "$(metric "$ml" ipwall_http_connections_refused_total 'reason="per_ip"')" -ge 1
	tap_is "$(metric "$ml" ipwall_auth_failures_total)" 3 "ipwall_auth_failures_total: the three wrong tokens"
	tap_is "$(metric "$ml" ipwall_auth_lockouts_total)" 1 "ipwall_auth_lockouts_total: one"
	tap_ok "ipwall_auth_locked_requests_total counts the 429s" \
		test "$(metric "$ml" ipwall_auth_locked_requests_total)" -ge 1
	for fd in "${fds[@]}"; do exec {fd}>&-; done
	code=000
	for _ in $(seq 1 50); do
		code=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "${IPWD_URL[guard]}/healthz")
		[ "$code" == 200 ] && break
		sleep 0.1
	done
	tap_is "$code" 200 "once they close, 127.0.0.1 connects again"
	stop_clean guard
	D=main
else
	tap_fail "guard daemon starts"
fi

# ================================================================ --check-config
cfg=$IPW_TMP/good.conf
cat >"$cfg" <<'EOF'
# a valid configuration
[daemon]
node = n1
shutdown_timeout = 10s

[http]
listen = 127.0.0.1:7420
max_body = 2k
max_batch = 5
timeout = 2s

[table]
mode = denylist
default_ban_ttl = 1h
EOF
"$IPWALLD" --check-config --config "$cfg" >"$IPW_TMP/cc.out" 2>"$IPW_TMP/cc.err"
tap_is "$?" 0 "--check-config with a valid file: exit 0"
tap_is "$(grep -c . "$IPW_TMP/cc.err")" 0 "--check-config with a valid file: nothing on stderr"
cfg=$IPW_TMP/bad.conf
cat >"$cfg" <<'EOF'
[http]
max_body = 2k

[table]
max_entires = 5
[http]
timeout = forever
this line is not ini
[daemon]
log_level = info
EOF
"$IPWALLD" --check-config --config "$cfg" >"$IPW_TMP/cc.out" 2>"$IPW_TMP/cc.err"
tap_is "$?" 1 "--check-config with errors: exit 1"
err=$IPW_TMP/cc.err
tap_ok "--check-config: the unknown key is reported as FILE:5: ..." grep -q "^$cfg:5: .*max_entires" "$err"
tap_ok "--check-config: the bad value is reported as FILE:7: ..." grep -q "^$cfg:7: .*timeout" "$err"
tap_ok "--check-config: the syntax error is reported as FILE:8: ..." grep -q "^$cfg:8: " "$err"
tap_is "$(grep -Ec "^$cfg:(1|2|3|4|6|9|10):" "$err")" 0 "--check-config: no valid line is reported"
tap_not "--check-config: no sanitizer report" grep -qE 'Sanitizer|runtime error' "$err"
timeout 20 "$IPWALLD" --listen nope --check-config >/dev/null 2>&1
tap_is "$?" 2 "--listen nope: exit 2"
timeout 20 "$IPWALLD" --listen 127.0.0.1:99999 --data-dir "$IPW_TMP/never" >/dev/null 2>"$IPW_TMP/cc.err"
tap_is "$?" 2 "--listen 127.0.0.1:99999: exit 2"
tap_like "$(cat "$IPW_TMP/cc.err")" 'listen' "--listen with a bad value: the error names the flag"
timeout 20 "$IPWALLD" --listen ::1:7420 --data-dir "$IPW_TMP/never" >/dev/null 2>&1
tap_is "$?" 2 "--listen ::1:7420 (IPv6 without brackets): exit 2"

# ================================================================ lifecycle (main)
D=main
awk 'BEGIN { printf "{\"items\":["
	for (i = 0; i < 2500; i++) printf "%s{\"target\":\"10.%d.%d.1\",\"reason\":\"slow\"}", (i ? "," : ""), int(i / 256), i % 256
	print "]}" }' >"$IPW_TMP/slow.json"
# a kept-alive connection, to see /healthz while stopping
exec {ka}<>"/dev/tcp/127.0.0.1/${IPWD_PORT[main]}"
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' >&"$ka"
read -r -t 5 -u "$ka" line
tap_like "${line%$'\r'}" '^HTTP/1.1 200' "lifecycle: /healthz answers 200 while running"
while read -r -t 0.3 -u "$ka" line; do :; done # the rest of the answer
curl -s -m 30 --limit-rate 40k -o "$IPW_TMP/slow.out" -w '%{http_code}' \
	-H "Authorization: Bearer ${IPWD_TOKEN[main]}" -H "$JSON" \
	--data-binary "@$IPW_TMP/slow.json" "${IPWD_URL[main]}/v1/bans/batch" >"$IPW_TMP/slow.code" &
slow=$!
sleep 1 # the upload takes ~2.5 s: it is in flight
kill -TERM "${IPWD_PID[main]}"
for _ in $(seq 1 50); do
	[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "${IPWD_URL[main]}/healthz")" == 000 ] && break
	sleep 0.1
done
printf 'GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n' >&"$ka"
out=$(timeout 10 cat <&"$ka")
exec {ka}>&-
tap_like "${out%%$'\r'*}" '^HTTP/1.1 503' "lifecycle: /healthz answers 503 while stopping"
tap_like "$out" '\{"status": ?"stopping"\}' "lifecycle: /healthz body status stopping"
wait "$slow"
HTTP_STATUS=$(cat "$IPW_TMP/slow.code") HTTP_BODY=$(cat "$IPW_TMP/slow.out")
answer_is "lifecycle: a batch in flight at SIGTERM completes with 200" 200 .added 2500
stop_clean main
tap_not "lifecycle: the unix socket file is removed after SIGTERM" test -e "${IPWD_SOCK[main]}"
tap_is "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "${IPWD_URL[main]}/healthz")" 000 \
	"lifecycle: nothing listens after exit"

tap_done
