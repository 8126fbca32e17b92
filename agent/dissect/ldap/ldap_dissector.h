#pragma once

// LDAPv3 (RFC 4511) over TCP. Messages are framed by their BER length across
// segment boundaries (at most kMaxMessageBytes each; a larger one is the
// anomaly "ldap.message_too_large" and the session stops parsing).
//
// Events (protocol "ldap"):
//  - "bind": a BindRequest paired with its BindResponse by messageID.
//    principal = bind name, or for NTLM (SASL NTLM / GSS-SPNEGO, or Microsoft
//    "sicily" [9]/[10]/[11]) the NTLM user, realm = NTLM domain. Intermediate
//    steps (saslBindInProgress, sicily package discovery / negotiate) give no
//    event of their own: the final step carries the outcome. code = resultCode;
//    detail: auth (simple|sasl|sicily), mechanism, ldap_version, result_name,
//    diagnostic_length, and where present bind_name, ntlm_workstation,
//    password_empty (an unauthenticated simple bind, RFC 4513 5.1.2).
//  - "unbind": principal = the session's last successful bind; outcome unknown
//    (UnbindRequest has no response).
//  - "starttls": ExtendedRequest 1.3.6.1.4.1.1466.20037 with its response;
//    after success the stream is TLS and parsing stops.
//  A request still unanswered when the flow closes gives its event with
//  outcome unknown. Traffic under a SASL security layer (4-octet length
//  framing, e.g. AD's GSSAPI/GSS-SPNEGO signing and sealing) cannot be read:
//  "ldap.sasl_security_layer" and the session stops. Passwords and SASL credentials never leave the
//  parser.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class LdapDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxMessageBytes = 1U << 20;
  static constexpr std::size_t kMaxPendingRequests = 256;
  static constexpr std::string_view kStartTlsOid = "1.3.6.1.4.1.1466.20037";

  std::string_view name() const override { return "ldap"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
  bool sniff(ByteView first_client_bytes) const override;
};

// The RFC 4511 name of an LDAP resultCode ("invalidCredentials"), or "" when unknown.
std::string_view ldap_result_name(std::int64_t code);

}  // namespace vagt::agent::dissect
