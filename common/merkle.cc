#include "common/merkle.h"

#include <openssl/evp.h>

#include <initializer_list>
#include <memory>

namespace vagt::merkle {

namespace {

crypto::Sha256 hash_parts(std::initializer_list<ByteView> parts) {
  crypto::Sha256 out{};
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  for (ByteView part : parts) EVP_DigestUpdate(ctx.get(), part.data(), part.size());
  EVP_DigestFinal_ex(ctx.get(), out.data(), nullptr);
  return out;
}

std::size_t split_point(std::size_t n) {  // largest power of two < n, n >= 2
  std::size_t k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

crypto::Sha256 subtree(const crypto::Sha256* hashes, std::size_t n) {
  if (n == 1) return hashes[0];
  const std::size_t k = split_point(n);
  return node_hash(subtree(hashes, k), subtree(hashes + k, n - k));
}

void path(const crypto::Sha256* hashes, std::size_t n, std::size_t index,
          std::vector<crypto::Sha256>& out) {
  if (n <= 1) return;
  const std::size_t k = split_point(n);
  if (index < k) {
    path(hashes, k, index, out);
    out.push_back(subtree(hashes + k, n - k));
  } else {
    path(hashes + k, n - k, index - k, out);
    out.push_back(subtree(hashes, k));
  }
}

// SUBPROOF(m, D[n], b) of RFC 6962 2.1.2.
void subproof(const crypto::Sha256* hashes, std::size_t n, std::size_t m, bool complete,
              std::vector<crypto::Sha256>& out) {
  if (m == n) {
    if (!complete) out.push_back(subtree(hashes, n));
    return;
  }
  const std::size_t k = split_point(n);
  if (m <= k) {
    subproof(hashes, k, m, complete, out);
    out.push_back(subtree(hashes + k, n - k));
  } else {
    subproof(hashes + k, n - k, m - k, false, out);
    out.push_back(subtree(hashes, k));
  }
}

}  // namespace

crypto::Sha256 leaf_hash(ByteView data) {
  const std::uint8_t prefix = 0x00;
  return hash_parts({ByteView(&prefix, 1), data});
}

crypto::Sha256 node_hash(const crypto::Sha256& left, const crypto::Sha256& right) {
  const std::uint8_t prefix = 0x01;
  return hash_parts({ByteView(&prefix, 1), ByteView(left), ByteView(right)});
}

crypto::Sha256 root_of_hashes(const std::vector<crypto::Sha256>& leaf_hashes) {
  if (leaf_hashes.empty()) return crypto::sha256(ByteView{});
  return subtree(leaf_hashes.data(), leaf_hashes.size());
}

crypto::Sha256 root(const std::vector<std::string>& leaves) {
  std::vector<crypto::Sha256> hashes;
  hashes.reserve(leaves.size());
  for (const auto& leaf : leaves) hashes.push_back(leaf_hash(as_bytes(leaf)));
  return root_of_hashes(hashes);
}

std::vector<crypto::Sha256> inclusion_proof(const std::vector<crypto::Sha256>& leaf_hashes,
                                            std::size_t index) {
  std::vector<crypto::Sha256> out;
  if (index < leaf_hashes.size()) path(leaf_hashes.data(), leaf_hashes.size(), index, out);
  return out;
}

bool verify_inclusion(const crypto::Sha256& leaf, std::size_t index, std::size_t tree_size,
                      const std::vector<crypto::Sha256>& proof, const crypto::Sha256& root) {
  // RFC 9162 2.1.3.2: walk up with fn/sn.
  if (index >= tree_size) return false;
  std::size_t fn = index, sn = tree_size - 1;
  crypto::Sha256 r = leaf;
  for (const auto& p : proof) {
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      r = node_hash(p, r);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      r = node_hash(r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && r == root;
}

std::vector<crypto::Sha256> consistency_proof(const std::vector<crypto::Sha256>& leaf_hashes,
                                              std::size_t old_size) {
  std::vector<crypto::Sha256> out;
  if (old_size == 0 || old_size >= leaf_hashes.size()) return out;
  subproof(leaf_hashes.data(), leaf_hashes.size(), old_size, true, out);
  return out;
}

bool verify_consistency(std::size_t old_size, std::size_t new_size,
                        const std::vector<crypto::Sha256>& proof, const crypto::Sha256& old_root,
                        const crypto::Sha256& new_root) {
  if (old_size > new_size) return false;
  if (old_size == new_size) return proof.empty() && old_root == new_root;
  if (old_size == 0) return false;
  if (proof.empty()) return false;
  // RFC 9162 2.1.4.2.
  std::vector<crypto::Sha256> path;
  path.reserve(proof.size() + 1);
  const bool power_of_two = (old_size & (old_size - 1)) == 0;
  if (power_of_two) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  std::size_t fn = old_size - 1, sn = new_size - 1;
  while ((fn & 1) == 1) {
    fn >>= 1;
    sn >>= 1;
  }
  crypto::Sha256 fr = path[0], sr = path[0];
  for (std::size_t i = 1; i < path.size(); ++i) {
    const crypto::Sha256& c = path[i];
    if (sn == 0) return false;
    if ((fn & 1) == 1 || fn == sn) {
      fr = node_hash(c, fr);
      sr = node_hash(c, sr);
      if ((fn & 1) == 0) {
        while ((fn & 1) == 0 && fn != 0) {
          fn >>= 1;
          sn >>= 1;
        }
      }
    } else {
      sr = node_hash(sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  return sn == 0 && fr == old_root && sr == new_root;
}

}  // namespace vagt::merkle
