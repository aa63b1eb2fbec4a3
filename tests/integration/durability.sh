#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The durable write path seen from outside (issue 5), against the real
# ipwalld and its real SQLite file:
#   a  group commit: 64 clients ban at once over the unix socket; every
#      ban is acknowledged and stored, and the store's commit counter
#      (ipwall_store_commits_total) shows groups of more than one op;
#      with [http] blocking_threads = 1 every write is a group of its own
#   b  a slow store does not hold up checks: with one HTTP worker and
#      the write lock of the op log's journal (DATA/ipwall.db-oplog, where
#      a write is durable when it is acknowledged) held by another
#      connection, a check answers at once while a ban waits (writes run
#      on the blocking threads)
#   c  the background integrity check: /healthz says "store_check":
#      "running" then "ok" for a good store, and "damaged" (with the hint
#      in the log) for a store whose history pages were overwritten but
#      whose entries still load; "none" without a store
#   d  history retention: ops older than [store] history_retention are
#      deleted in the background, the current bans are not
#   e  the audit log and the history agree after a crash between a
#      commit and its lines: the missing lines come from the history
#   f  [store] cache bounds the store's page cache, and memory is given
#      back when the daemon is idle: after 20,000 bans in random order
#      with cache = 1M, ten seconds without a new op release at most
#      1 MiB (and SQLite's overhead per page) of page cache; the bans and
#      their history are intact after it; bad cache sizes are refused
set -u
cd "$(dirname "$0")/../.." || exit 1
. tests/integration/lib.sh

ipw_require curl jq sqlite3

metric() { # NAME: the value of an unlabelled metric of daemon $1
	ipw_http "$1" GET /metrics
	printf '%s\n' "$HTTP_BODY" | awk -v m="$2" '$1 == m { print $2 }'
}

# 64 clients, each banning 10 targets of its own one after another over
# the unix socket; each prints one line "STATUS" per ban.
ban_storm() { # NAME PREFIX OUT
	local name=$1 pre=$2 out=$3 c
	for c in $(seq 0 63); do
		(
			for k in $(seq 0 9); do
				curl -s -m 30 -o /dev/null -w '%{http_code}\n' \
					--unix-socket "${IPWD_SOCK[$name]}" \
					-H 'Content-Type: application/json' \
					--data-binary "{\"target\":\"$pre.$c.$k\",\"ttl\":3600}" \
					http://localhost/v1/bans
			done
		) >"$out.$c" &
	done
	wait
	cat "$out".* >"$out"
}

# ------------------------------------------------------------ a, b
conf=$IPW_TMP/a.conf
printf '[store]\nsync = full\n' >"$conf"
ipw_start a --config "$conf" || exit 1
c0=$(metric a ipwall_store_commits_total)
o0=$(metric a ipwall_store_committed_ops_total)
ban_storm a 10.64 "$IPW_TMP/storm" &
storm=$!
wait "$storm"
tap_is "$(grep -c '^201$' "$IPW_TMP/storm")" 640 \
	"a: 64 clients x 10 bans over the unix socket: all 640 acknowledged (201)"
c1=$(metric a ipwall_store_commits_total)
o1=$(metric a ipwall_store_committed_ops_total)
commits=$((c1 - c0)) ops=$((o1 - o0))
tap_is "$ops" 640 "a: 640 ops committed"
if [ "$commits" -gt 0 ] && [ "$commits" -lt "$ops" ]; then
	tap_pass "a: group commit: $ops ops in $commits commits"
else
	tap_fail "a: group commit: $ops ops in $commits commits" \
		"expected fewer commits than ops"
fi
ipw_stop a || true
stored=$(sqlite3 "${IPWD_DIR[a]}/ipwall.db" "SELECT count(*) FROM entries")
tap_is "$stored" 640 "a: the store holds the 640 bans after a clean stop"
tap_ok "a: no sanitizer report" ipw_sanitizer_clean a

# b: a slow store never holds up a check. One HTTP worker; another
# connection holds the write lock of the op log's journal for 3 s
# (ipwalld's busy timeout is 5 s), so a ban waits in the write path
# meanwhile. A check on the same
# worker must answer at once, while that ban is still unanswered: if
# writes ran on the worker, the check would wait the 3 s behind it.
confb=$IPW_TMP/b.conf
printf '[http]\nthreads = 1\n' >"$confb"
ipw_start b --config "$confb" || exit 1
(
	echo 'BEGIN IMMEDIATE;'
	sleep 3
	echo 'COMMIT;'
) | sqlite3 "${IPWD_DIR[b]}/ipwall.db-oplog" &
locker=$!
sleep 0.5
curl -s -m 20 -o /dev/null -w '%{http_code}' -H "Authorization: Bearer ${IPWD_TOKEN[b]}" \
	-H 'Content-Type: application/json' --data-binary '{"target":"10.70.0.1"}' \
	"${IPWD_URL[b]}/v1/bans" >"$IPW_TMP/b.ban" &
banner=$!
sleep 0.3
t0=$(date +%s%N)
code=$(curl -s -m 2 -o /dev/null -w '%{http_code}' "${IPWD_URL[b]}/v1/check?ip=192.0.2.1")
t1=$(date +%s%N)
tap_is "$code" 200 "b: a check answers while a ban waits on a locked store (one HTTP worker)"
tap_ok "b: ... and the ban is still waiting when it does" kill -0 "$banner"
tap_diag "the check took $(((t1 - t0) / 1000000)) ms"
wait "$banner"
tap_is "$(cat "$IPW_TMP/b.ban")" 201 "b: the ban is acknowledged once the lock is gone"
wait "$locker"
ipw_stop b || true

# blocking_threads = 1: one write at a time, so one op per commit
conf1=$IPW_TMP/a1.conf
printf '[http]\nblocking_threads = 1\n' >"$conf1"
ipw_start a1 --config "$conf1" || exit 1
c0=$(metric a1 ipwall_store_commits_total)
for k in 1 2 3 4 5; do
	ipw_http_unix a1 POST /v1/bans -H 'Content-Type: application/json' \
		--data-binary "{\"target\":\"10.65.0.$k\"}"
done
c1=$(metric a1 ipwall_store_commits_total)
tap_is "$((c1 - c0))" 5 "a: one client, one ban at a time: one commit per ban"
ipw_stop a1 || true

# ------------------------------------------------------------ c
ipw_start c || exit 1
ipw_http c GET /healthz
tap_like "$(ipw_jq .store_check)" '^(running|ok)$' \
	"c: /healthz shows the background check (running or ok)"
for _ in $(seq 100); do
	ipw_http c GET /healthz
	[ "$(ipw_jq .store_check)" = ok ] && break
	sleep 0.1
done
tap_is "$(ipw_jq .store_check)" ok "c: a good store passes the background check"
tap_is "$(ipw_jq .store)" ok "c: /healthz store ok"
for k in $(seq 1 400); do echo "{\"target\":\"10.66.$((k / 256)).$((k % 256))\",\"reason\":\"$(printf 'x%.0s' $(seq 60))\"}"; done |
	jq -s '{items: .}' >"$IPW_TMP/c.json"
ipw_json c POST /v1/bans/batch "@$IPW_TMP/c.json"
tap_is "$HTTP_STATUS" 200 "c: 400 bans with long reasons (the history spans many pages)"
ipw_stop c || true
db=${IPWD_DIR[c]}/ipwall.db
# Overwrite a page that belongs to the history (ops) index, not to meta
# or entries: the start loads, the background check finds the damage.
pg=$(sqlite3 "$db" "SELECT max(pageno) FROM dbstat WHERE name = 'ops_by_target'" 2>/dev/null)
if [ -z "$pg" ] || [ "$pg" -lt 3 ]; then
	pg=$(sqlite3 "$db" "SELECT rootpage FROM sqlite_schema WHERE name = 'ops_by_target'")
fi
psize=$(sqlite3 "$db" "PRAGMA page_size")
yes 'ipwall noise ' | head -c "$psize" |
	dd of="$db" bs="$psize" seek=$((pg - 1)) conv=notrunc status=none
ipw_start c || exit 1
tap_pass "c: a store whose history index is damaged still starts (entries load)"
ipw_http c GET '/v1/check?ip=10.66.0.5'
tap_is "$HTTP_STATUS" 403 "c: ... and its bans are enforced"
for _ in $(seq 100); do
	ipw_http c GET /healthz
	[ "$(ipw_jq .store_check)" != running ] && break
	sleep 0.1
done
tap_is "$(ipw_jq .store_check)" damaged "c: the background check says damaged"
tap_is "$(ipw_jq .store)" damaged "c: /healthz store: damaged"
sleep 1.2 # the main loop logs it at its next tick
tap_like "$(cat "${IPWD_LOG[c]}")" "quick_check.*recover" \
	"c: the log names the damage and the recovery hint"
ipw_stop c || true

conf=$IPW_TMP/c2.conf
printf '[store]\npath = none\n' >"$conf"
ipw_start c2 --config "$conf" || exit 1
ipw_http c2 GET /healthz
tap_is "$(ipw_jq .store_check)" none "c: without a store, store_check is none"
ipw_stop c2 || true

# ------------------------------------------------------------ d
conf=$IPW_TMP/d.conf
printf '[store]\nhistory_retention = 2s\n' >"$conf"
ipw_start d --config "$conf" || exit 1
for k in 1 2 3; do
	ipw_json d POST /v1/bans "{\"target\":\"10.67.0.$k\"}"
done
# (the history is written behind the op log: give it a moment)
for _ in $(seq 50); do
	n=$(sqlite3 "${IPWD_DIR[d]}/ipwall.db" "SELECT count(*) FROM ops WHERE action = 'ban'")
	[ "$n" = 3 ] && break
	sleep 0.1
done
tap_is "$n" 3 "d: three bans are three ops in the history"
for _ in $(seq 60); do
	n=$(sqlite3 "${IPWD_DIR[d]}/ipwall.db" "SELECT count(*) FROM ops")
	[ "$n" = 0 ] && break
	sleep 0.2
done
tap_is "$n" 0 "d: history_retention = 2s: the ops are deleted within seconds"
tap_is "$(sqlite3 "${IPWD_DIR[d]}/ipwall.db" "SELECT count(*) FROM entries")" 3 \
	"d: ... the bans themselves stay"
ipw_http d GET '/v1/check?ip=10.67.0.2'
tap_is "$HTTP_STATUS" 403 "d: ... and are enforced"
# (three bans may straddle a second, and go in two deletions)
tap_is "$(grep -o 'history: deleted [0-9]* ops' "${IPWD_LOG[d]}" |
	awk '{ n += $3 } END { print n + 0 }')" 3 "d: the deletion is logged (3 ops in all)"
ipw_stop d || true
tap_ok "d: no sanitizer report" ipw_sanitizer_clean d

# ------------------------------------------------------------ e
# The audit lines of committed ops that a crash kept out of the log are
# written from the history at the next start: cut the last two lines
# (as a kill between a commit and its lines would leave the file).
ipw_start e || exit 1
for k in 1 2 3 4; do
	ipw_json e POST /v1/bans "{\"target\":\"10.68.0.$k\",\"reason\":\"r$k\"}"
done
ipw_json e DELETE '/v1/bans?target=10.68.0.4'
ipw_stop e || true
log=${IPWD_DIR[e]}/audit.log
full=$(wc -l <"$log")
head -n $((full - 2)) "$log" >"$log.cut" && mv "$log.cut" "$log"
ipw_start e || exit 1
tap_is "$(wc -l <"$log")" "$full" "e: the two lines cut from the log are back after the restart"
tap_is "$(tail -n 2 "$log" | jq -r '[.action, .target, .result, .recovered] | @tsv' | tr '\t\n' ' ;')" \
	"ban 10.68.0.4 added true;unban 10.68.0.4 removed true;" \
	"e: ... in op order, marked recovered, with action, target and result"
tap_is "$(tail -n 2 "$log" | head -n 1 | jq -r '.after.reason')" r4 \
	"e: ... with the entry as the history keeps it"
ids_log=$(jq -r .op "$log" | tr -d '-' | tr a-f A-F)
ids_db=$(sqlite3 "${IPWD_DIR[e]}/ipwall.db" "SELECT hex(id) FROM ops ORDER BY id")
tap_is "$ids_log" "$ids_db" "e: the log and the history hold the same ops in the same order"
tap_like "$(cat "${IPWD_LOG[e]}")" "2 ops after op .* were not in it" "e: the restart says so"
ipw_stop e || true
# a log rotated away (empty): nothing to compare with, nothing written
: >"$log"
ipw_start e || exit 1
tap_is "$(wc -c <"$log")" 0 "e: an empty (rotated) log gets no old lines"
ipw_stop e || true
tap_ok "e: no sanitizer report" ipw_sanitizer_clean e

printf '[store]\nhistory_retention = soon\n' >"$conf"
tap_not "d: a bad history_retention is refused by --check-config" \
	"$IPWALLD" --config "$conf" --check-config

# ------------------------------------------------------------ f
conf=$IPW_TMP/f.conf
for bad in 512k lots 65G -1M; do
	printf '[store]\ncache = %s\n' "$bad" >"$conf"
	tap_not "f: [store] cache = $bad is refused" \
		"$IPWALLD" --config "$conf" --check-config
done
printf '[store]\ncache = 1M\n[daemon]\nlog_level = debug\n' >"$conf"
tap_ok "f: [store] cache = 1M is accepted" \
	"$IPWALLD" --config "$conf" --check-config
ipw_start f --config "$conf" || exit 1
# 20,000 addresses in random order (the k-th: k * 2654435761 mod 2^32)
awk 'BEGIN {
	printf "{\"items\":["
	for (k = 1; k <= 20000; k++) {
		a = (k * 2654435761) % 4294967296
		printf "%s{\"target\":\"%d.%d.%d.%d\"}", (k > 1 ? "," : ""),
			int(a / 16777216), int(a / 65536) % 256, int(a / 256) % 256, a % 256
	}
	printf "]}" }' >"$IPW_TMP/f.json"
# (a release may have come at the start, idle then: only a later counts)
before=$(grep -c 'idle: released' "${IPWD_LOG[f]}")
ipw_json f POST /v1/bans/batch "@$IPW_TMP/f.json"
tap_is "$(ipw_jq .added)" 20000 "f: 20,000 bans in one batch"
for _ in $(seq 300); do
	[ "$(grep -c 'idle: released' "${IPWD_LOG[f]}")" -gt "$before" ] && break
	sleep 0.1
done
line=$(grep -o 'idle: released [0-9]* bytes of the store.s page cache' "${IPWD_LOG[f]}" |
	tail -n +$((before + 1)) | head -n 1)
freed=$(awk '{print $3}' <<<"$line")
tap_ok "f: idle: the store's page cache is released (${freed:-none} bytes)" \
	test "${freed:-0}" -gt 0
tap_ok "f: ... and it held at most cache = 1M, and SQLite's overhead per page" \
	test "${freed:-999999999}" -le $((1536 * 1024))
ipw_json f GET '/v1/stats'
tap_is "$(ipw_jq .entries.bans.ipv4)" 20000 "f: the bans are all there after it"
ipw_json f GET '/v1/history?target=158.55.121.177'
tap_is "$(ipw_jq '.ops | length')" 1 "f: ... and a history query reads the store again"
ipw_stop f || true
tap_ok "f: no sanitizer report" ipw_sanitizer_clean f
tap_done
