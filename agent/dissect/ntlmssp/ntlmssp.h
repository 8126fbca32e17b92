#pragma once

// NTLMSSP (MS-NLMP) message parsing: enough of the AUTHENTICATE message to
// say who authenticated (user, domain, workstation). Challenge responses,
// session keys and MICs are credential material and are never extracted.
// Reusable by LDAP (SASL, sicily), SMB and HTTP.

#include <cstdint>
#include <optional>
#include <string>

#include "common/byte_reader.h"

namespace vagt::agent::ntlmssp {

enum class MessageType : std::uint32_t {
  kNegotiate = 1,
  kChallenge = 2,
  kAuthenticate = 3,
};

inline constexpr std::uint32_t kFlagUnicode = 0x00000001;    // NTLMSSP_NEGOTIATE_UNICODE
inline constexpr std::uint32_t kFlagOem = 0x00000002;        // NTLM_NEGOTIATE_OEM
inline constexpr std::uint32_t kFlagAnonymous = 0x00000800;  // NTLMSSP_NEGOTIATE_ANONYMOUS

struct Authenticate {
  std::string user;         // UTF-8
  std::string domain;       // UTF-8
  std::string workstation;  // UTF-8
  std::uint32_t flags = 0;
  bool anonymous = false;  // empty user and empty responses (MS-NLMP 3.2.5.1.2)
};

// The NTLMSSP message starting at the first "NTLMSSP\0" signature in `data`
// (e.g. inside a SPNEGO token), up to the end of `data`; empty when absent.
ByteView find_message(ByteView data);

// The message type of an NTLMSSP message, std::nullopt if the signature is missing.
std::optional<MessageType> message_type(ByteView message);

// Parses an AUTHENTICATE message. std::nullopt when it is not one or when a
// field runs outside the message. Strings are UTF-16LE when the Unicode flag
// is set, otherwise OEM (read as ISO-8859-1).
std::optional<Authenticate> parse_authenticate(ByteView message);

}  // namespace vagt::agent::ntlmssp
