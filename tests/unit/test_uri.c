// SPDX-License-Identifier: MIT
/*
 * The raw request target's check (src/daemon/api/uri.h): what decodes to
 * a NUL, a control character or invalid UTF-8 is refused with the part
 * at fault named; everything a client legitimately sends passes.
 */
#include <string.h>

#include "api/uri.h"
#include "tap.h"

struct ucase {
	const char *uri;
	size_t len; /* 0: strlen */
	int ok;
	enum ipwd_uri_where where;
	const char *name; /* the parameter named, for IPWD_URI_PARAM */
	const char *msg;  /* a part of the message */
};

#define PASS(u)                        \
	{                              \
		u, 0, 1, 0, NULL, NULL \
	}
#define BAD(u, w, n, m)                     \
	{                                   \
		u, 0, 0, IPWD_URI_##w, n, m \
	}
#define BADN(u, l, w, n, m)                 \
	{                                   \
		u, l, 0, IPWD_URI_##w, n, m \
	}

/* clang-format off */
static const struct ucase cases[] = {
	PASS("/v1/check?ip=192.0.2.1"),
	PASS("/v1/bans?target=10.0.0.0%2F8"),
	PASS("/v1/bans?target=2001:db8::/32"),
	PASS("/v1/bans?target=2001%3Adb8%3A%3A1"),
	PASS("/v1/history?target=192.0.2.1&since=1h&limit=5"),
	PASS("/v1/bans?limit=10&cursor=abc-_.~"),
	PASS("/v1/check?ip"),
	PASS("/v1/check?"),
	PASS("/v1/check?&&"),
	PASS("/v1/check?reason=caf%C3%A9"),
	PASS("/v1/check?x=%F0%9F%98%80"),
	PASS("/v1/check?x=a+b"),
	PASS("/healthz"),
	PASS("/"),
	PASS(""),
	/* the three */
	BAD("/v1/bans?target=203.0.113.1%00garbage", PARAM, "target", "NUL byte (%00)"),
	BAD("/v1/allow?target=2001:db8::/32%00x", PARAM, "target", "NUL byte"),
	BAD("/v1/check?ip=1.2.3.4%005.6.7.8", PARAM, "ip", "NUL byte"),
	/* control characters, C0, DEL and C1 */
	BAD("/v1/check?ip=1.2.3.4%0A", PARAM, "ip", "control character (%0A)"),
	BAD("/v1/check?ip=1.2.3.4%0d%0aX-Injected:%201", PARAM, "ip", "control character (%0D)"),
	BAD("/v1/check?ip=%7F", PARAM, "ip", "control character (%7F)"),
	BAD("/v1/check?ip=%1B[31m", PARAM, "ip", "control character (%1B)"),
	BAD("/v1/check?ip=%C2%85", PARAM, "ip", "U+0085"),
	BAD("/v1/check?ip=%c2%9f", PARAM, "ip", "U+009F"),
	/* invalid UTF-8 */
	BAD("/v1/check?ip=%FF", PARAM, "ip", "not valid UTF-8"),
	BAD("/v1/check?ip=%C3", PARAM, "ip", "cut short"),
	BAD("/v1/check?ip=%C3&k=1", PARAM, "ip", "cut short"),
	BAD("/v1/check?ip=%C0%AF", PARAM, "ip", "not valid UTF-8"),
	BAD("/v1/check?ip=%E0%80%AF", PARAM, "ip", "not valid UTF-8"),
	BAD("/v1/check?ip=%ED%A0%80", PARAM, "ip", "not valid UTF-8"),
	BAD("/v1/check?ip=%F4%90%80%80", PARAM, "ip", "not valid UTF-8"),
	BAD("/v1/check?ip=%F0%9F%98", PARAM, "ip", "cut short"),
	BAD("/v1/check?ip=%80", PARAM, "ip", "not valid UTF-8"),
	/* malformed percent-encoding */
	BAD("/v1/check?ip=1.2.3.4%zz", PARAM, "ip", "two hex digits"),
	BAD("/v1/check?ip=%", PARAM, "ip", "two hex digits"),
	BAD("/v1/check?ip=%4", PARAM, "ip", "two hex digits"),
	BAD("/v1/check?ip=%4&x=1", PARAM, "ip", "two hex digits"),
	/* raw bytes that must be encoded */
	BAD("/v1/check?ip=1.2.3.4 x", PARAM, "ip", "raw byte 0x20"),
	BAD("/v1/check?ip=1.2.3.4\tx", PARAM, "ip", "raw byte 0x09"),
	BAD("/v1/check?ip=caf\xc3\xa9", PARAM, "ip", "raw byte 0xC3"),
	BAD("/v1/check?ip=\x7f", PARAM, "ip", "raw byte 0x7F"),
	/* the parameter's name, the path */
	BAD("/v1/check?i%00p=1", PARAM_NAME, "", "NUL byte"),
	BAD("/v1/check?%0a=1", PARAM_NAME, "", "control character"),
	BAD("/v1/check%00?ip=1", PATH, "", "NUL byte"),
	BAD("/v1/check%00", PATH, "", "NUL byte"),
	BAD("/v1/%FF", PATH, "", "not valid UTF-8"),
	BAD("/v1 /check", PATH, "", "raw byte 0x20"),
	/* a later parameter is checked after a good one */
	BAD("/v1/history?target=192.0.2.1&since=1h%00", PARAM, "since", "NUL byte"),
	/* a raw NUL, given with its length */
	BADN("/v1/check?ip=1.2.3.4\0x", 22, PARAM, "ip", "raw byte 0x00"),
};
/* clang-format on */

int main(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct ucase *c = &cases[i];
		size_t len = c->len ? c->len : strlen(c->uri);
		struct ipwd_uri_fault f;
		int rc = ipwd_uri_check(c->uri, len, &f);

		if (c->ok) {
			ok(rc == 0, "passes: %s%s%s", c->uri,
			   rc ? " -- refused: " : "", rc ? f.msg : "");
			continue;
		}
		ok(rc == -1 && f.where == c->where &&
			   strcmp(f.name, c->name ? c->name : "") == 0 &&
			   strstr(f.msg, c->msg) != NULL && f.offset <= len,
		   "refused: %s -> where %d name \"%s\": %s", c->uri,
		   (int)f.where, f.name, rc ? f.msg : "(passed)");
	}
	return done_testing();
}
