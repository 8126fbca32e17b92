#include "collector/server/config.h"

#include "common/yaml_util.h"

namespace vagt::collector {

using yaml::check_keys;
using yaml::ConfigError;
using yaml::get;
using yaml::where;

Result<CollectorConfig> load_collector_config(const std::string& path) {
  return yaml::load_strict<CollectorConfig>(path, [&path](const YAML::Node& root) {
    CollectorConfig c;
    check_keys(path, root,
               {"listen", "tls", "policy", "store", "limits", "threads", "log_level", "ledger",
                "enrolment"});
    if (auto n = root["listen"]) {
      check_keys(path, n, {"address", "port"});
      if (n["address"]) c.server.listen_address = get<std::string>(path, n["address"], "address");
      if (n["port"]) c.server.listen_port = get<std::uint16_t>(path, n["port"], "port");
    }
    const YAML::Node t = root["tls"];
    if (!t) throw ConfigError{path + ": 'tls' (ca, cert, key) is required"};
    check_keys(path, t, {"ca", "cert", "key", "crl"});
    for (const char* k : {"ca", "cert", "key"})
      if (!t[k]) throw ConfigError{where(path, t) + ": tls." + k + " is required"};
    c.tls.ca_file = get<std::string>(path, t["ca"], "tls.ca");
    c.tls.cert_file = get<std::string>(path, t["cert"], "tls.cert");
    c.tls.key_file = get<std::string>(path, t["key"], "tls.key");
    if (t["crl"]) c.tls.crl_file = get<std::string>(path, t["crl"], "tls.crl");
    if (root["policy"]) c.policy_file = get<std::string>(path, root["policy"], "policy");
    if (auto s = root["store"]) {
      check_keys(path, s, {"engine", "path"});
      if (s["engine"]) c.store_engine = get<std::string>(path, s["engine"], "store.engine");
      if (c.store_engine != "sqlite")
        throw ConfigError{where(path, s["engine"]) +
                          ": store.engine must be 'sqlite' in this build"};
      if (s["path"]) c.store_path = get<std::string>(path, s["path"], "store.path");
    }
    if (auto l = root["limits"]) {
      check_keys(
          path, l,
          {"max_frame_bytes", "max_events_per_batch", "handshake_timeout_ms", "idle_timeout_ms",
           "max_connections", "batches_per_second", "batch_burst", "max_clock_skew_s"});
      if (l["max_frame_bytes"])
        c.limits.max_frame_bytes =
            get<std::uint32_t>(path, l["max_frame_bytes"], "max_frame_bytes");
      if (l["max_events_per_batch"])
        c.limits.max_events_per_batch =
            get<std::uint32_t>(path, l["max_events_per_batch"], "max_events_per_batch");
      if (l["handshake_timeout_ms"])
        c.server.handshake_timeout = std::chrono::milliseconds(
            get<std::uint32_t>(path, l["handshake_timeout_ms"], "handshake_timeout_ms"));
      if (l["idle_timeout_ms"])
        c.server.idle_timeout = std::chrono::milliseconds(
            get<std::uint32_t>(path, l["idle_timeout_ms"], "idle_timeout_ms"));
      if (l["max_connections"])
        c.server.max_connections = get<std::size_t>(path, l["max_connections"], "max_connections");
      if (l["batches_per_second"])
        c.limits.batches_per_second =
            get<double>(path, l["batches_per_second"], "batches_per_second");
      if (l["batch_burst"])
        c.limits.batch_burst = get<double>(path, l["batch_burst"], "batch_burst");
      if (l["max_clock_skew_s"])
        c.limits.max_clock_skew = std::chrono::seconds(
            get<std::uint32_t>(path, l["max_clock_skew_s"], "max_clock_skew_s"));
      if (c.limits.batches_per_second != 0 &&
          (c.limits.batches_per_second < 0.1 || c.limits.batches_per_second > 1e6))
        throw ConfigError{where(path, l) + ": batches_per_second must be 0 (no limit) or 0.1..1e6"};
      if (c.limits.batch_burst < 1 || c.limits.batch_burst > 1e6)
        throw ConfigError{where(path, l) + ": batch_burst must be 1..1e6"};
      if (c.limits.max_clock_skew.count() < 60)
        throw ConfigError{where(path, l) + ": max_clock_skew_s must be at least 60"};
      if (c.limits.max_frame_bytes < 1024 || c.limits.max_frame_bytes > (64u << 20))
        throw ConfigError{where(path, l) + ": max_frame_bytes must be 1 KiB..64 MiB"};
      if (c.limits.max_events_per_batch == 0 || c.limits.max_events_per_batch > 100'000)
        throw ConfigError{where(path, l) + ": max_events_per_batch must be 1..100000"};
    }
    if (auto n = root["ledger"]) {
      check_keys(path, n, {"sign_interval_s", "key", "cert"});
      if (n["sign_interval_s"])
        c.ledger.sign_interval_s =
            get<unsigned>(path, n["sign_interval_s"], "ledger.sign_interval_s");
      if (c.ledger.sign_interval_s == 0 || c.ledger.sign_interval_s > 86'400)
        throw ConfigError{where(path, n) + ": ledger.sign_interval_s must be 1..86400"};
      if (n["key"]) c.ledger.key_file = get<std::string>(path, n["key"], "ledger.key");
      if (n["cert"]) c.ledger.cert_file = get<std::string>(path, n["cert"], "ledger.cert");
      if (c.ledger.key_file.empty() != c.ledger.cert_file.empty())
        throw ConfigError{where(path, n) + ": ledger.key and ledger.cert go together"};
    }
    if (auto n = root["enrolment"]) {
      const auto mode = get<std::string>(path, n, "enrolment");
      if (mode == "required")
        c.enrolment = EnrolmentMode::kRequired;
      else if (mode == "open")
        c.enrolment = EnrolmentMode::kOpen;
      else
        throw ConfigError{where(path, n) + ": enrolment must be 'required' or 'open'"};
    }
    if (root["threads"]) c.threads = get<unsigned>(path, root["threads"], "threads");
    if (root["log_level"]) c.log_level = get<std::string>(path, root["log_level"], "log_level");
    return c;
  });
}

}  // namespace vagt::collector
