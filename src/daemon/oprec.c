/* SPDX-License-Identifier: MIT */
/*
 * The representations of an op that the write path, the store and the
 * history share (see oprec.h).
 */
#include <ipwall/addr.h>

#include "oprec.h"

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
