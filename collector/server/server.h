#pragma once

// The collector's TLS 1.3 listener. Each connection runs as one coroutine on
// its own strand: handshake (client certificate required, agent id from its
// CN), Hello -> Welcome, then Batch -> Ack until the agent leaves. Every step
// has a deadline; a bad frame or a refusal closes that connection only.

#include <atomic>
#include <chrono>
#include <memory>
#include <string>

#include "collector/server/ingest.h"
#include "common/asio.h"
#include "common/log.h"

namespace vagt::collector {

struct ServerConfig {
  std::string listen_address = "127.0.0.1";
  std::uint16_t listen_port = 7443;
  std::chrono::milliseconds handshake_timeout{10'000};
  std::chrono::milliseconds idle_timeout{120'000};
  std::size_t max_connections = 10'000;
};

struct ServerCounters {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> handshake_failures{0};
  std::atomic<std::uint64_t> bad_frames{0};
  std::atomic<std::uint64_t> timeouts{0};
  std::atomic<std::uint64_t> refused_connections{0};
  std::atomic<std::uint64_t> active{0};
};

class Server {
 public:
  Server(boost::asio::io_context& io, boost::asio::ssl::context& tls, Ingest& ingest,
         ServerConfig config, LoggerPtr log);

  // Bind and start accepting; returns the bound port (useful with port 0).
  Result<std::uint16_t> start();
  // Stop accepting; open sessions finish their current step and close.
  void stop();

  const ServerCounters& counters() const { return counters_; }

 private:
  boost::asio::awaitable<void> accept_loop();

  boost::asio::io_context& io_;
  boost::asio::ssl::context& tls_;
  Ingest& ingest_;
  ServerConfig config_;
  LoggerPtr log_;
  boost::asio::ip::tcp::acceptor acceptor_;
  ServerCounters counters_;
};

}  // namespace vagt::collector
