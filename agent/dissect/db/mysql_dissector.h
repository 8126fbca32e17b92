#pragma once

// MySQL / MariaDB client/server protocol (MySQL "Client/Server Protocol",
// connection phase and COM_CHANGE_USER) over TCP.
//
// Events (protocol "mysql", docs/events.md):
//  - "login": HandshakeResponse41 user (principal), database (resource, when
//    sent), auth plugin (detail auth_plugin, plus server_version); outcome
//    from the OK (success) or ERR packet (failure, code = error number such
//    as 1045) that ends the authentication exchange (AuthSwitchRequest and
//    caching_sha2_password AuthMoreData steps in between are followed).
//  - "change_user": COM_CHANGE_USER, outcome as for login.
//  - "connect": an ERR packet instead of the server greeting (1130 host not
//    allowed, 1040 too many connections): failure, no principal.
//  - "starttls": an SSL Request packet; the stream is TLS from there and
//    parsing stops.
// Auth responses (scrambles, passwords sent to caching_sha2 in clear over
// TLS or RSA) are never read. Packets over kMaxPacketBytes are skipped, not
// buffered.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class MysqlDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxPacketBytes = 64 * 1024;

  std::string_view name() const override { return "mysql"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
};

}  // namespace vagt::agent::dissect
