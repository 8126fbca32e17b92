#include "agent/dissect/db/mysql_dissector.h"

#include <optional>
#include <string>
#include <vector>

#include "agent/dissect/framer.h"
#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

// Capability flags.
constexpr std::uint32_t kConnectWithDb = 0x00000008;
constexpr std::uint32_t kProtocol41 = 0x00000200;
constexpr std::uint32_t kSsl = 0x00000800;
constexpr std::uint32_t kSecureConnection = 0x00008000;
constexpr std::uint32_t kPluginAuth = 0x00080000;
constexpr std::uint32_t kPluginAuthLenencData = 0x00200000;

constexpr std::uint8_t kComQuit = 0x01;
constexpr std::uint8_t kComChangeUser = 0x11;

// A NUL-terminated string (the reader fails when there is no NUL).
std::string_view cstring(ByteReader& r) {
  ByteReader probe = r;
  std::size_t n = 0;
  std::uint8_t c = 0;
  while (probe.peek_u8(c) && c != 0) {
    probe.skip(1);
    ++n;
  }
  const ByteView v = r.bytes(n);
  r.skip(1);
  return as_chars(v);
}

// A length-encoded integer (0xFB..0xFF lead bytes other than FC/FD/FE fail).
std::uint64_t lenenc(ByteReader& r) {
  const std::uint8_t first = r.u8();
  if (first < 0xFB) return first;
  if (first == 0xFC) return r.u16le();
  if (first == 0xFD) return r.u16le() | (std::uint64_t{r.u8()} << 16);
  if (first == 0xFE) return r.u64le();
  r.fail();
  return 0;
}

enum class State { kGreeting, kHandshakeResponse, kAuth, kCommand };

class MysqlSession final : public StreamSession {
 public:
  explicit MysqlSession(SessionOutput& out) : out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction, std::uint64_t, std::uint64_t) override {
    if (stopped_) return;
    out_.anomaly("mysql.gap");
    finish_open();
    stopped_ = true;
  }
  void on_close(std::uint64_t /*time_ns*/) override {
    if (!stopped_) finish_open();
  }
  bool wants_data() const override { return !stopped_; }

 private:
  void client_packet(std::uint8_t seq, ByteView p, std::uint64_t time_ns);
  void server_packet(ByteView p, std::uint64_t time_ns);
  void emit(std::optional<bool> success, std::optional<std::uint16_t> error);
  void finish_open() {
    if (state_ == State::kAuth) emit(std::nullopt, std::nullopt);
    state_ = State::kCommand;
  }

  SessionOutput& out_;
  LengthFramer framer_[2] = {{4, MysqlDissector::kMaxPacketBytes},
                             {4, MysqlDissector::kMaxPacketBytes}};
  bool stopped_ = false;
  State state_ = State::kGreeting;
  std::uint32_t server_caps_ = 0;
  std::string server_version_;
  // The login or change_user in progress.
  std::string action_;
  std::string user_, database_, plugin_;
  std::uint64_t time_ns_ = 0;
};

void MysqlSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  LengthFramer& framer = framer_[static_cast<std::size_t>(direction)];
  // payload_length (3 bytes LE), sequence_id.
  auto length_of = [](ByteView h) -> std::optional<std::uint64_t> {
    return h[0] | (h[1] << 8) | (h[2] << 16);
  };
  auto oversize = [&](ByteView, std::uint64_t) {
    // Result rows and blobs: nothing to learn, passed over without buffering.
    if (state_ != State::kCommand) out_.anomaly("mysql.packet_too_large");
    return true;
  };
  framer.feed(data, length_of, oversize, [&](ByteView h, ByteView packet) {
    if (direction == Direction::kClientToServer) {
      client_packet(h[3], packet, time_ns);
    } else {
      server_packet(packet, time_ns);
    }
    return !stopped_;
  });
  if (stopped_) {
    framer_[0].clear();
    framer_[1].clear();
  }
}

void MysqlSession::server_packet(ByteView p, std::uint64_t time_ns) {
  if (p.empty()) return;
  ByteReader r(p);
  const std::uint8_t first = r.u8();
  if (state_ == State::kGreeting) {
    if (first == 0xFF) {
      // Refused before any handshake (1130 host not allowed, 1040 too many
      // connections): no user was named, so this is a "connect", not a login.
      action_ = "connect";
      time_ns_ = time_ns;
      const std::uint16_t code = r.u16le();
      emit(false, r.ok() ? std::optional<std::uint16_t>(code) : std::nullopt);
      stopped_ = true;
      return;
    }
    if (first != 10) {
      out_.anomaly("mysql.unsupported_protocol");
      stopped_ = true;
      return;
    }
    server_version_ = sanitize_utf8(as_bytes(cstring(r)), 64);
    r.skip(4 + 8 + 1);  // thread id, auth-plugin-data part 1, filler
    server_caps_ = r.u16le();
    if (r.remaining() >= 5) {
      r.skip(1 + 2);  // charset, status
      server_caps_ |= std::uint32_t{r.u16le()} << 16;
    }
    if (!r.ok()) out_.anomaly("mysql.malformed_handshake");
    state_ = State::kHandshakeResponse;
    return;
  }
  if (state_ != State::kAuth) return;
  if (first == 0x00 && p.size() >= 7) {
    emit(true, std::nullopt);
    state_ = State::kCommand;
  } else if (first == 0xFF) {
    const std::uint16_t code = r.u16le();
    emit(false, r.ok() ? std::optional<std::uint16_t>(code) : std::nullopt);
    state_ = action_ == "login" ? State::kGreeting : State::kCommand;
    if (action_ == "login") stopped_ = true;  // the server closes the connection
  } else if (first == 0xFE) {
    // AuthSwitchRequest: plugin name, then plugin data (not read).
    if (p.size() > 1) plugin_ = sanitize_utf8(as_bytes(cstring(r)), 64);
  }
  // 0x01 AuthMoreData (caching_sha2 fast auth / full auth): the exchange goes on.
}

void MysqlSession::client_packet(std::uint8_t seq, ByteView p, std::uint64_t time_ns) {
  ByteReader r(p);
  if (state_ == State::kHandshakeResponse) {
    const std::uint32_t caps = r.u32le();
    if (!r.ok() || (caps & kProtocol41) == 0) {
      out_.anomaly("mysql.unsupported_protocol");
      stopped_ = true;
      return;
    }
    r.skip(4 + 1 + 23);  // max packet, charset, filler
    if (r.ok() && r.empty() && (caps & kSsl) != 0) {
      // SSL Request: TLS follows.
      v1::AccessEvent event;
      event.set_time_ns(time_ns);
      event.set_protocol("mysql");
      event.set_action("starttls");
      event.set_outcome(v1::OUTCOME_SUCCESS);
      if (!server_version_.empty()) (*event.mutable_detail())["server_version"] = server_version_;
      out_.emit(std::move(event));
      stopped_ = true;
      return;
    }
    action_ = "login";
    time_ns_ = time_ns;
    user_ = sanitize_utf8(as_bytes(cstring(r)), 256);
    // The auth response is skipped, never kept.
    if ((caps & kPluginAuthLenencData) != 0) {
      r.skip(static_cast<std::size_t>(lenenc(r)));
    } else if ((caps & kSecureConnection) != 0) {
      r.skip(r.u8());
    } else {
      (void)cstring(r);
    }
    database_.clear();
    if ((caps & kConnectWithDb) != 0 && r.ok() && !r.empty())
      database_ = sanitize_utf8(as_bytes(cstring(r)), 256);
    if ((caps & kPluginAuth) != 0 && r.ok() && !r.empty())
      plugin_ = sanitize_utf8(as_bytes(cstring(r)), 64);
    if (!r.ok()) out_.anomaly("mysql.malformed_handshake_response");
    state_ = State::kAuth;
    return;
  }
  if (state_ != State::kCommand || seq != 0 || p.empty()) return;
  const std::uint8_t command = r.u8();
  if (command == kComQuit) return;
  if (command != kComChangeUser) return;
  action_ = "change_user";
  time_ns_ = time_ns;
  plugin_.clear();
  user_ = sanitize_utf8(as_bytes(cstring(r)), 256);
  if ((server_caps_ & kSecureConnection) != 0) {
    r.skip(r.u8());
  } else {
    (void)cstring(r);
  }
  database_ = sanitize_utf8(as_bytes(cstring(r)), 256);
  if (r.remaining() >= 2) {
    r.skip(2);  // character set
    if (!r.empty()) plugin_ = sanitize_utf8(as_bytes(cstring(r)), 64);
  }
  if (!r.ok()) out_.anomaly("mysql.malformed_change_user");
  state_ = State::kAuth;
}

void MysqlSession::emit(std::optional<bool> success, std::optional<std::uint16_t> error) {
  v1::AccessEvent event;
  event.set_time_ns(time_ns_);
  event.set_protocol("mysql");
  event.set_action(action_.empty() ? "login" : action_);
  event.set_principal(user_);
  event.set_resource(database_);
  auto& d = *event.mutable_detail();
  if (!plugin_.empty()) d["auth_plugin"] = plugin_;
  if (!server_version_.empty()) d["server_version"] = server_version_;
  event.set_outcome(!success   ? v1::OUTCOME_UNKNOWN
                    : *success ? v1::OUTCOME_SUCCESS
                               : v1::OUTCOME_FAILURE);
  if (error) event.set_code(std::to_string(*error));
  out_.emit(std::move(event));
}

}  // namespace

std::unique_ptr<StreamSession> MysqlDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                           SessionOutput& out) const {
  return std::make_unique<MysqlSession>(out);
}

}  // namespace vagt::agent::dissect
