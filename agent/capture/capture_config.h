#pragma once

// The `capture:` section of /etc/vagt/agent.yaml (docs/operations.md).

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <string>
#include <vector>

namespace vagt::agent::capture {

struct CaptureConfig {
  std::vector<std::string> interfaces;  // each captured on its own thread
  std::string filter;                   // BPF, applied to every interface ("" = all)
  int snaplen = 65535;                  // bytes kept per packet
  int buffer_bytes = 16 << 20;          // kernel ring buffer per interface
  bool promiscuous = false;
  std::uint32_t health_interval_s = 60;  // capture_health events; 0 = none
};

// Reads the mapping `node` (from config file `path`, for messages). Throws
// yaml::ConfigError (common/yaml_util.h) naming file:line:column on unknown
// keys, wrong types or values out of range.
CaptureConfig parse_capture_config(const std::string& path, const YAML::Node& node);

}  // namespace vagt::agent::capture
