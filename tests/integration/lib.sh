# SPDX-License-Identifier: MIT
# shellcheck shell=bash
#
# tests/integration/lib.sh: a small library for black-box integration
# tests of ipwalld, sourced by the scripts in tests/integration/ (run from
# the repository root: `bash tests/integration/NAME.sh`).
#
#   source "$(dirname "$0")/lib.sh"
#   ipw_start main                      # a daemon on a free port, own data dir
#   ipw_http main GET /healthz          # -> $HTTP_STATUS, $HTTP_BODY, $HTTP_HEADERS
#   tap_is "$HTTP_STATUS" 200 "healthz answers 200"
#   tap_done                            # prints 1..N; exit status 1 if any failed
#
# TAP (what scripts/testrun counts): every check prints one line "ok N -
# DESC" or "not ok N - DESC"; diagnostics are "# ..." lines. tap_done prints
# the plan "1..N" at the end and returns non-zero if anything failed, so a
# script ends with `tap_done; exit $?` (or just `tap_done` as its last
# command).
#
#   tap_ok DESC CMD [ARGS...]     ok if CMD exits 0 (CMD's output is discarded)
#   tap_not DESC CMD [ARGS...]    ok if CMD exits non-zero
#   tap_is GOT WANT DESC          ok if the strings are equal
#   tap_like GOT REGEX DESC       ok if GOT matches the extended REGEX (bash =~)
#   tap_pass DESC / tap_fail DESC [WHY...]
#   tap_diag MSG...               "# MSG" lines (multi-line MSG is fine)
#   tap_skip DESC WHY             "ok N - DESC # SKIP WHY"
#   tap_done                      the plan, and the exit status
#
# Daemons. Each instance has a NAME (any word) and lives in $IPW_TMP/NAME:
# data/ is its --data-dir (kept across ipw_stop/ipw_start, so a restart sees
# the same tokens file), log is its stderr+stdout. Facts about it are in
# associative arrays indexed by NAME:
#
#   IPWD_PID  IPWD_PORT  IPWD_URL (http://127.0.0.1:PORT)  IPWD_DIR (data dir)
#   IPWD_SOCK (unix socket)  IPWD_LOG  IPWD_TOKEN (secret of the first token
#   in DATA/tokens, read at start)  IPWD_STATUS (exit status after ipw_stop)
#
#   ipw_start NAME [ARGS...]   start ipwalld with --listen 127.0.0.1:PORT
#                              --data-dir DIR and ARGS (e.g. --config FILE),
#                              PORT random in 20000-31999, retried when the
#                              bind fails; waits for GET /healthz = 200.
#                              Returns non-zero (and prints the log as
#                              diagnostics) if the daemon does not come up.
#                              Call it in the main shell, never in $(...):
#                              the daemon must be a child of the script.
#   ipw_stop NAME [SIGNAL]     send SIGNAL (default TERM) to that PID only,
#                              wait up to IPW_STOP_WAIT (15) s, then KILL;
#                              sets IPWD_STATUS[NAME] and returns it.
#   ipw_sanitizer_clean NAME   0 if the log has no ASan/UBSan/LSan report.
#   ipw_running NAME           0 while the daemon process is alive.
#   ipw_wait_healthy NAME      wait (bounded) for /healthz = 200.
#   ipw_free_port              print a random port in 20000-31999 that
#                              nothing listens on (a hint: ipw_start still
#                              retries if the daemon cannot bind it).
#
# HTTP (curl; only 127.0.0.1 and the daemons' unix sockets):
#
#   ipw_http NAME METHOD PATH [CURL ARGS...]       over TCP
#   ipw_http_unix NAME METHOD PATH [CURL ARGS...]  over the unix socket
#       set HTTP_STATUS (000 if there was no answer), HTTP_BODY, and
#       HTTP_HEADERS (a file with the response headers); no Authorization
#       or Content-Type is added: pass them in CURL ARGS, or use
#   ipw_json NAME METHOD PATH [BODY [CURL ARGS...]]
#       ipw_http with "Authorization: Bearer ${IPWD_TOKEN[NAME]}" and, when
#       BODY is given, BODY sent as-is with Content-Type: application/json
#       (curl --data-binary: a BODY "@FILE" sends the bytes of FILE).
#   ipw_header NAME           the value of response header NAME of the
#                             last request (case-insensitive), or "".
#   ipw_jq FILTER             jq -r FILTER on $HTTP_BODY ("" if not JSON).
#
# Everything the library creates is under IPW_TMP (mktemp -d), removed at
# exit by ipw_cleanup, which the library installs as the EXIT trap; it
# stops only the daemons it started, each by its own PID. A script that
# needs its own EXIT trap calls ipw_cleanup from it.
#
# TLS: with IPW_CACERT set (a CA file), ipw_start's URL is https:// and
# every curl of the library verifies with that CA.
#
# Environment: IPWALLD (the daemon binary, default
# build/asan/src/daemon/ipwalld), IPW_START_WAIT (s, default 20),
# IPW_STOP_WAIT (s, default 15), IPW_CURL_MAX_TIME (s per request, default
# 10).

IPWALLD=${IPWALLD:-build/asan/src/daemon/ipwalld}
IPW_START_WAIT=${IPW_START_WAIT:-20}
IPW_STOP_WAIT=${IPW_STOP_WAIT:-15}
IPW_CURL_MAX_TIME=${IPW_CURL_MAX_TIME:-10}

# Sanitizers: report and stop on the first error, find leaks at exit.
export ASAN_OPTIONS=${ASAN_OPTIONS:-abort_on_error=0:detect_leaks=1:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# shellcheck disable=SC2034 # for the scripts that source this file
declare -gA IPWD_PID=() IPWD_PORT=() IPWD_URL=() IPWD_DIR=() IPWD_SOCK=()
declare -gA IPWD_LOG=() IPWD_TOKEN=() IPWD_STATUS=()
HTTP_STATUS='' HTTP_BODY='' HTTP_HEADERS=

IPW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/ipwall-it.XXXXXX") || {
	echo "Bail out! mktemp -d failed"
	exit 1
}
HTTP_HEADERS=$IPW_TMP/.headers

# ---------------------------------------------------------------- TAP

TAP_N=0
TAP_FAILED=0

tap_diag() {
	local line
	while IFS= read -r line; do
		printf '# %s\n' "$line"
	done <<<"$*"
}

tap_pass() {
	TAP_N=$((TAP_N + 1))
	printf 'ok %d - %s\n' "$TAP_N" "$1"
}

tap_fail() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	printf 'not ok %d - %s\n' "$TAP_N" "$1"
	shift
	[ $# -gt 0 ] && tap_diag "$@"
	return 0
}

tap_skip() {
	TAP_N=$((TAP_N + 1))
	printf 'ok %d - %s # SKIP %s\n' "$TAP_N" "$1" "${2:-}"
}

tap_ok() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then
		tap_pass "$desc"
	else
		tap_fail "$desc" "command failed: $*"
	fi
}

tap_not() {
	local desc=$1
	shift
	if "$@" >/dev/null 2>&1; then
		tap_fail "$desc" "command succeeded: $*"
	else
		tap_pass "$desc"
	fi
}

tap_is() {
	if [ "$1" == "$2" ]; then
		tap_pass "$3"
	else
		tap_fail "$3" "got:      ${1:0:600}" "expected: ${2:0:600}"
	fi
}

tap_like() {
	if [[ $1 =~ $2 ]]; then
		tap_pass "$3"
	else
		tap_fail "$3" "got:      ${1:0:600}" "expected to match: $2"
	fi
}

tap_done() {
	printf '1..%d\n' "$TAP_N"
	if [ "$TAP_FAILED" -gt 0 ]; then
		tap_diag "$TAP_FAILED of $TAP_N failed"
		return 1
	fi
	return 0
}

# ---------------------------------------------------------------- ports

# Is anything listening on 127.0.0.1:$1 (or on any address, that port)?
ipw_port_busy() {
	if command -v ss >/dev/null 2>&1; then
		[ -n "$(ss -Hltn "sport = :$1" 2>/dev/null)" ]
	else
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
	fi
}

ipw_free_port() {
	local p
	for _ in $(seq 1 50); do
		# below the kernel's ephemeral range (32768-60999 by default):
		# a port some client connection uses there cannot be bound
		p=$((20000 + RANDOM % 12000))
		if ! ipw_port_busy "$p"; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

# ---------------------------------------------------------------- daemons

ipw_running() {
	local pid=${IPWD_PID[$1]:-}
	[ -n "$pid" ] && kill -0 "$pid" 2>/dev/null
}

ipw_wait_healthy() {
	local name=$1
	for _ in $(seq 1 $((IPW_START_WAIT * 10))); do
		if ! ipw_running "$name"; then
			return 1
		fi
		if [ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' \
			${IPW_CACERT:+--cacert "$IPW_CACERT"} \
			"${IPWD_URL[$name]}/healthz")" == 200 ]; then
			return 0
		fi
		sleep 0.1
	done
	return 1
}

ipw_start() {
	local name=$1 try port dir pid
	shift
	dir=$IPW_TMP/$name/data
	mkdir -p "$IPW_TMP/$name"
	# shellcheck disable=SC2034 # read by the scripts
	IPWD_DIR[$name]=$dir
	IPWD_LOG[$name]=$IPW_TMP/$name/log
	IPWD_SOCK[$name]=$dir/ipwalld.sock
	IPWD_STATUS[$name]=
	for try in 1 2 3 4 5; do
		port=$(ipw_free_port) || break
		# shellcheck disable=SC2034 # read by the scripts
		IPWD_PORT[$name]=$port
		IPWD_URL[$name]=http://127.0.0.1:$port
		[ -n "${IPW_CACERT:-}" ] && IPWD_URL[$name]=https://127.0.0.1:$port
		echo "=== ipw_start $name (try $try): $IPWALLD" \
			"--listen 127.0.0.1:$port --data-dir $dir $*" \
			>>"${IPWD_LOG[$name]}"
		"$IPWALLD" --listen "127.0.0.1:$port" --data-dir "$dir" "$@" \
			>>"${IPWD_LOG[$name]}" 2>&1 &
		pid=$!
		IPWD_PID[$name]=$pid
		if ipw_wait_healthy "$name"; then
			IPWD_TOKEN[$name]=$(sed -n '/^[[:space:]]*[^#[:space:]]/{s/^[^:]*:\([^:]*\).*/\1/p;q}' \
				"$dir/tokens" 2>/dev/null)
			return 0
		fi
		if ipw_running "$name"; then
			kill -KILL "$pid" 2>/dev/null
			wait "$pid" 2>/dev/null
			IPWD_PID[$name]=
			break
		fi
		wait "$pid" 2>/dev/null
		IPWD_STATUS[$name]=$?
		IPWD_PID[$name]=
		# Only a port someone else took is worth another try.
		tail -n 3 "${IPWD_LOG[$name]}" | grep -q 'cannot listen on 127' ||
			break
	done
	tap_diag "ipw_start $name failed; its log:" \
		"$(tail -n 30 "${IPWD_LOG[$name]}")"
	return 1
}

ipw_stop() {
	local name=$1 sig=${2:-TERM} pid=${IPWD_PID[$1]:-} st
	if [ -z "$pid" ]; then
		return "${IPWD_STATUS[$name]:-1}"
	fi
	kill "-$sig" "$pid" 2>/dev/null
	for _ in $(seq 1 $((IPW_STOP_WAIT * 10))); do
		kill -0 "$pid" 2>/dev/null || break
		sleep 0.1
	done
	if kill -0 "$pid" 2>/dev/null; then
		tap_diag "ipw_stop $name: still running after ${IPW_STOP_WAIT}s; SIGKILL"
		kill -KILL "$pid" 2>/dev/null
	fi
	wait "$pid" 2>/dev/null
	st=$?
	IPWD_STATUS[$name]=$st
	IPWD_PID[$name]=
	return "$st"
}

ipw_sanitizer_clean() {
	! grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|SUMMARY: (Address|Undefined)' \
		"${IPWD_LOG[$1]}"
}

# ipw_require TOOL...: bail out (TAP "Bail out!") unless every TOOL is on
# PATH and $IPWALLD is built.
ipw_require() {
	local tool
	for tool in "$@"; do
		command -v "$tool" >/dev/null || {
			echo "Bail out! $tool is not installed"
			exit 1
		}
	done
	[ -x "$IPWALLD" ] || {
		echo "Bail out! $IPWALLD is not built (ninja -C build/asan)"
		exit 1
	}
}

# ipw_watchdog SECONDS: past SECONDS the script gets SIGTERM (its TERM
# trap bails out and cleans up). ipw_watchdog_stop ends the watchdog (call
# it from the script's cleanup).
ipw_watchdog() {
	(
		trap 'kill -TERM "$sp" 2>/dev/null; exit 0' TERM
		sleep "$1" &
		sp=$!
		wait "$sp" && kill -TERM $$
	) >/dev/null 2>&1 &
	IPW_WATCHDOG=$!
}

ipw_watchdog_stop() {
	if [ -n "${IPW_WATCHDOG:-}" ]; then
		kill -TERM "$IPW_WATCHDOG" 2>/dev/null
		wait "$IPW_WATCHDOG" 2>/dev/null
	fi
	IPW_WATCHDOG=
}

ipw_cleanup() {
	local name
	for name in "${!IPWD_PID[@]}"; do
		[ -n "${IPWD_PID[$name]}" ] || continue
		kill -KILL "${IPWD_PID[$name]}" 2>/dev/null
		wait "${IPWD_PID[$name]}" 2>/dev/null
	done
	[ -n "${IPW_TMP:-}" ] && rm -rf "$IPW_TMP"
}
trap ipw_cleanup EXIT

# ---------------------------------------------------------------- HTTP

# _ipw_curl BASE_URL PATH METHOD [CURL ARGS...]: one request, results in
# the HTTP_* globals.
_ipw_curl() {
	local base=$1 path=$2 method=$3
	shift 3
	: >"$HTTP_HEADERS"
	HTTP_STATUS=$(curl -s -g -m "$IPW_CURL_MAX_TIME" -X "$method" \
		${IPW_CACERT:+--cacert "$IPW_CACERT"} \
		-o "$IPW_TMP/.body" -D "$HTTP_HEADERS" -w '%{http_code}' \
		"$@" "$base$path")
	HTTP_STATUS=${HTTP_STATUS:-000}
	HTTP_BODY=$(cat "$IPW_TMP/.body" 2>/dev/null)
	rm -f "$IPW_TMP/.body"
}

ipw_http() {
	local name=$1 method=$2 path=$3
	shift 3
	_ipw_curl "${IPWD_URL[$name]}" "$path" "$method" "$@"
}

ipw_http_unix() {
	local name=$1 method=$2 path=$3
	shift 3
	_ipw_curl "http://localhost" "$path" "$method" \
		--unix-socket "${IPWD_SOCK[$name]}" "$@"
}

ipw_json() {
	local name=$1 method=$2 path=$3
	shift 3
	if [ $# -gt 0 ]; then
		local body=$1
		shift
		ipw_http "$name" "$method" "$path" \
			-H "Authorization: Bearer ${IPWD_TOKEN[$name]}" \
			-H 'Content-Type: application/json' \
			--data-binary "$body" "$@"
	else
		ipw_http "$name" "$method" "$path" \
			-H "Authorization: Bearer ${IPWD_TOKEN[$name]}"
	fi
}

ipw_header() {
	local want=${1,,} line k v
	while IFS= read -r line; do
		line=${line%$'\r'}
		k=${line%%:*}
		[ "${k,,}" == "$want" ] || continue
		v=${line#*:}
		v=${v#"${v%%[![:space:]]*}"}
		printf '%s\n' "$v"
		return 0
	done <"$HTTP_HEADERS"
	return 0
}

ipw_jq() {
	jq -r "$1" <<<"$HTTP_BODY" 2>/dev/null
}
