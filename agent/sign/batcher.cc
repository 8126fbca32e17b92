#include "agent/sign/batcher.h"

namespace vagt::agent::sign {

namespace {

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

}  // namespace

Batcher::Batcher(spool::Spool& spool, std::string agent_id, crypto::PrivateKey key,
                 std::string boot_id, BatchPolicy policy, LoggerPtr log)
    : spool_(spool),
      agent_id_(std::move(agent_id)),
      boot_id_(std::move(boot_id)),
      policy_(policy),
      log_(std::move(log)) {
  signer_.emplace(agent_id_, std::move(key), boot_id_);
  if (policy_.max_events == 0) policy_.max_events = 1;
}

void Batcher::on_event(v1::AccessEvent&& event) {
  std::lock_guard lock(mutex_);
  if (event.ByteSizeLong() + 64 > kMaxEventBytes) {
    counters_.rejected_events++;
    log_->warn("an event of {} bytes exceeds the signing limit; dropped", event.ByteSizeLong());
    return;
  }
  if (pending_.empty()) first_pending_ = std::chrono::steady_clock::now();
  pending_.push_back(std::move(event));
  counters_.events++;
  if (pending_.size() >= policy_.max_events && ensure_anchor_locked())
    drain_locked(policy_.max_events);
}

// Signs full batches while at least `min_pending` events wait; stops at the
// first failure (the events stay pending).
void Batcher::drain_locked(std::size_t min_pending) {
  while (!pending_.empty() && pending_.size() >= min_pending) {
    const auto before = pending_.size();
    sign_locked(std::min<std::size_t>(pending_.size(), policy_.max_events));
    if (pending_.size() == before) break;
  }
}

void Batcher::tick(std::chrono::steady_clock::time_point now, bool force) {
  std::lock_guard lock(mutex_);
  if (pending_.empty()) return;
  if (!force && now - first_pending_ < policy_.max_delay && pending_.size() < policy_.max_events)
    return;
  if (ensure_anchor_locked()) drain_locked(1);
}

// A fresh spool waits for the collector's Welcome to say where the chain
// stands; past max_unanchored_events it starts at genesis.
bool Batcher::ensure_anchor_locked(bool at_shutdown) {
  if (spool_.anchored()) return true;
  if (!at_shutdown && pending_.size() < policy_.max_unanchored_events) return false;
  log_->warn(
      "no collector has answered yet and {} events are waiting{}: starting the chain at "
      "genesis",
      pending_.size(), at_shutdown ? " at shutdown" : "");
  if (auto r = spool_.anchor(0, ""); !r) {
    log_->error("spool: {}", r.error().describe());
    return false;
  }
  return true;
}

void Batcher::sign_locked(std::size_t count) {
  signer_->resume(spool_.next_sequence(), spool_.last_header_sha256());
  std::vector<v1::AccessEvent> chunk(
      std::make_move_iterator(pending_.begin()),
      std::make_move_iterator(pending_.begin() + static_cast<std::ptrdiff_t>(count)));
  auto batch = signer_->sign(chunk, wall_ns());
  Result<void> appended = batch ? spool_.append(*batch) : tl::unexpected(batch.error());
  if (!appended) {
    counters_.errors++;
    log_->error("cannot spool a batch of {} events: {}", count, appended.error().describe());
    // Put them back: nothing is lost while the spool recovers.
    std::move(chunk.begin(), chunk.end(), pending_.begin());
    return;
  }
  pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(count));
  if (!pending_.empty()) first_pending_ = std::chrono::steady_clock::now();
  counters_.batches++;
}

void Batcher::flush_for_shutdown() {
  std::lock_guard lock(mutex_);
  if (!pending_.empty() && ensure_anchor_locked(true)) drain_locked(1);
}

void Batcher::set_key(crypto::PrivateKey key) {
  std::lock_guard lock(mutex_);
  signer_.emplace(agent_id_, std::move(key), boot_id_);
}

std::size_t Batcher::pending() const {
  std::lock_guard lock(mutex_);
  return pending_.size();
}

BatcherCounters Batcher::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

}  // namespace vagt::agent::sign
