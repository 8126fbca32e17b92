#include "collector/policy/cidr.h"

#include <arpa/inet.h>

#include <charconv>
#include <cstring>

namespace vagt::collector::policy {

Result<Cidr> Cidr::parse(std::string_view text) {
  const std::string full(text);
  std::string addr = full;
  unsigned prefix = 0;
  bool has_prefix = false;
  if (const auto slash = full.find('/'); slash != std::string::npos) {
    addr = full.substr(0, slash);
    const std::string p = full.substr(slash + 1);
    const auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), prefix);
    if (p.empty() || ec != std::errc{} || ptr != p.data() + p.size()) {
      return fail(ErrorCode::kInvalidArgument, "bad prefix length in '" + full + "'");
    }
    has_prefix = true;
  }
  Cidr c;
  if (inet_pton(AF_INET, addr.c_str(), c.bytes_.data()) == 1) {
    c.length_ = 4;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.bytes_.data()) == 1) {
    c.length_ = 16;
  } else {
    return fail(ErrorCode::kInvalidArgument, "'" + full + "' is not an IPv4 or IPv6 address");
  }
  const unsigned max_prefix = static_cast<unsigned>(c.length_ * 8);
  if (!has_prefix) prefix = max_prefix;
  if (prefix > max_prefix) {
    return fail(ErrorCode::kInvalidArgument,
                "prefix length in '" + full + "' exceeds " + std::to_string(max_prefix));
  }
  c.prefix_ = prefix;
  for (unsigned bit = prefix; bit < max_prefix; ++bit) {
    if (c.bytes_[bit / 8] & (0x80u >> (bit % 8))) {
      return fail(ErrorCode::kInvalidArgument,
                  "'" + full + "' has host bits set below the prefix length");
    }
  }
  return c;
}

bool Cidr::contains(std::string_view address) const noexcept {
  static constexpr std::uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (address.size() == 16 && length_ == 4 && std::memcmp(address.data(), kMapped, 12) == 0) {
    address.remove_prefix(12);
  }
  if (address.size() != length_) return false;
  const auto* a = reinterpret_cast<const std::uint8_t*>(address.data());
  const unsigned full_bytes = prefix_ / 8;
  if (std::memcmp(a, bytes_.data(), full_bytes) != 0) return false;
  const unsigned rest = prefix_ % 8;
  if (rest == 0) return true;
  const std::uint8_t mask = static_cast<std::uint8_t>(0xFFu << (8 - rest));
  return (a[full_bytes] & mask) == (bytes_[full_bytes] & mask);
}

std::string Cidr::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(length_ == 4 ? AF_INET : AF_INET6, bytes_.data(), buf, sizeof buf);
  return std::string(buf) + "/" + std::to_string(prefix_);
}

}  // namespace vagt::collector::policy
