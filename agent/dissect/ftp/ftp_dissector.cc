#include "agent/dissect/ftp/ftp_dissector.h"

#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

enum class Command { kUser, kPass, kAcct, kAuth, kOther };

class FtpSession final : public StreamSession {
 public:
  explicit FtpSession(SessionOutput& out) : out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction direction, std::uint64_t, std::uint64_t) override {
    if (stopped_) return;
    out_.anomaly("ftp.gap");
    // Pairing is lost: what is open is unknown, the next line starts afresh.
    buf_[static_cast<std::size_t>(direction)].clear();
    skip_line_[static_cast<std::size_t>(direction)] = true;
    finish_login(std::nullopt, "");
    pending_.clear();
    multiline_.reset();
  }
  void on_close(std::uint64_t /*time_ns*/) override {
    if (!stopped_) finish_login(std::nullopt, "");
  }
  bool wants_data() const override { return !stopped_; }

 private:
  void on_command(std::string_view line, std::uint64_t time_ns);
  void on_reply(int code);
  void finish_login(std::optional<bool> success, const std::string& code);

  SessionOutput& out_;
  std::vector<std::uint8_t> buf_[2];
  bool skip_line_[2] = {false, false};  // discard up to the next LF (after a gap / long line)
  bool stopped_ = false;
  std::deque<Command> pending_;
  std::optional<int> multiline_;  // code of a multi-line reply in progress
  // The login in progress.
  std::optional<std::string> user_;
  std::uint64_t login_time_ns_ = 0;
  std::uint64_t auth_time_ns_ = 0;
};

void FtpSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  const auto d = static_cast<std::size_t>(direction);
  auto& buf = buf_[d];
  buf.insert(buf.end(), data.begin(), data.end());
  std::size_t pos = 0;
  while (!stopped_ && pos < buf.size()) {
    const std::string_view rest = as_chars(ByteView(buf).subspan(pos));
    const std::size_t eol = rest.find('\n');
    if (eol == std::string_view::npos) {
      if (rest.size() > FtpDissector::kMaxLineBytes) {
        out_.anomaly("ftp.line_too_long");
        skip_line_[d] = true;
        pos = buf.size();
      }
      break;
    }
    std::string_view line = rest.substr(0, eol);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    pos += eol + 1;
    if (skip_line_[d]) {
      skip_line_[d] = false;
      continue;
    }
    if (direction == Direction::kClientToServer) {
      on_command(line, time_ns);
      continue;
    }
    // Reply: "ddd text" ends a reply, "ddd-text" opens a multi-line one whose
    // end is "ddd text" with the same code; other lines are its body.
    const bool coded = line.size() >= 3 && line[0] >= '1' && line[0] <= '5' && line[1] >= '0' &&
                       line[1] <= '9' && line[2] >= '0' && line[2] <= '9';
    if (!coded) {
      if (!multiline_) out_.anomaly("ftp.malformed_reply");
      continue;
    }
    const int code = (line[0] - '0') * 100 + (line[1] - '0') * 10 + (line[2] - '0');
    const bool more = line.size() > 3 && line[3] == '-';
    if (multiline_) {
      if (code == *multiline_ && !more) {
        multiline_.reset();
        on_reply(code);
      }
      continue;
    }
    if (more) {
      multiline_ = code;
      continue;
    }
    on_reply(code);
  }
  if (stopped_) {
    buf_[0] = {};
    buf_[1] = {};
    return;
  }
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(pos));
}

void FtpSession::on_command(std::string_view line, std::uint64_t time_ns) {
  const std::size_t sp = line.find(' ');
  const std::string verb = ascii_lower(line.substr(0, std::min<std::size_t>(sp, 8)));
  const std::string_view arg = sp == std::string_view::npos ? "" : trim_blanks(line.substr(sp + 1));
  Command c = Command::kOther;
  if (verb == "user") {
    c = Command::kUser;
    finish_login(std::nullopt, "");  // a new USER abandons an unfinished login
    user_ = sanitize_utf8(as_bytes(arg), 256);
    login_time_ns_ = time_ns;
  } else if (verb == "pass") {
    c = Command::kPass;  // the argument is the password: not looked at
  } else if (verb == "acct") {
    c = Command::kAcct;
  } else if (verb == "auth") {
    c = Command::kAuth;
    auth_time_ns_ = time_ns;
  }
  if (pending_.size() >= FtpDissector::kMaxPendingCommands) {
    out_.anomaly("ftp.too_many_pending");
    pending_.pop_front();
  }
  pending_.push_back(c);
}

void FtpSession::on_reply(int code) {
  if (code < 200) return;        // preliminary (1xx): the final reply follows
  if (pending_.empty()) return;  // the greeting (220) or an unsolicited reply (421)
  const Command c = pending_.front();
  pending_.pop_front();
  const std::string text = std::to_string(code);
  switch (c) {
    case Command::kUser:
    case Command::kPass:
    case Command::kAcct:
      if (code == 230 || code == 202) {
        finish_login(true, text);
      } else if (code >= 400) {
        finish_login(false, text);
      }
      // 331 (password needed) / 332 (account needed): the login goes on.
      break;
    case Command::kAuth:
      if (code == 234) {
        v1::AccessEvent event;
        event.set_time_ns(auth_time_ns_);
        event.set_protocol("ftp");
        event.set_action("starttls");
        event.set_outcome(v1::OUTCOME_SUCCESS);
        event.set_code(text);
        out_.emit(std::move(event));
        finish_login(std::nullopt, "");
        stopped_ = true;
      }
      break;
    case Command::kOther:
      break;
  }
}

void FtpSession::finish_login(std::optional<bool> success, const std::string& code) {
  if (!user_) return;
  v1::AccessEvent event;
  event.set_time_ns(login_time_ns_);
  event.set_protocol("ftp");
  event.set_action("login");
  event.set_principal(*user_);
  event.set_outcome(!success   ? v1::OUTCOME_UNKNOWN
                    : *success ? v1::OUTCOME_SUCCESS
                               : v1::OUTCOME_FAILURE);
  if (!code.empty()) event.set_code(code);
  user_.reset();
  out_.emit(std::move(event));
}

}  // namespace

std::unique_ptr<StreamSession> FtpDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                         SessionOutput& out) const {
  return std::make_unique<FtpSession>(out);
}

}  // namespace vagt::agent::dissect
