#pragma once

// TLS contexts for the agent <-> collector link. TLS 1.3 only; both sides
// present certificates from the region's CA; there is no plaintext mode.

#include <memory>
#include <string>

#include "common/asio.h"
#include "common/crypto.h"
#include "common/result.h"

namespace vagt::tls {

struct Files {
  std::string ca_file;    // PEM: the CA(s) that certify the other side
  std::string cert_file;  // PEM: our certificate (chain)
  std::string key_file;   // PEM: our private key
  std::string crl_file;   // optional PEM CRL, checked for the peer's chain
};

using ContextPtr = std::unique_ptr<boost::asio::ssl::context>;

// Server: requires and verifies a client certificate.
Result<ContextPtr> make_server_context(const Files& files);
// Client: verifies the server against the CA; the caller must also set
// host-name verification and SNI on each stream (set_expected_name()).
Result<ContextPtr> make_client_context(const Files& files);

// Verify the peer's name (DNS or IP SAN) and send it as SNI.
Result<void> set_expected_name(SSL* ssl, const std::string& name);

// The verified peer certificate of a completed handshake.
Result<crypto::Certificate> peer_certificate(SSL* ssl);

}  // namespace vagt::tls
