/* SPDX-License-Identifier: MIT */
/*
 * One line of a blocklist file, as `ipwall import` reads them.
 *
 * A line holds at most one target (an address or CIDR prefix) and at most
 * one comment, which starts with '#' or ';' and runs to the end of the
 * line:
 *
 *   # FireHOL netset header          comment-only line
 *   ; Spamhaus DROP List             comment-only line
 *   192.0.2.7                        an address
 *   198.51.100.0/24                  a prefix
 *   203.0.113.0/24 ; SBL123          a prefix with the comment "SBL123"
 *   2001:db8::/32	# note            a prefix with the comment "note"
 *
 * Spaces and tabs around the target and the comment, a UTF-8 byte order
 * mark at the start of the line and one '\r' at its end (CRLF files) are
 * ignored. Since no address contains '#' or ';', a comment may follow the
 * target without a space. Anything else after the target is an error, so a
 * line in some other format ("192.0.2.7 3600", "192.0.2.1-192.0.2.9") is
 * reported rather than half read.
 *
 * The target is parsed by ipw_addr_parse() without flags: strictly, host
 * bits set past the prefix are an error (a list saying "192.0.2.7/24" is
 * ambiguous: it may mean the host or the network), and IPv4-mapped IPv6 is
 * folded into IPv4.
 *
 * Pure and thread-safe; the caller does the reading and splitting at '\n'.
 */
#ifndef IPWALL_LISTFILE_H
#define IPWALL_LISTFILE_H

#include <stddef.h>

#include <ipwall/addr.h>
#include <ipwall/errcode.h>

struct ipw_listline {
	struct ipw_addr target;
	/*
	 * The comment after the target, without its '#' or ';' and without
	 * the spaces and tabs around it: a pointer into the caller's line (not
	 * NUL-terminated, valid as long as the line is), or NULL with
	 * comment_len 0 if the line has no comment or an empty one.
	 */
	const char *comment;
	size_t comment_len;
};

/*
 * ipw_listfile_parse_line() - parse one line of a blocklist file.
 * @line:   the line, not necessarily NUL-terminated; may be NULL when @len
 *          is 0
 * @len:    its length in bytes, without the '\n' that ended it
 * @out:    the entry; written only when 1 is returned
 * @errpos: if not NULL, set on failure to the byte offset in @line of the
 *          problem (counting the byte order mark, if any)
 *
 * Returns 1 for an entry line, 0 for a blank or comment-only line, or a
 * negative code for a bad line:
 *   IPW_ELIST_NUL       a NUL byte anywhere in the line (a binary file?);
 *   IPW_ELIST_TRAILING  text after the target that is not a comment;
 *   IPW_EADDR_*         the target's own error from ipw_addr_parse(), e.g.
 *                       IPW_EADDR_V4_LEADING_ZERO or IPW_EADDR_HOST_BITS.
 */
int ipw_listfile_parse_line(const char *line, size_t len,
			    struct ipw_listline *out, size_t *errpos);

#endif /* IPWALL_LISTFILE_H */
