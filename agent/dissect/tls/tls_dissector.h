#pragma once

// TLS handshakes (RFC 5246, RFC 8446) over TCP, clear-text part only.
//
// Events (protocol "tls", docs/events.md): "handshake" per connection:
// resource = SNI (server_name extension of the ClientHello); principal = the
// client certificate's subject CN (TLS <= 1.2 sends certificates in clear;
// TLS 1.3 encrypts them, so there is none); detail client_version (highest
// offered, from supported_versions when present), version (chosen by the
// server), cipher_suite (0xNNNN), server_cert_subject / server_cert_issuer
// (leaf), client_cert_subject / client_cert_issuer. Outcome: success once the
// server sends ChangeCipherSpec (TLS <= 1.2) or a TLS 1.3 ServerHello; a
// fatal alert first is failure with code = the alert description; otherwise
// unknown. Handshake messages are at most kMaxHandshakeBytes.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class TlsDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxHandshakeBytes = 64 * 1024;

  std::string_view name() const override { return "tls"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
  // A handshake record holding a ClientHello.
  bool sniff(ByteView first_client_bytes) const override;
};

}  // namespace vagt::agent::dissect
