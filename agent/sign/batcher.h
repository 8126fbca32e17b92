#pragma once

// The agent's signing side: an EventSink that groups events into batches
// (batch.max_events, or batch.max_delay_ms after the first pending event),
// signs each with the agent's own chain (ChainSigner resumed from the spool)
// and appends it to the spool. Any event source plugs in as the sink's
// producer: capture files today, live capture (agent/capture) the same way.
//
// Thread-safe: producers call on_event() from their own thread while the I/O
// side calls tick() and set_key().

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "agent/decode/pipeline.h"
#include "agent/spool/spool.h"
#include "common/batch.h"
#include "common/log.h"

namespace vagt::agent::sign {

struct BatchPolicy {
  std::uint32_t max_events = 500;
  std::chrono::milliseconds max_delay{1000};
  // Events held in memory while a fresh spool waits for its first Welcome
  // (to continue a chain the collector already holds). Past this, the chain
  // starts at genesis.
  std::size_t max_unanchored_events = 100'000;
};

struct BatcherCounters {
  std::uint64_t events = 0;           // accepted
  std::uint64_t batches = 0;          // signed and spooled
  std::uint64_t rejected_events = 0;  // too large to sign
  std::uint64_t errors = 0;           // sign or spool failures (events kept pending)
};

class Batcher final : public decode::EventSink {
 public:
  Batcher(spool::Spool& spool, std::string agent_id, crypto::PrivateKey key, std::string boot_id,
          BatchPolicy policy, LoggerPtr log);

  void on_event(v1::AccessEvent&& event) override;
  // Signs a partial batch when max_delay has passed (or `force`).
  void tick(std::chrono::steady_clock::time_point now, bool force = false);
  // Shutdown: sign and spool everything pending. A fresh spool that never
  // heard from a collector starts its chain at genesis here.
  void flush_for_shutdown();
  // A new signing key (SIGHUP); the chain continues with the next batch.
  void set_key(crypto::PrivateKey key);

  std::size_t pending() const;
  BatcherCounters counters() const;

 private:
  void sign_locked(std::size_t count);
  void drain_locked(std::size_t min_pending);
  bool ensure_anchor_locked(bool at_shutdown = false);

  spool::Spool& spool_;
  std::string agent_id_;
  std::string boot_id_;
  BatchPolicy policy_;
  LoggerPtr log_;
  mutable std::mutex mutex_;
  std::optional<ChainSigner> signer_;
  std::vector<v1::AccessEvent> pending_;
  std::chrono::steady_clock::time_point first_pending_{};
  BatcherCounters counters_;
};

}  // namespace vagt::agent::sign
