#pragma once

// /etc/vagt/agent.yaml (docs/operations.md has every key).

#include <string>
#include <vector>

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
};

Result<AgentConfig> load_agent_config(const std::string& path);

// The pseudonym key (raw bytes of the file named by `pseudonym_key`). The
// file must exist and hold at least kMinPseudonymKeyBytes (and at most 4 KiB);
// anything else is an error saying which.
inline constexpr std::size_t kMinPseudonymKeyBytes = 16;
Result<std::string> load_pseudonym_key(const std::string& path);

}  // namespace vagt::agent
