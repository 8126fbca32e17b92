#pragma once

// One direction of a protocol whose messages carry their own length in a
// fixed-size header (DICOM PDUs, MySQL packets, NetBIOS/SMB): buffers
// partial messages, hands out whole ones, and passes over messages larger
// than a limit without buffering them.

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "common/byte_reader.h"

namespace vagt::agent::dissect {

class LengthFramer {
 public:
  LengthFramer(std::size_t header_bytes, std::size_t max_message_bytes)
      : header_bytes_(header_bytes), max_(max_message_bytes) {}

  // Appends `data` and calls, for each whole message in order:
  //   length_of(header) -> std::optional<std::uint64_t>: the message length
  //     after the header, nullopt when the header is not valid (feeding stops);
  //   on_oversize(header, length) -> bool: a message over the limit; true
  //     passes over it (never buffered), false stops;
  //   on_message(header, body) -> bool: false stops.
  // Returns false once feeding stopped (the buffer is then dropped).
  template <class LengthOf, class OnOversize, class OnMessage>
  bool feed(ByteView data, LengthOf&& length_of, OnOversize&& on_oversize, OnMessage&& on_message) {
    if (skip_ > 0) {
      const std::uint64_t n = std::min<std::uint64_t>(skip_, data.size());
      skip_ -= n;
      data = data.subspan(static_cast<std::size_t>(n));
    }
    buf_.insert(buf_.end(), data.begin(), data.end());
    std::size_t pos = 0;
    bool ok = true;
    while (ok && buf_.size() - pos >= header_bytes_) {
      const ByteView header = ByteView(buf_).subspan(pos, header_bytes_);
      const std::optional<std::uint64_t> length = length_of(header);
      if (!length) {
        ok = false;
        break;
      }
      const std::size_t have = buf_.size() - pos - header_bytes_;
      if (*length > max_) {
        if (!on_oversize(header, *length)) {
          ok = false;
          break;
        }
        skip_ = *length > have ? *length - have : 0;
        pos = static_cast<std::size_t>(
            std::min<std::uint64_t>(buf_.size(), pos + header_bytes_ + *length));
        continue;
      }
      if (have < *length) break;
      const auto n = static_cast<std::size_t>(*length);
      ok = on_message(header, ByteView(buf_).subspan(pos + header_bytes_, n));
      pos += header_bytes_ + n;
    }
    if (!ok) {
      clear();
      return false;
    }
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(pos));
    return true;
  }

  bool empty() const { return buf_.empty(); }
  void clear() {
    buf_ = {};
    skip_ = 0;
  }

 private:
  std::size_t header_bytes_;
  std::size_t max_;
  std::vector<std::uint8_t> buf_;
  std::uint64_t skip_ = 0;
};

}  // namespace vagt::agent::dissect
