#pragma once

// IPv4 and IPv6 networks for system matching. IPv4-mapped IPv6 addresses
// (::ffff:a.b.c.d) in events are compared as the IPv4 address they carry.

#include <array>
#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace vagt::collector::policy {

class Cidr {
 public:
  // "10.0.0.0/8", "2001:db8::/32"; a bare address is a /32 or /128. Refuses
  // host bits set below the prefix ("10.1.2.3/8"), which is nearly always a
  // typo for a narrower network.
  static Result<Cidr> parse(std::string_view text);

  // `address` holds 4 or 16 bytes in network order, as in v1::Endpoint.
  bool contains(std::string_view address) const noexcept;
  std::string to_string() const;
  // A single address (/32 or /128), and its 4 or 16 bytes: for exact-match indexes.
  bool is_host() const noexcept { return prefix_ == length_ * 8; }
  std::string host_bytes() const {
    return std::string(reinterpret_cast<const char*>(bytes_.data()), length_);
  }

 private:
  std::array<std::uint8_t, 16> bytes_{};
  std::size_t length_ = 4;  // 4 or 16
  unsigned prefix_ = 0;
};

}  // namespace vagt::collector::policy
