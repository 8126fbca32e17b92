#pragma once

// Helpers for strict YAML config loading: every error names file:line:column,
// unknown keys are errors. Used inside a try block that catches ConfigError.

#include <yaml-cpp/yaml.h>

#include <set>
#include <string>

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

// Runs `body` (which fills the result and may throw ConfigError or any
// yaml-cpp exception) and turns every failure into a Result error.
template <typename T, typename Fn>
Result<T> load_strict(const std::string& path, Fn&& body) {
  try {
    return body(YAML::LoadFile(path));
  } catch (const ConfigError& e) {
    return fail(ErrorCode::kInvalidArgument, e.message);
  } catch (const YAML::BadFile&) {
    return fail(ErrorCode::kIo, "cannot read " + path);
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::kInvalidArgument, path + ":" + std::to_string(e.mark.line + 1) + ":" +
                                                 std::to_string(e.mark.column + 1) + ": " + e.msg);
  }
}

}  // namespace vagt::yaml
