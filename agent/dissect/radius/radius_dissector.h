#pragma once

// RADIUS (RFC 2865 authentication on UDP 1812/1645, RFC 2866 accounting on
// UDP 1813/1646). One UDP flow is one NAS (client address and port) talking
// to one server; requests are paired with replies by Identifier.
//
// Events (protocol "radius"):
//  - action "access": an Access-Request with its Access-Accept (success) or
//    Access-Reject (failure); code = the reply's Code number (2 or 3).
//    Access-Challenge (EAP and challenge/response rounds) is a step, not an
//    outcome: no event; the final reply's event counts them in detail
//    challenges. No reply before the flow ends: outcome unknown.
//  - action "accounting": an Accounting-Request (detail status
//    start|stop|interim-update|accounting-on|accounting-off) with its
//    Accounting-Response (success) or none (unknown).
//  principal = User-Name; resource = NAS-Identifier, else NAS-IP-Address.
// detail: nas_ip, nas_identifier, nas_port_type, calling_station_id,
// called_station_id, framed_ip, service_type, auth (pap|chap|eap|none),
// reply (Access-Accept|Access-Reject|...), challenges, session_id
// (accounting). User-Password, CHAP-Password, EAP payloads, State and the
// authenticators are never read into an event.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class RadiusDissector final : public DatagramDissector {
 public:
  static constexpr std::size_t kMaxPacketBytes = 4096;  // RFC 2865 3
  std::string_view name() const override { return "radius"; }
  std::unique_ptr<DatagramSession> new_session(const flow::FlowInfo& flow,
                                               SessionOutput& out) const override;
};

}  // namespace vagt::agent::dissect
