#!/bin/bash
# SPDX-License-Identifier: MIT
#
# `make install` and libipwall-client as a service would use them, black
# box: the real install target into a DESTDIR, then a program built
# against the installed header and library through pkg-config.
#
#   a  make install DESTDIR=$tmp PREFIX=/usr puts ipwalld, ipwall, the
#      library (with its soname links), the header, ipwall-client.pc, the
#      systemd unit (ExecStart on /usr/sbin/ipwalld) and the example
#      configuration, enforcement drop-in and docs where they belong; the
#      installed ipwalld runs
#   b  the library: soname libipwall-client.so.0, needs libc alone, and
#      nm -D shows only ipw_client_* (and its version node)
#   c  tests/integration/client/report.c compiles with nothing but
#      `pkg-config --cflags --libs ipwall-client` (PKG_CONFIG_SYSROOT_DIR
#      for the DESTDIR) and -Wall -Wextra -Werror, and runs on the
#      installed library (LD_LIBRARY_PATH into the DESTDIR; ldd says so)
#   d  no daemon: 10000 reports to a socket that does not exist, and 10000
#      more to the path IPWALL_EVENTS_SOCKET names, return promptly (a
#      timeout of 10 s is "did not hang", not a benchmark); exit 0 and the
#      drop counter is 10000
#   e  a receiver: a plain datagram sink in python3 (a stand-in that only
#      records bytes, not ipwalld) bound at the socket gets all 2000
#      events, one per datagram, byte for byte as docs/events.md says
#
# Run from the repository root: bash tests/integration/client_install.sh
# (TAP). make install reuses build/release (configuring it for /usr if
# needed: a first release build takes a minute or two); everything else
# is in a temporary directory, removed at exit with the sink, stopped by
# its PID. A watchdog stops the script after TIME_LIMIT (default 300) s.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

for tool in make meson ninja cc pkg-config nm readelf ldd python3 timeout; do
	command -v "$tool" >/dev/null || {
		echo "Bail out! $tool is not installed"
		exit 1
	}
done

SINK_PID=
cleanup() {
	ipw_watchdog_stop
	if [ -n "$SINK_PID" ]; then
		kill -TERM "$SINK_PID" 2>/dev/null
		wait "$SINK_PID" 2>/dev/null
	fi
	ipw_cleanup
}
trap cleanup EXIT
trap 'echo "Bail out! watchdog: over ${TIME_LIMIT}s"; exit 1' TERM
TIME_LIMIT=${TIME_LIMIT:-300}
ipw_watchdog "$TIME_LIMIT"

dest=$IPW_TMP/dest
work=$IPW_TMP/work
mkdir -p "$work"

# ---------------------------------------------------------------- a
if make install DESTDIR="$dest" PREFIX=/usr >"$work/install.log" 2>&1; then
	tap_pass "make install DESTDIR=... PREFIX=/usr"
else
	tap_fail "make install DESTDIR=... PREFIX=/usr"
	tap_diag "$(tail -30 "$work/install.log")"
	tap_done
	exit 1
fi

libdir=$(dirname "$(find "$dest/usr/lib" -name libipwall-client.so.0 | head -1)")
lib=${libdir#"$dest"}
tap_diag "library directory: $lib"
for f in usr/sbin/ipwalld usr/bin/ipwall \
	usr/include/ipwall/client.h \
	"${lib#/}/libipwall-client.so.0.1.0" \
	"${lib#/}/pkgconfig/ipwall-client.pc" \
	usr/lib/systemd/system/ipwalld.service \
	usr/share/doc/ipwall/examples/ipwalld.conf.example \
	usr/share/doc/ipwall/examples/ipwalld.service.d/enforce.conf \
	usr/share/doc/ipwall/events.md usr/share/doc/ipwall/api.md; do
	tap_ok "installed: /$f" test -f "$dest/$f"
done
tap_ok "ipwalld and ipwall are executable" \
	test -x "$dest/usr/sbin/ipwalld" -a -x "$dest/usr/bin/ipwall"
tap_is "$(readlink "$libdir/libipwall-client.so.0")" libipwall-client.so.0.1.0 \
	"libipwall-client.so.0 -> libipwall-client.so.0.1.0"
tap_is "$(readlink "$libdir/libipwall-client.so")" libipwall-client.so.0 \
	"libipwall-client.so -> libipwall-client.so.0 (for -lipwall-client)"
tap_is "$(grep '^ExecStart=' "$dest/usr/lib/systemd/system/ipwalld.service")" \
	"ExecStart=/usr/sbin/ipwalld --config /etc/ipwall/ipwalld.conf" \
	"the unit starts the installed ipwalld"
tap_ok "the installed unit is the checked-in one (prefix /usr)" \
	cmp -s dist/systemd/ipwalld.service "$dest/usr/lib/systemd/system/ipwalld.service"
tap_ok "the drop-in is not live (documentation only)" \
	test ! -e "$dest/usr/lib/systemd/system/ipwalld.service.d"
tap_like "$("$dest/usr/sbin/ipwalld" --version 2>&1)" "ipwalld" \
	"the installed ipwalld runs (--version)"

# ---------------------------------------------------------------- b
so=$libdir/libipwall-client.so.0.1.0
tap_like "$(readelf -d "$so" | grep SONAME)" '\[libipwall-client\.so\.0\]' \
	"soname libipwall-client.so.0"
needed=$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
tap_is "$needed" "libc.so.6 " "it needs libc alone"
nm -D --defined-only "$so" >"$work/nm"
others=$(awk '$2 != "A" && $3 !~ /^ipw_client_/ {print $3}' "$work/nm")
tap_is "$others" "" "nm -D: only ipw_client_* exported"
tap_diag "$(cat "$work/nm")"
tap_ok "nm -D: ipw_client_report is there" grep -q ' T ipw_client_report@@' "$work/nm"
tap_ok "nm -D: the address parser inside is not" \
	bash -c "! grep -q ipw_addr_parse '$work/nm'"

# ---------------------------------------------------------------- c
pcdir=$libdir/pkgconfig
flags=$(PKG_CONFIG_PATH=$pcdir PKG_CONFIG_LIBDIR=$pcdir PKG_CONFIG_SYSROOT_DIR=$dest \
	pkg-config --cflags --libs ipwall-client)
tap_diag "pkg-config --cflags --libs ipwall-client: $flags"
tap_like "$flags" "-I$dest/usr/include" "pkg-config points into DESTDIR (cflags)"
tap_like "$flags" "-L$dest$lib -lipwall-client" "pkg-config points into DESTDIR (libs)"
# shellcheck disable=SC2086 # $flags is a list of words
if cc -std=c11 -Wall -Wextra -Werror -o "$work/report" \
	tests/integration/client/report.c $flags 2>"$work/cc.log"; then
	tap_pass "report.c builds with pkg-config's flags alone"
else
	tap_fail "report.c builds with pkg-config's flags alone"
	tap_diag "$(cat "$work/cc.log")"
	tap_done
	exit 1
fi
export LD_LIBRARY_PATH=$libdir
tap_like "$(ldd "$work/report" | grep libipwall-client)" "=> $libdir/libipwall-client.so.0" \
	"report runs on the installed library"

# ---------------------------------------------------------------- d
out=$(timeout 10 "$work/report" "$work/nobody.sock" 10000 2>"$work/report.err")
st=$?
tap_is "$st" 0 "no daemon: 10000 reports return, exit 0 (timeout 10 s)"
tap_is "$out" "sent 0 dropped 10000" "no daemon: every report counted as dropped"
out=$(IPWALL_EVENTS_SOCKET=$work/env-nobody.sock timeout 10 "$work/report" - 10000 \
	2>"$work/report.err")
st=$?
tap_is "$st" 0 "IPWALL_EVENTS_SOCKET, no daemon: exit 0"
tap_is "$out" "sent 0 dropped 10000" "IPWALL_EVENTS_SOCKET, no daemon: 10000 dropped"
tap_like "$(cat "$work/report.err")" "socket $work/env-nobody.sock" \
	"IPWALL_EVENTS_SOCKET is the path used"

# ---------------------------------------------------------------- e
# The sink: records each datagram's bytes and the count, exits after
# N datagrams or 60 s. It stands in for a receiver, not for ipwalld.
N=2000
cat >"$work/sink.py" <<'PY'
import os, socket, sys
path, n, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind(path)
s.settimeout(60)
open(path + ".ready", "w").close()
sizes = []
with open(out, "wb") as f:
    while len(sizes) < n:
        try:
            d = s.recv(70000)
        except socket.timeout:
            break
        f.write(d)
        sizes.append(d.count(b"\n"))
with open(out + ".lines", "w") as f:
    f.write(" ".join(sorted(set(map(str, sizes)))) + "\n")
PY
python3 "$work/sink.py" "$work/events.sock" "$N" "$work/got" &
SINK_PID=$!
for _ in $(seq 1 100); do
	[ -e "$work/events.sock.ready" ] && break
	sleep 0.05
done
out=$(timeout 60 "$work/report" "$work/events.sock" "$N" retry 2>"$work/report.err")
st=$?
tap_is "$st" 0 "datagram sink: $N reports (retrying a full queue) exit 0"
tap_like "$out" "^sent $N dropped" "datagram sink: $N sent"
wait "$SINK_PID"
SINK_PID=
for ((i = 0; i < N; i++)); do
	printf '10.%d.%d.%d\tit_report\treport\tu%d\tevent %d of %d\n' \
		$(((i >> 16) & 255)) $(((i >> 8) & 255)) $((i & 255)) "$i" "$i" "$N"
done >"$work/want"
if cmp -s "$work/want" "$work/got"; then
	tap_pass "datagram sink: the $N events arrived byte for byte, in order"
else
	tap_fail "datagram sink: the $N events arrived byte for byte, in order"
	tap_diag "$(diff "$work/want" "$work/got" | head -10)"
fi
tap_is "$(cat "$work/got.lines" 2>/dev/null)" "1" "datagram sink: one event per datagram"

# f  the real receiver: the installed ipwalld with a rule on it_report
#    (every event bans), the same program reporting to its event socket
printf '[rule it]\nevents = it_report\nthreshold = 1\nban = 1h\n' >"$work/ab.conf"
IPWALLD=$dest/usr/sbin/ipwalld
if ipw_start real --config "$work/ab.conf"; then
	M=500
	out=$(timeout 60 "$work/report" "${IPWD_DIR[real]}/events.sock" "$M" retry 2>"$work/report.err")
	tap_like "$out" "^sent $M dropped" "the installed ipwalld: $M reports sent to its event socket"
	for _ in $(seq 100); do
		ipw_http_unix real GET /metrics
		[ "$(awk '$1 == "ipwall_autoban_events_total" {print $2}' <<<"$HTTP_BODY")" = "$M" ] && break
		sleep 0.1
	done
	tap_is "$(awk '$1 == "ipwall_autoban_events_received_total{via=\"socket\"}" {print $2}' <<<"$HTTP_BODY")" "$M" \
		"... each one received on the socket"
	for _ in $(seq 100); do
		ipw_http_unix real GET "/v1/check?ip=10.0.1.243"
		[ "$(ipw_jq .verdict)" = blocked ] && break
		sleep 0.1
	done
	tap_is "$(ipw_jq .verdict)" blocked "... and the last one's source (10.0.1.243) is banned"
	ipw_stop real
	tap_is "${IPWD_STATUS[real]}" 0 "the installed ipwalld stops cleanly"
	out=$(timeout 10 "$work/report" "${IPWD_DIR[real]}/events.sock" 1000 2>"$work/report.err")
	tap_is "$out" "sent 0 dropped 1000" "ipwalld stopped: reports return, counted as dropped"
else
	tap_fail "the installed ipwalld starts with a rule"
fi

tap_done
