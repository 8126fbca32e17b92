#pragma once

// Turning untrusted protocol strings into valid, bounded UTF-8 for events
// (protobuf string fields must be UTF-8).

#include <cstddef>
#include <string>

#include "common/byte_reader.h"

namespace vagt::agent::dissect {

// Longest string put into an event field; longer input is cut (at a code
// point boundary).
inline constexpr std::size_t kMaxFieldBytes = 1024;

// UTF-8 input with invalid sequences replaced by U+FFFD.
std::string sanitize_utf8(ByteView data, std::size_t max_bytes = kMaxFieldBytes);
// UTF-16LE (surrogate pairs joined, lone surrogates -> U+FFFD) to UTF-8.
std::string utf16le_to_utf8(ByteView data, std::size_t max_bytes = kMaxFieldBytes);
// An 8-bit code page taken as ISO-8859-1 (the OEM code page is not known on
// the wire) to UTF-8.
std::string latin1_to_utf8(ByteView data, std::size_t max_bytes = kMaxFieldBytes);

}  // namespace vagt::agent::dissect
