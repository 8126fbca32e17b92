#pragma once

// /etc/vagt/agent.yaml (docs/operations.md has every key).

#include <string>
#include <vector>

#include "agent/capture/capture_config.h"
#include "agent/sign/batcher.h"
#include "agent/spool/spool.h"
#include "agent/uplink/forwarder.h"
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
  // Delivery guarantees (docs/operations.md, "Spool" and "Delivery").
  std::string state_dir = "/var/lib/vagt";  // the spool lives in <state_dir>/spool
  spool::SpoolConfig spool;
  sign::BatchPolicy batch;
  uplink::ForwarderConfig forwarder;  // forwarder.link is filled from `uplink`
  std::string user;                   // drop to this user after start (empty: stay)
  capture::CaptureConfig capture;     // the `capture:` section
};

Result<AgentConfig> load_agent_config(const std::string& path);

// The pseudonym key (raw bytes of the file named by `pseudonym_key`). The
// file must exist and hold at least kMinPseudonymKeyBytes (and at most 4 KiB);
// anything else is an error saying which.
inline constexpr std::size_t kMinPseudonymKeyBytes = 16;
Result<std::string> load_pseudonym_key(const std::string& path);

}  // namespace vagt::agent
