#pragma once

// Bounds-checked reading of untrusted bytes. Every read either succeeds or
// leaves the reader marked failed; nothing reads past the end and nothing
// throws, so dissectors can chain reads and check ok() once.

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace vagt {

using ByteView = std::span<const std::uint8_t>;

inline std::string_view as_chars(ByteView v) {
  return {reinterpret_cast<const char*>(v.data()), v.size()};
}
inline ByteView as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::uint8_t*>(s.data()), s.size()};
}

class ByteReader {
 public:
  explicit ByteReader(ByteView data) : data_(data) {}

  bool ok() const { return ok_; }
  std::size_t remaining() const { return ok_ ? data_.size() - pos_ : 0; }
  std::size_t position() const { return pos_; }
  bool empty() const { return remaining() == 0; }

  std::uint8_t u8() { return static_cast<std::uint8_t>(take_be(1)); }
  std::uint16_t u16be() { return static_cast<std::uint16_t>(take_be(2)); }
  std::uint32_t u32be() { return static_cast<std::uint32_t>(take_be(4)); }
  std::uint64_t u64be() { return take_be(8); }
  std::uint16_t u16le() { return static_cast<std::uint16_t>(take_le(2)); }
  std::uint32_t u32le() { return static_cast<std::uint32_t>(take_le(4)); }
  std::uint64_t u64le() { return take_le(8); }

  // The next n bytes (empty view and failed state when fewer remain).
  ByteView bytes(std::size_t n) {
    if (!need(n)) return {};
    ByteView out = data_.subspan(pos_, n);
    pos_ += n;
    return out;
  }
  ByteView rest() { return bytes(remaining()); }
  void skip(std::size_t n) { (void)bytes(n); }

  // Look without consuming; 0 and failed-free when out of range is not wanted,
  // so peek returns false instead.
  bool peek_u8(std::uint8_t& out) const {
    if (!ok_ || pos_ >= data_.size()) return false;
    out = data_[pos_];
    return true;
  }

  void fail() { ok_ = false; }

 private:
  bool need(std::size_t n) {
    if (!ok_ || n > data_.size() - pos_) {
      ok_ = false;
      return false;
    }
    return true;
  }
  std::uint64_t take_be(std::size_t n) {
    if (!need(n)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v = (v << 8) | data_[pos_ + i];
    pos_ += n;
    return v;
  }
  std::uint64_t take_le(std::size_t n) {
    if (!need(n)) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < n; ++i) v |= std::uint64_t{data_[pos_ + i]} << (8 * i);
    pos_ += n;
    return v;
  }

  ByteView data_;
  std::size_t pos_ = 0;
  bool ok_ = true;
};

}  // namespace vagt
