/* SPDX-License-Identifier: MIT */
/*
 * Addresses and CIDR prefixes of both families, as one small value type.
 *
 * struct ipw_addr is what every other module of libipwall uses as its key:
 * 20 bytes, no pointers, no allocation, safe to copy, hash and compare
 * bytewise (every byte past the prefix, and the padding, is zero).
 *
 * A single address is a prefix of full length: "192.0.2.7" and
 * "192.0.2.7/32" parse to the same value and both print as "192.0.2.7".
 *
 * IPv4-mapped IPv6 (::ffff:a.b.c.d) is stored and printed as the IPv4
 * address it carries, so a ban on 192.0.2.7 matches a client that a
 * dual-stack socket reports as ::ffff:192.0.2.7. A mapped prefix of length
 * 96 or more becomes the IPv4 prefix of length len-96
 * (::ffff:192.0.2.0/120 is 192.0.2.0/24); a shorter one stays IPv6, since it
 * covers more than the mapped range.
 *
 * Parsing is strict. IPv4 is a dotted quad of decimal octets without leading
 * zeros; the legacy forms inet_aton() accepts ("1", "127.1", "0x7f.1",
 * "010.1.1.1") are errors. IPv6 takes every RFC 4291 text form, including
 * "::" and an embedded IPv4 in the last 32 bits. Output is RFC 5952
 * canonical: lowercase hex, no leading zeros, the longest run of two or more
 * zero groups (the first on a tie) written as "::". Zone ids are rejected.
 *
 * All functions are pure and thread-safe.
 */
#ifndef IPWALL_ADDR_H
#define IPWALL_ADDR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <ipwall/errcode.h>

enum ipw_family {
	IPW_AF_NONE = 0,
	IPW_AF_INET = 4,
	IPW_AF_INET6 = 6,
};

struct ipw_addr {
	uint8_t family; /* enum ipw_family */
	uint8_t plen; /* prefix length: 0..32 or 0..128; 32/128 = one address */
	uint8_t pad[2]; /* always zero */
	/*
	 * Network byte order. IPv4 uses bytes 0..3; the rest is zero. Bits past
	 * plen are zero.
	 */
	uint8_t bytes[16];
};

/* Longest text ipw_addr_format() writes, with the NUL:
 * "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128" is 43 characters. */
#define IPW_ADDR_STRLEN 48

/* Parse flags. */
enum ipw_addr_flags {
	/* Reject "/len": only a single address is accepted. */
	IPW_ADDR_HOST = 1u << 0,
	/* Clear host bits ("192.0.2.7/24" -> 192.0.2.0/24) instead of failing
	 * with IPW_EADDR_HOST_BITS. */
	IPW_ADDR_MASK = 1u << 1,
};

/*
 * ipw_addr_parse() - parse an address or CIDR prefix.
 * @s:      text, not necessarily NUL-terminated; may be NULL when @len is 0
 * @len:    bytes of @s to parse; all of them must belong to the address
 * @flags:  IPW_ADDR_* flags
 * @out:    the result; written only on success
 * @errpos: if not NULL, set on failure to the byte offset in @s where the
 *          problem was found (for messages such as "at offset 4")
 *
 * Returns 0, or a negative IPW_EADDR_* code naming what was wrong.
 */
int ipw_addr_parse(const char *s, size_t len, unsigned flags,
		   struct ipw_addr *out, size_t *errpos);

/* ipw_addr_parse_str() - ipw_addr_parse() on a NUL-terminated string. */
int ipw_addr_parse_str(const char *s, unsigned flags, struct ipw_addr *out);

/*
 * ipw_addr_format() - canonical text of @a ("/len" only when shorter than
 * the full length).
 * @buf: output, NUL-terminated on success; IPW_ADDR_STRLEN always suffices
 *
 * Returns the length written (without the NUL), IPW_EBUFSIZE if @size is
 * too small (then @buf holds an empty string if @size > 0), or IPW_EINVAL
 * if @a is not a valid value.
 */
int ipw_addr_format(const struct ipw_addr *a, char *buf, size_t size);

/*
 * ipw_addr_error_msg() - a sentence saying what was wrong and where, e.g.
 * 'invalid address "010.1.1.1": IPv4 octet has a leading zero (at offset 0)'.
 * The input is quoted with non-printable bytes escaped and cut after 64
 * bytes. Returns what snprintf() returns.
 */
int ipw_addr_error_msg(char *buf, size_t size, const char *s, size_t len,
		       int err, size_t errpos);

/* Build values without parsing. @plen beyond the family's width is an error
 * (IPW_EADDR_PREFIX_RANGE); host bits are cleared. A mapped IPv6 address is
 * stored as IPv4, as by the parser. */
int ipw_addr_from_v4(struct ipw_addr *out, uint32_t host_order, unsigned plen);
int ipw_addr_from_v6(struct ipw_addr *out, const uint8_t bytes[16],
		     unsigned plen);

/* The family's full prefix length: 32 or 128 (0 for an invalid family). */
static inline unsigned ipw_addr_maxlen(const struct ipw_addr *a)
{
	return a->family == IPW_AF_INET	 ? 32 :
	       a->family == IPW_AF_INET6 ? 128 :
					   0;
}

/* True if @a is a single address (not a shorter prefix). */
static inline bool ipw_addr_is_host(const struct ipw_addr *a)
{
	return a->plen == ipw_addr_maxlen(a);
}

/* The IPv4 address as a host-order integer; @a must be IPv4. */
static inline uint32_t ipw_addr_v4(const struct ipw_addr *a)
{
	return (uint32_t)a->bytes[0] << 24 | (uint32_t)a->bytes[1] << 16 |
	       (uint32_t)a->bytes[2] << 8 | a->bytes[3];
}

/* True if prefix @p contains address or prefix @a (same family, @a at least
 * as long, and equal on p->plen bits). A prefix contains itself. */
bool ipw_addr_contains(const struct ipw_addr *p, const struct ipw_addr *a);

/* @out = @a truncated to @plen bits (plen <= a->plen). */
void ipw_addr_truncate(struct ipw_addr *out, const struct ipw_addr *a,
		       unsigned plen);

/* Total order: family, then bytes, then prefix length. Equal iff the same
 * target. Returns <0, 0, >0. */
int ipw_addr_cmp(const struct ipw_addr *a, const struct ipw_addr *b);

static inline bool ipw_addr_equal(const struct ipw_addr *a,
				  const struct ipw_addr *b)
{
	return ipw_addr_cmp(a, b) == 0;
}

#endif /* IPWALL_ADDR_H */
