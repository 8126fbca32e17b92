#include "collector/ledger/tree_head.h"

namespace vagt::collector::ledger {

std::string tree_head_message(const TreeHead& head) {
  std::string out(kTreeHeadDomain);
  out.push_back('\0');
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(head.tree_size >> shift));
  out.append(head.root.begin(), head.root.end());
  for (int shift = 56; shift >= 0; shift -= 8)
    out.push_back(static_cast<char>(head.signed_ns >> shift));
  return out;
}

Result<SignedTreeHead> sign_tree_head(const TreeHead& head, const crypto::PrivateKey& key,
                                      const std::string& cert_pem) {
  auto cert = crypto::Certificate::from_pem(cert_pem);
  if (!cert) return tl::unexpected(cert.error());
  auto pub = cert->public_key();
  if (!pub) return tl::unexpected(pub.error());
  if (pub->key_id() != key.key_id())
    return fail(ErrorCode::kInvalidArgument, "the ledger key does not match its certificate");
  SignedTreeHead sth;
  sth.head = head;
  const std::string message = tree_head_message(head);
  auto sig = key.sign(as_bytes(message));
  if (!sig) return tl::unexpected(sig.error());
  sth.signature = std::move(*sig);
  sth.signer_cert_pem = cert_pem;
  return sth;
}

std::string check_tree_head_signature(const SignedTreeHead& sth) {
  auto cert = crypto::Certificate::from_pem(sth.signer_cert_pem);
  if (!cert) return "the stored collector certificate does not parse";
  auto pub = cert->public_key();
  if (!pub || !pub->is_ed25519()) return "the stored collector certificate has no Ed25519 key";
  const std::string message = tree_head_message(sth.head);
  if (!pub->verify(as_bytes(message), as_bytes(sth.signature)))
    return "the signature does not verify against the stored collector certificate";
  return {};
}

}  // namespace vagt::collector::ledger
