#pragma once

// PostgreSQL frontend/backend protocol 3.0 (PostgreSQL docs, chapter 55
// "Frontend/Backend Protocol") over TCP: the start-up and authentication
// phase only.
//
// Events (protocol "postgresql", docs/events.md):
//  - "login": StartupMessage user (principal), database (resource),
//    application_name; authentication method requested by the server
//    (detail auth_method: trust, cleartext, md5, sasl mechanism such as
//    SCRAM-SHA-256, gss, sspi). AuthenticationOk then ReadyForQuery is
//    success; an ErrorResponse is failure with code = SQLSTATE (28P01 bad
//    password, 28000 no such role / no pg_hba entry, 3D000 no database).
//  - "starttls": an SSLRequest the server accepts ('S'), or a GSSENCRequest
//    it accepts ('G'); detail encryption = tls | gss. The stream is encrypted
//    from there and parsing stops. A refused one ('N') is noted in the login
//    event as ssl_requested=refused.
// After the login event the session parses nothing more. Passwords, SASL
// messages and MD5 hashes are never read.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class PostgresDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxMessageBytes = 64 * 1024;

  std::string_view name() const override { return "postgresql"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
  // An SSLRequest, GSSENCRequest or protocol 3.0 StartupMessage.
  bool sniff(ByteView first_client_bytes) const override;
};

}  // namespace vagt::agent::dissect
