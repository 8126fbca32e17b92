#pragma once

// Continuous delivery from the spool (docs/operations.md, "Delivery"):
// endpoints tried in order, reconnect with jittered exponential backoff,
// Hello -> Welcome -> chain reconciliation, then pipelined Batch/LossNotice
// frames with at most `window` unacked, heartbeats on an interval. Frames are
// sent only for spool records covered by an fsync. The collector being slow
// fills the window and the spool, never memory.

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <random>
#include <string>

#include "agent/spool/spool.h"
#include "agent/uplink/uplink.h"
#include "common/asio.h"
#include "common/log.h"
#include "common/proto/vagt.pb.h"

namespace vagt::agent::uplink {

struct ForwarderConfig {
  UplinkConfig link;  // endpoints, server_name, connect/ack timeouts
  std::chrono::milliseconds backoff_initial{500};
  std::chrono::milliseconds backoff_max{30'000};
  std::size_t window = 16;  // unacked frames in flight
  std::chrono::seconds heartbeat_interval{30};
};

struct ForwarderCounters {
  std::atomic<std::uint64_t> sent{0};         // batches written (resends included)
  std::atomic<std::uint64_t> acked{0};        // batches acked
  std::atomic<std::uint64_t> lost_events{0};  // events in LossNotices the collector acked
  std::atomic<std::uint64_t> reconnects{0};   // connection attempts after the first
  std::atomic<std::uint64_t> connected{0};    // sessions that got a Welcome
  std::atomic<std::uint64_t> refusals{0};
};

class Forwarder {
 public:
  using TlsProvider = std::function<std::shared_ptr<boost::asio::ssl::context>()>;
  using HeartbeatSource = std::function<v1::Heartbeat()>;
  using DonePredicate = std::function<bool()>;

  Forwarder(boost::asio::io_context& io, TlsProvider tls, spool::Spool& spool,
            ForwarderConfig config, LoggerPtr log);

  // Runs until stop(), or until `done()` holds with nothing in flight and an
  // empty spool (files mode). `tick` runs every loop turn on the I/O thread
  // (batch timers, fsync).
  boost::asio::awaitable<void> run(DonePredicate done, std::function<void()> tick,
                                   HeartbeatSource heartbeat);
  void stop();

  const ForwarderCounters& counters() const { return counters_; }
  // The last connection error, for the final message when giving up.
  const std::string& last_error() const { return last_error_; }

 private:
  class Session;
  boost::asio::awaitable<void> pause(std::chrono::milliseconds d);

  boost::asio::io_context& io_;
  TlsProvider tls_;
  spool::Spool& spool_;
  ForwarderConfig config_;
  LoggerPtr log_;
  ForwarderCounters counters_;
  std::atomic<bool> stopping_{false};
  std::string last_error_;
  std::mt19937_64 rng_;
};

}  // namespace vagt::agent::uplink
