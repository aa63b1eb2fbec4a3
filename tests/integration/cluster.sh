#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Cluster mode (issue 16), black-box: a real redis-server started here on
# a free loopback port, and real ipwalld nodes on loopback, talked to over
# HTTP and with the ipwall CLI.
#
#   1  propagation: three nodes a, b, c (mode on); a ban on a is enforced
#      on b and c; an unban on b, an allow and a disallow, and the mode
#      (allowlist on c, and back) reach the others; `ipwall cluster
#      status` lists the three members; /healthz says connected
#   2  conflicts converge: rounds of a ban on a racing an unban on b of
#      the same targets, bans of the same targets with different TTLs on
#      the three nodes at once, and a mode race; afterwards the exports
#      (bans, allows, expiries) and the mode are the same everywhere, and
#      for each raced target the survivor is the op with the greater op
#      id (arbiter.h), read from the origins' histories
#   3  faults: (a) Redis kill -9'd while a writes, restarted empty: the
#      nodes keep enforcing and answer /healthz (connected false), take
#      writes, reconnect, send their state again (seeds, reloads
#      reason="reset"), and nothing acknowledged is lost; (b) a node
#      stopped while thousands of ops go through the others catches up
#      when restarted; (c) a stream trimmed past a stopped node's
#      position (maxlen = 1000, the minimum) makes it load the state at
#      its restart (log line, reloads reason="gap"); (d) writes made on a
#      and b while Redis is down (Redis restarted with its data this
#      time) reach every node; (e) the propagation bound: a poller on b
#      and c times each of a's bans from a's acknowledgement to the first
#      403; every ban gets there, the maximum is printed (measured, not
#      asserted)
#   4  the migration runbook of docs/cluster.md, step by step, under a
#      steady writer on the migrated node and on another: off -> shadow
#      (its state is seeded; no decision of it changes; the dry run
#      counts disagreements) -> on (it loads the cluster's state) ->
#      shadow -> off -> on; no acknowledged ban is lost
#   5  hostile input: garbage stream entries are skipped and counted, a
#      mirror value that does not decode is skipped at a load; a wrong
#      password and an unreachable Redis at start: the daemon starts,
#      serves checks, and says connected false with the last error
#
# Run from the repository root: bash tests/integration/cluster.sh (TAP).
# Loopback only; the Redis servers are children of this script, stopped
# by their own PIDs; every wait is bounded; a watchdog stops the script
# after TIME_LIMIT (default 300) seconds.
# shellcheck disable=SC2317 # helpers called through wait_for and tap_ok
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

TIME_LIMIT=${TIME_LIMIT:-300}
CLI=${IPWALL:-build/asan/src/cli/ipwall}
WAIT=${WAIT:-15} # s: the bound of every wait for propagation

ipw_require curl jq redis-server redis-cli
[ -x "$CLI" ] || {
	echo "Bail out! $CLI is not built"
	exit 1
}
if ! "$IPWALLD" --version 2>&1 | grep -q '+redis'; then
	echo "1..0 # SKIP $IPWALLD is built without hiredis (no +redis)"
	exit 0
fi

REDIS_PORT=
REDIS_PID=
declare -a OTHER_PIDS=() # other children (a second Redis, writers)

cleanup() {
	local p
	ipw_watchdog_stop
	for p in "${OTHER_PIDS[@]}" $REDIS_PID; do
		kill -KILL "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	# KEEP=DIR: keep the logs and data dirs there (debugging)
	[ -n "${KEEP:-}" ] && cp -r "$IPW_TMP" "$KEEP" 2>/dev/null
	ipw_cleanup
}
trap cleanup EXIT
trap 'echo "Bail out! interrupted (or over the ${TIME_LIMIT}s time limit)"; exit 1' INT TERM HUP
ipw_watchdog "$TIME_LIMIT"
T_START=$(date +%s)

# ---------------------------------------------------------------- helpers

# wait_for SECS CMD...: run CMD every 0.1 s until it succeeds, at most
# SECS seconds. 0 if it did.
wait_for() {
	local end=$(($(date +%s%N) + $1 * 1000000000))
	shift
	while :; do
		"$@" && return 0
		[ "$(date +%s%N)" -lt "$end" ] || return 1
		sleep 0.1
	done
}

rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
redis_up() { [ "$(rcli ping 2>/dev/null)" = PONG ]; }

# redis_start: our redis-server on REDIS_PORT (a free port the first
# time), data in $IPW_TMP/redis; no persistence (a dump there, written by
# SAVE, is loaded at its start).
redis_start() {
	mkdir -p "$IPW_TMP/redis"
	[ -n "$REDIS_PORT" ] || REDIS_PORT=$(ipw_free_port) || return 1
	redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' \
		--appendonly no --dir "$IPW_TMP/redis" \
		>>"$IPW_TMP/redis/log" 2>&1 &
	REDIS_PID=$!
	wait_for 10 redis_up && return 0
	tap_diag "redis-server did not start:" "$(tail -n 5 "$IPW_TMP/redis/log")"
	return 1
}

# redis_kill: SIGKILL our redis-server (by its PID) and reap it.
redis_kill() {
	[ -n "$REDIS_PID" ] || return 0
	kill -KILL "$REDIS_PID" 2>/dev/null
	wait "$REDIS_PID" 2>/dev/null
	REDIS_PID=
}

# conf NAME MODE STREAM [KEY=VALUE...]: write $IPW_TMP/NAME.conf: node id
# NAME, [cluster] MODE on our Redis (or on $URL), stream STREAM, then the
# extra keys of [cluster]. The node id is given as [cluster] node, [daemon] node or
# both, by turns (each is a way an operator may write it).
NODE_STYLE=0
conf() {
	local name=$1 mode=$2 stream=$3 kv f=$IPW_TMP/$1.conf
	shift 3
	NODE_STYLE=$(((NODE_STYLE + 1) % 3))
	{
		[ "$NODE_STYLE" != 1 ] && printf '[daemon]\nnode = %s\n' "$name"
		printf '[cluster]\nmode = %s\nredis = %s\n' \
			"$mode" "${URL:-redis://127.0.0.1:$REDIS_PORT}"
		printf 'stream = %s\n' "$stream"
		[ "$NODE_STYLE" != 2 ] && printf 'node = %s\n' "$name"
		for kv in "$@"; do
			printf '%s = %s\n' "${kv%%=*}" "${kv#*=}"
		done
	} >"$f"
	chmod 600 "$f" # it may hold a password
}

# node NAME MODE STREAM [KEY=VALUE...]: write its config and start it.
node() {
	local name=$1
	conf "$@"
	ipw_start "$name" --config "$IPW_TMP/$name.conf"
}

# the CLI on a node's unix socket
cli() {
	local name=$1
	shift
	"$CLI" --socket "${IPWD_SOCK[$name]}" "$@"
}

# code NAME IP: the status of GET /v1/check (000: no answer)
code() {
	curl -s -o /dev/null -m 5 -w '%{http_code}' \
		"${IPWD_URL[$1]}/v1/check?ip=$2"
}
code_is() { [ "$(code "$1" "$2")" = "$3" ]; }
# reason NAME IP: the check's reason (banned, allowed, no_match, ...)
reason() {
	curl -s -m 5 "${IPWD_URL[$1]}/v1/check?ip=$2" | jq -r .reason 2>/dev/null
}
reason_is() { [ "$(reason "$1" "$2")" = "$3" ]; }
mode_of() { curl -s -m 5 "${IPWD_URL[$1]}/v1/mode" | jq -r .mode 2>/dev/null; }
mode_is() { [ "$(mode_of "$1")" = "$2" ]; }

# metric NAME SERIES: the value of SERIES (with its labels, as /metrics
# prints it) on node NAME, 0 if absent
metric() {
	local v
	v=$(curl -s -m 5 "${IPWD_URL[$1]}/metrics" |
		awk -v m="$2" '$1 == m { print $2; exit }')
	printf '%s\n' "${v:-0}"
}
metric_ge() { [ "$(metric "$1" "$2")" -ge "$3" ] 2>/dev/null; }
# health NAME FILTER: jq FILTER on /healthz
health() { curl -s -m 5 "${IPWD_URL[$1]}/healthz" | jq -r "$2" 2>/dev/null; }
connected_is() { [ "$(health "$1" .cluster.connected)" = "$2" ]; }

# ban NAME TARGET [TTL]: a ban on NAME; prints the status
ban() {
	local body="{\"target\":\"$2\"${3:+,\"ttl\":$3}}"
	curl -s -o /dev/null -m 10 -w '%{http_code}' \
		-H "Authorization: Bearer ${IPWD_TOKEN[$1]}" \
		-H 'Content-Type: application/json' --data-binary "$body" \
		"${IPWD_URL[$1]}/v1/bans"
}
unban() {
	curl -s -o /dev/null -m 10 -w '%{http_code}' -X DELETE \
		-H "Authorization: Bearer ${IPWD_TOKEN[$1]}" \
		"${IPWD_URL[$1]}/v1/bans?target=$2"
}
acked() { [ "$1" = 200 ] || [ "$1" = 201 ]; }

# batch_file FILE PREFIX N [TTL]: a POST /v1/bans/batch body of N bans
# PREFIX.x.y (x.y counting from 0.1)
batch_file() {
	awk -v p="$2" -v n="$3" -v ttl="${4:-}" 'BEGIN {
		x = ttl != "" ? ",\"ttl\":" ttl : ""
		printf "{\"items\": ["
		for (i = 1; i <= n; i++) {
			sep = i > 1 ? "," : ""
			printf "%s{\"target\":\"%s.%d.%d\"%s}", sep, p, int(i / 256), i % 256, x
		}
		print "]}"
	}' >"$1"
}

# listing NAME bans|allow: "TARGET EXPIRES_AT" of every entry, all pages
listing() {
	local cur='' body
	while :; do
		body=$(curl -s -m 10 -G --data limit=10000 \
			${cur:+--data-urlencode "cursor=$cur"} \
			"${IPWD_URL[$1]}/v1/$2") || return 1
		jq -r '.items[] | "\(.target) \(.expires_at)"' <<<"$body" || return 1
		cur=$(jq -r '.next // empty' <<<"$body")
		[ -n "$cur" ] || return 0
	done
}

# quick NAME: a cheap view of NAME's state over HTTP (both lists with
# their expiries, and the mode), to wait on
quick() {
	listing "$1" bans
	echo '[allows]'
	listing "$1" allow
	echo "[mode] $(mode_of "$1")"
}
quick_equal() { # NAME...: the quick view of each node is the first's
	local n
	quick "$1" >"$IPW_TMP/quick.$1" 2>&1
	for n in "${@:2}"; do
		quick "$n" >"$IPW_TMP/quick.$n" 2>&1
		cmp -s "$IPW_TMP/quick.$1" "$IPW_TMP/quick.$n" || return 1
	done
}

# state NAME FILE: what must be the same on every node: `ipwall export`
# of the bans and of the allows (without their dated header line), the
# expiry of each entry, and the mode
state() {
	{
		echo '[bans]'
		cli "$1" export | grep -v '^# ipwall export'
		echo '[allows]'
		cli "$1" export --allows | grep -v '^# ipwall export'
		echo '[expiries]'
		listing "$1" bans
		listing "$1" allow
		echo "[mode] $(cli "$1" mode)"
	} >"$2" 2>&1
}

# same_state DESC NAME...: wait (bounded) until the nodes look the same,
# then one check per node: its state is the first one's
same_state() {
	local desc=$1 n first=$2
	shift
	wait_for "$WAIT" quick_equal "$@"
	state "$first" "$IPW_TMP/state.$first"
	for n in "${@:2}"; do
		state "$n" "$IPW_TMP/state.$n"
		if cmp -s "$IPW_TMP/state.$first" "$IPW_TMP/state.$n"; then
			tap_pass "$desc: $n's export and mode are $first's"
		else
			tap_fail "$desc: $n's export and mode are $first's" \
				"$(diff "$IPW_TMP/state.$first" "$IPW_TMP/state.$n" | grep -c '^[<>]') lines differ (< $first, > $n), the first:" \
				"$(diff "$IPW_TMP/state.$first" "$IPW_TMP/state.$n" | head -n 12)"
		fi
	done
}

# missing NAME FILE: the targets listed in FILE (one a line) that NAME
# does not ban; none_missing NAME FILE: true if there are none
missing() {
	listing "$1" bans | awk '{ print $1 }' | sort -u >"$IPW_TMP/have.$1"
	sort -u "$2" | comm -23 - "$IPW_TMP/have.$1"
}
none_missing() { [ -z "$(missing "$1" "$2")" ]; }

# id_ge A B: stream id A (MS-SEQ) is at or after B
id_ge() {
	local am=${1%-*} as=${1#*-} bm=${2%-*} bs=${2#*-}
	[ "$am" -gt "$bm" ] || { [ "$am" -eq "$bm" ] && [ "$as" -ge "$bs" ]; }
}
position() { curl -s -m 5 "${IPWD_URL[$1]}/v1/cluster" | jq -r .position; }
position_ge() { id_ge "$(position "$1")" "$2"; }
sent_up_to() { # NAME SEQ: NAME's sender has every group up to SEQ in Redis
	[ "$(health "$1" .subscribers.cluster.applied)" -ge "$2" ] 2>/dev/null
}
# seen_by WRITER READER STREAM: wait (bounded) until READER has read the
# stream past every op WRITER has committed so far (WRITER's sender has
# sent them; READER's position is at or past the stream's last entry)
seen_by() {
	local seq last
	seq=$(health "$1" .seq)
	wait_for "$WAIT" sent_up_to "$1" "$seq" || return 1
	last=$(rcli XREVRANGE "{$3}:ops" + - COUNT 1 | head -n 1)
	[ -n "$last" ] || return 1
	wait_for "$WAIT" position_ge "$2" "$last"
}

# check_connected DESC NAME...: /healthz's cluster.connected is true
# (waited for, a little)
check_connected() {
	local desc=$1 n
	for n in "${@:2}"; do
		wait_for 4 connected_is "$n" true
		tap_is "$(health "$n" .cluster.connected)" true "$desc: $n's /healthz says cluster.connected true"
	done
}

# last_log NAME: NAME's log since its last start
last_log() { awk '/^=== ipw_start / { buf = "" } { buf = buf $0 "\n" } END { printf "%s", buf }' "${IPWD_LOG[$1]}"; }
# log_like NAME REGEX DESC: a line of NAME's log since its last start
# matches REGEX; if not, its cluster lines are shown
log_like() {
	if last_log "$1" | grep -Eq "$2"; then
		tap_pass "$3"
	else
		tap_fail "$3" "no line of $1's log (since its last start) matches: $2; its cluster lines:" \
			"$(last_log "$1" | grep 'cluster:' | tail -n 12)"
	fi
}

# alive NAME...: 0 if every NAME still runs; else one failure for each
# that died, with its sanitizer report (a scenario then stops: what
# follows would only fail after it)
alive() {
	local n rc=0
	for n in "$@"; do
		ipw_running "$n" && continue
		rc=1
		tap_fail "$n is still running" "$(grep -E -A8 'ERROR: (Address|Leak)Sanitizer|runtime error' \
			"${IPWD_LOG[$n]}" | head -n 12)" "$(tail -n 3 "${IPWD_LOG[$n]}")"
	done
	return $rc
}

# restart NAME: start NAME again with the config it had
restart() { ipw_start "$1" --config "$IPW_TMP/$1.conf"; }

# lines FILE: its number of lines (0 if none)
lines() { if [ -f "$1" ]; then wc -l <"$1"; else echo 0; fi; }
lines_ge() { [ "$(lines "$1")" -ge "$2" ]; }

# writer NAME PREFIX MAX FILE: a steady writer, in the background: bans
# PREFIX.x.y one after another (up to MAX of them, for at most 120 s)
# over NAME's unix socket (the same path across restarts), appending
# each acknowledged target to FILE. It stops when FILE.stop exists, and
# holds (FILE.paused exists then) while FILE.pause does.
writer() {
	local sock=${IPWD_SOCK[$1]} i=0 t st end=$(($(date +%s) + 120))
	while [ "$i" -lt "$3" ] && [ ! -e "$4.stop" ] && [ "$(date +%s)" -lt "$end" ]; do
		if [ -e "$4.pause" ]; then
			touch "$4.paused"
			sleep 0.05
			continue
		fi
		rm -f "$4.paused"
		i=$((i + 1))
		t="$2.$((i / 256)).$((i % 256))"
		st=$(curl -s -o /dev/null -m 5 -w '%{http_code}' --unix-socket "$sock" \
			-H 'Content-Type: application/json' \
			--data-binary "{\"target\":\"$t\",\"ttl\":7200}" http://localhost/v1/bans)
		acked "$st" && echo "$t" >>"$4"
		sleep 0.02
	done
	touch "$4.done"
}
writer_stop() { # FILE PID
	touch "$1.stop"
	wait "$2"
}
# writer_pause FILE: hold the writer (bounded wait until it holds)
writer_pause() {
	touch "$1.pause"
	wait_for 10 test -e "$1.paused" -o -e "$1.done"
}
writer_resume() { rm -f "$1.pause"; }

redis_start || exit 1
tap_diag "redis-server $(redis-server --version | awk '{print $3}') on 127.0.0.1:$REDIS_PORT (pid $REDIS_PID)"

# ================================================================ 1
s12() {
S=it12
node a on $S || return 1
node b on $S || return 1
node c on $S || return 1
check_connected "1: just started, no write yet" a b c

tap_is "$(ban a 10.1.0.1 3600)" 201 "1: a ban on a is acknowledged"
for n in b c; do
	wait_for "$WAIT" code_is $n 10.1.0.1 403
	tap_is "$(code $n 10.1.0.1)" 403 "1: ... and enforced on $n (check 403)"
done
tap_is "$(unban b 10.1.0.1)" 200 "1: an unban on b"
for n in a c; do
	wait_for "$WAIT" code_is $n 10.1.0.1 200
	tap_is "$(code $n 10.1.0.1)" 200 "1: ... reaches $n (check 200)"
done

ipw_json a POST /v1/allow '{"target":"10.1.1.0/24"}'
tap_is "$HTTP_STATUS" 201 "1: an allow on a"
for n in b c; do
	wait_for "$WAIT" reason_is $n 10.1.1.7 allowed
	tap_is "$(reason $n 10.1.1.7)" allowed "1: ... reaches $n (reason allowed)"
done
ipw_json b DELETE '/v1/allow?target=10.1.1.0/24'
tap_is "$(ipw_jq .result)" removed "1: a disallow on b"
for n in a c; do
	wait_for "$WAIT" reason_is $n 10.1.1.7 no_match
	tap_is "$(reason $n 10.1.1.7)" no_match "1: ... reaches $n (reason no_match)"
done

ipw_json c PUT /v1/mode '{"mode":"allowlist"}'
tap_is "$(ipw_jq .result)" changed "1: mode allowlist on c"
for n in a b; do
	wait_for "$WAIT" mode_is $n allowlist
	tap_is "$(mode_of $n)" allowlist "1: ... reaches $n"
	tap_is "$(reason $n 10.1.2.1)" not_allowed "1: ... and $n enforces it (reason not_allowed)"
done
ipw_json c PUT /v1/mode '{"mode":"denylist"}'
for n in a b; do
	wait_for "$WAIT" mode_is $n denylist
	tap_is "$(mode_of $n)" denylist "1: mode denylist again on c reaches $n"
done

members() { cli "$1" --json cluster status | jq -c '[.members[].node] | sort'; }
members_are() { [ "$(members "$1")" = "$2" ]; }
for n in a b c; do
	wait_for "$WAIT" members_are $n '["a","b","c"]'
	tap_is "$(members $n)" '["a","b","c"]' "1: ipwall --json cluster status on $n lists a, b and c"
done
out=$(cli b cluster status)
for n in a b c; do
	tap_like "$out" $'\n'"$n +on " "1: ipwall cluster status on b prints member $n, mode on"
done
tap_like "$(head -n 1 <<<"$out")" '^node b, mode on, connected$' "1: ... and that b is connected"
check_connected "1: after the writes" a b c
same_state "1: converged" a b c

tap_diag "1 done at $(($(date +%s) - T_START)) s"

# ================================================================ 2
# Conflicts. ROUNDS rounds: in each, for every target of T2 at once, a
# ban on a and an unban on b, each made before the other arrives.
ROUNDS=4
T2=()
for i in $(seq 1 12); do T2+=("10.2.0.$i"); done
for _ in $(seq 1 $ROUNDS); do
	pids=()
	for t in "${T2[@]}"; do
		ban a "$t" 3600 >/dev/null &
		pids+=($!)
		unban b "$t" >/dev/null &
		pids+=($!)
	done
	wait "${pids[@]}"
done
# Bans of the same targets with different TTLs on the three nodes at
# once.
T2T=()
for i in $(seq 1 8); do T2T+=("10.2.1.$i"); done
pids=()
for t in "${T2T[@]}"; do
	ban a "$t" 600 >/dev/null &
	pids+=($!)
	ban b "$t" 1200 >/dev/null &
	pids+=($!)
	ban c "$t" 900 >/dev/null &
	pids+=($!)
done
wait "${pids[@]}"
# The mode raced too: allowlist on a, denylist on b, a few times.
for _ in 1 2 3; do
	ipw_json a PUT /v1/mode '{"mode":"allowlist"}' >/dev/null &
	p1=$!
	ipw_json b PUT /v1/mode '{"mode":"denylist"}' >/dev/null &
	p2=$!
	wait "$p1" "$p2"
done
alive a b c || return 1
same_state "2: after the races" a b c
tap_diag "2: $(listing a bans | grep -c '^10\.2\.0\.') of the ${#T2[@]} raced targets ended banned; the mode: $(mode_of a)"

# The rule (arbiter.h): per target, the op with the greatest op id wins.
# Each origin's last op of each raced target, from its own history; the
# survivor must be the greater one's.
last_op() { # NAME TARGET ACTION: "OPID EXPIRES" of NAME's own last ACTION
	curl -s -m 10 -G --data-urlencode "target=$2" --data "action=$3" \
		"${IPWD_URL[$1]}/v1/history" |
		jq -r --arg n "$1" '[.ops[] | select(.node == $n)][0] | "\(.op) \(.expires)"'
}
for n in a b c; do listing $n bans >"$IPW_TMP/bans.$n"; done
bad=()
for t in "${T2[@]}"; do
	read -r ida _ <<<"$(last_op a "$t" ban)"
	read -r idb _ <<<"$(last_op b "$t" unban)"
	if [ "$ida" = null ] || [ "$idb" = null ] || [ -z "$ida" ] || [ -z "$idb" ]; then
		bad+=("$t: no op id (a: $ida, b: $idb)")
		continue
	fi
	if [[ $ida > $idb ]]; then want=banned; else want=absent; fi
	for n in a b c; do
		got=absent
		grep -q "^$t " "$IPW_TMP/bans.$n" && got=banned
		[ "$got" = "$want" ] ||
			bad+=("$t on $n: $got, want $want (a's ban $ida, b's unban $idb)")
	done
done
tap_is "${bad[*]:-}" "" "2: each of the ${#T2[@]} raced targets ends as its greater op id says, on every node"
if [ ${#bad[@]} -gt 0 ]; then
	t=${bad[0]%% *}
	for n in a b c; do
		tap_diag "history of $t on $n (newest first):" "$(curl -s -G --data-urlencode "target=$t" \
			"${IPWD_URL[$n]}/v1/history" | jq -r '.ops[] | "\(.op) \(.node) \(.action) \(.result) \(.expires)"')"
	done
fi
bad=()
for t in "${T2T[@]}"; do
	best='' exp=''
	for n in a b c; do
		read -r id e <<<"$(last_op $n "$t" ban)"
		if [ -z "$id" ] || [ "$id" = null ]; then
			bad+=("$t: no ban of $n in its history")
			continue
		fi
		if [ -z "$best" ] || [[ $id > $best ]]; then best=$id exp=$e; fi
	done
	got=$(awk -v t="$t" '$1 == t { print $2 }' "$IPW_TMP/bans.a")
	got=$(jq -rn --arg d "$got" '$d | fromdateiso8601' 2>/dev/null)
	[ "$got" = "$exp" ] ||
		bad+=("$t: expires $got, want $exp (the entry of op $best)")
done
tap_is "${bad[*]:-}" "" "2: each of the ${#T2T[@]} targets banned with three TTLs at once keeps the expiry of its greatest op id"
ipw_json a PUT /v1/mode '{"mode":"denylist"}' >/dev/null
same_state "2: mode denylist again" a b c

tap_diag "2 done at $(($(date +%s) - T_START)) s"
for n in a b c; do
	ipw_stop $n
	tap_is "${IPWD_STATUS[$n]}" 0 "1-2: $n stops cleanly (status 0)"
done

}

# ================================================================ 3
s3() {
# Three new nodes on a stream of their own, maxlen = 1000 (the least
# allowed). a3 sends one op per stream entry (batch = 1), so that (c)
# trims the stream past a node's position with some 1,200 ops; b3 and
# c3 send up to 10 ops an entry, so that the thousands of ops of (b) do
# not trim it.
S=it3
node a3 on $S maxlen=1000 batch=1 || return 1
node b3 on $S maxlen=1000 batch=10 || return 1
node c3 on $S maxlen=1000 batch=10 || return 1

# ---------------------------------------------------------------- 3e
# The propagation bound, measured: a steady writer on a3, and a poller
# that checks each target a3 acknowledged on b3 and c3 until it is
# blocked there, noting the time from a3's acknowledgement to the first
# 403 (an overestimate by up to one polling round). Every target must
# get there; the largest time is the bound (printed, not asserted):
# within it, no node admitted a target the converged state bans.
E=$IPW_TMP/3e
(
	for i in $(seq 1 25); do
		st=$(ban a3 "10.35.0.$i" 7200)
		acked "$st" && echo "10.35.0.$i $(date +%s%N)" >>"$E.acks"
		sleep 0.02
	done
	touch "$E.done"
) &
EW=$!
(
	declare -A seen=()
	end=$(($(date +%s) + 60))
	while [ "$(date +%s)" -lt "$end" ]; do
		pending=0
		if [ -f "$E.acks" ]; then
			while read -r t ack; do
				for n in b3 c3; do
					[ -n "${seen[$n $t]:-}" ] && continue
					if code_is $n "$t" 403; then
						seen[$n $t]=1
						echo "$n $t $((($(date +%s%N) - ack) / 1000))" >>"$E.seen"
					else
						pending=1
					fi
				done
			done <"$E.acks"
		fi
		[ -e "$E.done" ] && [ "$pending" = 0 ] && break
		[ "$pending" = 0 ] && sleep 0.01
	done
) &
EP=$!
OTHER_PIDS+=("$EW" "$EP")
wait "$EW" "$EP"
tap_is "$(lines "$E.acks")" 25 "3e: a3 acknowledged its 25 bans"
tap_is "$(lines "$E.seen")" 50 "3e: each is blocked on b3 and c3 (first 403 seen)"
if [ -s "$E.seen" ]; then
	tap_diag "3e: propagation bound (a3's ack to the first 403 on b3/c3, over HTTP, ASan build): $(sort -k3,3n "$E.seen" | awk '{ v[NR] = $3 } END { printf "median %.1f ms, max %.1f ms over %d", v[int((NR + 1) / 2)] / 1000, v[NR] / 1000, NR }')"
fi

alive a3 b3 c3 || return 1

# ---------------------------------------------------------------- 3a
# Redis kill -9'd while a3 is being written to, restarted empty.
A3=$IPW_TMP/3a
writer a3 10.31 150 "$A3.acks" &
W=$!
OTHER_PIDS+=("$W")
wait_for "$WAIT" lines_ge "$A3.acks" 30
declare -A r0=() s0=()
for n in a3 b3 c3; do
	r0[$n]=$(metric $n 'ipwall_cluster_reloads_total{reason="reset"}')
	s0[$n]=$(metric $n ipwall_cluster_seeds_total)
done
redis_kill
k=$(lines "$A3.acks")
tap_diag "3a: Redis killed (kill -9) after $k bans acknowledged by a3"
for n in a3 b3 c3; do
	wait_for "$WAIT" connected_is $n false
	ipw_http $n GET /healthz
	tap_is "$HTTP_STATUS" 200 "3a: Redis down: $n's /healthz answers 200"
	tap_is "$(ipw_jq .cluster.connected)" false "3a: ... and says cluster.connected false"
	tap_like "$(ipw_jq .cluster.last_error)" '.' "3a: ... with a last_error"
done
for n in b3 c3; do
	tap_is "$(code $n 10.35.0.7)" 403 "3a: Redis down: $n still blocks a ban it had"
done
for i in 1 2 3 4 5; do
	st=$(ban b3 "10.32.0.$i" 7200)
	acked "$st" && echo "10.32.0.$i" >>"$A3.acks"
	st=$(ban c3 "10.33.0.$i" 7200)
	acked "$st" && echo "10.33.0.$i" >>"$A3.acks"
done
tap_is "$(grep -c '^10\.3[23]\.' "$A3.acks")" 10 "3a: Redis down: b3 and c3 acknowledge 5 bans each"
tap_ok "3a: Redis down: a3 goes on acknowledging bans" wait_for "$WAIT" lines_ge "$A3.acks" $((k + 40))
redis_start || return 1
tap_diag "3a: Redis restarted empty ($(rcli DBSIZE) keys) on the same port"
writer_stop "$A3.acks" "$W"
tap_diag "3a: $(grep -c '^10\.31\.' "$A3.acks") bans acknowledged by a3 in all"
grows() { [ "$(metric "$1" 'ipwall_cluster_reloads_total{reason="reset"}')" -gt "${r0[$1]}" ]; }
for n in a3 b3 c3; do
	wait_for "$WAIT" grows $n
	tap_ok "3a: $n noticed the empty Redis and loaded the state (reloads_total{reason=\"reset\"} grew)" grows $n
	tap_ok "3a: ... having sent its own (seeds_total grew)" test "$(metric $n ipwall_cluster_seeds_total)" -gt "${s0[$n]}"
done
alive a3 b3 c3 || return 1
check_connected "3a: Redis back" a3 b3 c3
same_state "3a: after the outage" a3 b3 c3
for n in a3 b3 c3; do
	tap_is "$(missing $n "$A3.acks" | head -5)" "" "3a: $n bans every acknowledged ban ($(lines "$A3.acks"))"
done

# ---------------------------------------------------------------- 3b
# A node stopped while thousands of ops go through the others.
ipw_stop c3
batch_file "$IPW_TMP/3b.a" 10.36 100 7200
batch_file "$IPW_TMP/3b.b" 10.37 3000 7200
ipw_json a3 POST /v1/bans/batch "@$IPW_TMP/3b.a"
tap_is "$(ipw_jq .added)" 100 "3b: c3 stopped; 100 bans on a3 (a batch)"
ipw_json b3 POST /v1/bans/batch "@$IPW_TMP/3b.b"
tap_is "$(ipw_jq .added)" 3000 "3b: ... and 3000 on b3"
for i in $(seq 1 20); do unban b3 "10.36.0.$i" >/dev/null; done
ipw_json a3 PUT /v1/mode '{"mode":"allowlist"}' >/dev/null
ipw_json b3 PUT /v1/mode '{"mode":"denylist"}' >/dev/null
alive a3 b3 || return 1
restart c3 || return 1
same_state "3b: c3 restarted catches up" a3 b3 c3
tap_is "$(metric c3 'ipwall_cluster_reloads_total{reason="gap"}')" 0 "3b: ... from the stream, where it stopped (no reload)"
tap_is "$(metric c3 ipwall_cluster_seeds_total)" 0 "3b: ... without sending its whole state again (seeds_total 0)"
tap_is "$(reason c3 10.36.0.20)" no_match "3b: ... an unban made meanwhile is applied on c3"

# ---------------------------------------------------------------- 3c
# The stream trimmed past a stopped node's position: the node must load
# the state from Redis at its restart, never skip silently.
xinfo() { # KEY FIELD: a field of XINFO STREAM KEY
	rcli XINFO STREAM "$1" | awk -v f="$2" 'p { print; exit } $0 == f { p = 1 }'
}
alive a3 b3 c3 || return 1
pos_c=$(position c3)
ipw_stop c3
added0=$(xinfo "{$S}:ops" entries-added)
batch_file "$IPW_TMP/3c" 10.38 1200 7200
ipw_json a3 POST /v1/bans/batch "@$IPW_TMP/3c"
tap_is "$(ipw_jq .added)" 1200 "3c: c3 stopped at $pos_c; 1200 bans on a3 (one stream entry each)"
wait_for "$WAIT" sent_up_to a3 "$(health a3 .seq)"
# The stream holds its last XLEN entries: fewer than were added since c3
# stopped means some that c3 has not read are gone.
new=$(($(xinfo "{$S}:ops" entries-added) - added0))
len=$(rcli XLEN "{$S}:ops")
tap_ok "3c: the stream was trimmed past c3's position ($new entries added since c3 stopped, $len kept; first $(xinfo "{$S}:ops" first-entry | head -n 1), max-deleted-entry-id $(xinfo "{$S}:ops" max-deleted-entry-id))" \
	test "$len" -lt "$new"
restart c3 || return 1
same_state "3c: c3 restarted after the trim" a3 b3 c3
tap_is "$(metric c3 ipwall_cluster_seeds_total)" 0 "3c: c3 did not send its whole state again (its position and Redis's epoch are intact: seeds_total 0)"
log_like c3 "trimmed from \{$S\}:ops" "3c: c3's log says its entries were trimmed"
log_like c3 "loaded [0-9]+ states from \{$S\}:state \(gap\)" "3c: ... and that it loaded the state"
tap_ok "3c: ipwall_cluster_reloads_total{reason=\"gap\"} is 1 or more on c3" metric_ge c3 'ipwall_cluster_reloads_total{reason="gap"}' 1

alive a3 b3 c3 || return 1

# ---------------------------------------------------------------- 3d
# Writes made while Redis is down reach every node when it is back; this
# time Redis comes back with its data (SAVE, then kill -9: the dump is
# loaded at its start), so the nodes keep their positions and no one
# reloads.
for n in a3 b3 c3; do r0[$n]=$(metric $n 'ipwall_cluster_reloads_total{reason="reset"}'); done
rcli SAVE >/dev/null
redis_kill
D3=$IPW_TMP/3d.acks
for n in a3 b3; do wait_for "$WAIT" connected_is $n false; done
for i in $(seq 1 10); do
	st=$(ban a3 "10.39.0.$i" 7200)
	acked "$st" && echo "10.39.0.$i" >>"$D3"
	st=$(ban b3 "10.39.1.$i" 7200)
	acked "$st" && echo "10.39.1.$i" >>"$D3"
done
tap_is "$(lines "$D3")" 20 "3d: Redis down: a3 and b3 acknowledge 10 bans each"
redis_start || return 1
t0=$(date +%s%N)
tap_ok "3d: Redis is back with its data" test "$(rcli EXISTS "{$S}:epoch")" = 1
for n in a3 b3 c3; do wait_for "$WAIT" none_missing $n "$D3"; done
tap_diag "3d: every node had the 20 bans $((($(date +%s%N) - t0) / 1000000)) ms after Redis was back"
alive a3 b3 c3 || return 1
same_state "3d: after the outage" a3 b3 c3
for n in a3 b3 c3; do
	tap_is "$(missing $n "$D3" | head -5)" "" "3d: $n has the 20 bans made while Redis was down"
	tap_is "$(metric $n 'ipwall_cluster_reloads_total{reason="reset"}')" "${r0[$n]}" "3d: $n did not reload (the epoch is the same)"
done
tap_diag "3 done at $(($(date +%s) - T_START)) s"
for n in a3 b3 c3; do
	ipw_stop $n
	tap_is "${IPWD_STATUS[$n]}" 0 "3: $n stops cleanly (status 0)"
done
}

# ================================================================ 4
# The migration runbook of docs/cluster.md ("Migrating a running single
# node: off, shadow, on"), step by step; the operator's commands are in
# the comments. web1 is the node that ran alone, web2 a new one. Two
# steady writers ban all along, each bounded in count: one on web1 (over
# its unix socket, whose path a restart keeps), from step 0 to the end,
# and one on web2 from step 2. At the end every acknowledged ban must be
# on both nodes.
s4() {
S=mig
M=$IPW_TMP/mig
mstatus() { # NAME: "NODE MODE" of each member, sorted
	cli "$1" --json cluster status | jq -r '.members[] | "\(.node) \(.mode)"' | sort | paste -sd ' '
}
mstatus_is() { [ "$(mstatus "$1")" = "$2" ]; }
# move NAME MODE: the runbook's one action per step: edit [cluster] mode
# in the node's config, and restart it:
#   sed -i 's/^mode = .*/mode = MODE/' /etc/ipwall/ipwalld.conf  ([cluster])
#   systemctl restart ipwalld
move() {
	sed -i "s/^mode = .*/mode = $2/" "$IPW_TMP/$1.conf"
	alive "$1" || return 1
	ipw_stop "$1"
	tap_is "${IPWD_STATUS[$1]}" 0 "4: $1 stopped cleanly before mode = $2"
	restart "$1"
}

# ---- step 0: the single node as it runs today
#   [cluster]
#   mode = off
conf web1 off $S
ipw_start web1 --config "$IPW_TMP/web1.conf" || return 1
batch_file "$M.json" 10.40 200 7200
ipw_json web1 POST /v1/bans/batch "@$M.json"
tap_is "$(ipw_jq .added)" 200 "4 step 0: web1 (mode off) holds 200 bans"
jq -r '.items[].target' "$M.json" >"$M.base"
ipw_http web1 GET /healthz
tap_is "$(ipw_jq '.cluster')" null "4 step 0: mode off: /healthz has no cluster object"
# Redis the nodes can reach:
#   redis-cli -h 127.0.0.1 -p PORT ping
tap_is "$(rcli ping)" PONG "4 step 0: Redis answers (redis-cli ping: PONG)"
writer web1 10.41 1500 "$M.w1" &
W1=$!
OTHER_PIDS+=("$W1")
wait_for "$WAIT" lines_ge "$M.w1" 10

# ---- step 1: dual write: mode = shadow on web1
#   [cluster]
#   mode = shadow
#   redis = redis://127.0.0.1:PORT
#   node = web1
#   stream = mig
move web1 shadow || return 1
# Watch: the log says "sent this node's N entries ... as states";
#   curl -s http://127.0.0.1:PORT/metrics | grep -E 'ipwall_cluster_(seeds|seeded_states|connected|ops)'
# ipwall_cluster_seeds_total 1, ipwall_cluster_seeded_states_total N,
# ipwall_cluster_connected 1, ipwall_cluster_ops_total{result="sent"}
# growing with web1's writes.
log_like web1 "sent this node's [0-9]+ entries to \{$S\}:state as states" \
	"4 step 1: web1 (shadow) logs that it sent its table as states"
tap_is "$(metric web1 ipwall_cluster_seeds_total)" 1 "4 step 1: ipwall_cluster_seeds_total 1"
tap_ok "4 step 1: ipwall_cluster_seeded_states_total covers the 200 bans and the writer's" \
	metric_ge web1 ipwall_cluster_seeded_states_total 210
wait_for "$WAIT" metric_ge web1 'ipwall_cluster_ops_total{result="sent"}' 5
tap_ok "4 step 1: ipwall_cluster_ops_total{result=\"sent\"} grows with web1's writes" \
	metric_ge web1 'ipwall_cluster_ops_total{result="sent"}' 5
wait_for "$WAIT" test "$(metric web1 'ipwall_cluster_connected{conn="receiver"}')" = 1
tap_is "$(metric web1 'ipwall_cluster_connected{conn="receiver"}')" 1 "4 step 1: ipwall_cluster_connected{conn=\"receiver\"} 1"
tap_is "$(metric web1 'ipwall_cluster_connected{conn="sender"}')" 1 "4 step 1: ipwall_cluster_connected{conn=\"sender\"} 1"

# ---- step 2: a new node, mode = on: it joins
#   [cluster]
#   mode = on
#   node = web2
node web2 on $S || return 1
log_like web2 "loaded [0-9]+ states from \{$S\}:state \(join\)" \
	"4 step 2: web2 logs that it loaded the state (join)"
# Compare the exports: ipwall export >web2.txt on each, then diff.
wait_for "$WAIT" none_missing web2 "$M.base"
tap_is "$(missing web2 "$M.base" | head -3)" "" "4 step 2: web2 has web1's 200 bans (through the seed)"
writer web2 10.42 1500 "$M.w2" &
W2=$!
OTHER_PIDS+=("$W2")
# The shadow node changes no decision: a ban made on web2, and an unban
# on web2 of a ban web1 holds, are not applied on web1; its dry run
# counts both (ipwall_cluster_shadow_disagreements_total).
X=10.43.0.1 Z=10.40.0.7
writer_pause "$M.w2"
d0=$(metric web1 ipwall_cluster_shadow_disagreements_total)
tap_is "$(ban web2 $X 7200)" 201 "4 step 2: a ban of $X on web2"
tap_is "$(unban web2 $Z)" 200 "4 step 2: an unban of $Z (one of web1's) on web2"
tap_ok "4 step 2: web1's dry run has read them" seen_by web2 web1 $S
tap_is "$(code web1 $X)" 200 "4 step 2: shadow: web2's ban of $X is not enforced on web1"
tap_is "$(code web1 $Z)" 403 "4 step 2: shadow: web2's unban of $Z changes nothing on web1"
tap_is "$(code web2 $X) $(code web2 $Z)" "403 200" "4 step 2: ... while web2 applies both"
d1=$(metric web1 ipwall_cluster_shadow_disagreements_total)
tap_ok "4 step 2: ipwall_cluster_shadow_disagreements_total counts both ($d0 -> $d1)" test "$d1" -ge $((d0 + 2))
tap_ok "4 step 2: ipwall_cluster_shadow_ops_total counts what web1 compared" metric_ge web1 ipwall_cluster_shadow_ops_total 2
writer_resume "$M.w2"
grep -vx "$Z" "$M.base" >"$M.base1"
# Gray phase: ipwall cluster status shows both, web1 in shadow
wait_for "$WAIT" mstatus_is web2 "web1 shadow web2 on"
tap_is "$(mstatus web2)" "web1 shadow web2 on" "4 gray: ipwall cluster status: web1 shadow, web2 on"

# ---- step 3: full membership: mode = on on web1
move web1 on || return 1
log_like web1 "loaded [0-9]+ states from \{$S\}:state \(join\)" \
	"4 step 3: web1 (on) logs that it loaded the cluster's state"
tap_is "$(metric web1 'ipwall_cluster_reloads_total{reason="join"}')" 1 "4 step 3: ipwall_cluster_reloads_total{reason=\"join\"} 1"
tap_is "$(code web1 $X)" 403 "4 step 3: web1 now enforces web2's ban of $X"
tap_is "$(code web1 $Z)" 200 "4 step 3: ... and web2's unban of $Z"
cp "$M.w2" "$M.w2.3"
wait_for "$WAIT" none_missing web1 "$M.w2.3"
tap_is "$(missing web1 "$M.w2.3" | head -3)" "" "4 step 3: web1 has every ban web2's writer made so far ($(lines "$M.w2.3"))"
wait_for "$WAIT" mstatus_is web2 "web1 on web2 on"
tap_is "$(mstatus web2)" "web1 on web2 on" "4 step 3: ipwall cluster status: both on"

# ---- going back: mode = shadow on web1 (it keeps sending, stops applying)
move web1 shadow || return 1
Y=10.43.0.2
writer_pause "$M.w2"
tap_is "$(ban web2 $Y 7200)" 201 "4 back to shadow: a ban of $Y on web2"
tap_ok "4 back to shadow: web1's dry run has read it" seen_by web2 web1 $S
tap_is "$(code web1 $Y)" 200 "4 back to shadow: web2's ban of $Y is not enforced on web1"
tap_is "$(code web1 $X)" 403 "4 back to shadow: web1 keeps what it held ($X)"
writer_resume "$M.w2"

# ---- and mode = off (the node is alone again)
move web1 off || return 1
ipw_http web1 GET /healthz
tap_is "$(ipw_jq .cluster)" null "4 back to off: /healthz has no cluster object"
V=10.43.0.3
tap_is "$(ban web2 $V 7200)" 201 "4 back to off: a ban of $V on web2"
k=$(lines "$M.w1")
tap_ok "4 back to off: web1 goes on acknowledging bans" wait_for "$WAIT" lines_ge "$M.w1" $((k + 20))
tap_is "$(code web1 $V)" 200 "4 back to off: ... and does not see web2's ($V)"

# ---- on once more: nothing acknowledged is lost
move web1 on || return 1
k=$(lines "$M.w1")
wait_for "$WAIT" lines_ge "$M.w1" $((k + 20))
writer_stop "$M.w1" "$W1"
writer_stop "$M.w2" "$W2"
tap_diag "4: writers acknowledged $(lines "$M.w1") bans on web1, $(lines "$M.w2") on web2"
printf '%s\n' $X $Y $V >"$M.one"
cat "$M.base1" "$M.w1" "$M.w2" "$M.one" >"$M.all"
alive web1 web2 || return 1
same_state "4: web1 on again" web1 web2
for n in web1 web2; do
	tap_is "$(missing $n "$M.all" | head -5)" "" "4: $n bans every acknowledged ban ($(lines "$M.all"))"
	tap_is "$(code $n $Z)" 200 "4: $n: $Z stays unbanned"
done
}

# ================================================================ 5
# Hostile input: what else writes into the stream or the mirror, and a
# Redis the daemon cannot use.
s5() {
S=hostile
K="{$S}:ops"
node h1 on $S || return 1
node h2 on $S || return 1
tap_is "$(ban h1 10.5.0.1 7200)" 201 "5: a ban on h1"
wait_for "$WAIT" code_is h2 10.5.0.1 403
tap_is "$(code h2 10.5.0.1)" 403 "5: ... enforced on h2"
declare -A b0=()
for n in h1 h2; do b0[$n]=$(metric $n ipwall_cluster_bad_entries_total); done
quick h1 >"$IPW_TMP/5.before"
# Garbage entries, written by redis-cli as another program could:
printf '\xff\xfe\x00junk\x01' | rcli -x XADD "$K" '*' n evil k ops o >/dev/null # o: junk bytes
rcli XADD "$K" '*' n evil k ops >/dev/null                                        # no o
rcli XADD "$K" '*' k ops o abc >/dev/null                                         # no n
rcli XADD "$K" '*' n evil k what o abc >/dev/null                                 # an unknown kind
printf '\x05\x10abc' | rcli -x XADD "$K" '*' n evil k ops o >/dev/null            # 5 records, cut short
printf '\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01' |
	rcli -x XADD "$K" '*' n evil k state o >/dev/null # a count of 2^63 states
rcli XADD "$K" '*' n evil >/dev/null # n only
NG=7
for n in h1 h2; do
	wait_for "$WAIT" metric_ge $n ipwall_cluster_bad_entries_total $((b0[$n] + NG))
	tap_ok "5: $n skips the $NG garbage entries and counts them (ipwall_cluster_bad_entries_total ${b0[$n]} -> $(metric $n ipwall_cluster_bad_entries_total))" \
		metric_ge $n ipwall_cluster_bad_entries_total $((b0[$n] + NG))
	tap_ok "5: $n is still running" ipw_running $n
	quick $n >"$IPW_TMP/5.after.$n"
	tap_ok "5: nothing changed on $n" cmp -s "$IPW_TMP/5.before" "$IPW_TMP/5.after.$n"
done
tap_is "$(ban h1 10.5.0.2 7200)" 201 "5: a ban on h1 after the garbage"
wait_for "$WAIT" code_is h2 10.5.0.2 403
tap_is "$(code h2 10.5.0.2)" 403 "5: ... still reaches h2"
tap_is "$(unban h2 10.5.0.1)" 200 "5: an unban on h2"
wait_for "$WAIT" code_is h1 10.5.0.1 200
tap_is "$(code h1 10.5.0.1)" 200 "5: ... still reaches h1"

# Mirror values that do not decode: a new node loads the mirror (join)
# and skips them.
printf '0123456789abcdef0123456789abcdef\xff\x00junk' |
	rcli -x HSET "{$S}:state" junk-field >/dev/null # an id, then junk
rcli HSET "{$S}:state" short-field 0123 >/dev/null  # shorter than an id
node h3 on $S || return 1
log_like h3 "loaded [0-9]+ states from \{$S\}:state \(join\)" \
	"5: a new node h3 loads the mirror that holds two bad values"
tap_ok "5: ... skips and counts both (ipwall_cluster_bad_entries_total $(metric h3 ipwall_cluster_bad_entries_total))" \
	metric_ge h3 ipwall_cluster_bad_entries_total 2
same_state "5: ... and has the cluster's state" h1 h2 h3

# A Redis that refuses the password, and one that is not there: the
# daemon starts all the same, serves checks and takes bans, and says
# why it is not connected.
P2=$(ipw_free_port)
mkdir -p "$IPW_TMP/redis2"
redis-server --port "$P2" --bind 127.0.0.1 --save '' --appendonly no \
	--dir "$IPW_TMP/redis2" --requirepass right-secret >"$IPW_TMP/redis2/log" 2>&1 &
R2=$!
OTHER_PIDS+=("$R2")
r2_up() { [ "$(redis-cli -p "$P2" -a right-secret --no-auth-warning ping 2>/dev/null)" = PONG ]; }
wait_for 10 r2_up
P3=$(ipw_free_port)
has_error() { [ -n "$(health "$1" .cluster.last_error)" ]; }
for v in "wrongpw redis://default:wrong-secret@127.0.0.1:$P2 AUTH|WRONGPASS|password" \
	"noredis redis://127.0.0.1:$P3 connect|refused"; do
	read -r n url want <<<"$v"
	URL=$url conf "$n" on $S
	if ! ipw_start "$n" --config "$IPW_TMP/$n.conf"; then
		tap_fail "5: $n ($url) starts"
		continue
	fi
	tap_pass "5: $n ($url) starts"
	tap_is "$(ban "$n" 10.5.1.1 600)" 201 "5: $n takes a ban"
	tap_is "$(code "$n" 10.5.1.1) $(code "$n" 10.5.1.2)" "403 200" "5: $n serves checks"
	wait_for "$WAIT" has_error "$n"
	ipw_http "$n" GET /healthz
	tap_is "$HTTP_STATUS" 200 "5: $n's /healthz answers 200"
	tap_is "$(ipw_jq .cluster.connected)" false "5: ... with cluster.connected false"
	tap_like "$(ipw_jq .cluster.last_error)" "$want" "5: ... and the last error"
	tap_diag "5: $n: last_error: $(ipw_jq .cluster.last_error)"
	ipw_http "$n" GET /metrics
	tap_not "5: $n: neither its log nor /healthz nor /metrics shows the password" \
		grep -q wrong-secret "${IPWD_LOG[$n]}" - <<<"$(curl -s "${IPWD_URL[$n]}/healthz")$HTTP_BODY"
	tap_is "$(metric "$n" 'ipwall_cluster_connected{conn="receiver"}')" 0 "5: $n: ipwall_cluster_connected{conn=\"receiver\"} 0"
	ipw_stop "$n"
	tap_is "${IPWD_STATUS[$n]}" 0 "5: $n stops cleanly (status 0)"
done
# The right password (in the URL) does connect.
URL=redis://default:right-secret@127.0.0.1:$P2 conf rightpw on $S
ipw_start rightpw --config "$IPW_TMP/rightpw.conf" || return 1
tap_is "$(ban rightpw 10.5.1.1 600)" 201 "5: with the right password: a ban"
wait_for "$WAIT" connected_is rightpw true
tap_is "$(health rightpw .cluster.connected)" true "5: ... and cluster.connected true"
hlen_is() { [ "$(redis-cli -p "$P2" -a right-secret --no-auth-warning HLEN "{$S}:state")" = "$1" ]; }
wait_for "$WAIT" hlen_is 1
tap_ok "5: ... and its ban is in that Redis's mirror" hlen_is 1
}

# ONLY="3 4": run only those scenarios (1 and 2 are one: 12)
# Each scenario is a function; one that cannot go on (a node that does
# not start) returns non-zero, and the next one runs after every node
# still up is stopped.
for sc in ${ONLY:-12 3 4 5}; do
	redis_up || redis_start || exit 1
	"s$sc" || tap_fail "scenario $sc stopped before its end (see above)"
	for n in "${!IPWD_PID[@]}"; do
		[ -n "${IPWD_PID[$n]}" ] && ipw_stop "$n"
	done
done
for n in "${!IPWD_LOG[@]}"; do
	tap_ok "$n: no sanitizer report in its log" ipw_sanitizer_clean "$n"
done
tap_diag "done in $(($(date +%s) - T_START)) s"
tap_done
