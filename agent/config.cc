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
    check_keys(path, root,
               {"agent_id", "collector", "tls", "pseudonym_key", "batch", "log_level", "state_dir",
                "spool", "heartbeat_interval_s", "user", "capture"});
    if (root["agent_id"]) c.agent_id = get<std::string>(path, root["agent_id"], "agent_id");
    const YAML::Node col = root["collector"];
    if (!col) throw ConfigError{path + ": 'collector' (endpoints, server_name) is required"};
    check_keys(path, col,
               {"endpoints", "server_name", "connect_timeout_ms", "ack_timeout_ms",
                "backoff_initial_ms", "backoff_max_ms", "window"});
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
    auto ms = [&path](const YAML::Node& n, const char* what, std::uint32_t lo, std::uint32_t hi) {
      const auto v = get<std::uint32_t>(path, n, what);
      if (v < lo || v > hi)
        throw ConfigError{where(path, n) + ": " + what + " must be " + std::to_string(lo) + ".." +
                          std::to_string(hi)};
      return v;
    };
    if (col["backoff_initial_ms"])
      c.forwarder.backoff_initial = std::chrono::milliseconds(
          ms(col["backoff_initial_ms"], "collector.backoff_initial_ms", 1, 3'600'000));
    if (col["backoff_max_ms"])
      c.forwarder.backoff_max = std::chrono::milliseconds(
          ms(col["backoff_max_ms"], "collector.backoff_max_ms", 1, 3'600'000));
    if (c.forwarder.backoff_max < c.forwarder.backoff_initial)
      throw ConfigError{where(path, col) +
                        ": collector.backoff_max_ms is below collector.backoff_initial_ms"};
    if (col["window"]) c.forwarder.window = ms(col["window"], "collector.window", 1, 1024);
    if (root["state_dir"]) c.state_dir = get<std::string>(path, root["state_dir"], "state_dir");
    c.spool.dir = c.state_dir + "/spool";
    if (auto sp = root["spool"]) {
      check_keys(path, sp, {"max_bytes", "segment_bytes", "fsync_interval_ms"});
      if (sp["max_bytes"])
        c.spool.max_bytes = get<std::uint64_t>(path, sp["max_bytes"], "spool.max_bytes");
      if (sp["segment_bytes"])
        c.spool.segment_bytes =
            get<std::uint64_t>(path, sp["segment_bytes"], "spool.segment_bytes");
      if (sp["fsync_interval_ms"])
        c.spool.fsync_interval = std::chrono::milliseconds(
            ms(sp["fsync_interval_ms"], "spool.fsync_interval_ms", 0, 60'000));
      if (c.spool.segment_bytes < 4096 || c.spool.max_bytes < c.spool.segment_bytes)
        throw ConfigError{where(path, sp) +
                          ": spool.segment_bytes must be >= 4096 and spool.max_bytes >= "
                          "spool.segment_bytes"};
    }
    if (root["heartbeat_interval_s"])
      c.forwarder.heartbeat_interval =
          std::chrono::seconds(ms(root["heartbeat_interval_s"], "heartbeat_interval_s", 1, 86'400));
    if (root["user"]) c.user = get<std::string>(path, root["user"], "user");
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
      check_keys(path, b, {"max_events", "max_delay_ms"});
      if (b["max_delay_ms"])
        c.batch.max_delay =
            std::chrono::milliseconds(ms(b["max_delay_ms"], "batch.max_delay_ms", 1, 600'000));
      if (b["max_events"]) {
        c.uplink.max_events_per_batch =
            get<std::uint32_t>(path, b["max_events"], "batch.max_events");
        if (c.uplink.max_events_per_batch == 0 || c.uplink.max_events_per_batch > 100'000)
          throw ConfigError{where(path, b["max_events"]) + ": batch.max_events must be 1..100000"};
      }
    }
    c.batch.max_events = c.uplink.max_events_per_batch;
    c.forwarder.link = c.uplink;
    if (root["log_level"]) c.log_level = get<std::string>(path, root["log_level"], "log_level");
    if (root["capture"]) c.capture = capture::parse_capture_config(path, root["capture"]);
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
