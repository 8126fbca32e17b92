#include "agent/dissect/tls/tls_dissector.h"

#include <openssl/x509.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

constexpr std::uint8_t kChangeCipherSpec = 20;
constexpr std::uint8_t kAlert = 21;
constexpr std::uint8_t kHandshake = 22;

constexpr std::uint8_t kClientHello = 1;
constexpr std::uint8_t kServerHello = 2;
constexpr std::uint8_t kCertificate = 11;

constexpr std::uint16_t kExtServerName = 0;
constexpr std::uint16_t kExtSupportedVersions = 43;

std::string version_name(std::uint16_t v) {
  switch (v) {
    case 0x0300:
      return "SSLv3";
    case 0x0301:
      return "TLSv1.0";
    case 0x0302:
      return "TLSv1.1";
    case 0x0303:
      return "TLSv1.2";
    case 0x0304:
      return "TLSv1.3";
    default: {
      char buf[16];
      std::snprintf(buf, sizeof buf, "0x%04X", v);
      return buf;
    }
  }
}

bool is_grease(std::uint16_t v) { return (v & 0x0F0F) == 0x0A0A; }

struct CertNames {
  std::string subject;
  std::string issuer;
  std::string common_name;
};

std::string name_text(const X509_NAME* name) {
  char buf[512];
  X509_NAME_oneline(name, buf, sizeof buf);
  return sanitize_utf8(as_bytes(buf), 512);
}

std::optional<CertNames> parse_certificate(ByteView der) {
  const unsigned char* p = der.data();
  X509* cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
  if (cert == nullptr) return std::nullopt;
  CertNames names;
  names.subject = name_text(X509_get_subject_name(cert));
  names.issuer = name_text(X509_get_issuer_name(cert));
  char cn[256] = {0};
  if (X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, cn, sizeof cn) > 0)
    names.common_name = sanitize_utf8(as_bytes(cn), 256);
  X509_free(cert);
  return names;
}

class TlsSession final : public StreamSession {
 public:
  explicit TlsSession(SessionOutput& out) : out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction, std::uint64_t, std::uint64_t) override {
    if (stopped_) return;
    out_.anomaly("tls.gap");
    finish(std::nullopt, "");
  }
  void on_close(std::uint64_t) override {
    if (!stopped_) finish(std::nullopt, "");
  }
  bool wants_data() const override { return !stopped_; }

 private:
  struct Side {
    std::vector<std::uint8_t> records;    // record layer bytes
    std::vector<std::uint8_t> handshake;  // handshake message bytes across records
    bool encrypted = false;               // after this side's ChangeCipherSpec
  };
  void on_handshake_message(Direction direction, std::uint8_t type, ByteView body);
  void client_hello(ByteView body);
  void server_hello(ByteView body);
  void certificate(Direction direction, ByteView body);
  void finish(std::optional<bool> success, const std::string& code);

  SessionOutput& out_;
  Side side_[2];
  bool stopped_ = false;
  bool hello_seen_ = false;
  std::uint64_t time_ns_ = 0;
  std::string sni_, client_version_, version_, cipher_;
  std::optional<CertNames> server_cert_, client_cert_;
};

void TlsSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  Side& side = side_[static_cast<std::size_t>(direction)];
  if (!hello_seen_) time_ns_ = time_ns;
  side.records.insert(side.records.end(), data.begin(), data.end());
  std::size_t pos = 0;
  while (!stopped_ && side.records.size() - pos >= 5) {
    ByteReader h(ByteView(side.records).subspan(pos, 5));
    const std::uint8_t type = h.u8();
    const std::uint16_t version = h.u16be();
    const std::uint16_t length = h.u16be();
    if (type < kChangeCipherSpec || type > 24 || (version >> 8) != 0x03 || length > 18432) {
      out_.anomaly("tls.malformed_record");
      finish(std::nullopt, "");
      break;
    }
    if (side.records.size() - pos - 5 < length) break;
    const ByteView fragment = ByteView(side.records).subspan(pos + 5, length);
    pos += 5 + length;
    if (type == kChangeCipherSpec) {
      side.encrypted = true;
      if (direction == Direction::kServerToClient) finish(true, "");
      continue;
    }
    if (side.encrypted) continue;
    if (type == kAlert && fragment.size() >= 2) {
      if (fragment[0] == 2) finish(false, std::to_string(fragment[1]));  // fatal
      continue;
    }
    if (type != kHandshake) continue;
    if (side.handshake.size() + fragment.size() > TlsDissector::kMaxHandshakeBytes) {
      out_.anomaly("tls.handshake_too_large");
      finish(std::nullopt, "");
      break;
    }
    side.handshake.insert(side.handshake.end(), fragment.begin(), fragment.end());
    std::size_t hpos = 0;
    while (!stopped_ && side.handshake.size() - hpos >= 4) {
      ByteReader m(ByteView(side.handshake).subspan(hpos));
      const std::uint8_t mtype = m.u8();
      const std::uint32_t mlen = (std::uint32_t{m.u8()} << 16) | m.u16be();
      if (mlen > TlsDissector::kMaxHandshakeBytes) {
        out_.anomaly("tls.handshake_too_large");
        finish(std::nullopt, "");
        break;
      }
      if (side.handshake.size() - hpos - 4 < mlen) break;
      on_handshake_message(direction, mtype, ByteView(side.handshake).subspan(hpos + 4, mlen));
      hpos += 4 + mlen;
    }
    if (!stopped_)
      side.handshake.erase(side.handshake.begin(),
                           side.handshake.begin() + static_cast<std::ptrdiff_t>(hpos));
  }
  if (stopped_) {
    side_[0] = {};
    side_[1] = {};
    return;
  }
  side.records.erase(side.records.begin(), side.records.begin() + static_cast<std::ptrdiff_t>(pos));
}

void TlsSession::on_handshake_message(Direction direction, std::uint8_t type, ByteView body) {
  if (type == kClientHello && direction == Direction::kClientToServer) {
    client_hello(body);
  } else if (type == kServerHello && direction == Direction::kServerToClient) {
    server_hello(body);
  } else if (type == kCertificate) {
    certificate(direction, body);
  }
}

void TlsSession::client_hello(ByteView body) {
  hello_seen_ = true;
  ByteReader r(body);
  std::uint16_t best = r.u16be();
  r.skip(32);
  r.skip(r.u8());     // session id
  r.skip(r.u16be());  // cipher suites
  r.skip(r.u8());     // compression methods
  if (r.ok() && r.remaining() >= 2) {
    ByteReader ext(r.bytes(r.u16be()));
    while (ext.ok() && ext.remaining() >= 4) {
      const std::uint16_t etype = ext.u16be();
      ByteReader e(ext.bytes(ext.u16be()));
      if (etype == kExtServerName) {
        ByteReader list(e.bytes(e.u16be()));
        while (list.ok() && list.remaining() >= 3) {
          const std::uint8_t name_type = list.u8();
          const ByteView name = list.bytes(list.u16be());
          if (list.ok() && name_type == 0) sni_ = sanitize_utf8(name, 256);
        }
      } else if (etype == kExtSupportedVersions) {
        ByteReader list(e.bytes(e.u8()));
        while (list.ok() && list.remaining() >= 2) {
          const std::uint16_t v = list.u16be();
          if (!is_grease(v) && v > best) best = v;
        }
      }
    }
  }
  if (!r.ok()) out_.anomaly("tls.malformed_client_hello");
  client_version_ = version_name(best);
}

void TlsSession::server_hello(ByteView body) {
  ByteReader r(body);
  std::uint16_t version = r.u16be();
  r.skip(32);
  r.skip(r.u8());
  const std::uint16_t suite = r.u16be();
  r.skip(1);
  if (r.ok() && r.remaining() >= 2) {
    ByteReader ext(r.bytes(r.u16be()));
    while (ext.ok() && ext.remaining() >= 4) {
      const std::uint16_t etype = ext.u16be();
      ByteReader e(ext.bytes(ext.u16be()));
      if (etype == kExtSupportedVersions) version = e.u16be();
    }
  }
  if (!r.ok()) {
    out_.anomaly("tls.malformed_server_hello");
    return;
  }
  version_ = version_name(version);
  char buf[16];
  std::snprintf(buf, sizeof buf, "0x%04X", suite);
  cipher_ = buf;
  // TLS 1.3: everything after ServerHello is encrypted.
  if (version == 0x0304) finish(true, "");
}

void TlsSession::certificate(Direction direction, ByteView body) {
  // certificate_list<0..2^24-1> of ASN.1Cert<1..2^24-1>; the first is the leaf.
  ByteReader r(body);
  const std::uint32_t total = (std::uint32_t{r.u8()} << 16) | r.u16be();
  ByteReader list(r.bytes(total));
  if (!r.ok() || list.remaining() < 3) return;  // empty: no client certificate
  const std::uint32_t len = (std::uint32_t{list.u8()} << 16) | list.u16be();
  const ByteView der = list.bytes(len);
  if (!list.ok()) {
    out_.anomaly("tls.malformed_certificate");
    return;
  }
  auto names = parse_certificate(der);
  if (!names) {
    out_.anomaly("tls.malformed_certificate");
    return;
  }
  (direction == Direction::kServerToClient ? server_cert_ : client_cert_) = std::move(names);
}

void TlsSession::finish(std::optional<bool> success, const std::string& code) {
  stopped_ = true;
  if (!hello_seen_) return;
  v1::AccessEvent event;
  event.set_time_ns(time_ns_);
  event.set_protocol("tls");
  event.set_action("handshake");
  event.set_resource(sni_);
  auto& d = *event.mutable_detail();
  if (!client_version_.empty()) d["client_version"] = client_version_;
  if (!version_.empty()) d["version"] = version_;
  if (!cipher_.empty()) d["cipher_suite"] = cipher_;
  if (server_cert_) {
    d["server_cert_subject"] = server_cert_->subject;
    d["server_cert_issuer"] = server_cert_->issuer;
  }
  if (client_cert_) {
    event.set_principal(client_cert_->common_name);
    d["client_cert_subject"] = client_cert_->subject;
    d["client_cert_issuer"] = client_cert_->issuer;
  }
  event.set_outcome(!success   ? v1::OUTCOME_UNKNOWN
                    : *success ? v1::OUTCOME_SUCCESS
                               : v1::OUTCOME_FAILURE);
  if (!code.empty()) event.set_code(code);
  out_.emit(std::move(event));
}

}  // namespace

std::unique_ptr<StreamSession> TlsDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                         SessionOutput& out) const {
  return std::make_unique<TlsSession>(out);
}

bool TlsDissector::sniff(ByteView data) const {
  return data.size() >= 6 && data[0] == kHandshake && data[1] == 0x03 && data[2] <= 0x04 &&
         data[5] == kClientHello;
}

}  // namespace vagt::agent::dissect
