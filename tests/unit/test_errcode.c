// SPDX-License-Identifier: MIT
/*
 * Every error code has a name and a sentence of its own: no two codes share
 * a name, and none falls through to "unknown error".
 */
#include <ipwall/errcode.h>

#include "tap.h"

int main(void)
{
	const char *names[IPW_ERROR_MIN - IPW_ERROR_LAST + 1] = {0};
	int n = 0, dup = 0;

	is_str(ipw_strerror(0), "success", "0 is success");
	is_str(ipw_errname(12345), "EUNKNOWN", "unknown code has a name");
	is_str(ipw_strerror(12345), "unknown error", "unknown positive code");
	is_str(ipw_strerror(-EPIPE), "Broken pipe",
	       "an errno we did not name keeps its libc sentence");
	for (int e = IPW_ERROR_MIN; e >= IPW_ERROR_LAST; e--) {
		const char *name = ipw_errname(e);

		if (strcmp(name, "EUNKNOWN") == 0)
			continue; /* a gap in the numbering */
		ok(strcmp(ipw_strerror(e), "unknown error") != 0,
		   "%s (%d) has a sentence", name, e);
		for (int k = 0; k < n; k++)
			dup += strcmp(names[k], name) == 0;
		names[n++] = name;
	}
	is_int(dup, 0, "no two codes share a name");
	ok(n >= 20, "named codes found: %d", n);
	return done_testing();
}
