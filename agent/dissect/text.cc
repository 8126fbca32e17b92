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

}  // namespace vagt::agent::dissect
