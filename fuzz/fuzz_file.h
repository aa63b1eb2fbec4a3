/* SPDX-License-Identifier: MIT */
/*
 * What the harnesses of file parsers share (fuzz_config.c,
 * fuzz_tokens.c): the input becomes the file, held in a memfd and read as
 * /proc/self/fd/N, and the parser's complaints on stderr are kept out of
 * libFuzzer's output.
 */
#ifndef IPWALL_FUZZ_FUZZ_FILE_H
#define IPWALL_FUZZ_FUZZ_FILE_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static inline void fuzz_check(int cond)
{
	if (!cond)
		abort();
}

/*
 * The parser's stderr would bury libFuzzer's output. -close_fd_mask=2
 * has libFuzzer keep a copy of fd 2 for its own output and the
 * sanitizers' reports, then dup2() /dev/null onto fd 2, once, before the
 * first input: LLVMFuzzerInitialize() runs before libFuzzer parses its
 * flags, and may add one. An explicit -close_fd_mask wins.
 */
static inline void fuzz_quiet_stderr(int *argc, char ***argv)
{
	static char quiet[] = "-close_fd_mask=2";
	char **v;
	int i;

	for (i = 1; i < *argc; i++)
		if (strncmp((*argv)[i], "-close_fd_mask=", 15) == 0)
			return;
	v = calloc((size_t)*argc + 2, sizeof(*v));
	fuzz_check(v != NULL);
	memcpy(v, *argv, (size_t)*argc * sizeof(*v));
	v[(*argc)++] = quiet;
	*argv = v;
	/* what goes to /dev/null need not be written line by line */
	setvbuf(stderr, NULL, _IOFBF, 1 << 16);
}

/* A memfd called @name and its path (/proc/self/fd/N) in @path. */
static inline int fuzz_memfd(const char *name, char *path, size_t size)
{
	int fd = memfd_create(name, MFD_CLOEXEC);

	fuzz_check(fd >= 0);
	snprintf(path, size, "/proc/self/fd/%d", fd);
	return fd;
}

/* Make the memfd hold exactly @data[0..size). */
static inline void fuzz_memfd_set(int fd, const uint8_t *data, size_t size)
{
	fuzz_check(ftruncate(fd, 0) == 0);
	fuzz_check(size == 0 || pwrite(fd, data, size, 0) == (ssize_t)size);
}

#endif /* IPWALL_FUZZ_FUZZ_FILE_H */
