#pragma once

// What the collector does with an authenticated agent's messages, apart from
// the network: resume point, batch verification, chain continuity, policy
// decisions, storage, integrity findings. One Ingest is shared by all
// connections; it is thread-safe.

#include <atomic>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "collector/policy/policy.h"
#include "collector/store/store.h"
#include "common/batch.h"
#include "common/crypto.h"
#include "common/framing.h"
#include "common/log.h"
#include "common/proto/vagt.pb.h"

namespace vagt::collector {

struct IngestLimits {
  std::uint32_t max_events_per_batch = kDefaultMaxEventsPerBatch;
  std::uint32_t max_frame_bytes = kDefaultMaxFrameBytes;
};

struct IngestCounters {
  std::atomic<std::uint64_t> batches_stored{0};
  std::atomic<std::uint64_t> batches_duplicate{0};
  std::atomic<std::uint64_t> batches_refused{0};
  std::atomic<std::uint64_t> events_stored{0};
  std::atomic<std::uint64_t> possible_breaches{0};
  std::atomic<std::uint64_t> integrity_findings{0};
  std::atomic<std::uint64_t> events_lost{0};  // reported by verified LossNotices
  std::atomic<std::uint64_t> heartbeats{0};
};

// The answer to one batch: an Ack, or a Refusal after which the connection
// is closed (the refusal has been recorded as an integrity finding).
struct BatchOutcome {
  std::optional<v1::Ack> ack;
  std::optional<v1::Refusal> refusal;
};

class Ingest {
 public:
  Ingest(Store& store, std::shared_ptr<const Policy> policy, IngestLimits limits, LoggerPtr log);

  // Exclusive use of an agent id by one connection at a time, so that chain
  // checks never race. Returns false when another connection holds it.
  bool claim(const std::string& agent_id);
  void release(const std::string& agent_id);

  Result<v1::Welcome> welcome(const std::string& agent_id);
  BatchOutcome on_batch(const std::string& agent_id, const crypto::Certificate& cert,
                        const v1::Batch& batch, const std::string& raw_batch);

  // A LossNotice: every header must verify with `cert` and the run must
  // chain from the stored last header (headers the store already holds are
  // skipped). Then an integrity.spool_loss finding is recorded, the chain
  // moves past the lost range, and the answer is an Ack; otherwise a Refusal
  // (recorded as integrity.bad_loss_notice).
  BatchOutcome on_loss(const std::string& agent_id, const crypto::Certificate& cert,
                       const v1::LossNotice& notice, const std::string& raw_notice);
  // Keeps the last heartbeat of the agent; nothing is answered.
  void on_heartbeat(const std::string& agent_id, const v1::Heartbeat& heartbeat);

  void set_policy(std::shared_ptr<const Policy> policy);
  std::shared_ptr<const Policy> policy() const;
  const IngestCounters& counters() const { return counters_; }
  const IngestLimits& limits() const { return limits_; }

 private:
  BatchOutcome refuse(const std::string& agent_id, const crypto::Certificate& cert,
                      const std::string& raw_batch, std::string finding_id,
                      std::string explanation);

  Store& store_;
  IngestLimits limits_;
  LoggerPtr log_;
  mutable std::mutex mutex_;  // guards policy_ and active_
  std::shared_ptr<const Policy> policy_;
  std::set<std::string> active_;
  IngestCounters counters_;
};

std::uint64_t now_ns();

}  // namespace vagt::collector
