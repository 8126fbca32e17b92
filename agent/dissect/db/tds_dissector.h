#pragma once

// TDS 7.x (MS-TDS, Microsoft SQL Server) over TCP: the login only.
//
// Events (protocol "tds", docs/events.md): "login" for a LOGIN7 message:
// principal = UserName (SQL authentication) or the NTLM user of integrated
// authentication (NTLMSSP AUTHENTICATE in the SSPI message), realm = NTLM
// domain, resource = Database; detail app_name, client_host, server_name,
// auth (sql | sspi). Outcome from the server's token stream: LOGINACK
// success, ERROR failure with code = error number (18456 login failed).
// The (obfuscated) password is never read. When PRELOGIN negotiates
// encryption, LOGIN7 travels inside TLS: "tds.encrypted_login", parsing stops.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class TdsDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxMessageBytes = 64 * 1024;

  std::string_view name() const override { return "tds"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
};

}  // namespace vagt::agent::dissect
