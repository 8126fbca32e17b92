#include "agent/config.h"

#include "common/crypto.h"
#include "common/yaml_util.h"

namespace vagt::agent {

using yaml::check_keys;
using yaml::ConfigError;
using yaml::get;
using yaml::where;

Result<AgentConfig> load_agent_config(const std::string& path) {
  return yaml::load_strict<AgentConfig>(path, [&path](const YAML::Node& root) {
    AgentConfig c;
    check_keys(path, root, {"agent_id", "collector", "tls", "pseudonym_key", "batch", "log_level"});
    if (root["agent_id"]) c.agent_id = get<std::string>(path, root["agent_id"], "agent_id");
    const YAML::Node col = root["collector"];
    if (!col) throw ConfigError{path + ": 'collector' (endpoints, server_name) is required"};
    check_keys(path, col, {"endpoints", "server_name", "connect_timeout_ms", "ack_timeout_ms"});
    const YAML::Node eps = col["endpoints"];
    if (!eps || !eps.IsSequence() || eps.size() == 0)
      throw ConfigError{where(path, col) +
                        ": collector.endpoints must list at least one host:port"};
    for (const auto& e : eps) {
      auto ep = uplink::parse_endpoint(get<std::string>(path, e, "endpoint"));
      if (!ep) throw ConfigError{where(path, e) + ": " + ep.error().message};
      c.uplink.endpoints.push_back(*ep);
    }
    if (col["server_name"])
      c.uplink.server_name = get<std::string>(path, col["server_name"], "collector.server_name");
    if (col["connect_timeout_ms"])
      c.uplink.connect_timeout = std::chrono::milliseconds(
          get<std::uint32_t>(path, col["connect_timeout_ms"], "connect_timeout_ms"));
    if (col["ack_timeout_ms"])
      c.uplink.ack_timeout = std::chrono::milliseconds(
          get<std::uint32_t>(path, col["ack_timeout_ms"], "ack_timeout_ms"));
    const YAML::Node t = root["tls"];
    if (!t) throw ConfigError{path + ": 'tls' (ca, cert, key) is required"};
    check_keys(path, t, {"ca", "cert", "key"});
    for (const char* k : {"ca", "cert", "key"})
      if (!t[k]) throw ConfigError{where(path, t) + ": tls." + k + " is required"};
    c.tls.ca_file = get<std::string>(path, t["ca"], "tls.ca");
    c.tls.cert_file = get<std::string>(path, t["cert"], "tls.cert");
    c.tls.key_file = get<std::string>(path, t["key"], "tls.key");
    if (root["pseudonym_key"])
      c.pseudonym_key_file = get<std::string>(path, root["pseudonym_key"], "pseudonym_key");
    if (auto b = root["batch"]) {
      check_keys(path, b, {"max_events"});
      if (b["max_events"]) {
        c.uplink.max_events_per_batch =
            get<std::uint32_t>(path, b["max_events"], "batch.max_events");
        if (c.uplink.max_events_per_batch == 0 || c.uplink.max_events_per_batch > 100'000)
          throw ConfigError{where(path, b["max_events"]) + ": batch.max_events must be 1..100000"};
      }
    }
    if (root["log_level"]) c.log_level = get<std::string>(path, root["log_level"], "log_level");
    return c;
  });
}

Result<std::string> load_pseudonym_key(const std::string& path) {
  auto key = crypto::read_file(path, 4096);
  if (!key) {
    return fail(key.error().code, "pseudonym_key: " + key.error().message);
  }
  if (key->size() < kMinPseudonymKeyBytes) {
    return fail(ErrorCode::kInvalidArgument,
                "pseudonym_key " + path + " holds " + std::to_string(key->size()) +
                    " bytes; at least " + std::to_string(kMinPseudonymKeyBytes) +
                    " are required (e.g. head -c 32 /dev/urandom > " + path + ")");
  }
  return key;
}

}  // namespace vagt::agent
