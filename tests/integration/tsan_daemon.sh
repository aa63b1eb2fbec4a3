#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ipwalld's own threads under ThreadSanitizer (the build/tsan daemon):
# HTTP workers, the blocking threads, the committer, the audit thread, the
# listing view, the history connection, the store's background check and
# the start-up load pipeline, all at once: 32 clients banning over the
# unix socket, 8 listing, a batch of 10,000, history queries, then a
# restart that loads the store and writes audit lines a "crash" kept out
# of the log. Any ThreadSanitizer
# report in the daemon's log fails the test.
set -u
cd "$(dirname "$0")/../.." || exit 1
IPWALLD=${IPWALLD_TSAN:-build/tsan/src/daemon/ipwalld}
. tests/integration/lib.sh

if [ ! -x "$IPWALLD" ]; then
	tap_skip "ipwalld under ThreadSanitizer" "$IPWALLD is not built (ninja -C build/tsan)"
	tap_done
	exit $?
fi
export TSAN_OPTIONS="halt_on_error=0 ${TSAN_OPTIONS:-}"

batch=$IPW_TMP/batch.json
awk 'BEGIN { printf "{\"items\":["
	for (k = 0; k < 10000; k++)
		printf "%s{\"target\":\"10.2.%d.%d\",\"reason\":\"tsan\"}", (k ? "," : ""), int(k / 256), k % 256
	printf "]}" }' >"$batch"

ipw_start t || exit 1
pids=
for c in $(seq 0 31); do
	(
		for k in $(seq 0 9); do
			curl -s -m 60 -o /dev/null -w '%{http_code}\n' \
				--unix-socket "${IPWD_SOCK[t]}" \
				-H 'Content-Type: application/json' \
				--data-binary "{\"target\":\"10.1.$c.$k\"}" \
				http://localhost/v1/bans
		done
	) >"$IPW_TMP/storm.$c" &
	pids="$pids $!"
done
# listings while the table changes: each may find the view stale and
# (one at a time) rebuild it, on the blocking threads
for c in $(seq 0 7); do
	(
		for k in 1 2 3; do
			curl -s -m 60 -o /dev/null -w '%{http_code}\n' \
				"${IPWD_URL[t]}/v1/bans?limit=5"
		done
	) >"$IPW_TMP/list.$c" &
	pids="$pids $!"
done
# (as long as the storm's clients may wait: under TSan on a busy machine
# the batch can take more than the default 10 s)
IPW_CURL_MAX_TIME=60 ipw_http_unix t POST /v1/bans/batch \
	-H 'Content-Type: application/json' --data-binary "@$batch"
tap_is "$HTTP_STATUS" 200 "a batch of 10,000 while 32 clients ban one by one"
# shellcheck disable=SC2086 # the list of PIDs
wait $pids
tap_is "$(cat "$IPW_TMP"/storm.* | grep -c '^201$')" 320 "320 single bans acknowledged"
tap_is "$(cat "$IPW_TMP"/list.* | grep -c '^200$')" 24 "24 listings answered meanwhile"
for c in 0 1 2 3; do
	ipw_http t GET "/v1/history?target=10.1.$c.0/24"
	tap_is "$(ipw_jq '.ops | length')" 10 "history of 10.1.$c.0/24 while the store is busy"
done
ipw_stop t || true
# a "crash" between commits and their lines: the log loses its tail
log=${IPWD_DIR[t]}/audit.log
head -n 5000 "$log" >"$log.cut" && mv "$log.cut" "$log"
ipw_start t || exit 1
ipw_http t GET /v1/stats
tap_is "$(ipw_jq .entries.bans.ipv4)" 10320 "the restart loads every ban (the load pipeline)"
for _ in $(seq 100); do
	ipw_http t GET /healthz
	[ "$(ipw_jq .store_check)" = ok ] && break
	sleep 0.2
done
tap_is "$(ipw_jq .store_check)" ok "the background check ran"
ipw_stop t || true
tap_is "$(wc -l <"$log")" 10320 "the audit log has every op again"
tsan_clean() {
	local reports
	reports=$(grep -c 'WARNING: ThreadSanitizer' "${IPWD_LOG[$1]}")
	if [ "$reports" = 0 ]; then
		tap_pass "$2: no ThreadSanitizer report"
	else
		tap_fail "$2: no ThreadSanitizer report ($reports)" \
			"$(grep -A20 'WARNING: ThreadSanitizer' "${IPWD_LOG[$1]}" | head -60)"
	fi
}
tsan_clean t "bans, listings, history, restart"

# Auto-ban's threads (the socket reader, the engine, the banner) with the
# HTTP workers: 8 clients reporting batches over HTTP while a service
# reports through the event socket, decisions becoming ops meanwhile.
REPORT=build/tsan/tests/tools/report_events
printf '[rule r]\nevents = fail\nthreshold = 3\nwindow = 1m\nban = 1h\naggregate_v4 = 2\n' >"$IPW_TMP/ab.conf"
if [ -x "$REPORT" ] && ipw_start ab --config "$IPW_TMP/ab.conf"; then
	pids=
	for c in $(seq 0 7); do
		(
			for k in $(seq 0 9); do
				body=$(for h in $(seq 0 49); do printf '{"ip":"10.9.%d.%d","type":"fail"},' "$c" $(((k * 50 + h) % 20)); done)
				curl -s -m 60 -o /dev/null -w '%{http_code}\n' \
					--unix-socket "${IPWD_SOCK[ab]}" \
					-H 'Content-Type: application/json' \
					--data-binary "{\"events\":[${body%,}]}" \
					http://localhost/v1/events
			done
		) >"$IPW_TMP/ev.$c" &
		pids="$pids $!"
	done
	"$REPORT" "${IPWD_DIR[ab]}/events.sock" 10.8.0.1 fail 500 >"$IPW_TMP/sock.out"
	# shellcheck disable=SC2086 # the list of PIDs
	wait $pids
	tap_is "$(cat "$IPW_TMP"/ev.* | grep -c '^202$')" 80 "80 event batches accepted (202)"
	for _ in $(seq 200); do
		ipw_http_unix ab GET /v1/check?ip=10.9.7.255
		[ "$(ipw_jq .verdict)" = blocked ] && break
		sleep 0.1
	done
	tap_is "$(ipw_jq .verdict)" blocked "the reports became bans (a /24 by aggregation)"
	ipw_stop ab || true
	tap_is "${IPWD_STATUS[ab]}" 0 "ipwalld with auto-ban stops cleanly"
	tsan_clean ab "auto-ban"
else
	tap_fail "ipwalld (TSan) starts with a rule" "$(tail -5 "${IPWD_LOG[ab]:-/dev/null}")"
fi

# Cluster mode's threads (the sender on the op log's subscriber thread,
# the receiver with its heartbeats and reloads, the HTTP workers reading
# their status): two nodes on one redis-server, both banning at once,
# Redis killed and started again empty (both reconnect, seed and reload).
if command -v redis-server >/dev/null && "$IPWALLD" --version | grep -q '+redis'; then
	rport=$(ipw_free_port)
	mkdir -p "$IPW_TMP/redis"
	start_redis() {
		redis-server --port "$rport" --bind 127.0.0.1 --save '' \
			--appendonly no --dir "$IPW_TMP/redis" >"$IPW_TMP/redis/log" 2>&1 &
		rpid=$!
		for _ in $(seq 50); do
			redis-cli -p "$rport" ping >/dev/null 2>&1 && break
			sleep 0.1
		done
	}
	start_redis
	for n in c1 c2; do
		printf '[cluster]\nmode = on\nredis = redis://127.0.0.1:%s\nnode = %s\nheartbeat_ms = 100\n' \
			"$rport" "$n" >"$IPW_TMP/$n.conf"
		ipw_start "$n" --config "$IPW_TMP/$n.conf" || tap_fail "ipwalld (TSan) starts in cluster mode" "$(tail -5 "${IPWD_LOG[$n]}")"
	done
	burst() {
		local pids="" c k
		for c in 1 2; do
			(
				for k in $(seq 0 49); do
					curl -s -m 60 -o /dev/null --unix-socket "${IPWD_SOCK[c$c]}" \
						-H 'Content-Type: application/json' \
						--data-binary "{\"target\":\"10.7.$1$c.$k\"}" \
						http://localhost/v1/bans
					ipw_http c$c GET /v1/cluster >/dev/null
				done
			) &
			pids="$pids $!"
		done
		# shellcheck disable=SC2086 # the list of PIDs
		wait $pids
	}
	burst 1
	kill -9 "$rpid"
	wait "$rpid" 2>/dev/null
	burst 2
	start_redis
	for _ in $(seq 300); do
		ipw_http_unix c1 GET "/v1/check?ip=10.7.22.49"
		a=$(ipw_jq .verdict)
		ipw_http_unix c2 GET "/v1/check?ip=10.7.21.49"
		[ "$a" = blocked ] && [ "$(ipw_jq .verdict)" = blocked ] && break
		sleep 0.1
	done
	tap_is "$a $(ipw_jq .verdict)" "blocked blocked" "each node has the other's bans made while Redis was down"
	for n in c1 c2; do
		ipw_stop "$n" || true
		tap_is "${IPWD_STATUS[$n]}" 0 "cluster node $n stops cleanly"
		tsan_clean "$n" "cluster node $n"
	done
	kill "$rpid"
	wait "$rpid" 2>/dev/null
else
	tap_skip "cluster mode under TSan" "no redis-server, or ipwalld built without hiredis"
fi
tap_done
