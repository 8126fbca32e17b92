#pragma once

// The agent's link to the collector: mutual TLS 1.3 to the first endpoint that
// answers, Hello -> Welcome (where the collector's copy of our chain stands),
// then signed batches, each acked before the next. No plaintext fallback.

#include <chrono>
#include <string>
#include <vector>

#include "common/asio.h"
#include "common/batch.h"
#include "common/log.h"
#include "common/proto/vagt.pb.h"
#include "common/result.h"

namespace vagt::agent::uplink {

struct Endpoint {
  std::string host;
  std::uint16_t port = 7443;
};

// "host:port", "[v6]:port" or "host" (default port 7443).
Result<Endpoint> parse_endpoint(const std::string& text);

struct UplinkConfig {
  std::vector<Endpoint> endpoints;             // tried in order
  std::string server_name = "vagt-collector";  // must match the collector certificate
  std::chrono::milliseconds connect_timeout{10'000};
  std::chrono::milliseconds ack_timeout{30'000};
  std::uint32_t max_events_per_batch = 500;
};

struct DeliveryStats {
  std::string endpoint;  // where it was delivered
  std::uint64_t batches = 0;
  std::uint64_t events = 0;
  std::uint64_t first_sequence = 0;
  std::uint64_t next_sequence = 0;  // collector's ack after the last batch
};

class Uplink {
 public:
  Uplink(boost::asio::io_context& io, boost::asio::ssl::context& tls, UplinkConfig config,
         LoggerPtr log);

  // Signs `events` with `signer` (resumed at the collector's chain position)
  // and delivers them; returns once every batch is acked. Runs `io` itself.
  Result<DeliveryStats> deliver(std::vector<v1::AccessEvent> events, ChainSigner& signer);

 private:
  boost::asio::io_context& io_;
  boost::asio::ssl::context& tls_;
  UplinkConfig config_;
  LoggerPtr log_;
};

}  // namespace vagt::agent::uplink
