#include "agent/dissect/db/tds_dissector.h"

#include <optional>
#include <string>
#include <vector>

#include "agent/dissect/ntlmssp/ntlmssp.h"
#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

// Packet types (MS-TDS 2.2.3.1.1).
constexpr std::uint8_t kTabularResult = 0x04;
constexpr std::uint8_t kLogin7 = 0x10;
constexpr std::uint8_t kSspi = 0x11;
constexpr std::uint8_t kStatusEom = 0x01;

// Tokens (MS-TDS 2.2.7).
constexpr std::uint8_t kTokenError = 0xAA;
constexpr std::uint8_t kTokenInfo = 0xAB;
constexpr std::uint8_t kTokenLoginAck = 0xAD;
constexpr std::uint8_t kTokenEnvChange = 0xE3;

class TdsSession final : public StreamSession {
 public:
  explicit TdsSession(SessionOutput& out) : out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction, std::uint64_t, std::uint64_t) override {
    if (stopped_) return;
    out_.anomaly("tds.gap");
    finish(std::nullopt, "");
    stopped_ = true;
  }
  void on_close(std::uint64_t) override {
    if (!stopped_) finish(std::nullopt, "");
  }
  bool wants_data() const override { return !stopped_; }

 private:
  struct Side {
    std::vector<std::uint8_t> buf;
    std::vector<std::uint8_t> message;  // packets of one message until EOM
    std::uint8_t type = 0;
  };
  void on_message(Direction direction, std::uint8_t type, ByteView m, std::uint64_t time_ns);
  void on_login7(ByteView m, std::uint64_t time_ns);
  void on_tokens(ByteView m);
  void finish(std::optional<bool> success, const std::string& code);

  SessionOutput& out_;
  Side side_[2];
  bool stopped_ = false;
  bool login_seen_ = false;
  std::uint64_t time_ns_ = 0;
  std::string user_, domain_, database_, app_, host_, server_, auth_;
};

void TdsSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  Side& side = side_[static_cast<std::size_t>(direction)];
  side.buf.insert(side.buf.end(), data.begin(), data.end());
  std::size_t pos = 0;
  while (!stopped_ && side.buf.size() - pos >= 8) {
    ByteReader h(ByteView(side.buf).subspan(pos, 8));
    const std::uint8_t type = h.u8();
    const std::uint8_t status = h.u8();
    const std::uint16_t length = h.u16be();
    if (length < 8 || type == 0x16 || type == 0x17) {
      // A TLS record where a TDS header belongs: the login is encrypted.
      out_.anomaly(login_seen_ ? "tds.malformed_packet" : "tds.encrypted_login");
      stopped_ = true;
      break;
    }
    if (side.buf.size() - pos < length) break;
    const ByteView payload = ByteView(side.buf).subspan(pos + 8, length - 8);
    if (side.message.size() + payload.size() > TdsDissector::kMaxMessageBytes) {
      side.message.clear();  // result sets: not needed
    } else {
      side.message.insert(side.message.end(), payload.begin(), payload.end());
    }
    side.type = type;
    if ((status & kStatusEom) != 0) {
      const std::vector<std::uint8_t> m = std::move(side.message);
      side.message.clear();
      on_message(direction, type, m, time_ns);
    }
    pos += length;
  }
  if (stopped_) {
    side_[0].buf = {};
    side_[1].buf = {};
    return;
  }
  side.buf.erase(side.buf.begin(), side.buf.begin() + static_cast<std::ptrdiff_t>(pos));
}

void TdsSession::on_message(Direction direction, std::uint8_t type, ByteView m,
                            std::uint64_t time_ns) {
  if (direction == Direction::kClientToServer) {
    if (type == kLogin7) {
      on_login7(m, time_ns);
    } else if (type == kSspi && login_seen_) {
      const ByteView ntlm = ntlmssp::find_message(m);
      if (!ntlm.empty() && ntlmssp::message_type(ntlm) == ntlmssp::MessageType::kAuthenticate) {
        if (auto a = ntlmssp::parse_authenticate(ntlm)) {
          user_ = a->user;
          domain_ = a->domain;
        } else {
          out_.anomaly("ntlmssp.malformed_authenticate");
        }
      }
    }
    return;
  }
  if (type == kTabularResult && login_seen_) on_tokens(m);  // before LOGIN7: the PRELOGIN answer
}

void TdsSession::on_login7(ByteView m, std::uint64_t time_ns) {
  // Fixed part: 36 bytes, then (offset, length) pairs; offsets from the
  // start of LOGIN7, lengths in UTF-16 code units (MS-TDS 2.2.6.4).
  auto field = [&](std::size_t at) -> std::string {
    ByteReader r(m);
    r.skip(at);
    const std::uint16_t offset = r.u16le();
    const std::uint16_t chars = r.u16le();
    if (!r.ok() || offset + std::size_t{chars} * 2 > m.size()) return {};
    return utf16le_to_utf8(m.subspan(offset, std::size_t{chars} * 2), 256);
  };
  if (m.size() < 94) {
    out_.anomaly("tds.malformed_login7");
    return;
  }
  if (login_seen_) finish(std::nullopt, "");
  login_seen_ = true;
  time_ns_ = time_ns;
  host_ = field(36);
  user_ = field(40);  // 44: the password, never read
  app_ = field(48);
  server_ = field(52);
  database_ = field(68);
  ByteReader sspi(m);
  sspi.skip(78);
  sspi.skip(2);
  const std::uint16_t sspi_length = sspi.u16le();
  auth_ = sspi.ok() && sspi_length > 0 ? "sspi" : "sql";
}

void TdsSession::on_tokens(ByteView m) {
  ByteReader r(m);
  while (r.remaining() >= 3) {
    const std::uint8_t token = r.u8();
    if (token != kTokenError && token != kTokenInfo && token != kTokenLoginAck &&
        token != kTokenEnvChange) {
      return;  // DONE and others: nothing about the login beyond this point
    }
    const std::uint16_t length = r.u16le();
    ByteReader body(r.bytes(length));
    if (!r.ok()) return;
    if (token == kTokenLoginAck) {
      finish(true, "");
      return;
    }
    if (token == kTokenError) {
      const std::uint32_t number = body.u32le();
      finish(false, body.ok() ? std::to_string(number) : "");
      return;
    }
  }
}

void TdsSession::finish(std::optional<bool> success, const std::string& code) {
  if (!login_seen_) return;
  login_seen_ = false;
  v1::AccessEvent event;
  event.set_time_ns(time_ns_);
  event.set_protocol("tds");
  event.set_action("login");
  event.set_principal(user_);
  event.set_realm(domain_);
  event.set_resource(database_);
  auto& d = *event.mutable_detail();
  d["auth"] = auth_;
  if (!app_.empty()) d["app_name"] = app_;
  if (!host_.empty()) d["client_host"] = host_;
  if (!server_.empty()) d["server_name"] = server_;
  event.set_outcome(!success   ? v1::OUTCOME_UNKNOWN
                    : *success ? v1::OUTCOME_SUCCESS
                               : v1::OUTCOME_FAILURE);
  if (!code.empty()) event.set_code(code);
  out_.emit(std::move(event));
  // Once the login is decided, what follows (queries, results) is not read.
  if (success) stopped_ = true;
}

}  // namespace

std::unique_ptr<StreamSession> TdsDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                         SessionOutput& out) const {
  return std::make_unique<TdsSession>(out);
}

}  // namespace vagt::agent::dissect
