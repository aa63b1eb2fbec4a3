#!/bin/bash
# SPDX-License-Identifier: MIT
#
# The Prometheus rules and the Grafana dashboard of dist/ (issue 17,
# "Dashboards") against a real ipwalld: what an operator loads must name
# only series the daemon exposes, or it draws empty panels and alerts that
# never fire.
#
#   - promtool check rules dist/prometheus/ipwall.rules.yml
#   - promtool test rules dist/prometheus/ipwall.rules.test.yml (the hit
#     rate, write p50/p99 and table fill recording rules on synthetic
#     series, and alerts firing and not firing)
#   - dist/grafana/ipwall.json parses, and every panel and variable queries
#     through the $datasource variable
#   - every metric name in a rule expression and in a dashboard query
#     (tokens starting with ipwall_ and holding no ':', so recording rules
#     such as ipwall:ban_hit_ratio:rate5m are exempt) is a series of the
#     /metrics of an ipwalld started here with an auto-ban rule, or is in
#     ENFORCE_ONLY below. Names are compared with the exposition's sample
#     names, so a histogram is only found as NAME_bucket, NAME_sum or
#     NAME_count, as PromQL must name it.
#   - the comparison itself catches a misspelt name (a copy of the
#     dashboard with one), so a checker that finds nothing cannot pass.
#
# Kernel enforcement series appear only with [enforce] on, which needs a
# network namespace and attaching programs: this test attaches nothing.
# Their names come from the sources instead, and each entry of ENFORCE_ONLY
# is checked to be still printed by the file it names.
set -u
cd "$(dirname "$0")/../.." || exit 1
# shellcheck source=tests/integration/lib.sh
. tests/integration/lib.sh

ipw_require curl jq promtool
RULES=${RULES:-dist/prometheus/ipwall.rules.yml}
RULES_TEST=${RULES_TEST:-dist/prometheus/ipwall.rules.test.yml}
DASH=${DASH:-dist/grafana/ipwall.json}
TIME_LIMIT=${TIME_LIMIT:-60}
cleanup() {
	ipw_watchdog_stop
	ipw_cleanup
}
trap cleanup EXIT
trap 'echo "Bail out! interrupted (or over the ${TIME_LIMIT}s time limit)"; exit 1' INT TERM HUP
ipw_watchdog "$TIME_LIMIT"

# name -> the source file that prints it (exposed only with [enforce]).
declare -A ENFORCE_ONLY=(
	[ipwall_bpf_interfaces]=src/daemon/enforce/bpf_backend.c
	[ipwall_bpf_packets_total]=src/daemon/enforce/bpf_backend.c
	[ipwall_enforce_reconciles_total]=src/daemon/enforce/enforce.c
	[ipwall_enforce_repaired_total]=src/daemon/enforce/enforce.c
	[ipwall_enforce_failures_total]=src/daemon/enforce/enforce.c
	[ipwall_nft_elements]=src/daemon/enforce/nft.c
	[ipwall_nft_overflow_total]=src/daemon/enforce/nft.c
	[ipwall_nft_transactions_total]=src/daemon/enforce/nft.c
	[ipwall_nft_errors_total]=src/daemon/enforce/nft.c
	[ipwall_nft_repaired_total]=src/daemon/enforce/nft.c
)

# ---------------------------------------------------------------- promtool
if out=$(promtool check rules "$RULES" 2>&1); then
	tap_pass "promtool check rules $RULES ($(grep -o '[0-9]* rules found' <<<"$out"))"
else
	tap_fail "promtool check rules $RULES" "$out"
fi
if out=$(promtool test rules "$RULES_TEST" 2>&1); then
	tap_pass "promtool test rules $RULES_TEST"
else
	tap_fail "promtool test rules $RULES_TEST" "$out"
fi

# ---------------------------------------------------------------- dashboard
tap_ok "$DASH parses as JSON with panels" \
	jq -e '(.panels | length) > 0' "$DASH"
bad=$(jq -r '[.. | objects | select(has("datasource")) | .datasource
	| select(type != "object" or .uid != "${datasource}")] | length' "$DASH" 2>&1)
tap_is "$bad" 0 "every panel, query and variable uses the \$datasource variable"

# ---------------------------------------------------------------- names
# names_in_rules FILE: the ipwall_ metric names in the expr: values of a
# rules file (a one-line expr or a block scalar below it), one a line.
names_in_rules() {
	awk '
	function indent(s) { match(s, /^ */); return RLENGTH }
	inexpr && (NF == 0 || indent($0) > key) { print; next }
	{ inexpr = 0 }
	/^ *(- )?expr:/ {
		key = indent($0); sub(/^ *(- )?expr:/, ""); print; inexpr = 1
	}' "$1" | tokens
}
# names_in_dashboard FILE: the ipwall_ names in panel queries and in the
# variables' queries.
names_in_dashboard() {
	jq -r '.. | objects | (.expr?, .definition?,
		(.query? | if type == "object" then .query else . end))
		| strings' "$1" | tokens
}
tokens() {
	grep -oE '[A-Za-z_:][A-Za-z0-9_:]*' | grep -E '^ipwall_' |
		grep -v ':' | sort -u
}
# unknown FILE: the names in FILE neither in $EXPOSED nor in ENFORCE_ONLY.
unknown() {
	local n
	while read -r n; do
		[ -n "${ENFORCE_ONLY[$n]:-}" ] && continue
		grep -qxF "$n" "$EXPOSED" || echo "$n"
	done <"$1"
}

names_in_rules "$RULES" >"$IPW_TMP/rules.names"
names_in_dashboard "$DASH" >"$IPW_TMP/dash.names"
n_rules=$(wc -l <"$IPW_TMP/rules.names")
n_dash=$(wc -l <"$IPW_TMP/dash.names")
tap_ok "the rules name metrics ($n_rules names found)" test "$n_rules" -ge 10
tap_ok "the dashboard names metrics ($n_dash names found)" test "$n_dash" -ge 40

for n in $(printf "%s\n" "${!ENFORCE_ONLY[@]}" | sort); do
	tap_ok "$n (enforcement only) is printed by ${ENFORCE_ONLY[$n]}" \
		grep -qF "$n" "${ENFORCE_ONLY[$n]}"
done

# ---------------------------------------------------------------- daemon
D=dash
printf '[rule ssh]\nevents = ssh_auth_fail\nthreshold = 3\nwindow = 10s\nban = 1h\n' \
	>"$IPW_TMP/dash.conf"
if ! ipw_start "$D" --config "$IPW_TMP/dash.conf"; then
	tap_fail "ipwalld starts with an auto-ban rule"
	tap_done
	exit 1
fi
ipw_http_unix "$D" GET /metrics
tap_is "$HTTP_STATUS" 200 "GET /metrics on the unix socket answers 200"
EXPOSED=$IPW_TMP/exposed
grep -v '^#' <<<"$HTTP_BODY" | sed -n 's/^\(ipwall_[a-z0-9_]*\)[{ ].*/\1/p' |
	sort -u >"$EXPOSED"
tap_like "$(grep -c '^ipwall_autoban_' "$EXPOSED")" '^[1-9][0-9]*$' \
	"/metrics exposes ipwall_autoban_* series (the rule is on)"
tap_is "$(grep -c '^ipwall_\(bpf\|enforce\|nft\)_' "$EXPOSED")" 0 \
	"... and no enforcement series (so ENFORCE_ONLY is what lets them through)"

miss=$(unknown "$IPW_TMP/rules.names")
tap_is "$miss" "" "every metric a rule names is exposed or enforcement-only"
miss=$(unknown "$IPW_TMP/dash.names")
tap_is "$miss" "" "every metric the dashboard names is exposed or enforcement-only"

# The check can fail: a dashboard with one name misspelt is caught.
sed 's/ipwall_checks_total{/ipwall_check_total{/' "$DASH" >"$IPW_TMP/typo.json"
names_in_dashboard "$IPW_TMP/typo.json" >"$IPW_TMP/typo.names"
tap_is "$(unknown "$IPW_TMP/typo.names")" ipwall_check_total \
	"a dashboard naming ipwall_check_total (misspelt) is caught"

ipw_stop "$D"
tap_is "${IPWD_STATUS[$D]}" 0 "ipwalld exits 0 on SIGTERM"
tap_ok "no sanitizer report" ipw_sanitizer_clean "$D"

tap_done
