#include "agent/dissect/radius/radius_dissector.h"

#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>

#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

constexpr std::uint8_t kAccessRequest = 1;
constexpr std::uint8_t kAccessAccept = 2;
constexpr std::uint8_t kAccessReject = 3;
constexpr std::uint8_t kAccountingRequest = 4;
constexpr std::uint8_t kAccountingResponse = 5;
constexpr std::uint8_t kAccessChallenge = 11;

constexpr std::size_t kHeaderBytes = 20;  // code, identifier, length, authenticator
constexpr std::size_t kMaxAttributeText = 253;

// Attribute types (RFC 2865 5, RFC 2866 5, RFC 3579).
constexpr std::uint8_t kUserName = 1;
constexpr std::uint8_t kUserPassword = 2;
constexpr std::uint8_t kChapPassword = 3;
constexpr std::uint8_t kNasIpAddress = 4;
constexpr std::uint8_t kServiceType = 6;
constexpr std::uint8_t kFramedIpAddress = 8;
constexpr std::uint8_t kCalledStationId = 30;
constexpr std::uint8_t kCallingStationId = 31;
constexpr std::uint8_t kNasIdentifier = 32;
constexpr std::uint8_t kAcctStatusType = 40;
constexpr std::uint8_t kAcctSessionId = 44;
constexpr std::uint8_t kNasPortType = 61;
constexpr std::uint8_t kEapMessage = 79;

std::string code_name(std::uint8_t code) {
  switch (code) {
    case kAccessRequest:
      return "Access-Request";
    case kAccessAccept:
      return "Access-Accept";
    case kAccessReject:
      return "Access-Reject";
    case kAccountingRequest:
      return "Accounting-Request";
    case kAccountingResponse:
      return "Accounting-Response";
    case kAccessChallenge:
      return "Access-Challenge";
    default:
      return std::to_string(code);
  }
}

std::string status_name(std::uint32_t status) {
  switch (status) {
    case 1:
      return "start";
    case 2:
      return "stop";
    case 3:
      return "interim-update";
    case 7:
      return "accounting-on";
    case 8:
      return "accounting-off";
    default:
      return std::to_string(status);
  }
}

std::string ipv4_text(ByteView v) {
  if (v.size() != 4) return {};
  char buf[16];
  std::snprintf(buf, sizeof buf, "%u.%u.%u.%u", v[0], v[1], v[2], v[3]);
  return buf;
}

std::uint32_t u32_of(ByteView v) {
  ByteReader r(v);
  const std::uint32_t n = r.u32be();
  return r.ok() && v.size() == 4 ? n : 0;
}

// What vagt keeps of one packet.
struct Packet {
  std::uint8_t code = 0;
  std::uint8_t identifier = 0;
  std::string user_name;
  std::string nas_ip;
  std::string nas_identifier;
  std::string calling_station_id;
  std::string called_station_id;
  std::string framed_ip;
  std::string session_id;
  std::optional<std::uint32_t> service_type;
  std::optional<std::uint32_t> nas_port_type;
  std::optional<std::uint32_t> acct_status;
  std::string auth = "none";
};

// Parses one datagram; nullopt when it is not a well-formed RADIUS packet.
std::optional<Packet> parse(ByteView data) {
  ByteReader r(data);
  Packet p;
  p.code = r.u8();
  p.identifier = r.u8();
  const std::uint16_t length = r.u16be();
  r.skip(16);  // authenticator: never kept
  if (!r.ok() || length < kHeaderBytes || length > data.size() ||
      length > RadiusDissector::kMaxPacketBytes) {
    return std::nullopt;
  }
  ByteReader attrs(data.subspan(kHeaderBytes, length - kHeaderBytes));
  while (!attrs.empty()) {
    const std::uint8_t type = attrs.u8();
    const std::uint8_t len = attrs.u8();
    if (!attrs.ok() || len < 2) return std::nullopt;
    const ByteView value = attrs.bytes(len - 2u);
    if (!attrs.ok()) return std::nullopt;
    switch (type) {
      case kUserName:
        p.user_name = sanitize_utf8(value, kMaxAttributeText);
        break;
      case kUserPassword:
        p.auth = "pap";
        break;  // the value is never read
      case kChapPassword:
        p.auth = "chap";
        break;
      case kEapMessage:
        p.auth = "eap";
        break;
      case kNasIpAddress:
        p.nas_ip = ipv4_text(value);
        break;
      case kFramedIpAddress:
        p.framed_ip = ipv4_text(value);
        break;
      case kNasIdentifier:
        p.nas_identifier = sanitize_utf8(value, kMaxAttributeText);
        break;
      case kCallingStationId:
        p.calling_station_id = sanitize_utf8(value, kMaxAttributeText);
        break;
      case kCalledStationId:
        p.called_station_id = sanitize_utf8(value, kMaxAttributeText);
        break;
      case kAcctSessionId:
        p.session_id = sanitize_utf8(value, kMaxAttributeText);
        break;
      case kServiceType:
        p.service_type = u32_of(value);
        break;
      case kNasPortType:
        p.nas_port_type = u32_of(value);
        break;
      case kAcctStatusType:
        p.acct_status = u32_of(value);
        break;
      default:
        break;
    }
  }
  return p;
}

class RadiusSession final : public DatagramSession {
 public:
  explicit RadiusSession(SessionOutput& out) : out_(out) {}

  void on_datagram(Direction /*direction*/, ByteView payload, std::uint64_t time_ns) override {
    std::optional<Packet> p = parse(payload);
    if (!p) {
      out_.anomaly("radius.malformed");
      return;
    }
    switch (p->code) {
      case kAccessRequest:
      case kAccountingRequest: {
        auto it = pending_.find(p->identifier);
        if (it != pending_.end()) {
          // The identifier is reused: a retransmission keeps the first
          // request; a different request means the old one was never answered.
          if (it->second.packet.code == p->code && it->second.packet.user_name == p->user_name) {
            return;
          }
          emit(it->second, nullptr);
          pending_.erase(it);
        }
        const std::uint8_t id = p->identifier;
        pending_.emplace(id, Pending{std::move(*p), time_ns, challenges_});
        return;
      }
      case kAccessChallenge: {
        auto it = pending_.find(p->identifier);
        if (it == pending_.end()) {
          out_.anomaly("radius.reply_without_request");
          return;
        }
        pending_.erase(it);
        ++challenges_;  // the client answers with a new Access-Request
        return;
      }
      case kAccessAccept:
      case kAccessReject:
      case kAccountingResponse: {
        auto it = pending_.find(p->identifier);
        const bool matches =
            it != pending_.end() &&
            (it->second.packet.code == kAccountingRequest) == (p->code == kAccountingResponse);
        if (!matches) {
          out_.anomaly("radius.reply_without_request");
          return;
        }
        emit(it->second, &*p);
        pending_.erase(it);
        challenges_ = 0;
        return;
      }
      default:
        out_.anomaly("radius.unknown_code");
        return;
    }
  }

  void on_close(std::uint64_t /*time_ns*/) override {
    for (const auto& [id, pending] : pending_) emit(pending, nullptr);
    pending_.clear();
  }

 private:
  struct Pending {
    Packet packet;
    std::uint64_t time_ns = 0;
    std::uint32_t challenges = 0;  // Access-Challenges before this request
  };

  void emit(const Pending& pending, const Packet* reply) {
    const Packet& req = pending.packet;
    v1::AccessEvent event;
    event.set_time_ns(pending.time_ns);
    event.set_protocol("radius");
    const bool accounting = req.code == kAccountingRequest;
    event.set_action(accounting ? "accounting" : "access");
    event.set_principal(req.user_name);
    event.set_resource(!req.nas_identifier.empty() ? req.nas_identifier : req.nas_ip);
    auto& detail = *event.mutable_detail();
    auto put = [&detail](const char* key, const std::string& value) {
      if (!value.empty()) detail[key] = value;
    };
    put("nas_ip", req.nas_ip);
    put("nas_identifier", req.nas_identifier);
    put("calling_station_id", req.calling_station_id);
    put("called_station_id", req.called_station_id);
    put("framed_ip", req.framed_ip);
    if (req.service_type) detail["service_type"] = std::to_string(*req.service_type);
    if (req.nas_port_type) detail["nas_port_type"] = std::to_string(*req.nas_port_type);
    if (accounting) {
      if (req.acct_status) detail["status"] = status_name(*req.acct_status);
      put("session_id", req.session_id);
    } else {
      detail["auth"] = req.auth;
      if (pending.challenges > 0) detail["challenges"] = std::to_string(pending.challenges);
    }
    if (reply == nullptr) {
      event.set_outcome(v1::OUTCOME_UNKNOWN);
    } else {
      event.set_outcome(reply->code == kAccessReject ? v1::OUTCOME_FAILURE : v1::OUTCOME_SUCCESS);
      event.set_code(std::to_string(reply->code));
      detail["reply"] = code_name(reply->code);
      if (!reply->framed_ip.empty()) detail["framed_ip"] = reply->framed_ip;
    }
    out_.emit(std::move(event));
  }

  SessionOutput& out_;
  std::map<std::uint8_t, Pending> pending_;  // at most 256: the identifier is one octet
  std::uint32_t challenges_ = 0;
};

}  // namespace

std::unique_ptr<DatagramSession> RadiusDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                              SessionOutput& out) const {
  return std::make_unique<RadiusSession>(out);
}

}  // namespace vagt::agent::dissect
