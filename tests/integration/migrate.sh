#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The store's schema migration (schema version 1 to 2) and the op log's
# sequence, against the real ipwalld on the unix socket.
#
#   a  a version-1 store written by the code on main before schema 2
#      (tests/fixtures/store-v1.sql, with the audit log of the same run):
#      ipwalld starts on it, logs the migration and where the old file
#      was kept; the copy is byte-for-byte the version-1 database (its
#      dump equals the fixture's) and says version 1; the store says
#      version 2 and has the origins and oplog tables; every entry is
#      still there (those whose time is past expire at this start), with
#      its metadata, and the mode is still allowlist; the 19 old ops keep
#      their ids and get sequences 1..19 in id order; node host's cursor
#      is the last old op; the next op is group 20 and its id is above
#      every old one; the audit log goes on from the old lines without
#      repeating one; a restart of the migrated store changes nothing
#      more (no second copy)
#   b  a store of a newer schema (version 3): refused at start with a
#      message naming both versions and the way back, the file
#      byte-for-byte unchanged
#   c  a sequence for every group: 3 single bans, a batch, an unban make
#      groups 1..5 in the store's meta and history (the batch's ops share
#      one), each audit line carries its op's sequence, and /healthz and
#      /metrics say where the op log and its subscriber (the audit log)
#      stand; after kill -9 and a restart the sequence goes on
#   d  the audit log behind the store at a start (its last lines cut, as
#      a kill between a commit and its lines would leave it): the lines
#      come back from the store's op log, whole, marked recovered
#
# Run from the repository root: bash tests/integration/migrate.sh (TAP).
# Loopback and the unix socket only; every process is stopped by its PID;
# the temporary directory is removed at exit; a watchdog stops the script
# after TIME_LIMIT (default 58) seconds.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

TIME_LIMIT=${TIME_LIMIT:-58}
FIXTURE=tests/fixtures/store-v1.sql
FIXTURE_AUDIT=tests/fixtures/store-v1-audit.log

ipw_require curl jq sqlite3 sha256sum

cleanup() {
	ipw_watchdog_stop
	ipw_cleanup
}
trap cleanup EXIT
trap 'echo "Bail out! interrupted (or over the ${TIME_LIMIT}s time limit)"; exit 1' INT TERM HUP
ipw_watchdog "$TIME_LIMIT"

JSON='Content-Type: application/json'
q() { sqlite3 -batch "$@"; }
# until_is WANT SQL DB: the value of SQL once it is WANT (the store's
# index is written behind the op log), waiting at most 5 s.
until_is() {
	local v
	for _ in $(seq 50); do
		v=$(q "$3" "$2")
		[ "$v" = "$1" ] && break
		sleep 0.1
	done
	printf '%s' "$v"
}

# ================================================================ a
A=$IPW_TMP/a/data
mkdir -p "$A"
q "$A/ipwall.db" <"$FIXTURE"
cp "$FIXTURE_AUDIT" "$A/audit.log"
# The node of the fixture's ops becomes ipwalld's [daemon] node: this
# daemon is the same node going on.
NODE=$(q "$A/ipwall.db" "SELECT DISTINCT node FROM ops")
old_dump=$(q "$A/ipwall.db" .dump)
old_ids=$(q "$A/ipwall.db" "SELECT hex(id) FROM ops ORDER BY id")
old_max=$(q "$A/ipwall.db" "SELECT hex(max(id)) FROM ops")
now=$(date +%s)
# the entries this start keeps: permanent ones and those not yet expired
# (an entry whose time comes within the minute may go either way)
keep_sql="SELECT list || ' ' || hex(addr) || '/' || plen || ' ' ||
	expires || ' ' || created || ' ' || score || ' ' || ifnull(reason, '')
	|| ' ' || ifnull(actor, '') FROM entries
	WHERE expires = 0 OR expires > $now + 60 ORDER BY 1"
keep=$(q "$A/ipwall.db" "$keep_sql")
printf '[daemon]\nnode = %s\n' "$NODE" >"$IPW_TMP/a/conf"

if ! ipw_start a --config "$IPW_TMP/a/conf"; then
	tap_fail "a: ipwalld starts on a version-1 store"
	tap_done
	exit 1
fi
tap_pass "a: ipwalld starts on a version-1 store (node $NODE)"
tap_like "$(cat "${IPWD_LOG[a]}")" "schema version 1 migrated to 2; the file as it was is kept at .*ipwall.db.v1-backup" \
	"a: the migration and the kept copy are logged"
tap_ok "a: the copy exists" test -s "$A/ipwall.db.v1-backup"
tap_is "$(q "$A/ipwall.db.v1-backup" 'PRAGMA user_version')" 1 "a: the copy says version 1"
tap_is "$(q "$A/ipwall.db.v1-backup" .dump)" "$old_dump" \
	"a: the copy holds exactly the version-1 database (same dump)"
tap_is "$(q "$A/ipwall.db" 'PRAGMA user_version')" 2 "a: the store says version 2"
tap_is "$(q "$A/ipwall.db" "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name)")" \
	"entries meta ops origins" "a: with the tables of version 2"
tap_is "$(q "$A/ipwall.db-oplog" "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name)")" \
	"meta oplog origins" "a: the op log's journal beside it"
tap_is "$(q "$A/ipwall.db" "$keep_sql")" "$keep" \
	"a: every entry not past its time is still there, with its metadata"
tap_is "$(until_is 0 "SELECT count(*) FROM entries WHERE expires <> 0 AND expires <= $now" "$A/ipwall.db")" 0 \
	"a: those past it are gone"
ipw_http_unix a GET /v1/mode
tap_is "$(ipw_jq .mode)" allowlist "a: the mode is still allowlist"
ipw_http_unix a GET '/v1/check?ip=192.0.2.5'
tap_is "$HTTP_STATUS $(ipw_jq .reason)" "200 allowed" "a: an allowed address is admitted"
ipw_http_unix a GET '/v1/check?ip=198.51.100.20'
tap_is "$HTTP_STATUS" 403 "a: anything else is blocked (allowlist mode)"
tap_is "$(q "$A/ipwall.db" "SELECT hex(id) FROM ops WHERE seq BETWEEN 1 AND 19 ORDER BY seq")" \
	"$old_ids" "a: the 19 old ops keep their ids and get sequences 1..19 in id order"
tap_is "$(q "$A/ipwall.db" "SELECT count(*) FROM origins WHERE node = '$NODE' AND hex(last_id) >= '$old_max'")" 1 \
	"a: the node's cursor is its last old op, or a later one (the expiries of this start)"
tap_is "$(until_is "$(q "$A/ipwall.db" "SELECT hex(max(id)) FROM ops WHERE node = '$NODE'")" \
	"SELECT hex(last_id) FROM origins WHERE node = '$NODE'" "$A/ipwall.db")" \
	"$(q "$A/ipwall.db" "SELECT hex(max(id)) FROM ops WHERE node = '$NODE'")" \
	"a: ... the node's last op in the history"
expected_seq=$(q "$A/ipwall.db-oplog" "SELECT value FROM meta WHERE key = 'seq'")
[ -n "$expected_seq" ] || expected_seq=19
if [ "$expected_seq" = 19 ]; then
	tap_pass "a: the sequence goes on from 19 (nothing expired at this start)"
else
	tap_is "$expected_seq $(q "$A/ipwall.db" "SELECT group_concat(DISTINCT action) FROM ops WHERE seq = 20")" \
		"20 expire" "a: the sequence goes on from 19: group 20 the entries that expired while stopped"
fi
ipw_http_unix a POST /v1/bans -H "$JSON" --data-binary '{"target":"203.0.113.200","reason":"after the migration"}'
tap_is "$HTTP_STATUS" 201 "a: a new ban"
new=$(until_is "$((expected_seq + 1)) 1" "SELECT seq || ' ' || (hex(id) > '$old_max') FROM ops WHERE target = '203.0.113.200'" "$A/ipwall.db")
tap_is "$new" "$((expected_seq + 1)) 1" "a: it is group $((expected_seq + 1)), with an id above every old one"
ipw_stop a
tap_is "${IPWD_STATUS[a]}" 0 "a: a clean stop"
tap_is "$(jq -r .op "$A/audit.log" | sort | uniq -d | wc -l)" 0 \
	"a: the audit log repeats no line of the old run"
tap_is "$(tail -n 1 "$A/audit.log" | jq -r '[.target, .seq] | @tsv')" \
	"203.0.113.200	$((expected_seq + 1))" "a: its last line is the new ban, with its sequence"
sum=$(sha256sum <"$A/ipwall.db.v1-backup")
if ipw_start a --config "$IPW_TMP/a/conf"; then
	ipw_stop a
	tap_not "a: a restart migrates nothing more (no second copy)" test -e "$A/ipwall.db.v1-backup.1"
	tap_is "$(sha256sum <"$A/ipwall.db.v1-backup")" "$sum" "a: ... and leaves the copy alone"
else
	tap_fail "a: the migrated store restarts"
fi
tap_ok "a: no sanitizer report" ipw_sanitizer_clean a

# ================================================================ b
B=$IPW_TMP/b/data
mkdir -p "$B"
q "$B/ipwall.db" <"$FIXTURE"
q "$B/ipwall.db" 'PRAGMA user_version = 3'
sum=$(sha256sum <"$B/ipwall.db")
"$IPWALLD" --listen "" --data-dir "$B" >"$IPW_TMP/b/log" 2>&1 &
pid=$!
for _ in $(seq 150); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	kill -KILL "$pid"
	rc=running
else
	wait "$pid"
	rc=$?
fi
tap_is "$rc" 1 "b: a store of schema version 3 is refused at start (exit 1)"
tap_like "$(cat "$IPW_TMP/b/log")" "schema version 3, newer than the 2 this ipwalld knows.*Nothing was changed" \
	"b: the message names both versions and says nothing changed"
tap_is "$(sha256sum <"$B/ipwall.db")" "$sum" "b: the file is byte-for-byte unchanged"
tap_not "b: no copy is made" test -e "$B/ipwall.db.v3-backup"

# ================================================================ c
if ! ipw_start c; then
	tap_fail "c: ipwalld starts on a new store"
	tap_done
	exit 1
fi
C=${IPWD_DIR[c]}
for k in 1 2 3; do
	ipw_http_unix c POST /v1/bans -H "$JSON" --data-binary "{\"target\":\"10.70.0.$k\"}"
done
ipw_http_unix c POST /v1/bans/batch -H "$JSON" \
	--data-binary '{"items":[{"target":"10.70.1.1"},{"target":"10.70.1.2"},{"target":"10.70.1.3"}]}'
ipw_http_unix c DELETE '/v1/bans?target=10.70.0.1'
tap_is "$(q "$C/ipwall.db-oplog" "SELECT value FROM meta WHERE key = 'seq'")" 5 \
	"c: five groups: the journal's sequence is 5"
tap_is "$(until_is 5 "SELECT value FROM meta WHERE key = 'seq'" "$C/ipwall.db")" 5 \
	"c: the store's index reaches 5 behind it"
tap_is "$(q "$C/ipwall.db" "SELECT group_concat(seq, ' ') FROM (SELECT seq FROM ops ORDER BY id)")" \
	"1 2 3 4 4 4 5" "c: the history's ops carry their groups' sequences (the batch's share 4)"
ipw_http_unix c GET /healthz
tap_is "$(ipw_jq '[.seq, .subscribers.audit.state, .subscribers.audit.applied, .subscribers.audit.lag, .subscribers.store.state, .subscribers.store.applied] | @tsv')" \
	"5	live	5	0	live	5" "c: /healthz: sequence 5, the audit log and the store live at 5, no lag"
ipw_http_unix c GET /metrics
tap_like "$HTTP_BODY" $'ipwall_oplog_seq 5\n' "c: /metrics: ipwall_oplog_seq 5"
tap_like "$HTTP_BODY" 'ipwall_subscriber_applied_seq\{subscriber="audit"\} 5' \
	"c: /metrics: the audit subscriber applied 5"
tap_like "$HTTP_BODY" 'ipwall_subscriber_resyncs_total\{subscriber="audit"\} 0' \
	"c: /metrics: it was never resynced"
tap_like "$HTTP_BODY" 'ipwall_subscriber_applied_seq\{subscriber="store"\} 5' \
	"c: /metrics: the store's index applied 5"
tap_is "$(jq -r '.seq' "$C/audit.log" | tr '\n' ' ')" "1 2 3 4 4 4 5 " \
	"c: each audit line carries its op's sequence"
sleep 1.5 # the main loop's tick trims the op log (not a measurement)
tap_is "$(q "$C/ipwall.db-oplog" "SELECT count(*) FROM oplog")" 0 \
	"c: once the audit log and the store's index have every group, a tick trims the journal"
ipw_stop c KILL
if ipw_start c; then
	ipw_http_unix c POST /v1/bans -H "$JSON" --data-binary '{"target":"10.70.2.1"}'
	tap_is "$(until_is 6 "SELECT seq FROM ops WHERE target = '10.70.2.1'" "$C/ipwall.db")" 6 \
		"c: after kill -9 and a restart the next group is 6"
else
	tap_fail "c: ipwalld restarts after kill -9"
fi

# ================================================================ d
# audit_caught_up NAME: wait (5 s at most) until NAME's audit subscriber
# has written every committed group: it recovers the cut lines behind
# /healthz's 200.
audit_caught_up() {
	for _ in $(seq 50); do
		ipw_http_unix "$1" GET /healthz
		[ "$(ipw_jq '.subscribers.audit.lag')" = 0 ] && return 0
		sleep 0.1
	done
	return 1
}
ipw_stop c
n=$(wc -l <"$C/audit.log")
head -n $((n - 2)) "$C/audit.log" >"$C/audit.cut" && mv "$C/audit.cut" "$C/audit.log"
if ipw_start c; then
	audit_caught_up c
	tap_is "$(wc -l <"$C/audit.log")" "$n" "d: the two lines cut from the log are back"
	tap_is "$(tail -n 2 "$C/audit.log" | jq -r '[.seq, .action, .target, .recovered] | @tsv' | tr '\t\n' ' ;')" \
		"5 unban 10.70.0.1 true;6 ban 10.70.2.1 true;" \
		"d: ... in sequence order, marked recovered"
	tap_is "$(tail -n 1 "$C/audit.log" | jq -r '.after.created > 0')" true \
		"d: ... with the whole entry"
	ipw_stop c
else
	tap_fail "d: ipwalld restarts"
fi
# Half of a group's lines (the batch, group 4: a kill in the middle of
# its write): the rest of the group comes back, nothing twice.
grep -n '"seq":4,' "$C/audit.log" | head -1 | cut -d: -f1 >"$IPW_TMP/first4"
head -n "$(cat "$IPW_TMP/first4")" "$C/audit.log" >"$C/audit.cut" && mv "$C/audit.cut" "$C/audit.log"
if ipw_start c; then
	audit_caught_up c
	tap_is "$(jq -r '.seq' "$C/audit.log" | tr '\n' ' ')" "1 2 3 4 4 4 5 6 " \
		"d: a log cut after the first line of a group gets the rest of that group and what follows, once each"
	ipw_stop c
else
	tap_fail "d: ipwalld restarts after the group cut"
fi
tap_ok "c, d: no sanitizer report" ipw_sanitizer_clean c
tap_done
