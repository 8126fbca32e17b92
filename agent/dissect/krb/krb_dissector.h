#pragma once

// Kerberos V5 (RFC 4120) between clients and a KDC: UDP 88 (one message per
// datagram) and TCP 88 (each message preceded by a 4-octet big-endian length,
// RFC 4120 7.2.2). A direction is read from the first chunk that starts like
// a record (the capture may begin mid-stream); a length with the high bit set
// or above kMaxMessageBytes ("krb.tcp_reserved_length",
// "krb.message_too_large") or a gap ("krb.gap") drops that direction's
// buffer until the next chunk that starts like a record.
//
// Events (protocol "krb"), one per KDC exchange, a request paired with the
// next reply in the same flow (for UDP the flow is the client's address and
// port, so retransmissions to another port are separate exchanges):
//  - action "as" (AS-REQ: initial login, a ticket-granting ticket or a
//    password-change ticket) or "tgs" (TGS-REQ: a service ticket).
//  - principal = cname (request's, else reply's; for TGS the reply's, since a
//    TGS-REQ carries its client only inside the encrypted authenticator),
//    realm = the client's realm, resource = sname ("krbtgt/EXAMPLE.ORG").
//  - outcome: AS-REP/TGS-REP success; KRB-ERROR failure with code = the
//    error-code number and detail error_name; no reply before the flow ends:
//    unknown.
//  - KRB-ERROR 25 (PREAUTH_REQUIRED) and 52 (RESPONSE_TOO_BIG) are steps of
//    one login, not failed logins: they give no event; the client's next
//    AS-REQ (with pre-authentication, or over TCP) gives the event.
//  - A reply with no request seen gives its event alone (detail
//    request_seen=false; a lone KRB-ERROR is "as" when sname is krbtgt/*).
// detail: msg (as-req|tgs-req), etypes (offered, names), kdc_options (flag
// names), pa_types (names), pkinit (true when a PKINIT request), ticket_etype
// and reply_etype (of the reply's ticket and enc-part), cname_type,
// error_name, request_seen. Tickets, authenticators, pre-authentication data
// and encrypted parts are never kept: only their types.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

namespace krb {

inline constexpr std::int64_t kAsReq = 10;
inline constexpr std::int64_t kAsRep = 11;
inline constexpr std::int64_t kTgsReq = 12;
inline constexpr std::int64_t kTgsRep = 13;
inline constexpr std::int64_t kError = 30;

inline constexpr std::int64_t kErrPreauthRequired = 25;
inline constexpr std::int64_t kErrResponseTooBig = 52;

struct PrincipalName {
  std::int64_t name_type = 0;
  std::vector<std::string> parts;
  // Components joined by '/' ("krbtgt/EXAMPLE.ORG").
  std::string str() const;
};

// What vagt reads of one message; nothing secret.
struct Message {
  std::int64_t msg_type = 0;
  // AS-REQ/TGS-REQ: body realm; AS-REP/TGS-REP: crealm; KRB-ERROR: crealm
  // when present, else realm.
  std::string realm;
  std::optional<PrincipalName> cname;
  std::optional<PrincipalName> sname;  // request: sname; reply: ticket sname; error: sname
  std::string srealm;                  // error: realm; reply: ticket realm
  std::uint32_t kdc_options = 0;
  std::vector<std::int64_t> etypes;    // request: offered
  std::vector<std::int64_t> pa_types;  // padata types
  std::optional<std::int64_t> ticket_etype;
  std::optional<std::int64_t> reply_etype;
  std::optional<std::int64_t> error_code;

  bool is_request() const { return msg_type == kAsReq || msg_type == kTgsReq; }
  bool is_reply() const { return msg_type == kAsRep || msg_type == kTgsRep || msg_type == kError; }
};

// Parses one whole message. On failure returns nullopt and sets `anomaly`
// to a stable id ("krb.malformed", "krb.unknown_message").
std::optional<Message> parse_message(ByteView data, std::string_view& anomaly);

// "KDC_ERR_PREAUTH_FAILED" (RFC 4120 7.5.9), or "" when unknown.
std::string_view error_name(std::int64_t code);
// "aes256-cts-hmac-sha1-96" (RFC 3961/3962/4757/8009), or the number.
std::string enctype_name(std::int64_t etype);

}  // namespace krb

class KrbStreamDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxMessageBytes = 1U << 20;
  std::string_view name() const override { return "krb"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
};

class KrbDatagramDissector final : public DatagramDissector {
 public:
  std::string_view name() const override { return "krb"; }
  std::unique_ptr<DatagramSession> new_session(const flow::FlowInfo& flow,
                                               SessionOutput& out) const override;
};

}  // namespace vagt::agent::dissect
