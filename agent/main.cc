// vagt-agent: captures authentication and access events, signs them and
// forwards them to the collector over mutual TLS 1.3.
//
//   vagt-agent decode [--pseudonym-key F] FILE...   events in captures as JSON lines
//   vagt-agent decode --interface IF [--filter BPF] [--duration S]
//                                         events from live capture as JSON lines
//   vagt-agent --config F run FILE...     captures -> signed batches -> spool -> collector

#include <openssl/rand.h>
#include <signal.h>

#include <CLI/CLI.hpp>
#include <atomic>
#include <functional>
#include <iostream>
#include <memory>
#include <optional>
#include <thread>
#include <vector>

#include "agent/config.h"
#include "agent/decode/json_lines.h"
#include "agent/decode/live_capture.h"
#include "agent/decode/pipeline.h"
#include "agent/dissect/builtin.h"
#include "agent/privilege.h"
#include "agent/sign/batcher.h"
#include "agent/spool/spool.h"
#include "agent/uplink/forwarder.h"
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
// `totals` (optional) accumulates packets and flows for heartbeats.
bool process_files(const std::vector<std::string>& files, agent::decode::EventSink& sink,
                   const agent::dissect::DissectorOptions& options, const LoggerPtr& log,
                   std::atomic<std::uint64_t>* packets = nullptr,
                   std::atomic<std::uint64_t>* flows = nullptr) {
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
    if (packets) *packets += stats->packets;
    if (flows) *flows += stats->flows;
  }
  return ok;
}

// Dissector options for `decode`: the pseudonym key from the file given, else
// 32 random bytes for this run only (pseudonyms then compare within one run).
std::optional<agent::dissect::DissectorOptions> decode_options(const std::string& key_file,
                                                               const LoggerPtr& log) {
  std::string key;
  if (!key_file.empty()) {
    auto loaded = agent::load_pseudonym_key(key_file);
    if (!loaded) {
      log->critical("{}", loaded.error().message);
      return std::nullopt;
    }
    key = std::move(*loaded);
  } else {
    key.assign(32, '\0');
    if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()), 32) != 1) {
      log->critical("no randomness for the per-run pseudonym key");
      return std::nullopt;
    }
  }
  agent::dissect::DissectorOptions options;
  options.pseudonymizer = std::make_shared<const crypto::Pseudonymizer>(std::move(key));
  return options;
}

int decode(const std::vector<std::string>& files, const std::string& key_file) {
  auto log = make_logger("decode", "warn");
  auto options = decode_options(key_file, log);
  if (!options) return 2;
  agent::decode::JsonLinesWriter writer(std::cout);
  const bool ok = process_files(files, writer, *options, log);
  std::cout.flush();
  return ok ? 0 : 1;
}

struct Identity {
  std::string agent_id;
  std::optional<crypto::Certificate> cert;
  std::optional<crypto::PrivateKey> key;
  std::shared_ptr<boost::asio::ssl::context> tls;
};

// Certificate, key and TLS context, with every consistency check; the
// message names what is wrong.
Result<Identity> load_identity(const agent::AgentConfig& config, const std::string& config_path) {
  auto cert = crypto::Certificate::load_pem_file(config.tls.cert_file);
  if (!cert) return tl::unexpected(cert.error());
  auto key = crypto::PrivateKey::load_pem_file(config.tls.key_file);
  if (!key) return tl::unexpected(key.error());
  Identity id;
  id.agent_id = cert->common_name();
  if (id.agent_id.empty())
    return fail(ErrorCode::kInvalidArgument,
                config.tls.cert_file + " has no subject CN: the CN is the agent id");
  if (!config.agent_id.empty() && config.agent_id != id.agent_id)
    return fail(ErrorCode::kInvalidArgument, "agent_id '" + config.agent_id + "' in " +
                                                 config_path + " is not the certificate's CN '" +
                                                 id.agent_id + "'");
  auto cert_key = cert->public_key();
  if (!cert_key || cert_key->key_id() != key->key_id())
    return fail(ErrorCode::kInvalidArgument,
                config.tls.key_file + " does not match " + config.tls.cert_file);
  auto tls_ctx = tls::make_client_context(config.tls);
  if (!tls_ctx) return tl::unexpected(tls_ctx.error());
  id.tls = std::shared_ptr<boost::asio::ssl::context>(std::move(*tls_ctx));
  id.cert.emplace(std::move(*cert));
  id.key.emplace(std::move(*key));
  return id;
}

// Test and benchmark source: `count` synthetic LDAP binds through the same
// sink as captured events (the delivery path is the real one).
void synthetic_events(std::uint64_t count, agent::decode::EventSink& sink) {
  const auto base =
      static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count());
  for (std::uint64_t i = 0; i < count; ++i) {
    v1::AccessEvent e;
    e.set_time_ns(base + i * 1000);
    e.set_transport(v1::TRANSPORT_TCP);
    e.mutable_src()->set_address(std::string("\x7f\x00\x00\x01", 4));
    e.mutable_src()->set_port(40000 + static_cast<std::uint32_t>(i % 20000));
    e.mutable_dst()->set_address(std::string("\x7f\x00\x00\x02", 4));
    e.mutable_dst()->set_port(389);
    e.set_protocol("ldap");
    e.set_principal("synthetic-user-" + std::to_string(i % 100));
    e.set_action("bind");
    e.set_resource("dc=example,dc=test");
    e.set_outcome(v1::OUTCOME_SUCCESS);
    e.mutable_detail()->insert({"synthetic", std::to_string(i)});
    sink.on_event(std::move(e));
  }
}

// Everything `run` needs before it starts: configuration, identity, file
// and directory modes. Returns the identity; `log` says what is wrong.
Result<Identity> check_deployment(const agent::AgentConfig& config,
                                  const std::string& config_path) {
  auto uid = agent::target_uid(config.user);
  if (!uid) return tl::unexpected(uid.error());
  if (auto r = agent::check_private_file(config.tls.key_file, *uid); !r)
    return tl::unexpected(r.error());
  if (auto r = agent::check_state_dir(config.state_dir, *uid); !r) return tl::unexpected(r.error());
  return load_identity(config, config_path);
}

int check_config(const std::string& config_path) {
  auto log = make_logger("agent");
  auto config = agent::load_agent_config(config_path);
  if (!config) {
    log->critical("configuration: {}", config.error().message);
    return 2;
  }
  auto identity = check_deployment(*config, config_path);
  if (!identity) {
    log->critical("{}", identity.error().message);
    return 2;
  }
  std::cout << config_path << ": OK (agent " << identity->agent_id << ", state dir "
            << config->state_dir << ")\n";
  return 0;
}

struct RunOptions {
  std::vector<std::string> files;
  std::uint64_t synthetic = 0;
  std::uint32_t give_up_after_s = 0;
};

// Live capture to JSON lines until --duration passes or SIGINT/SIGTERM.
int decode_live(const agent::capture::CaptureConfig& capture, std::uint32_t duration_s,
                const std::string& key_file) {
  auto log = make_logger("capture", "warn");
  auto options = decode_options(key_file, log);
  if (!options) return 2;
  agent::dissect::Registry registry;
  if (auto r = agent::dissect::register_builtin_dissectors(registry, *options); !r) {
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

int run(const std::string& config_path, const RunOptions& opts) {
  auto log = make_logger("agent");
  auto config = agent::load_agent_config(config_path);
  if (!config) {
    log->critical("configuration: {}", config.error().message);
    return 2;
  }
  log->set_level(spdlog::level::from_str(config->log_level));
  if (opts.files.empty() && opts.synthetic == 0) {
    log->critical("no capture files given; live capture is not in this build yet");
    return 2;
  }
  auto identity = check_deployment(*config, config_path);
  if (!identity) {
    log->critical("{}", identity.error().message);
    return 2;
  }
  auto pseudonym_key = agent::load_pseudonym_key(config->pseudonym_key_file);
  if (!pseudonym_key) {
    log->critical("{}", pseudonym_key.error().message);
    return 2;
  }
  agent::dissect::DissectorOptions options;
  options.pseudonymizer = std::make_shared<const crypto::Pseudonymizer>(std::move(*pseudonym_key));
  if (auto r = agent::drop_privileges(config->user); !r) {
    log->critical("privileges: {}", r.error().message);
    return 2;
  }
  const std::string agent_id = identity->agent_id;
  auto pub = identity->cert->public_key();
  auto spool =
      agent::spool::Spool::open(config->spool, make_logger("spool", config->log_level),
                                [pub = std::make_shared<crypto::PublicKey>(std::move(*pub))](
                                    const std::string& header, const std::string& sig) {
                                  return pub->verify(as_bytes(header), as_bytes(sig));
                                });
  if (!spool) {
    log->critical("spool: {}", spool.error().message);
    return 2;
  }
  agent::spool::Spool& sp = **spool;

  std::string boot_id(16, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(boot_id.data()), 16) != 1) {
    log->critical("no randomness for the boot id");
    return 2;
  }
  agent::sign::Batcher batcher(sp, agent_id, std::move(*identity->key), boot_id, config->batch,
                               make_logger("sign", config->log_level));

  // The event source runs on its own thread and only ever talks to the
  // batcher (an EventSink): live capture plugs in the same way.
  std::atomic<bool> input_done{false};
  std::atomic<bool> files_ok{true};
  std::atomic<std::uint64_t> packets{0}, flows{0};
  std::thread producer([&] {
    files_ok = process_files(opts.files, batcher, options, log, &packets, &flows);
    if (opts.synthetic) synthetic_events(opts.synthetic, batcher);
    log->info("agent {}: {} events from {} capture file(s)", agent_id, batcher.counters().events,
              opts.files.size());
    input_done = true;
  });

  boost::asio::io_context io;
  std::shared_ptr<boost::asio::ssl::context> tls_ctx = identity->tls;
  agent::uplink::Forwarder forwarder(
      io, [&tls_ctx] { return tls_ctx; }, sp, config->forwarder,
      make_logger("uplink", config->log_level));

  bool interrupted = false, gave_up = false;
  boost::asio::signal_set signals(io, SIGINT, SIGTERM, SIGHUP);
  std::function<void(const boost::system::error_code&, int)> on_signal =
      [&](const boost::system::error_code& ec, int sig) {
        if (ec) return;
        if (sig == SIGHUP) {
          auto fresh = load_identity(*config, config_path);
          if (!fresh) {
            log->error("SIGHUP: keeping the current identity: {}", fresh.error().message);
          } else if (fresh->agent_id != agent_id) {
            log->error("SIGHUP: the new certificate is for '{}', not '{}'; ignored",
                       fresh->agent_id, agent_id);
          } else {
            tls_ctx = fresh->tls;
            batcher.set_key(std::move(*fresh->key));
            log->info("SIGHUP: certificate and key reloaded (next connection, next batch)");
          }
          signals.async_wait(on_signal);
          return;
        }
        log->info("signal {}: flushing the spool and stopping", sig);
        interrupted = true;
        forwarder.stop();
      };
  signals.async_wait(on_signal);
  boost::asio::steady_timer give_up(io);
  if (opts.give_up_after_s) {
    give_up.expires_after(std::chrono::seconds(opts.give_up_after_s));
    give_up.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      gave_up = true;
      forwarder.stop();
    });
  }

  auto heartbeat = [&] {
    v1::Heartbeat hb;
    hb.set_time_ns(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                       std::chrono::system_clock::now().time_since_epoch())
                                       .count()));
    const auto b = batcher.counters();
    const auto s = sp.counters();
    const auto& f = forwarder.counters();
    auto& c = *hb.mutable_counters();
    c["packets"] = packets;
    c["kernel_drops"] = 0;  // no live capture in this build
    c["flows"] = flows;
    c["events"] = b.events;
    c["spooled_bytes"] = sp.bytes();
    c["spooled_batches"] = sp.batches();
    c["sent"] = f.sent;
    c["acked"] = f.acked;
    // Lost: reported to and acknowledged by the collector, plus dropped and
    // not yet reported (losses survive restarts in the spool).
    std::uint64_t pending_loss = 0;
    for (const auto& l : sp.losses()) pending_loss += l.count;
    c["lost_events"] = f.lost_events + pending_loss;
    c["torn_records"] = s.torn_records;
    c["corrupt_records"] = s.corrupt_records;
    c["reconnects"] = f.reconnects;
    c["heartbeat_interval_s"] =
        static_cast<std::uint64_t>(config->forwarder.heartbeat_interval.count());
    (*hb.mutable_status())["files"] = input_done ? "done" : "reading";
    return hb;
  };
  auto done = [&] { return input_done.load() && batcher.pending() == 0; };
  auto tick = [&] {
    const auto now = std::chrono::steady_clock::now();
    batcher.tick(now, input_done.load());
    if (auto r = sp.maybe_sync(now); !r) log->error("spool: {}", r.error().describe());
  };
  boost::asio::co_spawn(io, forwarder.run(done, tick, heartbeat), [&](std::exception_ptr e) {
    if (e) {
      try {
        std::rethrow_exception(e);
      } catch (const std::exception& ex) {
        log->critical("uplink failed: {}", ex.what());
      }
    }
    signals.cancel();
    give_up.cancel();
  });
  io.run();
  producer.join();
  batcher.flush_for_shutdown();
  if (batcher.pending()) log->error("{} event(s) could not be spooled", batcher.pending());
  if (auto r = sp.close(); !r) log->error("spool: {}", r.error().describe());

  const auto& fc = forwarder.counters();
  const auto sc = sp.counters();
  log->info(
      "sent {} batch(es), {} acked, {} event(s) lost, {} reconnect(s); spool holds {} "
      "batch(es)",
      fc.sent.load(), fc.acked.load(), sc.dropped_events, fc.reconnects.load(), sp.batches());
  if (gave_up) {
    log->critical("no collector could be reached in {} s ({}); {} batch(es) stay in the spool",
                  opts.give_up_after_s, forwarder.last_error(), sp.batches());
    return 3;
  }
  if (interrupted) return 0;
  if (!sp.empty()) return 3;
  return files_ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vagt-agent: captures, signs and forwards authentication and access events"};
  app.require_subcommand(0, 1);
  std::string config_path = "/etc/vagt/agent.yaml";
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  bool check_only = false;
  app.add_flag("--check-config", check_only,
               "validate the configuration, identity and file modes, then exit (0: OK, 2: not)");

  std::vector<std::string> decode_files;
  auto* decode_cmd = app.add_subcommand(
      "decode", "print the events found in capture files as JSON lines (no key, no collector)");
  decode_cmd->add_option("files", decode_files, "pcap or pcapng files");
  std::string decode_key_file;
  decode_cmd->add_option("--pseudonym-key", decode_key_file,
                         "patient pseudonym key file (default: a random key for this run, so "
                         "pseudonyms compare only within one run)");
  agent::capture::CaptureConfig live_capture;
  live_capture.health_interval_s = 60;
  std::uint32_t live_duration_s = 0;
  decode_cmd->add_option("-i,--interface", live_capture.interfaces,
                         "capture live on this interface (repeatable) instead of reading files");
  decode_cmd->add_option("--filter", live_capture.filter, "BPF filter for live capture");
  decode_cmd->add_option("--duration", live_duration_s, "stop live capture after S seconds");

  RunOptions run_opts;
  auto* run_cmd = app.add_subcommand(
      "run",
      "sign the events of capture files, spool them and deliver them; exits once all are "
      "acked");
  run_cmd->add_option("files", run_opts.files, "pcap or pcapng files");
  run_cmd->add_option("--give-up-after", run_opts.give_up_after_s,
                      "exit 3 when not everything is acked after this many seconds (0: never)");
  run_cmd->add_option("--synthetic-events", run_opts.synthetic,
                      "also feed N synthetic events (tests and benchmarks)");

  CLI11_PARSE(app, argc, argv);
  try {
    if (*decode_cmd && !live_capture.interfaces.empty()) {
      return decode_live(live_capture, live_duration_s, decode_key_file);
    }
    if (*decode_cmd && decode_files.empty()) {
      std::cerr << "vagt-agent decode: give capture files or --interface\n";
      return 1;
    }
    if (*decode_cmd) return decode(decode_files, decode_key_file);
    if (check_only) return check_config(config_path);
    if (!*run_cmd) {
      std::cerr << app.help();
      return 2;
    }
    return run(config_path, run_opts);
  } catch (const std::exception& e) {
    std::cerr << "vagt-agent: fatal: " << e.what() << "\n";
    return 1;
  }
}
