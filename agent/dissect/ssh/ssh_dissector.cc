#include "agent/dissect/ssh/ssh_dissector.h"

#include <optional>
#include <string>
#include <vector>

#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

constexpr std::size_t kMaxLine = 255;
constexpr int kMaxPreambleLines = 32;

class SshSession final : public StreamSession {
 public:
  explicit SshSession(SessionOutput& out) : out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override {
    if (done_ || data.empty()) return;
    if (time_ns_ == 0) time_ns_ = time_ns;
    const auto d = static_cast<std::size_t>(direction);
    if (version_[d]) return;
    auto& buf = buf_[d];
    buf.append(as_chars(data.first(std::min(data.size(), 2 * kMaxLine))));
    std::size_t eol = 0;
    while (!version_[d] && (eol = buf.find('\n')) != std::string::npos) {
      std::string_view line(buf.data(), eol);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (line.substr(0, 4) == "SSH-") {
        version_[d] = sanitize_utf8(as_bytes(line), kMaxLine);
      } else if (++preamble_[d] > kMaxPreambleLines) {
        out_.anomaly("ssh.no_identification");
        finish();
        return;
      }
      buf.erase(0, eol + 1);
    }
    if (!version_[d] && buf.size() > kMaxLine) {
      out_.anomaly("ssh.malformed_identification");
      finish();
      return;
    }
    if (version_[0] && version_[1]) finish();
  }
  void on_gap(Direction, std::uint64_t, std::uint64_t) override {
    if (!done_) out_.anomaly("ssh.gap");
    finish();
  }
  void on_close(std::uint64_t) override { finish(); }
  bool wants_data() const override { return !done_; }

 private:
  void finish() {
    if (done_) return;
    done_ = true;
    buf_[0].clear();
    buf_[1].clear();
    if (!version_[0] && !version_[1]) return;
    v1::AccessEvent event;
    event.set_time_ns(time_ns_);
    event.set_protocol("ssh");
    event.set_action("connect");
    event.set_outcome(v1::OUTCOME_UNKNOWN);
    auto& detail = *event.mutable_detail();
    if (version_[0]) detail["client_version"] = *version_[0];
    if (version_[1]) detail["server_version"] = *version_[1];
    out_.emit(std::move(event));
  }

  SessionOutput& out_;
  std::string buf_[2];
  std::optional<std::string> version_[2];
  int preamble_[2] = {0, 0};
  bool done_ = false;
  std::uint64_t time_ns_ = 0;
};

}  // namespace

std::unique_ptr<StreamSession> SshDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                         SessionOutput& out) const {
  return std::make_unique<SshSession>(out);
}

bool SshDissector::sniff(ByteView data) const {
  return data.size() >= 4 && as_chars(data.first(4)) == "SSH-";
}

}  // namespace vagt::agent::dissect
