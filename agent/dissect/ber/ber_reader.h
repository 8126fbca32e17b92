#pragma once

// A small BER/DER TLV reader (X.690) for untrusted bytes: definite lengths
// (short and long form), indefinite length rejected, a depth limit for nested
// readers and a size limit on any single value. Shared by LDAP and, later,
// Kerberos. Never throws; every failure is a BerStatus.

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/byte_reader.h"

namespace vagt::agent::ber {

enum class TagClass : std::uint8_t {
  kUniversal = 0,
  kApplication = 1,
  kContextSpecific = 2,
  kPrivate = 3,
};

enum class BerStatus : std::uint8_t {
  kOk,
  kNeedMore,    // the header or value runs past the end of the data
  kMalformed,   // not valid BER
  kIndefinite,  // indefinite length (0x80): not accepted
  kTooLarge,    // the length exceeds the size limit
  kTooDeep,     // nesting exceeds the depth limit
  kEnd,         // no more elements
};

const char* to_string(BerStatus status) noexcept;

struct Header {
  TagClass tag_class = TagClass::kUniversal;
  bool constructed = false;
  std::uint32_t tag = 0;
  std::size_t header_length = 0;  // identifier + length octets
  std::uint64_t length = 0;       // value length
};

// Parses the identifier and length octets at the start of `data`. The value
// need not be present (use this to frame a message arriving in pieces).
// kNeedMore when the header itself is incomplete; kTooLarge when the length
// exceeds `max_length`.
BerStatus parse_header(ByteView data, Header& out, std::uint64_t max_length);

struct Tlv {
  Header header;
  ByteView value;

  bool is(TagClass cls, std::uint32_t tag) const {
    return header.tag_class == cls && header.tag == tag;
  }
  bool is_universal(std::uint32_t tag) const { return is(TagClass::kUniversal, tag); }
  bool is_context(std::uint32_t tag) const { return is(TagClass::kContextSpecific, tag); }
  bool is_application(std::uint32_t tag) const { return is(TagClass::kApplication, tag); }
};

struct Limits {
  std::size_t max_depth = 16;
  std::uint64_t max_length = 16U << 20;
};

namespace tag {
inline constexpr std::uint32_t kBoolean = 1;
inline constexpr std::uint32_t kInteger = 2;
inline constexpr std::uint32_t kOctetString = 4;
inline constexpr std::uint32_t kNull = 5;
inline constexpr std::uint32_t kOid = 6;
inline constexpr std::uint32_t kEnumerated = 10;
inline constexpr std::uint32_t kSequence = 16;
inline constexpr std::uint32_t kSet = 17;
}  // namespace tag

// Reads consecutive TLVs from a buffer that must hold them completely.
class Reader {
 public:
  explicit Reader(ByteView data, Limits limits = {}, std::size_t depth = 0)
      : data_(data), limits_(limits), depth_(depth) {}

  // The next element; false at the end or on error (see status()). A value
  // that does not fit in the remaining data is kMalformed here.
  bool next(Tlv& out);
  // Reads the next element and requires its class and tag.
  bool expect(TagClass cls, std::uint32_t tag, Tlv& out);

  // A reader over a constructed element's contents, one level deeper.
  // Fails with kTooDeep past the depth limit, kMalformed if not constructed.
  Reader enter(const Tlv& tlv);

  bool at_end() const { return status_ == BerStatus::kOk && pos_ >= data_.size(); }
  bool ok() const { return status_ == BerStatus::kOk || status_ == BerStatus::kEnd; }
  BerStatus status() const { return status_; }
  ByteView remaining() const { return data_.subspan(pos_); }

 private:
  explicit Reader(BerStatus failed) : status_(failed) {}

  ByteView data_;
  Limits limits_;
  std::size_t depth_ = 0;
  std::size_t pos_ = 0;
  BerStatus status_ = BerStatus::kOk;
};

// INTEGER / ENUMERATED contents as a signed 64-bit value (two's complement,
// at most 8 octets). False when empty or too long.
bool decode_integer(ByteView value, std::int64_t& out);

// OBJECT IDENTIFIER contents in dotted form ("1.3.6.1.4.1.1466.20037").
bool decode_oid(ByteView value, std::string& out);

}  // namespace vagt::agent::ber
