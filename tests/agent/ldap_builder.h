#pragma once

// BER / LDAP / NTLMSSP messages built by hand for tests.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/agent/packet_builder.h"

namespace vagt::agent::testing {

inline Bytes tlv(std::uint8_t tag, const Bytes& content) {
  Bytes b{tag};
  const std::size_t n = content.size();
  if (n < 0x80) {
    b.push_back(static_cast<std::uint8_t>(n));
  } else if (n <= 0xFF) {
    b.insert(b.end(), {0x81, static_cast<std::uint8_t>(n)});
  } else if (n <= 0xFFFF) {
    b.insert(b.end(), {0x82, static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
  } else {
    b.insert(b.end(), {0x84, static_cast<std::uint8_t>(n >> 24), static_cast<std::uint8_t>(n >> 16),
                       static_cast<std::uint8_t>(n >> 8), static_cast<std::uint8_t>(n)});
  }
  b.insert(b.end(), content.begin(), content.end());
  return b;
}
inline Bytes tlv(std::uint8_t tag, std::string_view s) { return tlv(tag, bytes_of(s)); }
inline Bytes ber_int(std::int64_t v) {
  Bytes content;
  // Minimal two's complement.
  for (int i = 7; i >= 0; --i) content.push_back(static_cast<std::uint8_t>(v >> (8 * i)));
  while (content.size() > 1 && ((content[0] == 0 && (content[1] & 0x80) == 0) ||
                                (content[0] == 0xFF && (content[1] & 0x80) != 0))) {
    content.erase(content.begin());
  }
  return tlv(0x02, content);
}
inline Bytes ber_enum(std::int64_t v) {
  Bytes b = ber_int(v);
  b[0] = 0x0A;
  return b;
}

inline Bytes ldap_message(std::int64_t id, const Bytes& op) {
  return tlv(0x30, concat({ber_int(id), op}));
}

inline Bytes simple_bind(std::int64_t id, std::string_view name, std::string_view password) {
  return ldap_message(id, tlv(0x60, concat({ber_int(3), tlv(0x04, name), tlv(0x80, password)})));
}
inline Bytes sasl_bind(std::int64_t id, std::string_view mechanism, const Bytes& credentials) {
  return ldap_message(
      id, tlv(0x60, concat({ber_int(3), tlv(0x04, ""),
                            tlv(0xA3, concat({tlv(0x04, mechanism), tlv(0x04, credentials)}))})));
}
inline Bytes sicily_bind(std::int64_t id, std::uint8_t choice_tag, std::string_view name,
                         const Bytes& token) {
  return ldap_message(id, tlv(0x60, concat({ber_int(3), tlv(0x04, name), tlv(choice_tag, token)})));
}
inline Bytes bind_response(std::int64_t id, std::int64_t code, std::string_view diagnostic = "") {
  return ldap_message(id,
                      tlv(0x61, concat({ber_enum(code), tlv(0x04, ""), tlv(0x04, diagnostic)})));
}
inline Bytes unbind(std::int64_t id) { return ldap_message(id, Bytes{0x42, 0x00}); }
inline Bytes extended_request(std::int64_t id, std::string_view oid) {
  return ldap_message(id, tlv(0x77, tlv(0x80, oid)));
}
inline Bytes extended_response(std::int64_t id, std::int64_t code) {
  return ldap_message(id, tlv(0x78, concat({ber_enum(code), tlv(0x04, ""), tlv(0x04, "")})));
}
inline Bytes search_request(std::int64_t id, std::string_view base) {
  return ldap_message(
      id, tlv(0x63, concat({tlv(0x04, base), ber_enum(2), ber_enum(0), ber_int(0), ber_int(0),
                            tlv(0x01, Bytes{0}), tlv(0x87, "objectClass"), tlv(0x30, Bytes{})})));
}

inline Bytes utf16le(std::string_view ascii) {
  Bytes b;
  for (char c : ascii) {
    b.push_back(static_cast<std::uint8_t>(c));
    b.push_back(0);
  }
  return b;
}

inline void put16le(Bytes& b, std::uint16_t v) {
  b.push_back(static_cast<std::uint8_t>(v));
  b.push_back(static_cast<std::uint8_t>(v >> 8));
}
inline void put32le(Bytes& b, std::uint32_t v) {
  put16le(b, static_cast<std::uint16_t>(v));
  put16le(b, static_cast<std::uint16_t>(v >> 16));
}

// An NTLMSSP AUTHENTICATE message (MS-NLMP 2.2.1.3). `nt_response` stands in
// for the credential bytes.
inline Bytes ntlm_authenticate(std::string_view user, std::string_view domain,
                               std::string_view workstation, bool unicode = true,
                               const Bytes& nt_response = Bytes(24, 0xAB)) {
  auto enc = [unicode](std::string_view s) { return unicode ? utf16le(s) : bytes_of(s); };
  const Bytes d = enc(domain), u = enc(user), w = enc(workstation);
  const Bytes lm(24, 0xCD);
  Bytes m;
  m.reserve(256);  // (also keeps g++ 12 -O2 from a false -Wstringop-overflow)
  const Bytes signature = bytes_of(std::string_view("NTLMSSP\0", 8));
  m.insert(m.end(), signature.begin(), signature.end());
  put32le(m, 3);
  std::uint32_t offset = 64 + 8;  // header + version
  auto field = [&m, &offset](const Bytes& v) {
    put16le(m, static_cast<std::uint16_t>(v.size()));
    put16le(m, static_cast<std::uint16_t>(v.size()));
    put32le(m, offset);
    offset += static_cast<std::uint32_t>(v.size());
  };
  field(lm);
  field(nt_response);
  field(d);
  field(u);
  field(w);
  field(Bytes{});  // session key
  put32le(m, unicode ? 0x00000205u : 0x00000206u);
  m.insert(m.end(), 8, 0);  // version
  for (const Bytes* v : {&lm, &nt_response, &d, &u, &w}) m.insert(m.end(), v->begin(), v->end());
  return m;
}

inline Bytes ntlm_negotiate() {
  Bytes m = bytes_of(std::string_view("NTLMSSP\0", 8));
  put32le(m, 1);
  put32le(m, 0x00000205u);
  m.insert(m.end(), 16, 0);
  return m;
}

// SPNEGO NegTokenResp (RFC 4178) carrying `token` as responseToken.
inline Bytes spnego_response(const Bytes& token) {
  return tlv(0xA1,
             tlv(0x30, concat({tlv(0xA0, Bytes{0x0A, 0x01, 0x01}), tlv(0xA2, tlv(0x04, token))})));
}

}  // namespace vagt::agent::testing
