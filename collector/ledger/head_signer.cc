#include "collector/ledger/head_signer.h"

#include "common/merkle.h"

namespace vagt::collector::ledger {

Result<std::optional<SignedTreeHead>> HeadSigner::sign_if_grown(std::uint64_t now_ns) {
  if (!last_size_) {
    auto heads = store_.tree_heads();
    if (!heads) return tl::unexpected(heads.error());
    if (!heads->empty()) last_size_ = heads->back().head.tree_size;
  }
  auto hashes = store_.ledger_leaf_hashes();
  if (!hashes) return tl::unexpected(hashes.error());
  if (last_size_ && *last_size_ == hashes->size()) return std::optional<SignedTreeHead>{};
  TreeHead head;
  head.tree_size = hashes->size();
  head.root = merkle::root_of_hashes(*hashes);
  head.signed_ns = now_ns;
  auto sth = sign_tree_head(head, key_, cert_pem_);
  if (!sth) return tl::unexpected(sth.error());
  if (auto r = store_.append_tree_head(*sth); !r) return tl::unexpected(r.error());
  last_size_ = head.tree_size;
  return std::optional<SignedTreeHead>(std::move(*sth));
}

}  // namespace vagt::collector::ledger
