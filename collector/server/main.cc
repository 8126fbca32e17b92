// vagt-collector: accepts enrolled agents over mutual TLS 1.3, verifies every
// signed batch, judges each event against the policy, stores it all.

#include <CLI/CLI.hpp>
#include <fstream>
#include <functional>
#include <thread>
#include <vector>

#include "collector/ledger/head_signer.h"
#include "collector/policy/policy.h"
#include "collector/server/config.h"
#include "collector/server/ingest.h"
#include "collector/server/server.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/asio.h"
#include "common/log.h"
#include "common/tls.h"

namespace asio = boost::asio;
using namespace vagt;

int main(int argc, char** argv) {
  CLI::App app{"vagt-collector: verified ingest, policy and evidence store"};
  std::string config_path = "/etc/vagt/collector.yaml";
  std::string port_file;
  std::string listen_override;
  app.add_option("-c,--config", config_path, "configuration file")->capture_default_str();
  app.add_option("--port-file", port_file, "write the bound port here once listening");
  app.add_option("--listen-port", listen_override, "override listen.port (0: any free port)");
  CLI11_PARSE(app, argc, argv);

  auto boot_log = make_logger("collector");
  try {
    auto config = collector::load_collector_config(config_path);
    if (!config) {
      boot_log->critical("configuration: {}", config.error().message);
      return 2;
    }
    if (!listen_override.empty())
      config->server.listen_port = static_cast<std::uint16_t>(std::stoul(listen_override));
    boot_log->set_level(spdlog::level::from_str(config->log_level));
    auto ingest_log = make_logger("ingest", config->log_level);

    auto policy = collector::load_policy_file(config->policy_file);
    if (!policy) {
      boot_log->critical("policy: {}", policy.error().message);
      return 2;
    }
    boot_log->info("policy {} loaded, sha256 {}", config->policy_file, (*policy)->digest());
    for (const std::string& w : (*policy)->warnings()) boot_log->warn("policy: {}", w);

    auto store = collector::SqliteStore::open(config->store_path);
    if (!store) {
      boot_log->critical("store: {}", store.error().describe());
      return 2;
    }
    auto tls_ctx = tls::make_server_context(config->tls);
    if (!tls_ctx) {
      boot_log->critical("TLS: {}", tls_ctx.error().message);
      return 2;
    }

    // The ledger's tree heads: signed with the collector's key at an interval
    // and at shutdown.
    const std::string ledger_key =
        config->ledger.key_file.empty() ? config->tls.key_file : config->ledger.key_file;
    const std::string ledger_cert =
        config->ledger.cert_file.empty() ? config->tls.cert_file : config->ledger.cert_file;
    auto head_key = crypto::PrivateKey::load_pem_file(ledger_key);
    auto head_cert = crypto::read_file(ledger_cert);
    if (!head_key || !head_cert) {
      boot_log->critical("ledger key {} / certificate {}: {}", ledger_key, ledger_cert,
                         (!head_key ? head_key.error() : head_cert.error()).describe());
      return 2;
    }
    collector::ledger::HeadSigner head_signer(**store, std::move(*head_key), *head_cert);
    auto ledger_log = make_logger("ledger", config->log_level);
    auto sign_head = [&] {
      auto sth = head_signer.sign_if_grown(collector::now_ns());
      if (!sth) {
        ledger_log->error("tree head: {}", sth.error().describe());
        return false;
      }
      if (*sth)
        ledger_log->info("signed tree head: {} leaves, root {}", (*sth)->head.tree_size,
                         crypto::to_hex((*sth)->head.root));
      return true;
    };
    // Signs what an earlier run left unsigned; a key that does not match its
    // certificate stops the collector here.
    if (!sign_head()) return 2;

    collector::Ingest ingest(**store, *policy, config->limits, ingest_log);
    ingest.set_enrolment_mode(config->enrolment);
    asio::io_context io;
    collector::Server server(io, **tls_ctx, ingest, config->server,
                             make_logger("server", config->log_level));
    auto port = server.start();
    if (!port) {
      boot_log->critical("{}", port.error().message);
      return 2;
    }
    if (!port_file.empty()) {
      std::ofstream(port_file + ".tmp") << *port << "\n";
      std::rename((port_file + ".tmp").c_str(), port_file.c_str());
    }

    // SIGHUP: reload the policy; a policy that does not load is refused and
    // the old one keeps running (Ingest::reload_policy records the refusal).
    asio::signal_set hangup(io, SIGHUP);
    std::function<void()> wait_hangup = [&] {
      hangup.async_wait([&](boost::system::error_code ec, int) {
        if (ec) return;
        ingest.reload_policy(config->policy_file);
        wait_hangup();
      });
    };
    wait_hangup();
    asio::steady_timer head_timer(io);
    std::function<void()> schedule_head = [&] {
      head_timer.expires_after(std::chrono::seconds(config->ledger.sign_interval_s));
      head_timer.async_wait([&](boost::system::error_code ec) {
        if (ec) return;
        sign_head();
        schedule_head();
      });
    };
    schedule_head();

    asio::signal_set signals(io, SIGINT, SIGTERM);
    signals.async_wait([&](boost::system::error_code ec, int sig) {
      if (ec) return;
      boot_log->info("signal {}: shutting down", sig);
      server.stop();
      hangup.cancel();
      head_timer.cancel();
      io.stop();
    });

    unsigned threads =
        config->threads ? config->threads : std::max(1u, std::thread::hardware_concurrency());
    std::vector<std::thread> pool;
    for (unsigned i = 1; i < threads; ++i) pool.emplace_back([&io] { io.run(); });
    io.run();
    for (auto& t : pool) t.join();
    sign_head();  // everything stored is covered by a signed head
    const auto& c = ingest.counters();
    boot_log->info(
        "stopped: {} batches stored, {} duplicate, {} refused, {} events, {} possible breaches",
        c.batches_stored.load(), c.batches_duplicate.load(), c.batches_refused.load(),
        c.events_stored.load(), c.possible_breaches.load());
    return 0;
  } catch (const std::exception& e) {
    boot_log->critical("fatal: {}", e.what());
    return 1;
  }
}
