// SPDX-License-Identifier: MIT
/*
 * libFuzzer harness for ipw_addr_parse(). Beyond "does not crash", it checks
 * the parser's contract on every input: a result satisfies the value
 * invariants, formats, and re-parses to the same value; a failure reports an
 * offset inside the input and a code with a name; the masked parse accepts
 * whatever the strict parse accepts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <ipwall/addr.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int cond)
{
	if (!cond)
		abort();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct ipw_addr a, b, m;
	char buf[IPW_ADDR_STRLEN];
	size_t pos = (size_t)-1;
	int rc, len;

	rc = ipw_addr_parse(s, size, 0, &a, &pos);
	if (rc) {
		char msg[512];

		check(rc <= IPW_ERROR_MIN && rc >= IPW_ERROR_LAST);
		check(strcmp(ipw_errname(rc), "EUNKNOWN") != 0);
		check(pos <= size);
		ipw_addr_error_msg(msg, sizeof(msg), s, size, rc, pos);
		if (rc != IPW_EADDR_HOST_BITS)
			check(ipw_addr_parse(s, size, IPW_ADDR_MASK, &m,
					     NULL) == rc);
		return 0;
	}
	check(a.family == IPW_AF_INET || a.family == IPW_AF_INET6);
	check(a.plen <= ipw_addr_maxlen(&a));
	check(a.pad[0] == 0 && a.pad[1] == 0);
	if (a.family == IPW_AF_INET)
		for (int k = 4; k < 16; k++)
			check(a.bytes[k] == 0);
	len = ipw_addr_format(&a, buf, sizeof(buf));
	check(len > 0 && (size_t)len < sizeof(buf));
	check(ipw_addr_parse(buf, (size_t)len, 0, &b, NULL) == 0);
	check(memcmp(&a, &b, sizeof(a)) == 0);
	check(ipw_addr_parse(s, size, IPW_ADDR_MASK, &m, NULL) == 0);
	check(memcmp(&a, &m, sizeof(a)) == 0);
	rc = ipw_addr_parse(s, size, IPW_ADDR_HOST, &m, NULL);
	check(rc == 0 || rc == IPW_EADDR_PREFIX_DENIED);
	return 0;
}
