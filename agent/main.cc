// vagt-agent: captures authentication and access events, signs them and
// forwards them to the collector over mutual TLS 1.3.
//
//   vagt-agent decode [--pseudonym-key F] FILE...   events in captures as JSON lines
//   vagt-agent --config F run FILE...     captures -> signed batches -> collector

#include <openssl/rand.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <optional>
#include <vector>

#include "agent/config.h"
#include "agent/decode/json_lines.h"
#include "agent/decode/pipeline.h"
#include "agent/dissect/builtin.h"
#include "agent/uplink/uplink.h"
#include "common/asio.h"
#include "common/batch.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/tls.h"

using namespace vagt;

namespace {

void log_stats(const LoggerPtr& log, const std::string& file,
               const agent::decode::CaptureStats& s) {
  log->info("{}: {} packets, {} flows, {} events, {} malformed", file, s.packets, s.flows, s.events,
            s.malformed);
  for (const auto& [id, n] : s.anomalies) log->info("{}: anomaly {} x{}", file, id, n);
}

// Runs every file through the pipeline into `sink`; false when any failed.
bool process_files(const std::vector<std::string>& files, agent::decode::EventSink& sink,
                   const agent::dissect::DissectorOptions& options, const LoggerPtr& log) {
  agent::dissect::Registry registry;
  if (auto r = agent::dissect::register_builtin_dissectors(registry, options); !r) {
    log->critical("dissectors: {}", r.error().describe());
    return false;
  }
  bool ok = true;
  for (const auto& file : files) {
    auto stats = agent::decode::process_capture_file(file, registry, sink);
    if (!stats) {
      log->error("{}: {}", file, stats.error().message);
      ok = false;
      continue;
    }
    log_stats(log, file, *stats);
  }
  return ok;
}

// The pseudonym key for `decode`: the file given, else 32 random bytes for
// this run only (pseudonyms are then comparable within one run, not across).
std::optional<std::string> decode_pseudonym_key(const std::string& key_file, const LoggerPtr& log) {
  if (!key_file.empty()) {
    auto key = agent::load_pseudonym_key(key_file);
    if (!key) {
      log->critical("{}", key.error().message);
      return std::nullopt;
    }
    return std::move(*key);
  }
  std::string key(32, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
    log->critical("no randomness for the per-run pseudonym key");
    return std::nullopt;
  }
  return key;
}

int decode(const std::vector<std::string>& files, const std::string& key_file) {
  auto log = make_logger("decode", "warn");
  auto key = decode_pseudonym_key(key_file, log);
  if (!key) return 2;
  agent::dissect::DissectorOptions options;
  options.pseudonymizer = std::make_shared<const crypto::Pseudonymizer>(std::move(*key));
  agent::decode::JsonLinesWriter writer(std::cout);
  const bool ok = process_files(files, writer, options, log);
  std::cout.flush();
  return ok ? 0 : 1;
}

int run(const std::string& config_path, const std::vector<std::string>& files) {
  auto log = make_logger("agent");
  auto config = agent::load_agent_config(config_path);
  if (!config) {
    log->critical("configuration: {}", config.error().message);
    return 2;
  }
  log->set_level(spdlog::level::from_str(config->log_level));
  if (files.empty()) {
    log->critical("no capture files given; live capture is not in this build yet");
    return 2;
  }
  auto cert = crypto::Certificate::load_pem_file(config->tls.cert_file);
  auto key = crypto::PrivateKey::load_pem_file(config->tls.key_file);
  if (!cert || !key) {
    log->critical("identity: {}", (!cert ? cert.error() : key.error()).message);
    return 2;
  }
  const std::string agent_id = cert->common_name();
  if (agent_id.empty()) {
    log->critical("{} has no subject CN: the CN is the agent id", config->tls.cert_file);
    return 2;
  }
  if (!config->agent_id.empty() && config->agent_id != agent_id) {
    log->critical("agent_id '{}' in {} is not the certificate's CN '{}'", config->agent_id,
                  config_path, agent_id);
    return 2;
  }
  auto cert_key = cert->public_key();
  if (!cert_key || cert_key->key_id() != key->key_id()) {
    log->critical("{} does not match {}", config->tls.key_file, config->tls.cert_file);
    return 2;
  }
  auto pseudonym_key = agent::load_pseudonym_key(config->pseudonym_key_file);
  if (!pseudonym_key) {
    log->critical("{}", pseudonym_key.error().message);
    return 2;
  }
  agent::dissect::DissectorOptions options;
  options.pseudonymizer = std::make_shared<const crypto::Pseudonymizer>(std::move(*pseudonym_key));
  auto tls_ctx = tls::make_client_context(config->tls);
  if (!tls_ctx) {
    log->critical("TLS: {}", tls_ctx.error().message);
    return 2;
  }

  agent::decode::EventCollector sink;
  const bool files_ok = process_files(files, sink, options, log);
  log->info("agent {}: {} events from {} capture file(s)", agent_id, sink.events.size(),
            files.size());

  std::string boot_id(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(boot_id.data()), 16) != 1) {
    log->critical("no randomness for the boot id");
    return 2;
  }
  ChainSigner signer(agent_id, std::move(*key), boot_id);
  boost::asio::io_context io;
  agent::uplink::Uplink uplink(io, **tls_ctx, config->uplink,
                               make_logger("uplink", config->log_level));
  const std::size_t count = sink.events.size();
  auto delivered = uplink.deliver(std::move(sink.events), signer);
  if (!delivered) {
    log->critical("delivery failed: {} ({} events not delivered)", delivered.error().message,
                  count);
    return 3;
  }
  log->info("delivered {} events in {} batches to {}; collector holds sequences below {}",
            delivered->events, delivered->batches, delivered->endpoint, delivered->next_sequence);
  return files_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vagt-agent: captures, signs and forwards authentication and access events"};
  app.require_subcommand(1);
  std::string config_path = "/etc/vagt/agent.yaml";
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();

  std::vector<std::string> decode_files;
  auto* decode_cmd = app.add_subcommand(
      "decode", "print the events found in capture files as JSON lines (no key, no collector)");
  decode_cmd->add_option("files", decode_files, "pcap or pcapng files")->required();
  std::string decode_key_file;
  decode_cmd->add_option("--pseudonym-key", decode_key_file,
                         "patient pseudonym key file (default: a random key for this run, so "
                         "pseudonyms compare only within one run)");

  std::vector<std::string> run_files;
  auto* run_cmd = app.add_subcommand("run", "sign the events of capture files and deliver them");
  run_cmd->add_option("files", run_files, "pcap or pcapng files");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*decode_cmd) return decode(decode_files, decode_key_file);
    return run(config_path, run_files);
  } catch (const std::exception& e) {
    std::cerr << "vagt-agent: fatal: " << e.what() << "\n";
    return 1;
  }
}
