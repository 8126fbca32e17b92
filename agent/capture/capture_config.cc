#include "agent/capture/capture_config.h"

#include "common/yaml_util.h"

namespace vagt::agent::capture {

CaptureConfig parse_capture_config(const std::string& path, const YAML::Node& node) {
  using yaml::ConfigError;
  using yaml::get;
  using yaml::where;
  CaptureConfig c;
  yaml::check_keys(
      path, node,
      {"interfaces", "filter", "snaplen", "buffer_bytes", "promiscuous", "health_interval_s"});
  if (const YAML::Node ifs = node["interfaces"]) {
    if (!ifs.IsSequence())
      throw ConfigError{where(path, ifs) + ": capture.interfaces must be a list"};
    for (const auto& i : ifs) {
      auto name = get<std::string>(path, i, "capture.interfaces entry");
      if (name.empty() || name.size() > 64) {
        throw ConfigError{where(path, i) + ": capture.interfaces: bad interface name"};
      }
      c.interfaces.push_back(std::move(name));
    }
  }
  if (node["filter"]) c.filter = get<std::string>(path, node["filter"], "capture.filter");
  if (node["snaplen"]) {
    c.snaplen = get<int>(path, node["snaplen"], "capture.snaplen");
    if (c.snaplen < 256 || c.snaplen > 262144) {
      throw ConfigError{where(path, node["snaplen"]) + ": capture.snaplen must be 256..262144"};
    }
  }
  if (node["buffer_bytes"]) {
    c.buffer_bytes = get<int>(path, node["buffer_bytes"], "capture.buffer_bytes");
    if (c.buffer_bytes < (1 << 20) || c.buffer_bytes > (1 << 30)) {
      throw ConfigError{where(path, node["buffer_bytes"]) +
                        ": capture.buffer_bytes must be 1 MiB..1 GiB"};
    }
  }
  if (node["promiscuous"])
    c.promiscuous = get<bool>(path, node["promiscuous"], "capture.promiscuous");
  if (node["health_interval_s"]) {
    c.health_interval_s =
        get<std::uint32_t>(path, node["health_interval_s"], "capture.health_interval_s");
    if (c.health_interval_s > 86400) {
      throw ConfigError{where(path, node["health_interval_s"]) +
                        ": capture.health_interval_s must be 0..86400"};
    }
  }
  return c;
}

}  // namespace vagt::agent::capture
