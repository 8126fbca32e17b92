#include "agent/dissect/smb/smb_dissector.h"

#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "agent/dissect/framer.h"
#include "agent/dissect/ntlmssp/ntlmssp.h"

namespace vagt::agent::dissect {
namespace {

constexpr std::uint32_t kStatusSuccess = 0x00000000;
constexpr std::uint32_t kStatusMoreProcessing = 0xC0000016;
constexpr std::uint16_t kSmb2SessionSetup = 0x0001;
constexpr std::uint8_t kSmb1SessionSetupAndX = 0x73;
constexpr std::uint8_t kNetbiosSessionMessage = 0x00;

std::string status_hex(std::uint32_t status) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%08X", status);
  return buf;
}

struct Pending {
  ntlmssp::Authenticate auth;
  std::string dialect;
  std::uint64_t time_ns = 0;
};

class SmbSession final : public StreamSession {
 public:
  explicit SmbSession(SessionOutput& out) : out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction, std::uint64_t, std::uint64_t) override {
    if (stopped_) return;
    out_.anomaly("smb.gap");
    stopped_ = true;  // NetBIOS framing cannot be found again
    flush();
  }
  void on_close(std::uint64_t) override {
    if (!stopped_) flush();
  }
  bool wants_data() const override { return !stopped_; }

 private:
  void on_message(Direction direction, ByteView msg, std::uint64_t time_ns);
  void on_request(std::uint64_t key, ByteView blob, std::string dialect, std::uint64_t time_ns);
  void on_response(std::uint64_t key, std::uint32_t status);
  void emit(const Pending& p, std::optional<std::uint32_t> status);
  void flush() {
    for (const auto& [key, p] : pending_) emit(p, std::nullopt);
    pending_.clear();
  }

  SessionOutput& out_;
  LengthFramer framer_[2] = {{4, SmbDissector::kMaxMessageBytes},
                             {4, SmbDissector::kMaxMessageBytes}};
  bool stopped_ = false;
  std::map<std::uint64_t, Pending> pending_;
};

void SmbSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  LengthFramer& framer = framer_[static_cast<std::size_t>(direction)];
  // NetBIOS session service header (RFC 1002 4.3.1): type, 3-byte length
  // (direct TCP on 445 uses the same header with type 0).
  auto length_of = [&](ByteView h) -> std::optional<std::uint64_t> {
    // Session request/response, keepalive (port 139) carry no SMB.
    if (h[0] != kNetbiosSessionMessage && h[0] != 0x81 && h[0] != 0x82 && h[0] != 0x85) {
      out_.anomaly("smb.malformed_framing");
      stopped_ = true;
      return std::nullopt;
    }
    return (std::uint64_t{h[1]} << 16) | (std::uint64_t{h[2]} << 8) | h[3];
  };
  auto oversize = [](ByteView, std::uint64_t) { return true; };  // file data: passed over
  framer.feed(data, length_of, oversize, [&](ByteView h, ByteView message) {
    if (h[0] == kNetbiosSessionMessage) on_message(direction, message, time_ns);
    return !stopped_;
  });
  if (stopped_) {
    framer_[0].clear();
    framer_[1].clear();
    flush();
  }
}

void SmbSession::on_message(Direction direction, ByteView msg, std::uint64_t time_ns) {
  const bool request = direction == Direction::kClientToServer;
  if (msg.size() >= 64 && msg[0] == 0xFE && as_chars(msg.subspan(1, 3)) == "SMB") {
    // SMB2 (possibly a compound: NextCommand chains headers).
    std::size_t offset = 0;
    for (int guard = 0; guard < 32 && offset + 64 <= msg.size(); ++guard) {
      const ByteView m = msg.subspan(offset);
      ByteReader r(m);
      r.skip(8);
      const std::uint32_t status = r.u32le();
      const std::uint16_t command = r.u16le();
      r.skip(2);
      const std::uint32_t flags = r.u32le();
      const std::uint32_t next = r.u32le();
      const std::uint64_t message_id = r.u64le();
      if (command == kSmb2SessionSetup) {
        const bool response = (flags & 0x1) != 0;
        ByteReader body(m.subspan(64));
        if (!response && request) {
          body.skip(12);
          const std::uint16_t blob_offset = body.u16le();
          const std::uint16_t blob_length = body.u16le();
          if (body.ok() && blob_offset + std::size_t{blob_length} <= m.size()) {
            on_request(message_id, m.subspan(blob_offset, blob_length), "smb2", time_ns);
          } else {
            out_.anomaly("smb.malformed_session_setup");
          }
        } else if (response && !request) {
          on_response(message_id, status);
        }
      }
      if (next == 0 || next < 64) break;
      offset += next;
    }
    return;
  }
  if (msg.size() >= 33 && msg[0] == 0xFF && as_chars(msg.subspan(1, 3)) == "SMB") {
    ByteReader r(msg);
    r.skip(4);
    const std::uint8_t command = r.u8();
    const std::uint32_t status = r.u32le();
    r.skip(1 + 2 + 2 + 8 + 2 + 2 + 2 +
           2);  // flags, flags2, pid high, signature, reserved, tid, pid
    const std::uint16_t mid = r.u16le();
    if (!r.ok() || command != kSmb1SessionSetupAndX) return;
    if (request) {
      // Extended security: the blob lies in the byte area; NTLMSSP is found by its signature.
      on_request(mid, msg.subspan(32), "smb1", time_ns);
    } else {
      on_response(mid, status);
    }
  }
}

void SmbSession::on_request(std::uint64_t key, ByteView blob, std::string dialect,
                            std::uint64_t time_ns) {
  const ByteView ntlm = ntlmssp::find_message(blob);
  if (ntlm.empty() || ntlmssp::message_type(ntlm) != ntlmssp::MessageType::kAuthenticate) return;
  auto auth = ntlmssp::parse_authenticate(ntlm);
  if (!auth) {
    out_.anomaly("ntlmssp.malformed_authenticate");
    return;
  }
  if (pending_.size() >= SmbDissector::kMaxPending) {
    out_.anomaly("smb.too_many_pending");
    return;
  }
  pending_[key] = Pending{std::move(*auth), std::move(dialect), time_ns};
}

void SmbSession::on_response(std::uint64_t key, std::uint32_t status) {
  auto it = pending_.find(key);
  if (it == pending_.end()) return;  // an earlier leg (NEGOTIATE) or no NTLM
  if (status == kStatusMoreProcessing) return;
  emit(it->second, status);
  pending_.erase(it);
}

void SmbSession::emit(const Pending& p, std::optional<std::uint32_t> status) {
  v1::AccessEvent event;
  event.set_time_ns(p.time_ns);
  event.set_protocol("smb");
  event.set_action("session_setup");
  event.set_principal(p.auth.user);
  event.set_realm(p.auth.domain);
  auto& d = *event.mutable_detail();
  d["dialect"] = p.dialect;
  d["auth"] = "ntlmssp";
  if (!p.auth.workstation.empty()) d["ntlm_workstation"] = p.auth.workstation;
  if (p.auth.anonymous) d["ntlm_anonymous"] = "true";
  if (!status) {
    event.set_outcome(v1::OUTCOME_UNKNOWN);
  } else {
    event.set_code(status_hex(*status));
    event.set_outcome(*status == kStatusSuccess ? v1::OUTCOME_SUCCESS : v1::OUTCOME_FAILURE);
  }
  out_.emit(std::move(event));
}

}  // namespace

std::unique_ptr<StreamSession> SmbDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                         SessionOutput& out) const {
  return std::make_unique<SmbSession>(out);
}

}  // namespace vagt::agent::dissect
