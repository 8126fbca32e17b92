#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

constexpr char32_t kReplacement = 0xFFFD;

// Appends a code point unless that would pass max_bytes; false when full.
bool append(std::string& out, char32_t cp, std::size_t max_bytes) {
  char buf[4];
  std::size_t n = 0;
  if (cp < 0x80) {
    buf[n++] = static_cast<char>(cp);
  } else if (cp < 0x800) {
    buf[n++] = static_cast<char>(0xC0 | (cp >> 6));
    buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    buf[n++] = static_cast<char>(0xE0 | (cp >> 12));
    buf[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    buf[n++] = static_cast<char>(0xF0 | (cp >> 18));
    buf[n++] = static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    buf[n++] = static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    buf[n++] = static_cast<char>(0x80 | (cp & 0x3F));
  }
  if (out.size() + n > max_bytes) return false;
  out.append(buf, n);
  return true;
}

}  // namespace

std::string sanitize_utf8(ByteView data, std::size_t max_bytes) {
  std::string out;
  std::size_t i = 0;
  while (i < data.size()) {
    const std::uint8_t b = data[i];
    char32_t cp = kReplacement;
    std::size_t len = 1;
    std::size_t need = 0;
    char32_t min = 0;
    if (b < 0x80) {
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      need = 1;
      min = 0x80;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      need = 2;
      min = 0x800;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      need = 3;
      min = 0x10000;
      cp = b & 0x07;
    }
    if (need > 0) {
      bool valid = i + need < data.size();
      for (std::size_t k = 1; valid && k <= need; ++k) {
        if ((data[i + k] & 0xC0) != 0x80) {
          valid = false;
        } else {
          cp = (cp << 6) | (data[i + k] & 0x3F);
        }
      }
      if (valid && cp >= min && cp <= 0x10FFFF && !(cp >= 0xD800 && cp <= 0xDFFF)) {
        len = need + 1;
      } else {
        cp = kReplacement;
      }
    } else if (b >= 0x80) {
      cp = kReplacement;
    }
    if (!append(out, cp, max_bytes)) break;
    i += len;
  }
  return out;
}

std::string utf16le_to_utf8(ByteView data, std::size_t max_bytes) {
  std::string out;
  std::size_t i = 0;
  while (i + 1 < data.size()) {
    char32_t unit = data[i] | (char32_t{data[i + 1]} << 8);
    i += 2;
    char32_t cp = unit;
    if (unit >= 0xD800 && unit <= 0xDBFF) {
      if (i + 1 < data.size()) {
        const char32_t low = data[i] | (char32_t{data[i + 1]} << 8);
        if (low >= 0xDC00 && low <= 0xDFFF) {
          cp = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00);
          i += 2;
        } else {
          cp = kReplacement;
        }
      } else {
        cp = kReplacement;
      }
    } else if (unit >= 0xDC00 && unit <= 0xDFFF) {
      cp = kReplacement;
    }
    if (!append(out, cp, max_bytes)) break;
  }
  return out;
}

std::string latin1_to_utf8(ByteView data, std::size_t max_bytes) {
  std::string out;
  for (std::uint8_t b : data) {
    if (!append(out, b, max_bytes)) break;
  }
  return out;
}

std::optional<std::string> base64_decode(std::string_view in, bool url, std::size_t max_bytes) {
  if (in.size() > max_bytes / 3 * 4 + 4) return std::nullopt;
  while (!in.empty() && in.back() == '=') in.remove_suffix(1);
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = -1;
    if (c >= 'A' && c <= 'Z') {
      v = c - 'A';
    } else if (c >= 'a' && c <= 'z') {
      v = c - 'a' + 26;
    } else if (c >= '0' && c <= '9') {
      v = c - '0' + 52;
    } else if (c == (url ? '-' : '+')) {
      v = 62;
    } else if (c == (url ? '_' : '/')) {
      v = 63;
    }
    if (v < 0) return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((acc >> bits) & 0xFF));
    }
  }
  if (bits >= 6) return std::nullopt;  // one character left over: not base64
  return out;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

std::string_view trim_blanks(std::string_view s) {
  constexpr std::string_view kBlank = " \t\r\n";
  const auto first = s.find_first_not_of(kBlank);
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(kBlank);
  return s.substr(first, last - first + 1);
}

std::string percent_decode(std::string_view s) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && hex(s[i + 1]) >= 0 && hex(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(s[i + 1]) * 16 + hex(s[i + 2])));
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

}  // namespace vagt::agent::dissect
