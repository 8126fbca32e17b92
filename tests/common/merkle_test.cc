#include "common/merkle.h"

#include <gtest/gtest.h>

namespace vagt::merkle {
namespace {

std::vector<std::string> leaves(std::size_t n) {
  // RFC 6962 test leaves (certificate-transparency merkle_tree_test): the first
  // eight inputs are "", 00, 10, 2021, 3031, 40414243, 5051525354555657,
  // 606162636465666768696a6b6c6d6e6f.
  static const char* kHex[] = {"",
                               "00",
                               "10",
                               "2021",
                               "3031",
                               "40414243",
                               "5051525354555657",
                               "606162636465666768696a6b6c6d6e6f"};
  std::vector<std::string> out;
  for (std::size_t i = 0; i < n; ++i) out.push_back(*crypto::from_hex(kHex[i]));
  return out;
}

TEST(Merkle, EmptyTreeIsHashOfNothing) {
  EXPECT_EQ(crypto::to_hex(root({})),
            "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

TEST(Merkle, KnownRootsFromCertificateTransparency) {
  // Roots of the first 1..8 leaves, from the CT reference implementation tests.
  const char* kRoots[] = {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
                          "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
                          "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
                          "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
                          "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
                          "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
                          "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
                          "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"};
  for (std::size_t n = 1; n <= 8; ++n)
    EXPECT_EQ(crypto::to_hex(root(leaves(n))), kRoots[n - 1]) << n;
}

TEST(Merkle, InclusionProofsVerifyAndDetectTampering) {
  for (std::size_t n = 1; n <= 8; ++n) {
    std::vector<crypto::Sha256> hashes;
    for (const auto& l : leaves(n)) hashes.push_back(leaf_hash(as_bytes(l)));
    const auto r = root_of_hashes(hashes);
    for (std::size_t i = 0; i < n; ++i) {
      auto proof = inclusion_proof(hashes, i);
      EXPECT_TRUE(verify_inclusion(hashes[i], i, n, proof, r)) << n << "/" << i;
      if (n > 1) {
        EXPECT_FALSE(verify_inclusion(hashes[(i + 1) % n], i, n, proof, r)) << n << "/" << i;
        proof[0][0] ^= 1;
        EXPECT_FALSE(verify_inclusion(hashes[i], i, n, proof, r)) << n << "/" << i;
      }
    }
  }
}

std::vector<crypto::Sha256> leaf_hashes(std::size_t n) {
  std::vector<crypto::Sha256> hashes;
  for (const auto& l : leaves(n)) hashes.push_back(leaf_hash(as_bytes(l)));
  return hashes;
}

std::vector<std::string> hex_all(const std::vector<crypto::Sha256>& v) {
  std::vector<std::string> out;
  for (const auto& h : v) out.push_back(crypto::to_hex(h));
  return out;
}

TEST(Merkle, ConsistencyProofsMatchCertificateTransparencyVectors) {
  // PROOF(m, D[n]) from the CT reference tests (merkle_tree_test.cc).
  const auto h = leaf_hashes(8);
  EXPECT_EQ(consistency_proof(h, 1).size(), 3u);
  EXPECT_EQ(hex_all(consistency_proof(h, 1)),
            (std::vector<std::string>{
                "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}));
  EXPECT_EQ(hex_all(consistency_proof(h, 6)),
            (std::vector<std::string>{
                "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
                "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
                "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}));
  const auto h5 = leaf_hashes(5);
  EXPECT_EQ(hex_all(consistency_proof(h5, 2)),
            (std::vector<std::string>{
                "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
                "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}));
  EXPECT_TRUE(consistency_proof(leaf_hashes(1), 1).empty());
}

TEST(Merkle, EveryConsistencyProofVerifiesAndRewrittenHistoryDoesNot) {
  for (std::size_t n = 1; n <= 8; ++n) {
    const auto h = leaf_hashes(n);
    const auto new_root = root_of_hashes(h);
    for (std::size_t m = 1; m <= n; ++m) {
      const std::vector<crypto::Sha256> prefix(h.begin(), h.begin() + static_cast<long>(m));
      const auto old_root = root_of_hashes(prefix);
      auto proof = consistency_proof(h, m);
      EXPECT_TRUE(verify_consistency(m, n, proof, old_root, new_root)) << m << "->" << n;
      // Another history of the first m leaves: the old root no longer fits.
      auto other = prefix;
      other[m - 1][0] ^= 1;
      EXPECT_FALSE(verify_consistency(m, n, proof, root_of_hashes(other), new_root))
          << m << "->" << n;
      if (!proof.empty()) {
        proof.back()[5] ^= 0x80;
        EXPECT_FALSE(verify_consistency(m, n, proof, old_root, new_root)) << m << "->" << n;
      }
    }
  }
  const auto h = leaf_hashes(5);
  EXPECT_FALSE(verify_consistency(0, 5, {}, root_of_hashes({}), root_of_hashes(h)));
  EXPECT_FALSE(verify_consistency(5, 4, {}, root_of_hashes(h), root_of_hashes(h)));
  EXPECT_FALSE(verify_consistency(5, 5, {h[0]}, root_of_hashes(h), root_of_hashes(h)));
}

}  // namespace
}  // namespace vagt::merkle
