#pragma once

// /etc/vagt/collector.yaml (docs/operations.md has every key).

#include <string>

#include "collector/server/ingest.h"
#include "collector/server/server.h"
#include "common/result.h"
#include "common/tls.h"

namespace vagt::collector {

// The evidence ledger's tree head signing (docs/evidence.md).
struct LedgerConfig {
  unsigned sign_interval_s = 60;
  std::string key_file;   // empty: the TLS key
  std::string cert_file;  // empty: the TLS certificate
};

struct CollectorConfig {
  ServerConfig server;
  IngestLimits limits;
  tls::Files tls;
  std::string policy_file = "/etc/vagt/policy.yaml";
  std::string store_engine = "sqlite";
  std::string store_path = "/var/lib/vagt/collector.db";
  unsigned threads = 0;  // 0: one per core
  std::string log_level = "info";
  LedgerConfig ledger;
  EnrolmentMode enrolment = EnrolmentMode::kRequired;
};

// Errors name file:line:column. Unknown keys are errors (a typo must not
// silently leave a default in force).
Result<CollectorConfig> load_collector_config(const std::string& path);

}  // namespace vagt::collector
