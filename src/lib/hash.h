/* SPDX-License-Identifier: MIT */
/*
 * Keyed hashing of table keys.
 *
 * Attackers choose the addresses we store, so the hash is keyed with 128
 * random bits per table (HashDoS): without the key an attacker cannot
 * predict which addresses collide. The function is the "mum" mixer of
 * wyhash (a 64x64->128 multiply folded by xor), applied to the key material
 * xored with the secret: two multiplies for any key size we use. This is
 * the construction Go's runtime map and others use for seeded hashing of
 * short keys; it is not a cryptographic PRF, but it is a keyed hash whose
 * collisions cannot be found blind, at ~2 ns.
 *
 * Used by the ban table and, so that designs are compared on equal terms,
 * by the baseline tables in bench/.
 */
#ifndef IPWALL_SRC_LIB_HASH_H
#define IPWALL_SRC_LIB_HASH_H

#include <stdint.h>
#include <string.h>

static inline uint64_t ipw_mum(uint64_t a, uint64_t b)
{
	__uint128_t r = (__uint128_t)a * b;

	return (uint64_t)r ^ (uint64_t)(r >> 64);
}

#define IPW_HASH_C0 0xa0761d6478bd642full
#define IPW_HASH_C1 0xe7037ed1a0b428dbull

/* 32-bit key (an IPv4 address). */
static inline uint64_t ipw_hash_u32(uint32_t x, const uint64_t k[2])
{
	return ipw_mum(ipw_mum((uint64_t)x ^ k[0], IPW_HASH_C0 ^ k[1]) ^ 4,
		       IPW_HASH_C1);
}

/* 64-bit key (an IPv4 prefix packed with its length). */
static inline uint64_t ipw_hash_u64(uint64_t x, const uint64_t k[2])
{
	return ipw_mum(ipw_mum(x ^ k[0], IPW_HASH_C0 ^ k[1]) ^ 8, IPW_HASH_C1);
}

/* 128-bit key (an IPv6 address or prefix), as two words. */
static inline uint64_t ipw_hash_u128(uint64_t hi, uint64_t lo,
				     const uint64_t k[2])
{
	return ipw_mum(ipw_mum(hi ^ k[0], lo ^ k[1] ^ IPW_HASH_C0) ^ 16,
		       IPW_HASH_C1);
}

#endif /* IPWALL_SRC_LIB_HASH_H */
