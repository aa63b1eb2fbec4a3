#!/bin/bash
# SPDX-License-Identifier: MIT
#
# Crash test of ipwalld's durable store (issue 5): "an acknowledged write
# survives kill -9 of the daemon and a restart".
#
# CLIENTS loops (default 3) ban, unban, allow and disallow at full speed
# over the unix socket with curl, each on its own TARGETS targets (IPv4
# addresses, IPv4 /24s, IPv6 /64s; no two targets overlap, so the ops on a
# target come from one client, in one order), and log every op: action,
# target, HTTP status, curl's exit status, result. Meanwhile the test
# kill -9s ipwalld KILLS times (default 15) at random moments 0.2-1 s
# apart and restarts it. After each restart the clients are paused (their
# ops in flight at the kill have ended, so nothing more can land) and:
#
#   - each target's state in each list (present or absent, from the
#     daemon's listing) is the result of the last acknowledged (2xx) op on
#     it, or of a later op whose answer was cut by the kill (such an op may
#     or may not be applied; both are correct). Ops refused (409
#     covered_by_allow: a ban of a target the client had allowed) or never
#     sent (curl could not connect) count as not applied; any other answer
#     is a failure. The state seen becomes the starting point for the next
#     round.
#   - every listed entry is whole: its reason is that of an op on that
#     target that was applied or may have been, its actor is the client's
#     unix user, its expiry permanent or within the TTLs used
#   - the table equals the store: the listing (target, list, expiry,
#     creation, score, auto, reason, actor, source) equals the rows of
#     `entries` in DATA/ipwall.db, read with sqlite3 while ipwalld idles
#
# One more kill is made to look as if it came in the middle of writing the
# audit lines of a big group: half a line is left at the end of the log
# (written while ipwalld is down); the restart must cut it and say so.
#
# At the end (after a clean SIGTERM stop, exit 0, no sanitizer report) the
# same checks against the database file, and the history: every line of
# DATA/audit.log is JSON whose op id is in the ops table with the same
# action, result, list and target; the log is in op id order; ops missing
# from the log are at most one group per kill (the group committed when
# the kill came, not yet logged, never acknowledged); and for each target,
# both the log and the ops table contain every acknowledged op (action and
# result) in the order the client made them, and nothing that was not asked
# for (no op refused or never sent, no expiry, no eviction).
#
# Run from the repository root: bash tests/integration/crash.sh (TAP).
# Loopback and the unix socket only; every process is stopped by its PID;
# the temporary directory is removed at exit. Bounded: the kill loop ends
# after KILL_BUDGET seconds (default 35), the whole script is stopped by a
# watchdog after TIME_LIMIT (default 58).
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

CLIENTS=${CLIENTS:-3}
TARGETS=${TARGETS:-24}
KILLS=${KILLS:-15}
KILL_BUDGET=${KILL_BUDGET:-35}
TIME_LIMIT=${TIME_LIMIT:-58}
TTLS=(1h 2h 0)

ipw_require curl jq sqlite3 awk

W=$IPW_TMP/work
mkdir -p "$W"
client_pids=()

cleanup() {
	local p
	: >"$W/stop" 2>/dev/null
	for p in "${client_pids[@]}"; do
		kill -TERM "$p" 2>/dev/null
		wait "$p" 2>/dev/null
	done
	ipw_watchdog_stop
	ipw_cleanup
}
trap cleanup EXIT
trap 'echo "Bail out! interrupted (or over the ${TIME_LIMIT}s time limit)"; exit 1' INT TERM HUP

# The watchdog: past TIME_LIMIT seconds the script gets SIGTERM.
ipw_watchdog "$TIME_LIMIT"

USER_NAME=$(id -un)
D=crash
DB=$IPW_TMP/$D/data/ipwall.db
AUDIT=$IPW_TMP/$D/data/audit.log

# ---------------------------------------------------------------- targets

# TGT[C,Y]: target Y of client C. $W/targets: "text hex plen client", the
# key the store uses (address bytes in hex, prefix length) for each.
declare -A TGT=()
for ((c = 1; c <= CLIENTS; c++)); do
	for ((y = 0; y < TARGETS; y++)); do
		case $((y % 3)) in
		0)
			t=10.$c.$y.1
			hex=$(printf '0A%02X%02X01' "$c" "$y") plen=32
			;;
		1)
			t=10.$c.$y.0/24
			hex=$(printf '0A%02X%02X00' "$c" "$y") plen=24
			;;
		2)
			t=$(printf '2001:db8:%x:%x::/64' "$c" "$y")
			hex=$(printf '20010DB8%04X%04X0000000000000000' "$c" "$y") plen=64
			;;
		esac
		TGT[$c,$y]=$t
		printf '%s\t%s\t%s\t%s\n' "$t" "$hex" "$plen" "$c" >>"$W/targets"
	done
done

# ---------------------------------------------------------------- clients

# client C: ops on C's targets as fast as curl goes, until $W/stop. While
# $W/pause exists it waits (and says so with $W/paused.C). Each op is one
# line of $W/ops.C: seq action list target http-status curl-status result.
client() {
	local c=$1 seq=0 y t r act list method path body out st rc res
	local sock=${IPWD_SOCK[$D]} log=$W/ops.$1
	while [ ! -e "$W/stop" ]; do
		if [ -e "$W/pause" ]; then
			: >"$W/paused.$c"
			while [ -e "$W/pause" ] && [ ! -e "$W/stop" ]; do
				sleep 0.02
			done
			rm -f "$W/paused.$c"
			continue
		fi
		seq=$((seq + 1))
		y=$((RANDOM % TARGETS))
		t=${TGT[$c,$y]}
		r=$((RANDOM % 100))
		body=
		if [ $r -lt 45 ]; then
			act=ban list=bans method=POST path=/v1/bans
			body="{\"target\":\"$t\",\"ttl\":\"${TTLS[RANDOM % 3]}\",\"reason\":\"c$c-$seq\"}"
		elif [ $r -lt 75 ]; then
			act=unban list=bans method=DELETE path="/v1/bans?target=$t"
		elif [ $r -lt 88 ]; then
			act=allow list=allows method=POST path=/v1/allow
			body="{\"target\":\"$t\",\"ttl\":\"${TTLS[RANDOM % 3]}\",\"reason\":\"c$c-$seq\"}"
		else
			act=disallow list=allows method=DELETE path="/v1/allow?target=$t"
		fi
		if [ -n "$body" ]; then
			out=$(curl -s -g -m 5 --unix-socket "$sock" -w '\n%{http_code}' \
				--json "$body" "http://x$path")
		else
			out=$(curl -s -g -m 5 --unix-socket "$sock" -w '\n%{http_code}' \
				-X "$method" "http://x$path")
		fi
		rc=$?
		st=${out##*$'\n'}
		[[ $st =~ ^[0-9]{3}$ ]] || st=000
		res=-
		[[ $out =~ \"result\":\"([a-z]+)\" ]] && res=${BASH_REMATCH[1]}
		printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$seq" "$act" "$list" "$t" \
			"$st" "$rc" "$res" >>"$log"
	done
}

# pause_clients: ask the clients to stop after their current op, and wait
# (bounded) until all of them have.
pause_clients() {
	local c n
	: >"$W/pause"
	for _ in $(seq 1 500); do
		n=0
		for ((c = 1; c <= CLIENTS; c++)); do
			[ -e "$W/paused.$c" ] && n=$((n + 1))
		done
		[ "$n" -eq "$CLIENTS" ] && return 0
		sleep 0.02
	done
	return 1
}

# (the paused.C files go first: a client still going back to work must not
# look paused to the next pause_clients)
resume_clients() {
	rm -f "$W"/paused.*
	rm -f "$W/pause"
}

# ---------------------------------------------------------------- views

# listing FILE: both lists of the daemon (over the unix socket) as sorted
# TSV: list target expires created score auto reason actor source
# (expires 0 = permanent). Returns non-zero if a request failed.
listing() {
	local l out=$1
	: >"$out"
	for l in bans allow; do
		curl -s -g -m 10 --unix-socket "${IPWD_SOCK[$D]}" \
			"http://x/v1/$l?limit=10000" >"$W/page" || return 1
		jq -e '.next == null' "$W/page" >/dev/null || return 1
		jq -r '.items[] | [.list, .target,
			(if .expires_at then (.expires_at | fromdateiso8601) else 0 end),
			(.created_at | fromdateiso8601), .score,
			(if .auto then 1 else 0 end), (.reason // ""),
			(.actor // ""), (.source // "")] | @tsv' \
			"$W/page" >>"$out" || return 1
	done
	sort -o "$out" "$out"
}

# store_rows FILE: the entries table of the database, same TSV (the target
# written back from its address bytes through $W/targets).
store_rows() {
	sqlite3 -batch -cmd '.timeout 5000' -separator $'\t' "$DB" \
		"SELECT CASE list WHEN 0 THEN 'bans' WHEN 1 THEN 'allows'
		 ELSE 'list' || list END, hex(addr), plen, expires, created,
		 score, flags & 1, ifnull(reason, ''), ifnull(actor, ''),
		 ifnull(source, '') FROM entries" >"$W/rows" || return 1
	awk -F'\t' -v OFS='\t' '
		FILENAME == ARGV[1] { t[$2 "/" $3] = $1; next }
		{
			k = $2 "/" $3
			tg = (k in t) ? t[k] : "UNKNOWN:" k
			print $1, tg, $4, $5, $6, $7, $8, $9, $10
		}' "$W/targets" "$W/rows" | sort >"$1"
}

# check_state LABEL: the listing against the clients' logs (see the top),
# then record what was seen as the starting point of the next round.
check_state() {
	local label=$1 bad now
	if ! listing "$W/list"; then
		tap_fail "$label: the daemon lists both lists" "$(head -c 300 "$W/page")"
		return 1
	fi
	now=$(date +%s)
	bad=$(awk -F'\t' -v user="unix:$USER_NAME" -v now="$now" \
		-v tfile="$W/targets" -v lfile="$W/list" '
		FILENAME == tfile { owner[$1] = $4; ntg++; next }
		FILENAME == lfile {
			k = $1 SUBSEP $2
			present[k] = 1; reason[k] = $7; actor[k] = $8; expiry[k] = $3
			next
		}
		$1 == "obs" {
			k = $2 SUBSEP $3; st[k] = $4
			delete maybe[k, "present"]; delete maybe[k, "absent"]
			next
		}
		{
			c = FILENAME; sub(/.*\./, "", c)
			k = $3 SUBSEP $4
			eff = ($2 == "ban" || $2 == "allow") ? "present" : "absent"
			if ($5 ~ /^2/) {
				st[k] = eff; acked++
				delete maybe[k, "present"]; delete maybe[k, "absent"]
			} else if ($5 == "000" && $6 != 7) {
				maybe[k, eff] = 1; unknown++
			} else
				refused++
			if (eff == "present" && ($5 ~ /^2/ || ($5 == "000" && $6 != 7)))
				okreason[k, "c" c "-" $1] = 1
		}
		END {
			for (t in owner) {
				split("bans allows", ls, " ")
				for (i = 1; i <= 2; i++) {
					k = ls[i] SUBSEP t
					got = (k in present) ? "present" : "absent"
					want = (k in st) ? st[k] : "absent"
					if (got != want && !((k, got) in maybe)) {
						print "BAD " ls[i] " " t ": " got \
							", the last acknowledged op left it " want
					}
				}
			}
			for (k in present) {
				split(k, p, SUBSEP)
				if (!(p[2] in owner)) {
					print "BAD " p[1] " " p[2] ": a target no client used"
					continue
				}
				if (!((k, reason[k]) in okreason))
					print "BAD " p[1] " " p[2] ": reason \"" reason[k] \
						"\" is not of an op applied on it"
				if (actor[k] != user)
					print "BAD " p[1] " " p[2] ": actor " actor[k]
				if (expiry[k] != 0 && (expiry[k] <= now || expiry[k] > now + 7201))
					print "BAD " p[1] " " p[2] ": expiry " expiry[k] \
						" is not within the TTLs used"
				np++
			}
			printf "STATS %d targets x 2 lists, %d present; ops so far: %d acknowledged, %d cut by a kill, %d refused or not sent\n", \
				ntg, np, acked, unknown, refused
		}' "$W/targets" "$W/list" "$W"/ops.*) || bad+=$'\nBAD the checker (awk) failed'
	tap_diag "$label: $(grep '^STATS' <<<"$bad" | cut -c7-)"
	bad=$(grep -v '^STATS' <<<"$bad")
	if [ -z "$bad" ]; then
		tap_pass "$label: every target is as its last acknowledged op (or a later cut op) left it, every entry whole"
	else
		tap_fail "$label: every target is as its last acknowledged op (or a later cut op) left it, every entry whole" \
			"$(head -20 <<<"$bad")"
	fi
	# The state seen is where the next round starts, in each owner's log
	# (its client is paused: nothing is appended meanwhile).
	awk -F'\t' -v OFS='\t' -v W="$W" -v lfile="$W/list" '
		FILENAME == lfile { present[$1 SUBSEP $2] = 1; next }
		{
			for (i = 1; i <= 2; i++) {
				l = i == 1 ? "bans" : "allows"
				s = ((l SUBSEP $1) in present) ? "present" : "absent"
				print "obs", l, $1, s >>(W "/ops." $4)
			}
		}' "$W/list" "$W/targets"
	[ -z "$bad" ]
}

# check_store LABEL: the listing taken last ($W/list) equals the store.
check_store() {
	local label=$1
	if ! store_rows "$W/store"; then
		tap_fail "$label: the table equals the store" "sqlite3 failed"
		return 1
	fi
	if cmp -s "$W/list" "$W/store"; then
		tap_pass "$label: the table equals the store ($(wc -l <"$W/store") entries)"
	else
		tap_fail "$label: the table equals the store ($(wc -l <"$W/store") rows)" \
			"listing (<) and entries table (>):" \
			"$(diff "$W/list" "$W/store" | head -20)"
	fi
}

nops() { cat "$W"/ops.* 2>/dev/null | grep -vc '^obs'; }

# ================================================================ run
if ! ipw_start "$D"; then
	tap_fail "ipwalld starts with a new store"
	tap_done
	exit 1
fi
tap_pass "ipwalld starts with a new store"
for ((c = 1; c <= CLIENTS; c++)); do
	: >"$W/ops.$c"
	client "$c" &
	client_pids+=($!)
done

kills=0
t0=$SECONDS
for ((k = 1; k <= KILLS; k++)); do
	if [ $((SECONDS - t0)) -ge "$KILL_BUDGET" ]; then
		tap_diag "the kill loop used its ${KILL_BUDGET}s budget after $kills kills"
		break
	fi
	sleep "$(awk -v r="$RANDOM" 'BEGIN { printf "%.2f", 0.2 + (r % 81) / 100 }')"
	before=$(nops)
	ipw_stop "$D" KILL 2>/dev/null # (no "Killed" line from the shell)
	kills=$((kills + 1))
	if ! pause_clients; then
		tap_fail "kill $k: the clients pause"
		break
	fi
	if ! ipw_start "$D"; then
		tap_fail "kill $k: ipwalld restarts after kill -9"
		break
	fi
	ipw_http_unix "$D" GET /healthz
	if [ "$HTTP_STATUS $(ipw_jq .store)" != "200 ok" ]; then
		tap_fail "kill $k: /healthz after the restart: 200, store ok" "$HTTP_STATUS $HTTP_BODY"
	fi
	tap_diag "kill $k: $before ops made before it; $(grep -c 'entries loaded' "${IPWD_LOG[$D]}") starts so far"
	check_state "after kill $k"
	check_store "after kill $k"
	resume_clients
done
tap_ok "the daemon was killed at least $((KILLS < 10 ? KILLS : 10)) times ($kills)" \
	test "$kills" -ge $((KILLS < 10 ? KILLS : 10))

# One more kill, as if it had come in the middle of writing the audit
# lines of a big group: the log ends in the start of a line (half of its
# last one, written here while ipwalld is down). The restarted ipwalld must
# cut it, so that its next line is not glued to it.
sleep 0.3
ipw_stop "$D" KILL 2>/dev/null
kills=$((kills + 1))
if pause_clients; then
	last=$(tail -n 1 "$AUDIT")
	printf '%s' "${last:0:$((${#last} / 2))}" >>"$AUDIT"
	if ipw_start "$D"; then
		tap_ok "a kill in the middle of an audit write: the restart cuts the unfinished line (and says so)" \
			grep -q 'audit log .*: cut [0-9]* bytes' "${IPWD_LOG[$D]}"
		check_state "after the kill in an audit write"
		check_store "after the kill in an audit write"
	else
		tap_fail "a kill in the middle of an audit write: ipwalld restarts"
	fi
else
	tap_fail "a kill in the middle of an audit write: the clients pause"
fi
resume_clients

# A last round without a kill, then stop the clients: at least 0.5 s,
# and on a slow (loaded) machine until the clients have 300 acknowledged
# ops to judge, 30 s at most.
sleep 0.5
t0=$SECONDS
while [ $((SECONDS - t0)) -lt 30 ] &&
	[ "$(cat "$W"/ops.* | awk -F'\t' '$1 != "obs" && $5 ~ /^2/' | wc -l)" -lt 300 ]; do
	sleep 0.2
done
: >"$W/stop"
for p in "${client_pids[@]}"; do
	wait "$p"
done
client_pids=()
total=$(nops)
acked=$(cat "$W"/ops.* | awk -F'\t' '$1 != "obs" && $5 ~ /^2/' | wc -l)
tap_diag "$total ops, $acked acknowledged"
tap_ok "the clients had at least 300 ops acknowledged" test "$acked" -ge 300
# What the clients were told: success, covered_by_allow (a ban on a target
# they had allowed), or nothing (the daemon was killed); nothing else.
odd=$(cat "$W"/ops.* | awk -F'\t' '$1 != "obs" && $5 !~ /^(200|201|409|000)$/' | head -5)
tap_is "$odd" "" "every answer was 200, 201, 409 covered_by_allow, or none (killed)"
tap_diag "answers: $(cat "$W"/ops.* | awk -F'\t' '$1 != "obs" { n[$5 == "000" ? "none (curl " $6 ")" : $5]++ }
	END { for (s in n) printf "%s %d, ", s, n[s] }')"

check_state "at the end"
cp "$W/list" "$W/final-list"
ipw_stop "$D"
tap_is "${IPWD_STATUS[$D]}" 0 "ipwalld exits 0 on SIGTERM after the crashes"
if ipw_sanitizer_clean "$D"; then
	tap_pass "no sanitizer report in any run"
else
	tap_fail "no sanitizer report in any run" \
		"$(grep -E -A12 'ERROR: |runtime error' "${IPWD_LOG[$D]}" | head -30)"
fi
check_store "after the clean stop"

# ---------------------------------------------------------------- history
if jq -r '[.op, .action, .result, (.list // "-"), (.target // "-")] | @tsv' \
	"$AUDIT" >"$W/audit" 2>"$W/audit.err"; then
	tap_pass "every line of audit.log is JSON ($(wc -l <"$AUDIT") lines)"
else
	tap_fail "every line of audit.log is JSON" "$(head -5 "$W/audit.err")"
fi
tap_is "$(wc -l <"$W/audit")" "$(wc -l <"$AUDIT")" "one audit record per line"
sqlite3 -batch -separator $'\t' "$DB" \
	"SELECT hex(id), action, result, CASE list WHEN 0 THEN 'bans'
	 WHEN 1 THEN 'allows' ELSE '-' END, ifnull(target, '-') FROM ops
	 ORDER BY id" >"$W/history"
# The audit op ids as the store keeps them (16 bytes, as hex).
awk -F'\t' -v OFS='\t' '{ id = toupper($1); gsub(/-/, "", id); $1 = id; print }' \
	"$W/audit" >"$W/audit.hex"
missing=$(awk -F'\t' 'FILENAME == ARGV[1] { h[$1] = $0; next }
	!($1 in h) { print "not in the ops table: " $0; next }
	h[$1] != $0 { print "differs: log " $0 " | ops " h[$1] }' \
	"$W/history" "$W/audit.hex")
if [ -z "$missing" ]; then
	tap_pass "every audit line's op id is in the ops table, with the same action, result, list and target"
else
	tap_fail "every audit line's op id is in the ops table, with the same action, result, list and target" \
		"$(head -10 <<<"$missing")"
fi
tap_is "$(cut -f1 "$W/audit.hex" | sort -c 2>&1 && cut -f1 "$W/audit.hex" | sort -u | wc -l)" \
	"$(wc -l <"$W/audit.hex")" "the audit log is in op id order, each op once"
unlogged=$(cut -f1 "$W/audit.hex" | sort | comm -23 <(cut -f1 "$W/history" | sort) - | wc -l)
tap_diag "$(wc -l <"$W/history") ops in the history, $unlogged of them not in the audit log"
tap_is "$unlogged" 0 \
	"every op in the history is in the audit log (the lines a kill kept out are written from the history at the next start)"
tap_diag "$(grep -c '"recovered":true' "$AUDIT") lines were written from the history at a restart"

# seq_check NAME FILE: FILE (id action result list target, in op order)
# holds every acknowledged op of each target in the client's order, with
# its result, and nothing but ops that were acknowledged or cut by a kill.
seq_check() {
	awk -F'\t' -v tfile="$W/targets" -v name="$1" '
		FILENAME == tfile { next }
		FILENAME ~ /\/ops\.[0-9]+$/ {
			if ($1 == "obs") next
			c = FILENAME; sub(/.*\./, "", c)
			k = $3 SUBSEP $4
			if ($5 ~ /^2/) cls = "A"
			else if ($5 == "000" && $6 != 7) cls = "U"
			else next
			n = ++ns[k]
			sa[k, n] = $2; sc[k, n] = cls; sr[k, n] = $7; sid[k, n] = "c" c "-" $1
			next
		}
		{
			k = $4 SUBSEP $5
			m = ++nt[k]
			ta[k, m] = $2; tr[k, m] = $3
			if (!(k in ns)) ns[k] = 0
		}
		END {
			for (k in ns) {
				split(k, p, SUBSEP)
				# every acknowledged op, in order, with its result
				j = 1
				for (i = 1; i <= ns[k]; i++) {
					if (sc[k, i] != "A") continue
					while (j <= nt[k] && !(ta[k, j] == sa[k, i] && tr[k, j] == sr[k, i])) j++
					if (j > nt[k]) {
						print "BAD " p[1] " " p[2] ": acknowledged " sa[k, i] " (" sr[k, i] \
							", op " sid[k, i] ") is not in the " name
						break
					}
					j++
				}
				# nothing else
				i = 1
				for (j = 1; j <= nt[k]; j++) {
					while (i <= ns[k] && !(sa[k, i] == ta[k, j] && (sc[k, i] == "U" || sr[k, i] == tr[k, j]))) i++
					if (i > ns[k]) {
						print "BAD " p[1] " " p[2] ": the " name " has " ta[k, j] " (" tr[k, j] \
							") that no client asked for there, or out of order"
						break
					}
					i++
				}
			}
		}' "$W/targets" "$W"/ops.* "$2" || echo "BAD the checker (awk) failed"
}
bad=$(seq_check "audit log" "$W/audit")
if [ -z "$bad" ]; then
	tap_pass "the audit log holds every acknowledged op in order, and only ops that were asked for"
else
	tap_fail "the audit log holds every acknowledged op in order, and only ops that were asked for" "$(head -10 <<<"$bad")"
fi
bad=$(seq_check "ops table" "$W/history")
if [ -z "$bad" ]; then
	tap_pass "the ops table holds every acknowledged op in order, and only ops that were asked for"
else
	tap_fail "the ops table holds every acknowledged op in order, and only ops that were asked for" "$(head -10 <<<"$bad")"
fi

tap_done
