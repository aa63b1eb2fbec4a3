// SPDX-License-Identifier: MIT
/*
 * The interface bench_json.c measures, one implementation per JSON library.
 * Each library lives in its own file because jansson and json-c declare
 * functions of the same names (json_object_get, ...): one translation unit
 * cannot include both. Two of those names (json_object_get,
 * json_object_iter_next) are exported by both shared objects; each file
 * binds its references to its library's symbol version (.symver), so one
 * binary links both.
 */
#ifndef IPWALL_BENCH_JSON_LIBS_H
#define IPWALL_BENCH_JSON_LIBS_H

#include <stddef.h>

struct lib {
	const char *name;
	/* 0 if the body is a valid request, -1 if not. */
	int (*body)(const char *buf, size_t len);
	/* Number of valid requests in a batch body, -1 if any is invalid. */
	int (*batch)(const char *buf, size_t len);
	/* Parse a batch body and keep it (for the heap measurement). */
	void *(*hold)(const char *buf, size_t len);
	void (*release)(void *doc);
	/* Serialize the check response into buf; its length or -1. */
	int (*build)(char *buf, size_t cap);
	/*
	 * Parse anything. Accepted: 1, and out describes member "v" of the
	 * root object (or the root's type). Rejected: 0, out holds the error.
	 */
	int (*describe)(const char *buf, size_t len, char *out, size_t cap);
};

/* The request schema (bench_json.c): field types and lookup. */
enum json_ftype { F_STR, F_INT };
#define REQUIRED 1u
/* Record @key in @seen; -1 if unknown or repeated, else its index. */
int json_field_seen(const char *key, unsigned *seen);
enum json_ftype json_field_type(int f);
/* 1 if only JSON whitespace lies in [p, end). */
int json_ws_to_end(const char *p, const char *end);

extern const struct lib json_lib_jansson, json_lib_jsonc, json_lib_cjson;

#endif /* IPWALL_BENCH_JSON_LIBS_H */
