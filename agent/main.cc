// vagt-agent: captures authentication and access events, signs them and
// forwards them to the collector over mutual TLS 1.3.
//
//   vagt-agent decode FILE...             events in captures as JSON lines
//   vagt-agent decode --interface IF [--filter BPF] [--duration S]
//                                         events from live capture as JSON lines
//   vagt-agent --config F run FILE...     captures -> signed batches -> collector

#include <openssl/rand.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <iostream>
#include <vector>

#include "agent/config.h"
#include "agent/decode/json_lines.h"
#include "agent/decode/live_capture.h"
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
                   const LoggerPtr& log) {
  agent::dissect::Registry registry;
  if (auto r = agent::dissect::register_builtin_dissectors(registry); !r) {
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

int decode(const std::vector<std::string>& files) {
  auto log = make_logger("decode", "warn");
  agent::decode::JsonLinesWriter writer(std::cout);
  const bool ok = process_files(files, writer, log);
  std::cout.flush();
  return ok ? 0 : 1;
}

// Live capture to JSON lines until --duration passes or SIGINT/SIGTERM.
int decode_live(const agent::capture::CaptureConfig& capture, std::uint32_t duration_s) {
  auto log = make_logger("capture", "warn");
  agent::dissect::Registry registry;
  if (auto r = agent::dissect::register_builtin_dissectors(registry); !r) {
    log->critical("dissectors: {}", r.error().describe());
    return 1;
  }
  // The capture threads inherit the blocked signals; this thread waits for them.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  agent::decode::JsonLinesWriter writer(std::cout);
  agent::decode::LiveCapture live(registry, writer, capture);
  if (auto r = live.start(); !r) {
    std::cerr << "vagt-agent: " << r.error().message << "\n";
    return 1;
  }
  std::cerr << "vagt-agent: capturing on";
  for (const auto& i : capture.interfaces) std::cerr << " " << i;
  std::cerr << std::endl;
  if (duration_s > 0) {
    const timespec timeout{static_cast<time_t>(duration_s), 0};
    sigtimedwait(&signals, nullptr, &timeout);
  } else {
    int signal_number = 0;
    sigwait(&signals, &signal_number);
  }
  live.stop();
  std::cout.flush();
  if (auto e = live.error()) {
    std::cerr << "vagt-agent: " << e->message << "\n";
    return 1;
  }
  return 0;
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
  auto tls_ctx = tls::make_client_context(config->tls);
  if (!tls_ctx) {
    log->critical("TLS: {}", tls_ctx.error().message);
    return 2;
  }

  agent::decode::EventCollector sink;
  const bool files_ok = process_files(files, sink, log);
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
  decode_cmd->add_option("files", decode_files, "pcap or pcapng files");
  agent::capture::CaptureConfig live_capture;
  live_capture.health_interval_s = 60;
  std::uint32_t live_duration_s = 0;
  decode_cmd->add_option("-i,--interface", live_capture.interfaces,
                         "capture live on this interface (repeatable) instead of reading files");
  decode_cmd->add_option("--filter", live_capture.filter, "BPF filter for live capture");
  decode_cmd->add_option("--duration", live_duration_s, "stop live capture after S seconds");

  std::vector<std::string> run_files;
  auto* run_cmd = app.add_subcommand("run", "sign the events of capture files and deliver them");
  run_cmd->add_option("files", run_files, "pcap or pcapng files");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*decode_cmd && !live_capture.interfaces.empty()) {
      return decode_live(live_capture, live_duration_s);
    }
    if (*decode_cmd && decode_files.empty()) {
      std::cerr << "vagt-agent decode: give capture files or --interface\n";
      return 1;
    }
    if (*decode_cmd) return decode(decode_files);
    return run(config_path, run_files);
  } catch (const std::exception& e) {
    std::cerr << "vagt-agent: fatal: " << e.what() << "\n";
    return 1;
  }
}
