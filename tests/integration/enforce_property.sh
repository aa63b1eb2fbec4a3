#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The kernel's verdicts equal the table's, through the whole path: random
# ops (bans and allows of nested IPv4 and IPv6 prefixes, with and without
# expiry, unbans, disallows, mode switches) go to a running ipwalld over
# its API; after each round, for hundreds of probe addresses in the same
# space, the verdict of /v1/check (the table) is compared with the verdict
# of the very XDP and TC programs the kernel runs on the interfaces
# (tests/tools/kernel_verdicts: BPF_PROG_TEST_RUN on the attached program,
# found by id). The ops reach the maps through the op log; a ban of 1 s
# has expired (in the table and in the map, purged or not) before the
# compare. Everything runs in a network namespace made by the test (a
# veth pair with both ends in it); the seed is printed (IPW_PROP_SEED).
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl ip jq
VERDICTS=${IPW_KERNEL_VERDICTS:-build/asan/tests/tools/kernel_verdicts}

if ! "$IPWALLD" --version | grep -q '+bpf' || [ ! -x "$VERDICTS" ]; then
	echo "1..0 # SKIP ipwalld is built without the bpf feature"
	exit 0
fi
if [ "$(id -u)" != 0 ]; then
	echo "1..0 # SKIP needs root for network namespaces and XDP"
	exit 0
fi

NS=ipwt-prop-$$
DIR=$IPW_TMP/prop
BPFFS=$DIR/bpffs
mkdir -p "$DIR" "$BPFFS"
PID=
cleanup() {
	if [ -n "$PID" ] && kill -0 "$PID" 2>/dev/null; then
		kill "$PID"
		wait "$PID" 2>/dev/null
	fi
	ip netns del "$NS" 2>/dev/null
	rm -rf "$BPFFS/ipwall" 2>/dev/null
	umount "$BPFFS" 2>/dev/null
	ipw_cleanup
}
trap cleanup EXIT

SEED=${IPW_PROP_SEED:-$(( $(date +%s) % 32768 ))}
RANDOM=$SEED
echo "# seed $SEED (IPW_PROP_SEED)"

mount -t bpf bpf "$BPFFS" && ip netns add "$NS" &&
	ip link add pva$$ netns "$NS" type veth peer name pvb$$ netns "$NS" &&
	ip -n "$NS" link set pva$$ up && ip -n "$NS" link set pvb$$ up
tap_is "$?" 0 "a namespace with a veth pair, a bpf file system"

printf '[enforce]\nxdp = pva%s\ntc = pvb%s\npin_dir = %s/ipwall\n[table]\npurge_interval = 1s\n' \
	$$ $$ "$BPFFS" >"$DIR/conf"
SOCK=$DIR/data/ipwalld.sock
ip netns exec "$NS" "$IPWALLD" --listen "" --data-dir "$DIR/data" \
	--config "$DIR/conf" >>"$DIR/log" 2>&1 &
PID=$!
for _ in $(seq 1 100); do
	[ "$(curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" http://x/healthz)" == 200 ] && break
	sleep 0.1
done
if ! kill -0 "$PID" 2>/dev/null; then
	tap_fail "ipwalld starts with XDP and TC" "$(tail -20 "$DIR/log")"
	tap_done
	exit
fi
tap_pass "ipwalld starts with XDP on one end and TC on the other"

api() {
	curl -s -o /dev/null -w '%{http_code}' --unix-socket "$SOCK" -X "$1" \
		-H 'Content-Type: application/json' ${3:+--data-binary "$3"} "http://x$2"
}

# A target in a small space, so that prefixes nest and overlap often.
# The generators set a variable instead of printing: a $(subshell) would
# draw from a RANDOM of its own and lose the seed's reproducibility.
target() {
	local a=$((RANDOM % 4)) b=$((RANDOM % 4)) c=$((RANDOM % 4))
	local k=$((RANDOM % 10)) h=$((RANDOM % 16)) l=$((RANDOM % 64))
	if [ $((RANDOM % 2)) = 0 ]; then
		case $k in
		0) T="10.50.0.0/16" ;;
		1) T="10.50.$((a * 4)).0/22" ;;
		2 | 3) T="10.50.$a.0/24" ;;
		4 | 5) T="10.50.$a.$((c * 16))/28" ;;
		*) T="10.50.$a.$l" ;;
		esac
	else
		case $k in
		0) T="fd00:50::/32" ;;
		1) T="fd00:50:$a::/48" ;;
		2 | 3) T="fd00:50:$a:$b::/64" ;;
		4 | 5) T="fd00:50:$a:$b::$c:0/112" ;;
		*) printf -v T 'fd00:50:%x:%x::%x:%x' $a $b $c $h ;;
		esac
	fi
}
probe() {
	local a=$((RANDOM % 4)) b=$((RANDOM % 4)) c=$((RANDOM % 4))
	case $((RANDOM % 5)) in
	0) printf -v T 'fd00:50:%x:%x::%x:%x' $a $b $c $((RANDOM % 16)) ;;
	1) printf -v T 'fd00:50:%x:%x::%x' $a $b $((RANDOM % 65536)) ;;
	2) T="::ffff:10.50.$a.$((RANDOM % 64))" ;; # IPv4-mapped: as IPv4
	*) T="10.50.$a.$((RANDOM % 64))" ;;
	esac
}

declare -a used=()
mode=denylist
total_mism=0
total_drop=0
total_probes=0
ops_done=0
toggles=0
for round in 1 2 3 4 5; do
	for _ in $(seq 1 60); do
		w=$((RANDOM % 100))
		if [ "$w" -lt 40 ] || [ ${#used[@]} = 0 ]; then
			target
			used+=("$T")
			case $((RANDOM % 3)) in
			0) body="{\"target\":\"$T\",\"ttl\":1}" ;;
			1) body="{\"target\":\"$T\",\"ttl\":3600}" ;;
			*) body="{\"target\":\"$T\"}" ;;
			esac
			api POST /v1/bans "$body" >/dev/null
		elif [ "$w" -lt 55 ]; then
			target
			used+=("$T")
			ttl=
			[ $((RANDOM % 4)) = 0 ] && ttl=',"ttl":1'
			api POST /v1/allow "{\"target\":\"$T\"$ttl}" >/dev/null
		elif [ "$w" -lt 75 ]; then
			api DELETE "/v1/bans?target=${used[$((RANDOM % ${#used[@]}))]}" >/dev/null
		elif [ "$w" -lt 90 ]; then
			api DELETE "/v1/allow?target=${used[$((RANDOM % ${#used[@]}))]}" >/dev/null
		elif [ "$w" -lt 95 ]; then
			target; t1=$T; target; t2=$T; target
			api POST /v1/bans/batch "{\"items\":[{\"target\":\"$t1\"},{\"target\":\"$t2\",\"ttl\":1},{\"target\":\"$T\"}]}" >/dev/null
		else
			[ $mode = denylist ] && mode=allowlist || mode=denylist
			api PUT /v1/mode "{\"mode\":\"$mode\"}" >/dev/null
			toggles=$((toggles + 1))
		fi
		ops_done=$((ops_done + 1))
	done
	sleep 2 # every 1 s entry has expired (the table's purge may lag)
	: >"$DIR/probes"
	for _ in $(seq 1 400); do
		probe
		echo "$T"
	done >"$DIR/probes"
	# The table's verdicts, one connection for all.
	mapfile -t urls < <(sed 's|^|http://x/v1/check?ip=|' "$DIR/probes")
	curl -s --unix-socket "$SOCK" -w '\n' "${urls[@]}" |
		jq -r '"\(.ip) \(if .verdict == "blocked" then "DROP" else "PASS" end)"' >"$DIR/table"
	ip netns exec "$NS" "$VERDICTS" pva$$ xdp <"$DIR/probes" >"$DIR/xdp"
	ip netns exec "$NS" "$VERDICTS" pvb$$ tc <"$DIR/probes" >"$DIR/tc"
	n=$(wc -l <"$DIR/table")
	# /v1/check names the address as it folds it (::ffff:a.b.c.d is
	# a.b.c.d); compare verdicts line by line.
	mx=$(paste -d' ' <(cut -d' ' -f2 "$DIR/table") <(cut -d' ' -f2 "$DIR/xdp") | awk '$1 != $2' | wc -l)
	mt=$(paste -d' ' <(cut -d' ' -f2 "$DIR/table") <(cut -d' ' -f2 "$DIR/tc") | awk '$1 != $2' | wc -l)
	drops=$(grep -c ' DROP$' "$DIR/table")
	if [ "$mx" != 0 ] || [ "$mt" != 0 ]; then
		paste -d' ' "$DIR/probes" <(cut -d' ' -f2 "$DIR/table") <(cut -d' ' -f2 "$DIR/xdp") <(cut -d' ' -f2 "$DIR/tc") |
			awk '$2 != $3 || $2 != $4' | head -5 | sed 's/^/# mismatch (probe table xdp tc): /'
	fi
	tap_ok "round $round ($ops_done ops, $toggles mode switches, $mode mode now): XDP and TC agree with the table on $n probes ($drops blocked; mismatches: xdp $mx, tc $mt)" \
		test "$n" = 400 -a "$mx" = 0 -a "$mt" = 0
	total_mism=$((total_mism + mx + mt))
	total_drop=$((total_drop + drops))
	total_probes=$((total_probes + n))
done
tap_ok "the mode was switched ($toggles times)" test "$toggles" -gt 0
tap_ok "the probes were not one-sided ($total_drop of $total_probes blocked)" \
	test "$total_drop" -gt $((total_probes / 20)) -a "$total_drop" -lt $((total_probes - total_probes / 20))
tap_is "$(curl -s --unix-socket "$SOCK" http://x/metrics | sed -n 's/^ipwall_enforce_failures_total{backend="bpf"} //p')" 0 "no backend failure"
kill "$PID"
wait "$PID"
tap_is "$?" 0 "ipwalld exits 0"
PID=
ip netns exec "$NS" "$IPWALLD" --detach --config "$DIR/conf" >>"$DIR/log" 2>&1
grep -E 'ERROR: |runtime error' "$DIR/log" && tap_fail "no sanitizer report" || tap_pass "no sanitizer report"
tap_done
