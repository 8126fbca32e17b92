#include "agent/dissect/ber/ber_reader.h"

namespace vagt::agent::ber {

const char* to_string(BerStatus status) noexcept {
  switch (status) {
    case BerStatus::kOk:
      return "ok";
    case BerStatus::kNeedMore:
      return "need_more";
    case BerStatus::kMalformed:
      return "malformed";
    case BerStatus::kIndefinite:
      return "indefinite_length";
    case BerStatus::kTooLarge:
      return "too_large";
    case BerStatus::kTooDeep:
      return "too_deep";
    case BerStatus::kEnd:
      return "end";
  }
  return "unknown";
}

BerStatus parse_header(ByteView data, Header& out, std::uint64_t max_length) {
  out = Header{};
  ByteReader r(data);
  const std::uint8_t id = r.u8();
  if (!r.ok()) return BerStatus::kNeedMore;
  out.tag_class = static_cast<TagClass>(id >> 6);
  out.constructed = (id & 0x20) != 0;
  std::uint32_t tag_number = id & 0x1F;
  if (tag_number == 0x1F) {
    // High tag number form: base-128, at most 4 octets (28 bits).
    tag_number = 0;
    for (int i = 0;; ++i) {
      const std::uint8_t b = r.u8();
      if (!r.ok()) return BerStatus::kNeedMore;
      if (i == 0 && b == 0x80) return BerStatus::kMalformed;  // leading zero
      if (i >= 4) return BerStatus::kMalformed;
      tag_number = (tag_number << 7) | (b & 0x7F);
      if ((b & 0x80) == 0) break;
    }
    if (tag_number < 0x1F) return BerStatus::kMalformed;
  }
  out.tag = tag_number;

  const std::uint8_t first = r.u8();
  if (!r.ok()) return BerStatus::kNeedMore;
  std::uint64_t length = 0;
  if (first < 0x80) {
    length = first;
  } else if (first == 0x80) {
    return BerStatus::kIndefinite;
  } else if (first == 0xFF) {
    return BerStatus::kMalformed;  // reserved
  } else {
    const std::size_t octets = first & 0x7F;
    if (octets > 8) return BerStatus::kTooLarge;
    for (std::size_t i = 0; i < octets; ++i) {
      const std::uint8_t b = r.u8();
      if (!r.ok()) return BerStatus::kNeedMore;
      if (length > (UINT64_MAX >> 8)) return BerStatus::kTooLarge;
      length = (length << 8) | b;
    }
  }
  out.header_length = r.position();
  out.length = length;
  if (length > max_length) return BerStatus::kTooLarge;
  return BerStatus::kOk;
}

bool Reader::next(Tlv& out) {
  if (status_ != BerStatus::kOk) return false;
  if (pos_ >= data_.size()) {
    status_ = BerStatus::kEnd;
    return false;
  }
  const ByteView rest = data_.subspan(pos_);
  Header header;
  const BerStatus st = parse_header(rest, header, limits_.max_length);
  if (st != BerStatus::kOk) {
    status_ = st == BerStatus::kNeedMore ? BerStatus::kMalformed : st;
    return false;
  }
  if (header.length > rest.size() - header.header_length) {
    status_ = BerStatus::kMalformed;
    return false;
  }
  out.header = header;
  out.value = rest.subspan(header.header_length, static_cast<std::size_t>(header.length));
  pos_ += header.header_length + static_cast<std::size_t>(header.length);
  return true;
}

bool Reader::expect(TagClass cls, std::uint32_t tag_number, Tlv& out) {
  if (!next(out)) {
    if (status_ == BerStatus::kEnd) status_ = BerStatus::kMalformed;
    return false;
  }
  if (!out.is(cls, tag_number)) {
    status_ = BerStatus::kMalformed;
    return false;
  }
  return true;
}

Reader Reader::enter(const Tlv& tlv) {
  if (!tlv.header.constructed) return Reader(BerStatus::kMalformed);
  if (depth_ + 1 > limits_.max_depth) return Reader(BerStatus::kTooDeep);
  return Reader(tlv.value, limits_, depth_ + 1);
}

bool decode_integer(ByteView value, std::int64_t& out) {
  if (value.empty() || value.size() > 8) return false;
  std::uint64_t v = (value[0] & 0x80) != 0 ? ~std::uint64_t{0} : 0;
  for (std::uint8_t b : value) v = (v << 8) | b;
  out = static_cast<std::int64_t>(v);
  return true;
}

bool decode_oid(ByteView value, std::string& out) {
  out.clear();
  if (value.empty()) return false;
  std::uint64_t component = 0;
  bool first = true;
  std::size_t octets = 0;
  for (std::size_t i = 0; i < value.size(); ++i) {
    const std::uint8_t b = value[i];
    if (octets == 0 && b == 0x80) return false;  // leading zero octet
    if (++octets > 9) return false;              // beyond 63 bits
    component = (component << 7) | (b & 0x7F);
    if ((b & 0x80) != 0) continue;
    if (first) {
      const std::uint64_t arc1 = component < 40 ? 0 : (component < 80 ? 1 : 2);
      out += std::to_string(arc1) + "." + std::to_string(component - arc1 * 40);
      first = false;
    } else {
      out += "." + std::to_string(component);
    }
    component = 0;
    octets = 0;
  }
  return octets == 0;  // the last octet must end a component
}

}  // namespace vagt::agent::ber
