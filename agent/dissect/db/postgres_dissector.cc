#include "agent/dissect/db/postgres_dissector.h"

#include <optional>
#include <string>
#include <vector>

#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

constexpr std::uint32_t kProtocol3 = 196608;  // 3.0
constexpr std::uint32_t kSslRequest = 80877103;
constexpr std::uint32_t kGssEncRequest = 80877104;
constexpr std::uint32_t kCancelRequest = 80877102;

// Authentication request codes ('R').
std::string auth_method(std::uint32_t code) {
  switch (code) {
    case 2:
      return "kerberos5";
    case 3:
      return "cleartext";
    case 5:
      return "md5";
    case 7:
      return "gss";
    case 9:
      return "sspi";
    case 10:
      return "sasl";
    default:
      return "other";
  }
}

class PostgresSession final : public StreamSession {
 public:
  explicit PostgresSession(SessionOutput& out) : out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction, std::uint64_t, std::uint64_t) override {
    if (stopped_) return;
    out_.anomaly("postgresql.gap");
    stopped_ = true;
    emit(std::nullopt, "");
  }
  void on_close(std::uint64_t /*time_ns*/) override {
    if (stopped_) return;
    if (auth_ok_) {
      emit(true, "");
    } else if (have_startup_) {
      emit(std::nullopt, "");
    }
  }
  bool wants_data() const override { return !stopped_; }

 private:
  void client_message(ByteView body, std::uint64_t time_ns);
  void server_message(std::uint8_t type, ByteView body);
  void emit(std::optional<bool> success, const std::string& sqlstate);

  SessionOutput& out_;
  std::vector<std::uint8_t> buf_[2];
  bool stopped_ = false;
  bool startup_phase_ = true;  // client messages still untyped
  bool awaiting_ssl_answer_ = false;
  bool have_startup_ = false;
  bool auth_ok_ = false;
  std::uint64_t time_ns_ = 0;
  std::string user_, database_, application_, method_, ssl_, sasl_mechanism_;
};

void PostgresSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  const bool client = direction == Direction::kClientToServer;
  auto& buf = buf_[static_cast<std::size_t>(direction)];
  buf.insert(buf.end(), data.begin(), data.end());
  std::size_t pos = 0;
  while (!stopped_ && pos < buf.size()) {
    const ByteView rest = ByteView(buf).subspan(pos);
    if (!client && awaiting_ssl_answer_) {
      awaiting_ssl_answer_ = false;
      if (rest[0] == 'S' || rest[0] == 'G') {
        // TLS ('S') or GSSAPI encryption ('G') from here on.
        v1::AccessEvent event;
        event.set_time_ns(time_ns_);
        event.set_protocol("postgresql");
        event.set_action("starttls");
        event.set_outcome(v1::OUTCOME_SUCCESS);
        (*event.mutable_detail())["encryption"] = rest[0] == 'S' ? "tls" : "gss";
        out_.emit(std::move(event));
        stopped_ = true;
        break;
      }
      ssl_ = "refused";
      pos += 1;
      continue;
    }
    const bool untyped = client && startup_phase_;
    const std::size_t header = untyped ? 4 : 5;
    if (rest.size() < header) break;
    ByteReader r(rest);
    const std::uint8_t type = untyped ? 0 : r.u8();
    const std::uint32_t length = r.u32be();  // includes itself, not the type byte
    if (length < 4 || length > PostgresDissector::kMaxMessageBytes) {
      out_.anomaly(length < 4 ? "postgresql.malformed_message" : "postgresql.message_too_large");
      stopped_ = true;
      if (have_startup_) emit(auth_ok_ ? std::optional<bool>(true) : std::nullopt, "");
      break;
    }
    const std::size_t total = header - 4 + length;
    if (rest.size() < total) break;
    const ByteView body = rest.subspan(header, total - header);
    if (client) {
      if (untyped) {
        client_message(body, time_ns);
      } else if (type == 'p' && method_ == "sasl" && sasl_mechanism_.empty()) {
        // SASLInitialResponse: mechanism name, then the client-first message (not read).
        const std::string_view b = as_chars(body);
        sasl_mechanism_ = sanitize_utf8(as_bytes(b.substr(0, b.find('\0'))), 64);
      }
    } else {
      server_message(type, body);
    }
    pos += total;
  }
  if (stopped_) {
    buf_[0] = {};
    buf_[1] = {};
    return;
  }
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(pos));
}

void PostgresSession::client_message(ByteView body, std::uint64_t time_ns) {
  ByteReader r(body);
  const std::uint32_t code = r.u32be();
  time_ns_ = time_ns;
  if (code == kSslRequest || code == kGssEncRequest) {
    awaiting_ssl_answer_ = true;
    return;
  }
  if (code == kCancelRequest) {
    stopped_ = true;  // a cancel connection carries nothing else
    return;
  }
  if (code != kProtocol3) {
    out_.anomaly("postgresql.unsupported_protocol");
    stopped_ = true;
    return;
  }
  startup_phase_ = false;
  have_startup_ = true;
  // name\0value\0 ... \0
  std::string_view rest = as_chars(r.rest());
  while (!rest.empty() && rest[0] != '\0') {
    const std::size_t n = rest.find('\0');
    if (n == std::string_view::npos) break;
    const std::string_view name = rest.substr(0, n);
    rest.remove_prefix(n + 1);
    const std::size_t v = rest.find('\0');
    if (v == std::string_view::npos) break;
    const std::string value = sanitize_utf8(as_bytes(rest.substr(0, v)), 256);
    rest.remove_prefix(v + 1);
    if (name == "user") user_ = value;
    if (name == "database") database_ = value;
    if (name == "application_name") application_ = value;
  }
  if (database_.empty()) database_ = user_;  // the server's default
}

void PostgresSession::server_message(std::uint8_t type, ByteView body) {
  if (!have_startup_) return;
  ByteReader r(body);
  if (type == 'R') {
    const std::uint32_t code = r.u32be();
    if (!r.ok()) {
      out_.anomaly("postgresql.malformed_message");
      return;
    }
    if (code == 0) {
      auth_ok_ = true;
      if (method_.empty()) method_ = "trust";
    } else if (code != 8 && code != 11 && code != 12 && method_.empty()) {
      method_ = auth_method(code);  // 8, 11, 12 continue an exchange already named
    }
    return;
  }
  if (type == 'E') {
    // Fields: code byte + C string, terminated by a zero byte.
    std::string sqlstate;
    std::string_view rest = as_chars(body);
    while (!rest.empty() && rest[0] != '\0') {
      const char field = rest[0];
      const std::size_t n = rest.find('\0', 1);
      if (n == std::string_view::npos) break;
      if (field == 'C') sqlstate = sanitize_utf8(as_bytes(rest.substr(1, n - 1)), 8);
      rest.remove_prefix(n + 1);
    }
    emit(false, sqlstate);
    stopped_ = true;
    return;
  }
  if (type == 'Z' && auth_ok_) {
    emit(true, "");
    stopped_ = true;
  }
}

void PostgresSession::emit(std::optional<bool> success, const std::string& sqlstate) {
  v1::AccessEvent event;
  event.set_time_ns(time_ns_);
  event.set_protocol("postgresql");
  event.set_action("login");
  event.set_principal(user_);
  event.set_resource(database_);
  auto& d = *event.mutable_detail();
  if (!method_.empty()) d["auth_method"] = method_;
  if (!sasl_mechanism_.empty()) d["sasl_mechanism"] = sasl_mechanism_;
  if (!application_.empty()) d["application_name"] = application_;
  if (!ssl_.empty()) d["ssl_requested"] = ssl_;
  if (auth_ok_) d["authenticated"] = "true";
  event.set_outcome(!success   ? v1::OUTCOME_UNKNOWN
                    : *success ? v1::OUTCOME_SUCCESS
                               : v1::OUTCOME_FAILURE);
  if (!sqlstate.empty()) event.set_code(sqlstate);
  out_.emit(std::move(event));
}

}  // namespace

std::unique_ptr<StreamSession> PostgresDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                              SessionOutput& out) const {
  return std::make_unique<PostgresSession>(out);
}

bool PostgresDissector::sniff(ByteView data) const {
  ByteReader r(data);
  const std::uint32_t length = r.u32be();
  const std::uint32_t code = r.u32be();
  if (!r.ok()) return false;
  if (code == kSslRequest || code == kGssEncRequest) return length == 8;
  return code == kProtocol3 && length >= 9 && length <= 10000;
}

}  // namespace vagt::agent::dissect
