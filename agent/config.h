#pragma once

// /etc/vagt/agent.yaml (docs/operations.md has every key).

#include <string>
#include <vector>

#include "agent/capture/capture_config.h"
#include "agent/uplink/uplink.h"
#include "common/result.h"
#include "common/tls.h"

namespace vagt::agent {

struct AgentConfig {
  std::string agent_id;  // optional: when set, must equal the certificate's CN
  uplink::UplinkConfig uplink;
  tls::Files tls;
  std::string pseudonym_key_file = "/etc/vagt/pseudonym.key";
  std::string log_level = "info";
  capture::CaptureConfig capture;  // the `capture:` section
};

Result<AgentConfig> load_agent_config(const std::string& path);

}  // namespace vagt::agent
