#pragma once

// The collector's tree head signer: signs (size, root, time) of the store's
// ledger with the collector's Ed25519 key and stores the head.

#include <cstdint>
#include <optional>
#include <string>

#include "collector/ledger/tree_head.h"
#include "collector/store/store.h"

namespace vagt::collector::ledger {

class HeadSigner {
 public:
  HeadSigner(Store& store, crypto::PrivateKey key, std::string cert_pem)
      : store_(store), key_(std::move(key)), cert_pem_(std::move(cert_pem)) {}

  // Signs and stores a head when the ledger grew since the last stored head
  // (or none exists); nullopt when there was nothing new to sign.
  Result<std::optional<SignedTreeHead>> sign_if_grown(std::uint64_t now_ns);

 private:
  Store& store_;
  crypto::PrivateKey key_;
  std::string cert_pem_;
  std::optional<std::uint64_t> last_size_;
};

}  // namespace vagt::collector::ledger
