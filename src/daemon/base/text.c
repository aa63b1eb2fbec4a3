/* SPDX-License-Identifier: MIT */
/* Text into a caller's fixed buffer (see text.h). */
#include <stdarg.h>
#include <stdio.h>

#include "base/text.h"

bool ipwd_appendf(char *buf, size_t size, size_t *n, const char *fmt, ...)
{
	va_list ap;
	int w;

	if (*n >= size)
		return false;
	va_start(ap, fmt);
	w = vsnprintf(buf + *n, size - *n, fmt, ap);
	va_end(ap);
	if (w < 0 || (size_t)w >= size - *n)
		return false;
	*n += (size_t)w;
	return true;
}

int ipwd_hexval(unsigned char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}
