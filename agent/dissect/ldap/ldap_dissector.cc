#include "agent/dissect/ldap/ldap_dissector.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/dissect/ber/ber_reader.h"
#include "agent/dissect/ntlmssp/ntlmssp.h"
#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

using ber::TagClass;

// protocolOp [APPLICATION n] numbers (RFC 4511 section 4.2 ff.).
constexpr std::uint32_t kOpBindRequest = 0;
constexpr std::uint32_t kOpBindResponse = 1;
constexpr std::uint32_t kOpUnbindRequest = 2;
constexpr std::uint32_t kOpSearchRequest = 3;
constexpr std::uint32_t kOpModifyRequest = 6;
constexpr std::uint32_t kOpAddRequest = 8;
constexpr std::uint32_t kOpDelRequest = 10;
constexpr std::uint32_t kOpModDnRequest = 12;
constexpr std::uint32_t kOpCompareRequest = 14;
constexpr std::uint32_t kOpAbandonRequest = 16;
constexpr std::uint32_t kOpExtendedRequest = 23;
constexpr std::uint32_t kOpExtendedResponse = 24;

// AuthenticationChoice tags: RFC 4511 simple [0], sasl [3]; Microsoft
// (MS-ADTS 5.1.1.1.1) sicilyPackageDiscovery [9], sicilyNegotiate [10],
// sicilyResponse [11].
constexpr std::uint32_t kAuthSimple = 0;
constexpr std::uint32_t kAuthSasl = 3;
constexpr std::uint32_t kAuthSicilyDiscovery = 9;
constexpr std::uint32_t kAuthSicilyNegotiate = 10;
constexpr std::uint32_t kAuthSicilyResponse = 11;

constexpr std::int64_t kResultSuccess = 0;
constexpr std::int64_t kResultSaslBindInProgress = 14;

constexpr ber::Limits kBerLimits{.max_depth = 16, .max_length = LdapDissector::kMaxMessageBytes};

enum class RequestKind { kBind, kStartTls };

struct Request {
  RequestKind kind = RequestKind::kBind;
  std::uint64_t time_ns = 0;
  // Bind.
  std::string auth;  // simple | sasl | sicily | other
  std::uint32_t auth_tag = 0;
  std::string mechanism;
  std::string bind_name;
  std::int64_t version = 0;
  bool password_empty = false;
  std::optional<ntlmssp::Authenticate> ntlm;
};

class LdapSession final : public StreamSession {
 public:
  explicit LdapSession(SessionOutput& out) : out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction direction, std::uint64_t length, std::uint64_t time_ns) override;
  void on_close(std::uint64_t time_ns) override;
  bool wants_data() const override { return !stopped_; }

 private:
  // Parsing ends for good; on_data drops the buffers once its loop is left.
  void stop(std::string_view anomaly_id) {
    out_.anomaly(anomaly_id);
    stopped_ = true;
  }
  void handle_message(ByteView contents, std::uint64_t time_ns);
  void on_bind_request(std::int64_t id, ber::Reader& op, std::uint64_t time_ns);
  void on_bind_response(std::int64_t id, ber::Reader& op);
  void on_extended_request(std::int64_t id, ber::Reader& op, std::uint64_t time_ns);
  void on_extended_response(std::int64_t id, ber::Reader& op);
  void add_pending(std::int64_t id, Request request);
  void emit_bind(const Request& request, std::optional<std::int64_t> result,
                 std::size_t diagnostic_length);
  void emit_starttls(const Request& request, std::optional<std::int64_t> result);
  v1::AccessEvent base_event(std::uint64_t time_ns, std::string action) const;

  SessionOutput& out_;
  std::vector<std::uint8_t> buffer_[2];
  bool resync_[2] = {false, false};
  bool stopped_ = false;
  std::map<std::int64_t, Request> pending_;  // messageID -> unanswered request
  std::optional<Request> bind_in_progress_;  // multi-step bind awaiting its next step
  std::string bound_principal_;
  std::string bound_realm_;
};

bool looks_like_ldap_message(ByteView data) {
  // LDAPMessage ::= SEQUENCE { messageID INTEGER (0..2^31-1), protocolOp [APPLICATION n] ... }
  ber::Header outer;
  if (ber::parse_header(data, outer, LdapDissector::kMaxMessageBytes) != ber::BerStatus::kOk ||
      outer.tag_class != TagClass::kUniversal || outer.tag != ber::tag::kSequence ||
      !outer.constructed || outer.length < 5) {
    return false;
  }
  ByteView rest = data.subspan(outer.header_length);
  ber::Header id;
  if (ber::parse_header(rest, id, 4) != ber::BerStatus::kOk ||
      id.tag_class != TagClass::kUniversal || id.tag != ber::tag::kInteger || id.constructed ||
      id.length == 0 || rest.size() < id.header_length + id.length) {
    return false;
  }
  rest = rest.subspan(id.header_length + static_cast<std::size_t>(id.length));
  ber::Header op;
  const ber::BerStatus st = ber::parse_header(rest, op, LdapDissector::kMaxMessageBytes);
  if (st != ber::BerStatus::kOk || op.tag_class != TagClass::kApplication) return false;
  switch (op.tag) {
    case kOpBindRequest:
    case kOpSearchRequest:
    case kOpModifyRequest:
    case kOpAddRequest:
    case kOpModDnRequest:
    case kOpCompareRequest:
    case kOpExtendedRequest:
      return op.constructed;
    case kOpUnbindRequest:
    case kOpDelRequest:
    case kOpAbandonRequest:
      return !op.constructed;
    default:
      return false;
  }
}

// Reads an LDAPResult's resultCode, matchedDN and diagnosticMessage.
bool read_result(ber::Reader& r, std::int64_t& code, std::size_t& diagnostic_length) {
  ber::Tlv tlv;
  if (!r.expect(TagClass::kUniversal, ber::tag::kEnumerated, tlv)) return false;
  if (!ber::decode_integer(tlv.value, code)) return false;
  if (!r.expect(TagClass::kUniversal, ber::tag::kOctetString, tlv)) return false;  // matchedDN
  if (!r.expect(TagClass::kUniversal, ber::tag::kOctetString, tlv)) return false;  // diagnostic
  diagnostic_length = tlv.value.size();
  return true;
}

void LdapSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  const auto d = static_cast<std::size_t>(direction);
  auto& buf = buffer_[d];
  if (resync_[d]) {
    // After a gap, only a chunk that starts like an LDAPMessage is taken up.
    if (!looks_like_ldap_message(data)) return;
    resync_[d] = false;
  }
  buf.insert(buf.end(), data.begin(), data.end());

  std::size_t consumed = 0;
  while (!stopped_ && consumed < buf.size()) {
    const ByteView rest = ByteView(buf).subspan(consumed);
    if (rest[0] == 0x00) {
      // Not BER: an LDAPMessage starts with 0x30. A SASL security layer
      // (RFC 4422 3.7, RFC 4513 5.2.1.5) frames each buffer with a 4-octet
      // network-order length instead; its contents are integrity-protected
      // or encrypted and cannot be read.
      stop("ldap.sasl_security_layer");
      break;
    }
    ber::Header header;
    const ber::BerStatus st = ber::parse_header(rest, header, LdapDissector::kMaxMessageBytes);
    if (st == ber::BerStatus::kNeedMore) break;
    if (st == ber::BerStatus::kTooLarge) {
      stop("ldap.message_too_large");
      break;
    }
    if (st == ber::BerStatus::kIndefinite) {
      stop("ldap.indefinite_length");
      break;
    }
    if (st != ber::BerStatus::kOk || header.tag_class != TagClass::kUniversal ||
        header.tag != ber::tag::kSequence || !header.constructed) {
      stop("ldap.malformed_framing");
      break;
    }
    const std::size_t total = header.header_length + static_cast<std::size_t>(header.length);
    if (rest.size() < total) break;
    handle_message(rest.subspan(header.header_length, static_cast<std::size_t>(header.length)),
                   time_ns);
    consumed += total;
  }
  if (stopped_) {
    buffer_[0] = {};
    buffer_[1] = {};
    return;
  }
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(consumed));
}

void LdapSession::on_gap(Direction direction, std::uint64_t /*length*/, std::uint64_t) {
  if (stopped_) return;
  const auto d = static_cast<std::size_t>(direction);
  buffer_[d].clear();
  resync_[d] = true;
  out_.anomaly("ldap.gap");
}

void LdapSession::handle_message(ByteView contents, std::uint64_t time_ns) {
  ber::Reader r(contents, kBerLimits, 1);
  ber::Tlv id_tlv;
  ber::Tlv op_tlv;
  std::int64_t id = 0;
  if (!r.expect(TagClass::kUniversal, ber::tag::kInteger, id_tlv) ||
      !ber::decode_integer(id_tlv.value, id) || !r.next(op_tlv) ||
      op_tlv.header.tag_class != TagClass::kApplication) {
    out_.anomaly("ldap.malformed_message");
    return;
  }
  // Controls ([0]) may follow; they are not needed.
  if (op_tlv.header.tag == kOpUnbindRequest) {
    v1::AccessEvent event = base_event(time_ns, "unbind");
    event.set_principal(bound_principal_);
    event.set_realm(bound_realm_);
    event.set_outcome(v1::OUTCOME_UNKNOWN);
    out_.emit(std::move(event));
    return;
  }
  if (op_tlv.header.tag == kOpAbandonRequest) return;  // primitive, nothing to read
  ber::Reader op = r.enter(op_tlv);
  if (!op.ok()) {
    out_.anomaly("ldap.malformed_message");
    return;
  }
  switch (op_tlv.header.tag) {
    case kOpBindRequest:
      on_bind_request(id, op, time_ns);
      break;
    case kOpBindResponse:
      on_bind_response(id, op);
      break;
    case kOpExtendedRequest:
      on_extended_request(id, op, time_ns);
      break;
    case kOpExtendedResponse:
      on_extended_response(id, op);
      break;
    default:
      break;  // searches, modifications, results: not events (yet)
  }
}

void LdapSession::add_pending(std::int64_t id, Request request) {
  if (pending_.size() >= LdapDissector::kMaxPendingRequests && !pending_.contains(id)) {
    out_.anomaly("ldap.too_many_pending");
    return;
  }
  pending_.insert_or_assign(id, std::move(request));
}

void LdapSession::on_bind_request(std::int64_t id, ber::Reader& op, std::uint64_t time_ns) {
  ber::Tlv version;
  ber::Tlv name;
  ber::Tlv auth;
  Request req;
  req.kind = RequestKind::kBind;
  req.time_ns = time_ns;
  if (!op.expect(TagClass::kUniversal, ber::tag::kInteger, version) ||
      !ber::decode_integer(version.value, req.version) ||
      !op.expect(TagClass::kUniversal, ber::tag::kOctetString, name) || !op.next(auth) ||
      auth.header.tag_class != TagClass::kContextSpecific) {
    out_.anomaly("ldap.malformed_bind");
    return;
  }
  req.bind_name = sanitize_utf8(name.value);
  req.auth_tag = auth.header.tag;
  switch (auth.header.tag) {
    case kAuthSimple:
      req.auth = "simple";
      req.password_empty = auth.value.empty();  // the password itself is never kept
      break;
    case kAuthSasl: {
      req.auth = "sasl";
      ber::Reader sasl = op.enter(auth);
      ber::Tlv mechanism;
      ber::Tlv credentials;
      if (!sasl.expect(TagClass::kUniversal, ber::tag::kOctetString, mechanism)) {
        out_.anomaly("ldap.malformed_bind");
        return;
      }
      req.mechanism = sanitize_utf8(mechanism.value, 64);
      if (sasl.next(credentials) && credentials.is_universal(ber::tag::kOctetString)) {
        // NTLM raw (mechanism "NTLM") or inside SPNEGO (GSS-SPNEGO, RFC 4178).
        const ByteView ntlm = ntlmssp::find_message(credentials.value);
        if (!ntlm.empty() && ntlmssp::message_type(ntlm) == ntlmssp::MessageType::kAuthenticate) {
          req.ntlm = ntlmssp::parse_authenticate(ntlm);
          if (!req.ntlm) out_.anomaly("ntlmssp.malformed_authenticate");
        }
      }
      break;
    }
    case kAuthSicilyDiscovery:
    case kAuthSicilyNegotiate:
    case kAuthSicilyResponse:
      req.auth = "sicily";
      req.mechanism = "NTLM";
      if (auth.header.tag == kAuthSicilyResponse) {
        const ByteView ntlm = ntlmssp::find_message(auth.value);
        req.ntlm = ntlmssp::parse_authenticate(ntlm);
        if (!req.ntlm) out_.anomaly("ntlmssp.malformed_authenticate");
      }
      break;
    default:
      req.auth = "other";
      out_.anomaly("ldap.unknown_auth_choice");
      break;
  }

  if (bind_in_progress_) {
    // A multi-step bind continues with the same method; anything else
    // abandons it (RFC 4511 4.2.1), and its outcome was never told.
    const bool continues = bind_in_progress_->auth == req.auth &&
                           (req.auth == "sicily" || bind_in_progress_->mechanism == req.mechanism);
    if (!continues) emit_bind(*bind_in_progress_, std::nullopt, 0);
    bind_in_progress_.reset();
  }
  add_pending(id, std::move(req));
}

void LdapSession::on_bind_response(std::int64_t id, ber::Reader& op) {
  std::int64_t code = 0;
  std::size_t diagnostic_length = 0;
  if (!read_result(op, code, diagnostic_length)) {
    out_.anomaly("ldap.malformed_bind_response");
    return;
  }
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.kind != RequestKind::kBind) {
    out_.anomaly("ldap.response_without_request");
    return;
  }
  Request req = std::move(it->second);
  pending_.erase(it);
  const bool intermediate = code == kResultSaslBindInProgress ||
                            (code == kResultSuccess && (req.auth_tag == kAuthSicilyDiscovery ||
                                                        req.auth_tag == kAuthSicilyNegotiate));
  if (intermediate) {
    bind_in_progress_ = std::move(req);
    return;
  }
  emit_bind(req, code, diagnostic_length);
}

void LdapSession::on_extended_request(std::int64_t id, ber::Reader& op, std::uint64_t time_ns) {
  ber::Tlv name;
  if (!op.expect(TagClass::kContextSpecific, 0, name)) {
    out_.anomaly("ldap.malformed_extended");
    return;
  }
  // requestName is an LDAPOID: the dotted string itself.
  if (as_chars(name.value) != LdapDissector::kStartTlsOid) return;
  Request req;
  req.kind = RequestKind::kStartTls;
  req.time_ns = time_ns;
  add_pending(id, std::move(req));
}

void LdapSession::on_extended_response(std::int64_t id, ber::Reader& op) {
  std::int64_t code = 0;
  std::size_t diagnostic_length = 0;
  if (!read_result(op, code, diagnostic_length)) {
    out_.anomaly("ldap.malformed_extended");
    return;
  }
  auto it = pending_.find(id);
  if (it == pending_.end() || it->second.kind != RequestKind::kStartTls) return;
  Request req = std::move(it->second);
  pending_.erase(it);
  emit_starttls(req, code);
  // TLS from here on: nothing more to read in clear.
  if (code == kResultSuccess) stopped_ = true;
}

v1::AccessEvent LdapSession::base_event(std::uint64_t time_ns, std::string action) const {
  v1::AccessEvent event;
  event.set_time_ns(time_ns);
  event.set_protocol("ldap");
  event.set_action(std::move(action));
  return event;
}

void set_outcome(v1::AccessEvent& event, std::optional<std::int64_t> result) {
  if (!result) {
    event.set_outcome(v1::OUTCOME_UNKNOWN);
    return;
  }
  event.set_outcome(*result == kResultSuccess ? v1::OUTCOME_SUCCESS : v1::OUTCOME_FAILURE);
  event.set_code(std::to_string(*result));
  const std::string_view name = ldap_result_name(*result);
  (*event.mutable_detail())["result_name"] = name.empty() ? "unknown" : std::string(name);
}

void LdapSession::emit_bind(const Request& req, std::optional<std::int64_t> result,
                            std::size_t diagnostic_length) {
  v1::AccessEvent event = base_event(req.time_ns, "bind");
  auto& detail = *event.mutable_detail();
  if (req.ntlm) {
    event.set_principal(req.ntlm->user);
    event.set_realm(req.ntlm->domain);
    if (!req.bind_name.empty()) detail["bind_name"] = req.bind_name;
    if (!req.ntlm->workstation.empty()) detail["ntlm_workstation"] = req.ntlm->workstation;
    if (req.ntlm->anonymous) detail["ntlm_anonymous"] = "true";
  } else {
    event.set_principal(req.bind_name);
  }
  detail["auth"] = req.auth;
  if (!req.mechanism.empty()) detail["mechanism"] = req.mechanism;
  detail["ldap_version"] = std::to_string(req.version);
  if (req.auth == "simple" && req.password_empty) detail["password_empty"] = "true";
  set_outcome(event, result);
  if (result) detail["diagnostic_length"] = std::to_string(diagnostic_length);
  if (result && *result == kResultSuccess) {
    bound_principal_ = event.principal();
    bound_realm_ = event.realm();
  }
  out_.emit(std::move(event));
}

void LdapSession::emit_starttls(const Request& req, std::optional<std::int64_t> result) {
  v1::AccessEvent event = base_event(req.time_ns, "starttls");
  event.set_principal(bound_principal_);
  event.set_realm(bound_realm_);
  set_outcome(event, result);
  out_.emit(std::move(event));
}

void LdapSession::on_close(std::uint64_t /*time_ns*/) {
  if (!stopped_ && (!buffer_[0].empty() || !buffer_[1].empty())) {
    out_.anomaly("ldap.truncated_message");
  }
  // Whatever was asked and never answered: outcome unknown.
  if (bind_in_progress_) {
    emit_bind(*bind_in_progress_, std::nullopt, 0);
    bind_in_progress_.reset();
  }
  for (const auto& [id, req] : pending_) {
    if (req.kind == RequestKind::kBind) {
      emit_bind(req, std::nullopt, 0);
    } else {
      emit_starttls(req, std::nullopt);
    }
  }
  pending_.clear();
}

}  // namespace

std::unique_ptr<StreamSession> LdapDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                          SessionOutput& out) const {
  return std::make_unique<LdapSession>(out);
}

bool LdapDissector::sniff(ByteView data) const { return looks_like_ldap_message(data); }

std::string_view ldap_result_name(std::int64_t code) {
  switch (code) {
    case 0:
      return "success";
    case 1:
      return "operationsError";
    case 2:
      return "protocolError";
    case 3:
      return "timeLimitExceeded";
    case 4:
      return "sizeLimitExceeded";
    case 5:
      return "compareFalse";
    case 6:
      return "compareTrue";
    case 7:
      return "authMethodNotSupported";
    case 8:
      return "strongerAuthRequired";
    case 10:
      return "referral";
    case 11:
      return "adminLimitExceeded";
    case 12:
      return "unavailableCriticalExtension";
    case 13:
      return "confidentialityRequired";
    case 14:
      return "saslBindInProgress";
    case 16:
      return "noSuchAttribute";
    case 17:
      return "undefinedAttributeType";
    case 18:
      return "inappropriateMatching";
    case 19:
      return "constraintViolation";
    case 20:
      return "attributeOrValueExists";
    case 21:
      return "invalidAttributeSyntax";
    case 32:
      return "noSuchObject";
    case 33:
      return "aliasProblem";
    case 34:
      return "invalidDNSyntax";
    case 36:
      return "aliasDereferencingProblem";
    case 48:
      return "inappropriateAuthentication";
    case 49:
      return "invalidCredentials";
    case 50:
      return "insufficientAccessRights";
    case 51:
      return "busy";
    case 52:
      return "unavailable";
    case 53:
      return "unwillingToPerform";
    case 54:
      return "loopDetect";
    case 64:
      return "namingViolation";
    case 65:
      return "objectClassViolation";
    case 66:
      return "notAllowedOnNonLeaf";
    case 67:
      return "notAllowedOnRDN";
    case 68:
      return "entryAlreadyExists";
    case 69:
      return "objectClassModsProhibited";
    case 71:
      return "affectsMultipleDSAs";
    case 80:
      return "other";
    default:
      return "";
  }
}

}  // namespace vagt::agent::dissect
