#pragma once

// What the collector does with an authenticated agent's messages, apart from
// the network: resume point, batch verification, chain continuity, policy
// decisions, storage, integrity findings. One Ingest is shared by all
// connections; it is thread-safe.

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "collector/policy/detector.h"
#include "collector/policy/policy.h"
#include "collector/server/rate_limit.h"
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
  double batches_per_second = 0;  // per agent; 0: no limit
  double batch_burst = 10;        // batches an agent may send at once after a pause
  // Batch created_ns or an event time further than this from the
  // collector's clock: an integrity.clock_skew finding (the batch is stored).
  std::chrono::seconds max_clock_skew{86'400};
};

// `enrolment:` in collector.yaml. kRequired: only enrolled agents (id and
// certificate fingerprint) are admitted. kOpen: any agent the CA certifies,
// except one whose enrolment is revoked.
enum class EnrolmentMode { kRequired, kOpen };

struct IngestCounters {
  std::atomic<std::uint64_t> batches_stored{0};
  std::atomic<std::uint64_t> batches_duplicate{0};
  std::atomic<std::uint64_t> batches_refused{0};
  std::atomic<std::uint64_t> events_stored{0};
  std::atomic<std::uint64_t> possible_breaches{0};
  std::atomic<std::uint64_t> integrity_findings{0};
  std::atomic<std::uint64_t> refused_agents{0};  // by the enrolment registry
  std::atomic<std::uint64_t> throttled_batches{0};
  std::atomic<std::uint64_t> clock_skew_findings{0};
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

  // After the TLS handshake: nullopt when the agent may go on, else the
  // refusal to send before closing. Refusals by the registry
  // ("enrolment.unknown_agent", "enrolment.revoked",
  // "enrolment.fingerprint_mismatch") are recorded as findings with the peer
  // address, CN and certificate fingerprint.
  std::optional<v1::Refusal> admit(const std::string& agent_id, const crypto::Certificate& cert,
                                   const std::string& peer);
  void set_enrolment_mode(EnrolmentMode mode) { enrolment_mode_ = mode; }

  // How long the session must wait before handling this agent's next batch
  // (limits.batches_per_second); zero when under the limit.
  std::chrono::nanoseconds throttle(const std::string& agent_id);

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
  // Hot reload (SIGHUP): loads `path`; on success swaps the policy and logs
  // the new digest; on failure keeps the old one, logs the error with
  // file:line:column and records an integrity finding "policy.reload_refused".
  // The stateful detections' memory is kept either way.
  bool reload_policy(const std::string& path);
  const DetectionState& detections() const { return detections_; }
  const IngestCounters& counters() const { return counters_; }
  const IngestLimits& limits() const { return limits_; }

 private:
  void check_clock(const std::string& agent_id, const v1::BatchHeader& header,
                   const std::vector<EventRecord>& events);
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
  DetectionState detections_;  // survives policy reloads
  EnrolmentMode enrolment_mode_ = EnrolmentMode::kRequired;
  std::mutex buckets_mutex_;
  std::map<std::string, TokenBucket> buckets_;  // per agent id
};

std::uint64_t now_ns();

}  // namespace vagt::collector
