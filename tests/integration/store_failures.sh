#!/bin/bash
# SPDX-License-Identifier: MIT
#
# ipwalld's durable store when things go wrong (issue 5): each case ends in
# the documented behaviour, with nothing already stored lost.
#
#   a  missing database: the first start creates DATA/ipwall.db (and the
#      data directory); bans survive a restart; [store] path = none makes
#      no file
#   b  a corrupt file (bytes 4096..8191 of a real store overwritten), a
#      truncated one (half of it), a text file, a SQLite database of
#      another program: ipwalld exits non-zero at start with a message
#      naming the file and a recovery hint, and the file is byte-for-byte
#      unchanged; the real store put back starts with every entry
#   c  permissions (ipwalld run as nobody with setpriv when the test runs
#      as root, else as the test's user): a store directory it may not
#      write (no database yet, and with a database), a database file it
#      may only read, a -wal and -shm beside the database it may only read
#      (as sqlite3 run as root leaves them), a data directory it may not
#      write: a clear error at start, non-zero exit, nothing changed;
#      permissions fixed, everything is there
#   d  full disk: the data directory on a 2 MiB tmpfs mounted here, with a
#      filler file leaving a little room: bans until writes get 503
#      store_unavailable; meanwhile checks answer 200/403 as before,
#      /healthz says "store":"failing", unban, allow and batch fail without
#      changing anything, every acknowledged ban is listed; the filler
#      removed, writes succeed again and /healthz says "ok"; after kill -9
#      and a restart everything acknowledged is there and nothing refused
#      is; the table equals the store; audit log and history agree
#   e  [store] sync = full, batch, off: each starts and keeps an
#      acknowledged ban across kill -9; a bad value is refused
#   f  the audit log on a 64 KiB tmpfs that fills: writes go on (the store
#      is elsewhere), the log never keeps a partial line, and once space
#      returns its lines resume and still parse
#
# Run from the repository root: bash tests/integration/store_failures.sh
# (TAP). Needs root to mount the tmpfs file systems (else parts d and f
# are skipped, with the reason). Loopback and the unix socket only; every process is
# stopped by its PID, the tmpfs mounts are unmounted and the temporary
# directory removed at exit; a watchdog stops the script after TIME_LIMIT
# (default 58) seconds.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

TIME_LIMIT=${TIME_LIMIT:-58}

ipw_require curl jq sqlite3 sha256sum
IPWALLD_REAL=$(realpath "$IPWALLD")

mounts=()
bg_pid=

cleanup() {
	local m
	if [ -n "$bg_pid" ]; then
		kill -KILL "$bg_pid" 2>/dev/null
		wait "$bg_pid" 2>/dev/null
	fi
	ipw_watchdog_stop
	# The daemons first (they hold files on the mounts), then the mounts,
	# then the directory.
	for m in "${!IPWD_PID[@]}"; do
		[ -n "${IPWD_PID[$m]}" ] || continue
		kill -KILL "${IPWD_PID[$m]}" 2>/dev/null
		wait "${IPWD_PID[$m]}" 2>/dev/null
		IPWD_PID[$m]=
	done
	for m in "${mounts[@]}"; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null
	done
	ipw_cleanup
}
trap cleanup EXIT
trap 'echo "Bail out! interrupted (or over the ${TIME_LIMIT}s time limit)"; exit 1' INT TERM HUP

# The watchdog: past TIME_LIMIT seconds the script gets SIGTERM.
ipw_watchdog "$TIME_LIMIT"

JSON='Content-Type: application/json'

# ---------------------------------------------------------------- helpers

# ban NAME TARGET [TTL]: POST /v1/bans on NAME's unix socket.
ban() {
	ipw_http_unix "$1" POST /v1/bans -H "$JSON" \
		--data-binary "{\"target\":\"$2\",\"ttl\":\"${3:-1h}\",\"reason\":\"store test\"}"
}

# check_status NAME IP: the status of GET /v1/check?ip=IP.
check_status() {
	ipw_http_unix "$1" GET "/v1/check?ip=$2"
	echo "$HTTP_STATUS"
}

# targets NAME LIST: the targets of a list (bans or allow), sorted, one per
# line.
targets() {
	ipw_http_unix "$1" GET "/v1/$2?limit=10000"
	ipw_jq '.items[].target' | sort
}

# stop_clean NAME DESC: SIGTERM, exit 0, no sanitizer report.
stop_clean() {
	ipw_stop "$1"
	tap_is "${IPWD_STATUS[$1]}" 0 "$2: ipwalld exits 0 on SIGTERM"
	if ipw_sanitizer_clean "$1"; then
		tap_pass "$2: no sanitizer report"
	else
		tap_fail "$2: no sanitizer report" \
			"$(grep -E -A12 'ERROR: |runtime error' "${IPWD_LOG[$1]}" | head -30)"
	fi
}

# refused_start LOG DATA_DIR [ARGS...]: run ipwalld (as $IPWALLD) that is
# expected to refuse to start; waits up to 15 s for it to exit. Sets
# REFUSED_RC (its exit status, or "started" if it answered /healthz or
# "hung" if it neither exited nor answered; it is then killed).
refused_start() {
	local log=$1 dir=$2 port i
	shift 2
	port=$(ipw_free_port)
	"$IPWALLD" --listen "127.0.0.1:$port" --data-dir "$dir" "$@" >"$log" 2>&1 &
	bg_pid=$!
	REFUSED_RC=hung
	for i in $(seq 1 150); do
		if ! kill -0 "$bg_pid" 2>/dev/null; then
			wait "$bg_pid"
			REFUSED_RC=$?
			break
		fi
		if [ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' \
			"http://127.0.0.1:$port/healthz")" == 200 ]; then
			REFUSED_RC=started
			break
		fi
		sleep 0.1
	done
	if [ "$REFUSED_RC" == started ] || [ "$REFUSED_RC" == hung ]; then
		kill -KILL "$bg_pid" 2>/dev/null
		wait "$bg_pid" 2>/dev/null
	fi
	bg_pid=
}

# refusal DESC LOG FILE HINT-REGEX SUM: the checks of a refused start: a
# non-zero exit, a message naming FILE and matching HINT-REGEX, FILE's
# sha256 still SUM ("-": FILE must not exist).
refusal() {
	local desc=$1 log=$2 file=$3 hint=$4 sum=$5 msg
	if [[ $REFUSED_RC =~ ^[0-9]+$ ]] && [ "$REFUSED_RC" -ne 0 ]; then
		tap_pass "$desc: ipwalld refuses to start (exit $REFUSED_RC)"
	else
		tap_fail "$desc: ipwalld refuses to start" "exit: $REFUSED_RC" \
			"$(tail -5 "$log")"
	fi
	msg=$(grep -F -- "$file" "$log")
	if [ -n "$msg" ] && [[ $msg =~ $hint ]]; then
		tap_pass "$desc: the message names the file and says what to do"
	else
		tap_fail "$desc: the message names the file and says what to do" \
			"wanted $file and /$hint/ in:" "$(tail -5 "$log")"
	fi
	if [ "$sum" == - ]; then
		tap_not "$desc: no database file was made" test -e "$file"
	else
		tap_is "$(sha256sum <"$file" 2>&1)" "$sum" \
			"$desc: the file is byte-for-byte unchanged"
	fi
}

sum_of() { sha256sum <"$1"; }

RECOVER_HINT='damaged.*(recover|\.recover).*move the file away'
PERM_HINT="may read and write"

# ================================================================ a: missing
tap_not "a: the data directory does not exist yet" test -e "$IPW_TMP/a/data"
if ! ipw_start a; then
	tap_fail "a: ipwalld starts without a database"
	tap_done
	exit 1
fi
tap_pass "a: ipwalld starts without a database (and without its data directory)"
A_DB=${IPWD_DIR[a]}/ipwall.db
tap_ok "a: DATA/ipwall.db was created" test -s "$A_DB"
tap_is "$(sqlite3 "$A_DB" 'PRAGMA quick_check' 2>&1)" ok "a: the new database passes quick_check"
tap_is "$(sqlite3 "$A_DB" "SELECT group_concat(name, ' ') FROM (SELECT name FROM sqlite_schema WHERE type = 'table' ORDER BY name)" 2>&1)" \
	"entries meta ops origins" "a: it has the tables of schema version 2: entries, meta, ops, origins"
tap_is "$(sqlite3 "$A_DB" 'PRAGMA user_version' 2>&1)" 2 "a: ... and says it is version 2"
ipw_http_unix a GET /healthz
tap_is "$HTTP_STATUS $(ipw_jq .store)" "200 ok" "a: /healthz says store ok"
# A real store for the other cases: 300 bans (several pages), 2 allows.
ipw_http_unix a POST /v1/bans/batch -H "$JSON" --data-binary "$(
	jq -nc '{items: [range(0; 300) | {target: "10.20.\(. / 256 | floor).\(. % 256)", ttl: "1d", reason: "batch \(.)"}]}'
)"
tap_is "$HTTP_STATUS $(ipw_jq '"\(.added) \(.failed)"')" "200 300 0" "a: a batch of 300 bans is stored"
ipw_http_unix a POST /v1/allow -H "$JSON" --data-binary '{"target":"192.0.2.0/24"}'
ipw_http_unix a POST /v1/allow -H "$JSON" --data-binary '{"target":"2001:db8::/32"}'
tap_is "$HTTP_STATUS" 201 "a: allows are stored"
A_BANS=$(targets a bans)
A_ALLOWS=$(targets a allow)
stop_clean a "a"
tap_ok "a: after a clean stop the store file is all there is (no -wal left)" test ! -s "$A_DB-wal"
if ipw_start a; then
	tap_is "$(targets a bans | wc -l) $(targets a allow | wc -l)" "300 2" \
		"a: the restart loads 300 bans and 2 allows"
	ipw_stop a
else
	tap_fail "a: ipwalld restarts on its store"
fi
GOOD_DB=$IPW_TMP/good.db
cp "$A_DB" "$GOOD_DB"

mkdir -p "$IPW_TMP/none"
printf '[store]\npath = none\n' >"$IPW_TMP/none/conf"
if ipw_start none --config "$IPW_TMP/none/conf"; then
	ban none 198.51.100.1 >/dev/null
	tap_is "$HTTP_STATUS" 201 "a: [store] path = none: writes work (memory only)"
	tap_not "a: [store] path = none: no database file" test -e "${IPWD_DIR[none]}/ipwall.db"
	stop_clean none "a: [store] path = none"
else
	tap_fail "a: [store] path = none: ipwalld starts"
fi

# ================================================================ b: damaged
# damage KIND FILE: make FILE (a copy of the real store) damaged.
damage() {
	case $1 in
	corrupt)
		yes 'ipwall corrupt page ' | head -c 4096 |
			dd of="$2" bs=4096 seek=1 conv=notrunc status=none
		;;
	truncated) truncate -s $(($(stat -c %s "$2") / 2)) "$2" ;;
	text) printf 'this is not a database\nbut a text file\n' >"$2" ;;
	foreign)
		rm -f "$2"
		sqlite3 "$2" 'CREATE TABLE notes(id INTEGER PRIMARY KEY, body TEXT);
			INSERT INTO notes(body) VALUES (1), (2);'
		;;
	esac
}

for kind in corrupt truncated text foreign; do
	dir=$IPW_TMP/b-$kind/data
	mkdir -p "$dir"
	cp "$GOOD_DB" "$dir/ipwall.db"
	damage "$kind" "$dir/ipwall.db"
	sum=$(sum_of "$dir/ipwall.db")
	refused_start "$IPW_TMP/b-$kind/log" "$dir"
	case $kind in
	foreign) hint='schema|another program' ;;
	*) hint=$RECOVER_HINT ;;
	esac
	refusal "b: $kind database" "$IPW_TMP/b-$kind/log" "$dir/ipwall.db" "$hint" "$sum"
	tap_not "b: $kind database: no -wal file left beside it" test -s "$dir/ipwall.db-wal"
done

# The real store back in place of the corrupt one: all there.
cp "$GOOD_DB" "$IPW_TMP/b-corrupt/data/ipwall.db"
mkdir -p "$IPW_TMP/b2"
rm -rf "$IPW_TMP/b2/data"
mv "$IPW_TMP/b-corrupt/data" "$IPW_TMP/b2/data"
if ipw_start b2; then
	tap_is "$(targets b2 bans)" "$A_BANS" "b: the real store put back: every ban is there"
	tap_is "$(targets b2 allow)" "$A_ALLOWS" "b: the real store put back: every allow is there"
	stop_clean b2 "b: the real store put back"
else
	tap_fail "b: the real store put back: ipwalld starts"
fi

# ================================================================ c: permissions
# As root (who may write anything) ipwalld runs as nobody, through a
# wrapper that lib.sh starts as it starts ipwalld (setpriv execs, so the
# PID is the daemon's); as anyone else, as that user.
perm_skip=
RUNNER=$IPWALLD_REAL RUN_USER=$(id -un)
if [ "$(id -u)" -ne 0 ]; then
	: # the permissions below hold for this user too
elif ! command -v setpriv >/dev/null; then
	perm_skip="setpriv (util-linux) is not installed"
elif ! id nobody >/dev/null 2>&1 || ! getent group nogroup >/dev/null; then
	perm_skip="no user nobody or group nogroup"
elif ! setpriv --reuid=nobody --regid=nogroup --clear-groups -- test -x "$IPWALLD_REAL"; then
	perm_skip="nobody cannot run $IPWALLD_REAL (a directory on its path is closed)"
else
	RUNNER=$IPW_TMP/as-nobody RUN_USER=nobody
	chmod 0711 "$IPW_TMP"
	printf '#!/bin/sh\nexec setpriv --reuid=nobody --regid=nogroup --clear-groups -- "%s" "$@"\n' \
		"$IPWALLD_REAL" >"$RUNNER"
	chmod 0755 "$RUNNER"
fi
if [ -n "$perm_skip" ]; then
	for d in "store directory not writable, no database" \
		"store directory not writable, with a database" \
		"database file read-only" "-wal and -shm it may not write" \
		"data directory not writable"; do
		tap_skip "c: $d" "$perm_skip"
	done
else
	P=$IPW_TMP/perm
	mkdir -p "$P/data" "$P/store"
	[ "$RUN_USER" == nobody ] && chown nobody:nogroup "$P/data" "$P/store"
	chmod 0700 "$P/data"
	chmod 0500 "$P/store"
	printf '[store]\npath = %s/store/ipwall.db\n' "$P" >"$P/conf"
	chmod 0644 "$P/conf"
	PDB=$P/store/ipwall.db

	IPWALLD=$RUNNER refused_start "$P/log1" "$P/data" --config "$P/conf"
	refusal "c: store directory not writable (0500), no database" "$P/log1" "$PDB" "$PERM_HINT" -

	# Now a store made by that user, with entries (the daemon "perm" has
	# $P/data as its data directory).
	chmod 0700 "$P/store"
	if IPWALLD=$RUNNER ipw_start perm --config "$P/conf"; then
		tap_is "$(awk '/^Uid:/ { print $2 }' "/proc/${IPWD_PID[perm]}/status")" \
			"$(id -u "$RUN_USER")" "c: ipwalld runs as $RUN_USER"
		ban perm 203.0.113.10 0 >/dev/null
		ban perm 203.0.113.11 >/dev/null
		tap_is "$HTTP_STATUS" 201 "c: ipwalld as $RUN_USER stores bans"
		P_BANS=$(targets perm bans)
		ipw_stop perm
	else
		tap_fail "c: ipwalld runs as $RUN_USER"
	fi

	chmod 0500 "$P/store"
	sum=$(sum_of "$PDB")
	IPWALLD=$RUNNER refused_start "$P/log2" "$P/data" --config "$P/conf"
	refusal "c: store directory not writable (0500), with a database" "$P/log2" "$PDB" "$PERM_HINT" "$sum"

	chmod 0700 "$P/store"
	chmod 0400 "$PDB"
	IPWALLD=$RUNNER refused_start "$P/log3" "$P/data" --config "$P/conf"
	refusal "c: database file read-only (0400)" "$P/log3" "$PDB" "$PERM_HINT" "$sum"
	tap_not "c: database file read-only (0400): no -wal or -shm file made beside it" \
		test -e "$PDB-shm" -o -e "$PDB-wal"

	# The data directory itself: 0555.
	mkdir -p "$P/rootdir"
	chmod 0555 "$P/rootdir"
	IPWALLD=$RUNNER refused_start "$P/log4" "$P/rootdir"
	if [[ $REFUSED_RC =~ ^[0-9]+$ ]] && [ "$REFUSED_RC" -ne 0 ] &&
		grep -q "$P/rootdir/.*[Pp]ermission denied" "$P/log4"; then
		tap_pass "c: data directory not writable: refused, naming the file and the cause"
	else
		tap_fail "c: data directory not writable: refused, naming the file and the cause" \
			"exit $REFUSED_RC" "$(tail -3 "$P/log4")"
	fi
	tap_not "c: data directory not writable: no database file was made" \
		test -e "$P/rootdir/ipwall.db"

	# The database writable, but a -wal and -shm beside it that ipwalld
	# may only read (as sqlite3 run as root while ipwalld was down leaves
	# them): SQLite would read through them and refuse every write.
	chmod 0600 "$PDB"
	: >"$PDB-wal"
	head -c 32768 /dev/zero >"$PDB-shm"
	chmod 0444 "$PDB-wal" "$PDB-shm"
	IPWALLD=$RUNNER refused_start "$P/log5" "$P/data" --config "$P/conf"
	refusal "c: -wal and -shm it may not write beside the database" "$P/log5" "$PDB" "$PERM_HINT" "$sum"
	rm -f "$PDB-wal" "$PDB-shm"

	# Permissions fixed: everything is there.
	chmod 0600 "$PDB"
	if IPWALLD=$RUNNER ipw_start perm --config "$P/conf"; then
		tap_is "$(targets perm bans)" "${P_BANS:-?}" "c: permissions fixed: every ban is there"
		ban perm 203.0.113.12 >/dev/null
		tap_is "$HTTP_STATUS" 201 "c: permissions fixed: writes work"
		stop_clean perm "c: permissions fixed"
	else
		tap_fail "c: permissions fixed: ipwalld starts"
	fi
fi

# ================================================================ d: full disk
FS=$IPW_TMP/fs/data
mkdir -p "$FS"
full_skip=
if [ "$(id -u)" -ne 0 ]; then
	full_skip="not root: cannot mount a tmpfs"
elif ! mount -t tmpfs -o size=2m,mode=0755 tmpfs "$FS" 2>"$IPW_TMP/mount.err"; then
	full_skip="mount -t tmpfs failed: $(cat "$IPW_TMP/mount.err")"
else
	mounts+=("$FS")
fi
if [ -n "$full_skip" ]; then
	tap_skip "d: full disk" "$full_skip"
elif ! ipw_start fs; then
	tap_fail "d: ipwalld starts on a 2 MiB tmpfs"
else
	tap_pass "d: ipwalld starts on a 2 MiB tmpfs"
	acked=() refused=()
	for i in $(seq 1 10); do
		ban fs "10.30.0.$i" >/dev/null
		[ "$HTTP_STATUS" == 201 ] && acked+=("10.30.0.$i")
	done
	tap_is "${#acked[@]}" 10 "d: 10 bans stored while there is room"
	avail=$(df -k --output=avail "$FS" | tail -1 | tr -d ' ')
	dd if=/dev/zero of="$FS/filler" bs=1k count=$((avail - 160)) status=none 2>/dev/null
	tap_diag "d: filler of $((avail - 160)) KiB; $(df -k --output=avail "$FS" | tail -1 | tr -d ' ') KiB left"
	# Ban until three writes in a row are refused.
	streak=0 other=
	for i in $(seq 1 400); do
		t=10.31.$((i / 256)).$((i % 256))
		ban fs "$t" >/dev/null
		case "$HTTP_STATUS $(ipw_jq .error.code)" in
		"201 null")
			acked+=("$t")
			streak=0
			;;
		"503 store_unavailable")
			refused+=("$t")
			streak=$((streak + 1))
			;;
		*)
			other+="$t: $HTTP_STATUS $HTTP_BODY; "
			break
			;;
		esac
		[ "$streak" -ge 3 ] && break
	done
	tap_diag "d: ${#acked[@]} bans acknowledged, ${#refused[@]} refused"
	tap_is "$other" "" "d: every ban is 201 or 503 store_unavailable"
	tap_ok "d: the disk fills: writes get 503 store_unavailable" test "$streak" -ge 3
	# Whatever room is left goes too, so that no smaller write fits.
	cat /dev/zero >"$FS/filler2" 2>/dev/null
	last_refused=${refused[${#refused[@]}-1]:-10.31.255.255}

	ipw_http_unix fs GET /healthz
	tap_is "$HTTP_STATUS $(ipw_jq .status) $(ipw_jq .store)" "200 ok failing" \
		"d: disk full: /healthz 200, store failing"
	# The purger runs every second ([table] purge_interval 1s) and has
	# nothing to purge: that is no commit, and says nothing of the store.
	sleep 2.2
	ipw_http_unix fs GET /healthz
	tap_is "$HTTP_STATUS $(ipw_jq .store)" "200 failing" \
		"d: disk full: /healthz still says store failing two purges later"
	tap_is "$(check_status fs 10.30.0.1) $(check_status fs "${acked[${#acked[@]}-1]}")" "403 403" \
		"d: disk full: checks of acknowledged bans answer 403"
	tap_is "$(check_status fs "$last_refused") $(check_status fs 10.99.0.1)" "200 200" \
		"d: disk full: checks of a refused ban and of a free address answer 200"
	ipw_http_unix fs DELETE "/v1/bans?target=10.30.0.1"
	tap_is "$HTTP_STATUS $(ipw_jq .error.code)" "503 store_unavailable" \
		"d: disk full: an unban gets 503 store_unavailable"
	tap_is "$(check_status fs 10.30.0.1)" 403 "d: disk full: the refused unban left the ban in force"
	ipw_http_unix fs POST /v1/allow -H "$JSON" --data-binary '{"target":"10.30.0.2"}'
	tap_is "$HTTP_STATUS $(ipw_jq .error.code) $(check_status fs 10.30.0.2)" \
		"503 store_unavailable 403" "d: disk full: an allow gets 503 and changes nothing"
	ipw_http_unix fs POST /v1/bans/batch -H "$JSON" \
		--data-binary '{"items":[{"target":"10.32.0.1"},{"target":"10.32.0.2"}]}'
	tap_is "$HTTP_STATUS $(ipw_jq .error.code)" \
		"503 store_unavailable" "d: disk full: a batch gets 503 store_unavailable, like a single write"
	tap_is "$(check_status fs 10.32.0.1)" 200 "d: disk full: the failed batch stored nothing"
	listed=$(targets fs bans)
	want=$(printf '%s\n' "${acked[@]}" | sort)
	tap_is "$listed" "$want" "d: disk full: the listing is exactly the acknowledged bans"

	rm -f "$FS/filler" "$FS/filler2"
	ban fs 10.33.0.1 >/dev/null
	tap_is "$HTTP_STATUS" 201 "d: space back: a new ban gets 201"
	acked+=(10.33.0.1)
	ban fs "$last_refused" >/dev/null
	tap_is "$HTTP_STATUS" 201 "d: space back: the last refused ban, asked again, gets 201"
	acked+=("$last_refused")
	ipw_http_unix fs GET /healthz
	tap_is "$HTTP_STATUS $(ipw_jq .store)" "200 ok" "d: space back: /healthz says store ok"

	ipw_stop fs KILL 2>/dev/null
	if ipw_start fs; then
		want=$(printf '%s\n' "${acked[@]}" | sort)
		tap_is "$(targets fs bans)" "$want" \
			"d: after kill -9 and a restart: every acknowledged ban, and no refused one"
		tap_is "$(targets fs allow)" "" "d: after the restart: no allow (it was refused)"
		stop_clean fs "d"
		tap_is "$(sqlite3 "$FS/ipwall.db" 'PRAGMA quick_check' 2>&1)" ok \
			"d: the store passes quick_check after the full disk"
		tap_is "$(sqlite3 "$FS/ipwall.db" "SELECT (SELECT count(*) FROM entries WHERE list = 0) || ' ' || (SELECT count(*) FROM entries WHERE list = 1)")" \
			"${#acked[@]} 0" "d: the store holds exactly the acknowledged bans"
		if jq -r '.op' "$FS/audit.log" >"$IPW_TMP/fs.ops" 2>"$IPW_TMP/fs.err"; then
			tap_pass "d: every line of audit.log parses"
		else
			tap_fail "d: every line of audit.log parses" "$(head -3 "$IPW_TMP/fs.err")"
		fi
		miss=$(tr -d '-' <"$IPW_TMP/fs.ops" | tr a-f A-F | sort |
			comm -23 - <(sqlite3 "$FS/ipwall.db" 'SELECT hex(id) FROM ops' | sort) | head -3)
		tap_is "$miss" "" "d: every op of audit.log is in the ops table"
		tap_is "$(sqlite3 "$FS/ipwall.db" "SELECT count(*) FROM ops WHERE action = 'ban'")" \
			"${#acked[@]}" "d: the history has one ban op per acknowledged ban, none for the refused"
	else
		tap_fail "d: after kill -9 and a restart: ipwalld starts"
	fi
fi

# ================================================================ e: sync
for mode in full batch off; do
	n=sync-$mode
	mkdir -p "$IPW_TMP/$n"
	printf '[store]\nsync = %s\n' "$mode" >"$IPW_TMP/$n/conf"
	if ! ipw_start "$n" --config "$IPW_TMP/$n/conf"; then
		tap_fail "e: sync = $mode: ipwalld starts"
		continue
	fi
	ban "$n" 198.51.100.7 >/dev/null
	st=$HTTP_STATUS
	ipw_http_unix "$n" DELETE "/v1/bans?target=198.51.100.7"
	st+=" $HTTP_STATUS"
	ban "$n" 198.51.100.8 0 >/dev/null
	tap_is "$st $HTTP_STATUS" "201 200 201" "e: sync = $mode: a ban, its unban and another ban acknowledged"
	ipw_stop "$n" KILL 2>/dev/null
	if ipw_start "$n" --config "$IPW_TMP/$n/conf"; then
		tap_is "$(targets "$n" bans | tr '\n' ' ')" "198.51.100.8 " \
			"e: sync = $mode: after kill -9 the acknowledged ban is there, the unbanned one is not"
		tap_is "$(check_status "$n" 198.51.100.8)" 403 "e: sync = $mode: and it blocks"
		stop_clean "$n" "e: sync = $mode"
	else
		tap_fail "e: sync = $mode: ipwalld restarts after kill -9"
	fi
done
mkdir -p "$IPW_TMP/sync-bad"
printf '[store]\nsync = sometimes\n' >"$IPW_TMP/sync-bad/conf"
refused_start "$IPW_TMP/sync-bad/log" "$IPW_TMP/sync-bad/data" --config "$IPW_TMP/sync-bad/conf"
if [ "$REFUSED_RC" == 1 ] && grep -q 'sync.*full, batch or off' "$IPW_TMP/sync-bad/log"; then
	tap_pass "e: sync = sometimes: refused as a configuration error (exit 1)"
else
	tap_fail "e: sync = sometimes: refused as a configuration error (exit 1)" \
		"exit $REFUSED_RC" "$(tail -3 "$IPW_TMP/sync-bad/log")"
fi

# ================================================================ f: audit log fills
AL=$IPW_TMP/al/fs
mkdir -p "$AL"
al_skip=
if [ "$(id -u)" -ne 0 ]; then
	al_skip="not root: cannot mount a tmpfs"
elif ! mount -t tmpfs -o size=64k,mode=0755 tmpfs "$AL" 2>"$IPW_TMP/mount.err"; then
	al_skip="mount -t tmpfs failed: $(cat "$IPW_TMP/mount.err")"
else
	mounts+=("$AL")
fi
if [ -n "$al_skip" ]; then
	tap_skip "f: the audit log's file system fills" "$al_skip"
else
	printf '[audit]\nlog = %s/audit.log\n' "$AL" >"$IPW_TMP/al/conf"
	# Leave room for about 40 lines (~450 bytes each).
	dd if=/dev/zero of="$AL/filler" bs=1k count=44 status=none 2>/dev/null
	if ipw_start al --config "$IPW_TMP/al/conf"; then
		sts=
		for i in $(seq 1 80); do
			ban al "10.40.0.$i" >/dev/null
			sts+=" $HTTP_STATUS"
		done
		tap_is "$(tr ' ' '\n' <<<"$sts" | sort -u | tr '\n' ' ')" " 201 " \
			"f: with the audit log's disk full, writes still succeed (the store is elsewhere)"
		rm -f "$AL/filler"
		for i in $(seq 81 85); do
			ban al "10.40.0.$i" >/dev/null
		done
		tap_is "$HTTP_STATUS" 201 "f: space back: writes succeed"
		if jq -r '.target' "$AL/audit.log" >"$IPW_TMP/al.targets" 2>"$IPW_TMP/al.err"; then
			tap_pass "f: every line of the audit log parses (no partial line was kept)"
		else
			tap_fail "f: every line of the audit log parses (no partial line was kept)" \
				"$(head -3 "$IPW_TMP/al.err")" "$(grep -c '' "$AL/audit.log") lines"
		fi
		tap_is "$(tail -1 "$IPW_TMP/al.targets")" 10.40.0.85 \
			"f: space back: the audit log has the lines of the new ops"
		tap_like "$(grep -c 'audit log' "${IPWD_LOG[al]}")" '^[1-3]$' \
			"f: the failing audit log is reported, not once per op"
		stop_clean al "f"
	else
		tap_fail "f: ipwalld starts with the audit log on a small tmpfs"
	fi
fi

tap_done
