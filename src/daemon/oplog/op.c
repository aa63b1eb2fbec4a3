/* SPDX-License-Identifier: MIT */
/*
 * The op vocabulary (see op.h): one table of names per kind of word, and
 * the id and target helpers the write path, the store and the history
 * share.
 */
#include <string.h>

#include <ipwall/addr.h>

#include "oplog/op.h"

static const char *const action_names[IPWD_ACT_COUNT] = {
	[IPWD_ACT_BAN] = "ban",	    [IPWD_ACT_UNBAN] = "unban",
	[IPWD_ACT_ALLOW] = "allow", [IPWD_ACT_DISALLOW] = "disallow",
	[IPWD_ACT_MODE] = "mode",   [IPWD_ACT_EXPIRE] = "expire",
	[IPWD_ACT_EVICT] = "evict",
};

static bool name_is(const char *name, const char *s, size_t len)
{
	return s && strlen(name) == len && memcmp(name, s, len) == 0;
}

const char *ipwd_action_name(enum ipwd_action a)
{
	return (unsigned)a < IPWD_ACT_COUNT ? action_names[a] : "unknown";
}

int ipwd_action_of(const char *s, size_t len)
{
	int a;

	for (a = 0; a < IPWD_ACT_COUNT; a++)
		if (name_is(action_names[a], s, len))
			return a;
	return -1;
}

bool ipwd_action_has_target(enum ipwd_action a)
{
	return (unsigned)a < IPWD_ACT_COUNT && a != IPWD_ACT_MODE;
}

enum ipw_list ipwd_action_list(enum ipwd_action a)
{
	return a == IPWD_ACT_ALLOW || a == IPWD_ACT_DISALLOW ? IPW_LIST_ALLOW :
							       IPW_LIST_BAN;
}

bool ipwd_result_valid(enum ipwd_action a, int change)
{
	switch (a) {
	case IPWD_ACT_BAN:
	case IPWD_ACT_ALLOW:
		return change == IPW_CHANGE_ADDED ||
		       change == IPW_CHANGE_EXTENDED ||
		       change == IPW_CHANGE_UNCHANGED;
	case IPWD_ACT_UNBAN:
	case IPWD_ACT_DISALLOW:
		return change == IPW_CHANGE_REMOVED ||
		       change == IPW_CHANGE_ABSENT;
	case IPWD_ACT_EXPIRE:
	case IPWD_ACT_EVICT:
		return change == IPW_CHANGE_REMOVED;
	case IPWD_ACT_MODE:
		return change == IPW_CHANGE_MODE ||
		       change == IPW_CHANGE_UNCHANGED;
	default:
		return false;
	}
}

const char *ipwd_result_name(enum ipwd_action a, int change)
{
	if (a == IPWD_ACT_MODE)
		return change == IPW_CHANGE_MODE ? "changed" : "unchanged";
	if (change < IPW_CHANGE_ADDED || change > IPW_CHANGE_ABSENT)
		return "unknown";
	return ipw_change_name((enum ipw_change)change);
}

int ipwd_result_of(enum ipwd_action a, const char *s, size_t len)
{
	int c;

	for (c = IPW_CHANGE_ADDED; c <= IPW_CHANGE_MODE; c++)
		if (ipwd_result_valid(a, c) &&
		    name_is(ipwd_result_name(a, c), s, len))
			return c;
	return -1;
}

const char *ipwd_list_name(enum ipw_list l)
{
	return l == IPW_LIST_BAN ? "bans" : "allows";
}

int ipwd_list_of(const char *s, size_t len)
{
	if (name_is("bans", s, len))
		return IPW_LIST_BAN;
	if (name_is("allows", s, len))
		return IPW_LIST_ALLOW;
	return -1;
}

int ipwd_mode_of(const char *s, size_t len)
{
	if (name_is(ipw_mode_name(IPW_MODE_DENYLIST), s, len))
		return IPW_MODE_DENYLIST;
	if (name_is(ipw_mode_name(IPW_MODE_ALLOWLIST), s, len))
		return IPW_MODE_ALLOWLIST;
	return -1;
}

void ipwd_opid_format(const uint8_t b[16], char out[IPWD_OPID_LEN])
{
	static const char hex[] = "0123456789abcdef";
	int i, j;

	for (i = 0, j = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			out[j++] = '-';
		out[j++] = hex[b[i] >> 4];
		out[j++] = hex[b[i] & 15];
	}
	out[j] = '\0';
}

int ipwd_opid_parse(const char *s, size_t len, uint8_t out[16])
{
	size_t i, n = 0;

	if (s == NULL || len != 36)
		return -1;
	for (i = 0; i < 36; i++) {
		char c = s[i];
		int v;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (c != '-')
				return -1;
			continue;
		}
		if (c >= '0' && c <= '9')
			v = c - '0';
		else if (c >= 'a' && c <= 'f')
			v = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F')
			v = c - 'A' + 10;
		else
			return -1;
		if (n % 2 == 0)
			out[n / 2] = (uint8_t)(v << 4);
		else
			out[n / 2] |= (uint8_t)v;
		n++;
	}
	return 0;
}

uint64_t ipwd_opid_ms(const uint8_t b[16])
{
	uint64_t ms = 0;
	int i;

	for (i = 0; i < 6; i++)
		ms = ms << 8 | b[i];
	return ms;
}

int ipwd_target_of(int family, const void *bytes, int len, int plen,
		   struct ipw_addr *out)
{
	const uint8_t *b = bytes;

	if (b == NULL || plen < 0)
		return -1;
	if (family == IPW_AF_INET && len == 4)
		return ipw_addr_from_v4(out,
					(uint32_t)b[0] << 24 |
						(uint32_t)b[1] << 16 |
						(uint32_t)b[2] << 8 | b[3],
					(unsigned)plen);
	if (family == IPW_AF_INET6 && len == 16)
		return ipw_addr_from_v6(out, b, (unsigned)plen);
	return -1;
}
