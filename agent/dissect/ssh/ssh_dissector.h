#pragma once

// SSH protocol version exchange (RFC 4253 4.2) over TCP. Everything after it
// is encrypted: no user name and no authentication result are visible.
//
// Event (protocol "ssh", docs/events.md): "connect" once both identification
// strings are seen (or the flow ends): detail client_version and
// server_version ("SSH-2.0-OpenSSH_7.4"); outcome unknown. Lines before the
// server's identification (RFC 4253 allows them) are skipped; a line is at
// most 255 bytes.

#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class SshDissector final : public StreamDissector {
 public:
  std::string_view name() const override { return "ssh"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
  // "SSH-" from the client.
  bool sniff(ByteView first_client_bytes) const override;
};

}  // namespace vagt::agent::dissect
