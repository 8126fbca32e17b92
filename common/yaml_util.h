#pragma once

// Helpers for strict YAML config loading: every error names file:line:column,
// unknown keys are errors. Used inside a try block that catches ConfigError.

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>
#include <string_view>

#include "common/crypto.h"
#include "common/result.h"

namespace vagt::yaml {

struct ConfigError {
  std::string message;
};

inline std::string where(const std::string& path, const YAML::Node& n) {
  const auto m = n.Mark();
  return path + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

inline void check_keys(const std::string& path, const YAML::Node& map,
                       const std::set<std::string>& allowed) {
  if (!map.IsMap()) throw ConfigError{where(path, map) + ": expected a mapping"};
  for (const auto& kv : map) {
    const auto key = kv.first.as<std::string>();
    if (!allowed.contains(key))
      throw ConfigError{where(path, kv.first) + ": unknown key '" + key + "'"};
  }
}

template <typename T>
T get(const std::string& path, const YAML::Node& n, const std::string& what) {
  try {
    return n.as<T>();
  } catch (const YAML::Exception&) {
    throw ConfigError{where(path, n) + ": " + what + " has the wrong type"};
  }
}

inline constexpr std::size_t kMaxYamlBytes = 4 << 20;

// YAML is text: valid UTF-8 without NUL or other C0 controls (but tab, LF,
// CR). Checked before yaml-cpp sees the bytes, because yaml-cpp 0.7 can
// allocate without bound on some binary input (found by tests/fuzz). The
// error names source:line:column of the first bad byte.
inline Result<void> check_yaml_text(std::string_view text, const std::string& source) {
  if (text.size() > kMaxYamlBytes)
    return fail(ErrorCode::kTooLarge,
                source + ": larger than " + std::to_string(kMaxYamlBytes) + " bytes");
  std::size_t line = 1, column = 1;
  auto bad = [&](const char* what) {
    return fail(ErrorCode::kInvalidArgument,
                source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what);
  };
  for (std::size_t i = 0; i < text.size();) {
    const auto c = static_cast<unsigned char>(text[i]);
    std::size_t len = 1;
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return bad("control character");
      if (c == 0x7f) return bad("control character");
    } else {
      std::uint32_t cp = 0;
      if ((c & 0xe0) == 0xc0) {
        len = 2;
        cp = c & 0x1f;
      } else if ((c & 0xf0) == 0xe0) {
        len = 3;
        cp = c & 0x0f;
      } else if ((c & 0xf8) == 0xf0) {
        len = 4;
        cp = c & 0x07;
      } else {
        return bad("invalid UTF-8");
      }
      if (i + len > text.size()) return bad("invalid UTF-8");
      for (std::size_t k = 1; k < len; ++k) {
        const auto cc = static_cast<unsigned char>(text[i + k]);
        if ((cc & 0xc0) != 0x80) return bad("invalid UTF-8");
        cp = (cp << 6) | (cc & 0x3f);
      }
      const std::uint32_t min = len == 2 ? 0x80 : len == 3 ? 0x800 : 0x10000;
      if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return bad("invalid UTF-8");
    }
    if (c == '\n') {
      ++line;
      column = 1;
    } else {
      ++column;
    }
    i += len;
  }
  return {};
}

// Runs `body` (which fills the result and may throw ConfigError or any
// yaml-cpp exception) and turns every failure into a Result error.
template <typename T, typename Fn>
Result<T> load_strict(const std::string& path, Fn&& body) {
  auto text = crypto::read_file(path, kMaxYamlBytes);
  if (!text) return tl::unexpected(text.error());
  if (auto ok = check_yaml_text(*text, path); !ok) return tl::unexpected(ok.error());
  try {
    return body(YAML::Load(*text));
  } catch (const ConfigError& e) {
    return fail(ErrorCode::kInvalidArgument, e.message);
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::kInvalidArgument, path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                                 std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

}  // namespace vagt::yaml
