#pragma once

// RFC 6962 Merkle tree hashing: leaf = SHA-256(0x00 || data),
// node = SHA-256(0x01 || left || right), split at the largest power of two
// smaller than n. The empty tree hashes to SHA-256 of nothing.

#include <cstdint>
#include <string>
#include <vector>

#include "common/crypto.h"

namespace vagt::merkle {

crypto::Sha256 leaf_hash(ByteView data);
crypto::Sha256 node_hash(const crypto::Sha256& left, const crypto::Sha256& right);

// Root over leaves given as their data (each is hashed with leaf_hash).
crypto::Sha256 root(const std::vector<std::string>& leaves);
// Root over already-hashed leaves.
crypto::Sha256 root_of_hashes(const std::vector<crypto::Sha256>& leaf_hashes);

// Inclusion proof (RFC 6962 2.1.1 audit path) for leaf `index` of `n` leaves.
std::vector<crypto::Sha256> inclusion_proof(const std::vector<crypto::Sha256>& leaf_hashes,
                                            std::size_t index);
bool verify_inclusion(const crypto::Sha256& leaf, std::size_t index, std::size_t tree_size,
                      const std::vector<crypto::Sha256>& proof, const crypto::Sha256& root);

// Consistency proof (RFC 6962 2.1.2 PROOF(m, D[n])) that the first `old_size`
// leaves are a prefix of all of `leaf_hashes`. Empty when old_size is 0, equal
// to the size, or larger than it.
std::vector<crypto::Sha256> consistency_proof(const std::vector<crypto::Sha256>& leaf_hashes,
                                              std::size_t old_size);
// RFC 9162 2.1.4.2: true when `proof` shows that the tree of `old_size` with
// `old_root` is a prefix of the tree of `new_size` with `new_root`.
// old_size 0 is meaningless (every tree extends the empty one) and is refused
// unless new_size is 0 too.
bool verify_consistency(std::size_t old_size, std::size_t new_size,
                        const std::vector<crypto::Sha256>& proof, const crypto::Sha256& old_root,
                        const crypto::Sha256& new_root);

}  // namespace vagt::merkle
