// What both key stores (server/sqlite_key_store.h, server/redis_key_store.h) need to mint and check API keys:
// fresh raw keys, key ids and webhook secrets from the system's CSPRNG, the SHA-256 that is stored in place of
// a raw key, a constant-time comparison of digests, and the limits on balances. Kept in one place so a key
// created by one store authenticates in the other's format (the same hash, the same id shape).
#pragma once

#include <cstdint>
#include <string>

#include "server/auth.h"

namespace tc::server::key_material {

// Balances stay in 0..kMaxCredits: far below int64 overflow in any sum of two balances, and exact in a double
// (Redis' Lua numbers are doubles).
constexpr int64_t kMaxCredits = int64_t(1) << 50;

// A new key: "tc_" + 64 hex digits (32 random bytes). Shown once; never stored.
std::string new_raw_key();
// A new record for a key named `name` with `credits`: id "key_" + 16 hex digits, created_at now (UTC),
// a new webhook secret. TC_CHECKs the credits range.
KeyInfo new_record(const std::string& name, int64_t credits);
// SHA-256 of a raw key: 32 raw bytes.
std::string key_hash(const std::string& raw_key);
std::string to_hex(const std::string& bytes);
// `n` bytes from the CSPRNG as 2n hex digits (ids of balance operations, see redis_key_store.cpp).
std::string random_hex(size_t n);
// Cheap shape check before any lookup: "tc_" prefix, at most 256 bytes.
bool plausible_raw_key(const std::string& raw_key);
// Equal sizes and equal bytes, in time independent of where they differ.
bool constant_time_equal(const std::string& a, const std::string& b);

}  // namespace tc::server::key_material
