#include "agent/dissect/ntlmssp/ntlmssp.h"

#include <algorithm>
#include <array>

#include "agent/dissect/text.h"

namespace vagt::agent::ntlmssp {
namespace {

constexpr std::array<std::uint8_t, 8> kSignature = {'N', 'T', 'L', 'M', 'S', 'S', 'P', 0};

struct Field {
  std::uint16_t length = 0;
  std::uint32_t offset = 0;
};

Field read_field(ByteReader& r) {
  Field f;
  f.length = r.u16le();
  r.skip(2);  // MaxLen
  f.offset = r.u32le();
  return f;
}

// The bytes a field points at, or nullopt when outside the message.
std::optional<ByteView> field_bytes(ByteView message, const Field& f) {
  if (f.length == 0) return ByteView{};
  if (f.offset > message.size() || f.length > message.size() - f.offset) return std::nullopt;
  return message.subspan(f.offset, f.length);
}

}  // namespace

ByteView find_message(ByteView data) {
  const auto it = std::search(data.begin(), data.end(), kSignature.begin(), kSignature.end());
  if (it == data.end()) return {};
  return data.subspan(static_cast<std::size_t>(it - data.begin()));
}

std::optional<MessageType> message_type(ByteView message) {
  ByteReader r(message);
  const ByteView sig = r.bytes(kSignature.size());
  const std::uint32_t type = r.u32le();
  if (!r.ok() || !std::equal(sig.begin(), sig.end(), kSignature.begin())) return std::nullopt;
  if (type < 1 || type > 3) return std::nullopt;
  return static_cast<MessageType>(type);
}

std::optional<Authenticate> parse_authenticate(ByteView message) {
  if (message_type(message) != MessageType::kAuthenticate) return std::nullopt;
  ByteReader r(message);
  r.skip(12);  // signature, message type
  const Field lm = read_field(r);
  const Field nt = read_field(r);
  const Field domain = read_field(r);
  const Field user = read_field(r);
  const Field workstation = read_field(r);
  r.skip(8);  // EncryptedRandomSessionKeyFields
  const std::uint32_t flags = r.u32le();
  if (!r.ok()) return std::nullopt;

  const auto domain_bytes = field_bytes(message, domain);
  const auto user_bytes = field_bytes(message, user);
  const auto workstation_bytes = field_bytes(message, workstation);
  if (!domain_bytes || !user_bytes || !workstation_bytes) return std::nullopt;
  // Response fields are only checked for bounds, never read.
  if (!field_bytes(message, lm) || !field_bytes(message, nt)) return std::nullopt;

  const bool unicode = (flags & kFlagUnicode) != 0;
  auto text = [unicode](ByteView b) {
    return unicode ? dissect::utf16le_to_utf8(b) : dissect::latin1_to_utf8(b);
  };
  Authenticate out;
  out.flags = flags;
  out.user = text(*user_bytes);
  out.domain = text(*domain_bytes);
  out.workstation = text(*workstation_bytes);
  out.anonymous = out.user.empty() && nt.length == 0 && lm.length <= 1;
  return out;
}

}  // namespace vagt::agent::ntlmssp
