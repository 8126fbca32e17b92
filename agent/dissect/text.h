#pragma once

// Turning untrusted protocol strings into valid, bounded UTF-8 for events
// (protobuf string fields must be UTF-8).

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

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

// Base64 (RFC 4648 section 4) or, with `url`, base64url (section 5); padding
// optional, whitespace not allowed. nullopt on a bad character or when the
// input is longer than 4 * max_bytes / 3 + 4.
std::optional<std::string> base64_decode(std::string_view in, bool url,
                                         std::size_t max_bytes = 16 * 1024);

// ASCII lower case.
std::string ascii_lower(std::string_view s);
// Without leading and trailing spaces, tabs, CR and LF.
std::string_view trim_blanks(std::string_view s);
// URL percent-decoding ('+' kept as is); bad escapes are kept literally.
std::string percent_decode(std::string_view s);

}  // namespace vagt::agent::dissect
