// The collector's view of what an agent sends: frame length, AgentMessage
// parsing and batch verification (signature, identity, counts, Merkle root,
// events). Mode byte 0: the rest is a raw frame. Mode byte 1: the rest is a
// list of (offset, xor) edits applied to a valid signed batch, so the fuzzer
// reaches the checks behind the signature.

#include <openssl/x509.h>

#include <cstdint>

#include "common/batch.h"
#include "common/byte_reader.h"
#include "common/framing.h"

using namespace vagt;

namespace {

struct Fixture {
  std::optional<crypto::Certificate> cert;
  std::string valid_frame;
};

crypto::Certificate self_signed(const crypto::PrivateKey& key) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("fuzz-agent"), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key.get(), nullptr);
  auto cert = crypto::Certificate::from_x509(x);
  X509_free(x);
  return cert;
}

const Fixture& fixture() {
  static const Fixture* f = [] {
    auto* fx = new Fixture();
    auto key = crypto::PrivateKey::generate_ed25519();
    fx->cert.emplace(self_signed(*key));
    ChainSigner signer("fuzz-agent", std::move(*key), std::string(16, '\x01'));
    std::vector<v1::AccessEvent> events(3);
    for (auto& e : events) {
      e.set_protocol("ldap");
      e.set_principal("user");
      e.set_time_ns(1);
    }
    v1::AgentMessage m;
    *m.mutable_batch() = *signer.sign(events, 1);
    fx->valid_frame = m.SerializeAsString();
    return fx;
  }();
  return *f;
}

void check_body(const std::string& body) {
  v1::AgentMessage msg;
  if (!decode_frame_body(body, msg)) return;
  if (msg.has_batch()) (void)verify_batch(msg.batch(), *fixture().cert, "fuzz-agent");
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 1) return 0;
  ByteReader in(ByteView(data, size));
  if (in.u8() % 2 == 0) {
    if (in.remaining() < 4) return 0;
    std::array<std::uint8_t, 4> prefix{};
    const ByteView p = in.bytes(4);
    std::copy(p.begin(), p.end(), prefix.begin());
    if (!decode_frame_length(prefix, 1 << 16)) return 0;
    const ByteView rest = in.rest();
    check_body(std::string(as_chars(rest)));
    return 0;
  }
  std::string body = fixture().valid_frame;
  while (in.remaining() >= 3 && !body.empty()) {
    const std::size_t offset = in.u16be() % body.size();
    body[offset] = static_cast<char>(body[offset] ^ in.u8());
  }
  check_body(body);
  return 0;
}
