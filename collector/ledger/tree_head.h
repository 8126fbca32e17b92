#pragma once

// Signed tree heads (docs/evidence.md): the collector signs (size, root,
// time) of its ledger with its Ed25519 key at an interval and at shutdown.

#include <cstdint>
#include <string>

#include "common/crypto.h"
#include "common/result.h"

namespace vagt::collector::ledger {

struct TreeHead {
  std::uint64_t tree_size = 0;
  crypto::Sha256 root{};
  std::uint64_t signed_ns = 0;
};

struct SignedTreeHead {
  std::int64_t id = 0;  // row id once stored
  TreeHead head;
  std::string signature;        // Ed25519 over tree_head_message(head)
  std::string signer_cert_pem;  // the collector certificate holding the public key
};

inline constexpr std::string_view kTreeHeadDomain = "vagt-tree-head-v1";

// "vagt-tree-head-v1" 0x00 || u64 BE tree_size || root (32) || u64 BE signed_ns.
std::string tree_head_message(const TreeHead& head);

Result<SignedTreeHead> sign_tree_head(const TreeHead& head, const crypto::PrivateKey& key,
                                      const std::string& cert_pem);
// Empty on success, else why the signature does not hold.
std::string check_tree_head_signature(const SignedTreeHead& sth);

}  // namespace vagt::collector::ledger
