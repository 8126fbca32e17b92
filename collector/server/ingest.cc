#include "collector/server/ingest.h"

#include <chrono>
#include <map>
#include <nlohmann/json.hpp>

namespace vagt::collector {

std::uint64_t now_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

namespace {

// A refusal that is the collector's own trouble, not the agent's: nothing is
// recorded against the agent, and it will resend what was not acked.
BatchOutcome collector_trouble(const char* code, const char* reason) {
  v1::Refusal r;
  r.set_code(code);
  r.set_reason(reason);
  return BatchOutcome{std::nullopt, std::move(r)};
}

}  // namespace

Ingest::Ingest(Store& store, std::shared_ptr<const Policy> policy, IngestLimits limits,
               LoggerPtr log)
    : store_(store), limits_(limits), log_(std::move(log)), policy_(std::move(policy)) {}

bool Ingest::claim(const std::string& agent_id) {
  std::lock_guard lock(mutex_);
  return active_.insert(agent_id).second;
}

void Ingest::release(const std::string& agent_id) {
  std::lock_guard lock(mutex_);
  active_.erase(agent_id);
}

void Ingest::set_policy(std::shared_ptr<const Policy> policy) {
  std::lock_guard lock(mutex_);
  policy_ = std::move(policy);
}

std::shared_ptr<const Policy> Ingest::policy() const {
  std::lock_guard lock(mutex_);
  return policy_;
}

bool Ingest::reload_policy(const std::string& path) {
  auto loaded = load_policy_file(path);
  if (!loaded) {
    log_->error("policy reload refused, the old policy stays in force: {}", loaded.error().message);
    IntegrityFinding f;
    f.agent_id = "collector";
    f.rule_id = "policy.reload_refused";
    f.severity = Severity::kMedium;
    f.explanation = "A policy reload was refused and the previous policy (sha256 " +
                    policy()->digest() + ") stays in force: " + loaded.error().message;
    f.detected_ns = now_ns();
    if (auto r = store_.record_integrity_finding(f); !r)
      log_->error("could not record policy.reload_refused: {}", r.error().describe());
    return false;
  }
  for (const std::string& w : (*loaded)->warnings()) log_->warn("policy: {}", w);
  log_->info("policy {} reloaded, sha256 {}", path, (*loaded)->digest());
  set_policy(std::move(*loaded));
  return true;
}

std::optional<v1::Refusal> Ingest::admit(const std::string& agent_id,
                                         const crypto::Certificate& cert, const std::string& peer) {
  auto enrolment = store_.enrolment(agent_id);
  if (!enrolment) {
    log_->error("store: {}", enrolment.error().describe());
    return collector_trouble("collector.store_unavailable", "the collector cannot read its store")
        .refusal;
  }
  const std::string fingerprint = cert.fingerprint_sha256();
  std::string code, why;
  if (!*enrolment) {
    if (enrolment_mode_ == EnrolmentMode::kOpen) return std::nullopt;
    code = "enrolment.unknown_agent";
    why = "agent id is not enrolled";
  } else if ((*enrolment)->status == "revoked") {
    code = "enrolment.revoked";
    why = "agent's enrolment is revoked";
  } else if ((*enrolment)->fingerprint != fingerprint) {
    if (enrolment_mode_ == EnrolmentMode::kOpen) return std::nullopt;
    code = "enrolment.fingerprint_mismatch";
    why = "certificate is not the one enrolled for this agent id";
  } else {
    return std::nullopt;
  }
  counters_.refused_agents++;
  const std::string explanation = "connection from " + peer + " refused: the " + why + " (CN " +
                                  agent_id + ", certificate SHA-256 " + fingerprint + ")";
  log_->warn("{}: {}", code, explanation);
  IntegrityFinding f;
  f.agent_id = agent_id;
  f.rule_id = code;
  f.severity = Severity::kHigh;
  f.explanation = explanation;
  f.agent_cert_pem = cert.pem();
  f.detected_ns = now_ns();
  counters_.integrity_findings++;
  if (auto r = store_.record_integrity_finding(f); !r)
    log_->error("could not record {} for agent {}: {}", code, agent_id, r.error().describe());
  v1::Refusal refusal;
  refusal.set_code(code);
  refusal.set_reason("the " + why);
  return refusal;
}

std::chrono::nanoseconds Ingest::throttle(const std::string& agent_id) {
  if (limits_.batches_per_second <= 0) return std::chrono::nanoseconds(0);
  const auto now = TokenBucket::Clock::now();
  std::lock_guard lock(buckets_mutex_);
  auto it = buckets_.find(agent_id);
  if (it == buckets_.end())
    it = buckets_
             .emplace(agent_id, TokenBucket(limits_.batches_per_second, limits_.batch_burst, now))
             .first;
  const auto wait = it->second.take(now);
  if (wait.count() > 0) counters_.throttled_batches++;
  return wait;
}

void Ingest::check_clock(const std::string& agent_id, const v1::BatchHeader& h,
                         const std::vector<EventRecord>& events) {
  const std::uint64_t now = now_ns();
  const auto skew = static_cast<std::uint64_t>(
      std::chrono::duration_cast<std::chrono::nanoseconds>(limits_.max_clock_skew).count());
  auto far = [&](std::uint64_t t) { return t > now + skew || t + skew < now; };
  std::string what;
  if (far(h.created_ns())) {
    what = "batch created_ns " + std::to_string(h.created_ns());
  } else {
    for (const auto& rec : events) {
      const v1::AccessEvent& e = rec.event;
      if (e.time_ns() > now + skew) {  // old packets (offline captures) are fine
        what = "event " + std::to_string(e.sequence()) + " time_ns " + std::to_string(e.time_ns());
        break;
      }
    }
  }
  if (what.empty()) return;
  counters_.clock_skew_findings++;
  IntegrityFinding f;
  f.agent_id = agent_id;
  f.rule_id = "integrity.clock_skew";
  f.severity = Severity::kMedium;
  f.explanation = "batch at sequence " + std::to_string(h.first_sequence()) + ": " + what +
                  " is more than " + std::to_string(limits_.max_clock_skew.count()) +
                  " s from the collector's clock " + std::to_string(now) +
                  "; the batch is stored as signed";
  f.detected_ns = now;
  log_->warn("agent {}: integrity.clock_skew: {}", agent_id, f.explanation);
  if (auto r = store_.record_integrity_finding(f); !r)
    log_->error("could not record integrity.clock_skew for agent {}: {}", agent_id,
                r.error().describe());
}

Result<v1::Welcome> Ingest::welcome(const std::string& agent_id) {
  auto state = store_.chain_state(agent_id);
  if (!state) return tl::unexpected(state.error());
  v1::Welcome w;
  w.set_protocol_version(kProtocolVersion);
  w.set_next_sequence(state->next_sequence);
  w.set_last_header_sha256(state->last_header_sha256);
  w.set_max_frame_bytes(limits_.max_frame_bytes);
  w.set_max_events_per_batch(limits_.max_events_per_batch);
  return w;
}

BatchOutcome Ingest::refuse(const std::string& agent_id, const crypto::Certificate& cert,
                            const std::string& raw_batch, std::string finding_id,
                            std::string explanation) {
  counters_.batches_refused++;
  counters_.integrity_findings++;
  log_->warn("refused batch from agent {}: {} ({})", agent_id, finding_id, explanation);
  IntegrityFinding f;
  f.agent_id = agent_id;
  f.rule_id = finding_id;
  f.severity = Severity::kHigh;
  f.explanation = explanation;
  f.raw_batch = raw_batch;
  f.agent_cert_pem = cert.pem();
  f.detected_ns = now_ns();
  if (auto r = store_.record_integrity_finding(f); !r)
    log_->error("could not record integrity finding {} for agent {}: {}", finding_id, agent_id,
                r.error().describe());
  v1::Refusal refusal;
  refusal.set_code(std::move(finding_id));
  refusal.set_reason(std::move(explanation));
  return BatchOutcome{std::nullopt, std::move(refusal)};
}

BatchOutcome Ingest::on_batch(const std::string& agent_id, const crypto::Certificate& cert,
                              const v1::Batch& batch, const std::string& raw_batch) {
  BatchLimits limits;
  limits.max_events = limits_.max_events_per_batch;
  BatchCheck check = verify_batch(batch, cert, agent_id, limits);
  if (check.rejection)
    return refuse(agent_id, cert, raw_batch, check.rejection->finding_id,
                  check.rejection->explanation);
  VerifiedBatch& vb = *check.batch;
  const v1::BatchHeader& h = vb.header;

  auto state = store_.chain_state(agent_id);
  if (!state) {
    log_->error("store: {}", state.error().describe());
    return collector_trouble("collector.store_unavailable",
                             "the collector cannot read its store; retry later");
  }
  const std::string& expected_link =
      state->last_header_sha256.empty() ? genesis_link() : state->last_header_sha256;
  if (h.first_sequence() > state->next_sequence)
    return refuse(agent_id, cert, raw_batch, "integrity.sequence_gap",
                  "batch starts at sequence " + std::to_string(h.first_sequence()) +
                      " but the collector holds everything below " +
                      std::to_string(state->next_sequence) + " only");
  if (h.first_sequence() == state->next_sequence && h.prev_header_sha256() != expected_link)
    return refuse(agent_id, cert, raw_batch, "integrity.chain_break",
                  "batch at sequence " + std::to_string(h.first_sequence()) +
                      " does not link to the previous stored header");

  const auto policy = this->policy();
  BatchRecord rec;
  rec.agent_id = agent_id;
  rec.first_sequence = h.first_sequence();
  rec.count = h.count();
  rec.header = batch.header();
  rec.header_sha256 = vb.header_sha256;
  rec.signature = batch.signature();
  rec.raw_batch = raw_batch;
  rec.agent_cert_pem = cert.pem();
  rec.policy_digest = policy->digest();
  rec.received_ns = now_ns();
  rec.events.reserve(vb.events.size());
  std::uint64_t breaches = 0;
  for (int i = 0; i < batch.events_size(); ++i) {
    EventRecord er;
    er.event = std::move(vb.events[static_cast<std::size_t>(i)]);
    er.raw = batch.events(i);
    er.decision = policy->evaluate(er.event, detections_);
    breaches += er.decision.findings.size();
    rec.events.push_back(std::move(er));
  }

  auto stored = store_.append_batch(rec);
  if (!stored) {
    if (stored.error().code == ErrorCode::kIntegrity)
      return refuse(agent_id, cert, raw_batch, "integrity.fork",
                    "a different batch is already stored at sequence " +
                        std::to_string(h.first_sequence()) + ": " + stored.error().message);
    log_->error("store: {}", stored.error().describe());
    return collector_trouble("collector.store_failed",
                             "the collector could not store the batch; it was not acked");
  }
  if (*stored == AppendStatus::kDuplicate &&
      h.first_sequence() + h.count() < state->next_sequence) {
    // Stored already, and the chain has moved on since: no agent resends an
    // acknowledged batch older than its last one (docs/wire-protocol.md).
    counters_.batches_duplicate++;
    return refuse(agent_id, cert, raw_batch, "integrity.replay",
                  "batch at sequence " + std::to_string(h.first_sequence()) +
                      " is already stored and older than the agent's last batch (replay)");
  }
  if (*stored == AppendStatus::kDuplicate) {
    counters_.batches_duplicate++;
  } else {
    counters_.batches_stored++;
    check_clock(agent_id, h, rec.events);
    counters_.events_stored += h.count();
    counters_.possible_breaches += breaches;
  }
  auto after = store_.chain_state(agent_id);
  v1::Ack ack;
  ack.set_next_sequence(after ? after->next_sequence : h.first_sequence() + h.count());
  return BatchOutcome{std::move(ack), std::nullopt};
}

BatchOutcome Ingest::on_loss(const std::string& agent_id, const crypto::Certificate& cert,
                             const v1::LossNotice& notice, const std::string& raw_notice) {
  auto bad = [&](const std::string& why) {
    return refuse(agent_id, cert, raw_notice, "integrity.bad_loss_notice", why);
  };
  if (notice.headers_size() == 0 || notice.headers_size() != notice.signatures_size())
    return bad("the loss notice carries no headers, or not one signature per header");
  if (notice.headers_size() > 100'000) return bad("the loss notice is too large");
  auto key = cert.public_key();
  if (!key || !key->is_ed25519()) return bad("the agent certificate does not carry an Ed25519 key");
  auto state = store_.chain_state(agent_id);
  if (!state) {
    log_->error("store: {}", state.error().describe());
    return collector_trouble("collector.store_unavailable",
                             "the collector cannot read its store; retry later");
  }
  std::uint64_t next = state->next_sequence;
  std::string link = state->last_header_sha256.empty() ? genesis_link() : state->last_header_sha256;
  std::uint64_t events = 0, first_seq = 0, first_time = 0, last_time = 0;
  bool any = false;
  for (int i = 0; i < notice.headers_size(); ++i) {
    const std::string& bytes = notice.headers(i);
    if (!key->verify(as_bytes(bytes), as_bytes(notice.signatures(i))))
      return bad("header " + std::to_string(i) + " of the loss notice does not verify");
    v1::BatchHeader h;
    if (!h.ParseFromString(bytes) || h.count() == 0)
      return bad("header " + std::to_string(i) + " of the loss notice does not parse");
    if (h.agent_id() != agent_id || h.key_id() != key->key_id())
      return bad("header " + std::to_string(i) + " names another agent or key");
    if (h.first_sequence() + h.count() <= next && !any) continue;  // already stored
    if (h.first_sequence() != next || h.prev_header_sha256() != link)
      return bad("the lost batch at sequence " + std::to_string(h.first_sequence()) +
                 " does not chain from sequence " + std::to_string(next));
    if (!any) {
      first_seq = h.first_sequence();
      first_time = h.first_time_ns();
      last_time = h.last_time_ns();
    }
    any = true;
    first_time = std::min(first_time, h.first_time_ns());
    last_time = std::max(last_time, h.last_time_ns());
    events += h.count();
    next = h.first_sequence() + h.count();
    link = crypto::to_string(crypto::sha256(bytes));
  }
  v1::Ack ack;
  if (!any) {  // a resend of a notice already recorded
    ack.set_next_sequence(state->next_sequence);
    return BatchOutcome{std::move(ack), std::nullopt};
  }
  IntegrityFinding f;
  f.agent_id = agent_id;
  f.rule_id = "integrity.spool_loss";
  f.severity = Severity::kHigh;
  f.explanation = "the agent dropped " + std::to_string(events) + " signed event(s) it could not " +
                  "deliver (sequences " + std::to_string(first_seq) + ".." +
                  std::to_string(next - 1) + ", event times " + std::to_string(first_time) + ".." +
                  std::to_string(last_time) + " ns, reason: " + notice.reason() +
                  "); their signed headers verify and chain";
  f.raw_batch = raw_notice;
  f.agent_cert_pem = cert.pem();
  f.detected_ns = now_ns();
  if (auto r = store_.record_loss(f, next, link); !r) {
    log_->error("store: {}", r.error().describe());
    return collector_trouble("collector.store_failed",
                             "the collector could not record the loss; it was not acked");
  }
  counters_.integrity_findings++;
  counters_.events_lost += events;
  log_->warn("agent {}: {}", agent_id, f.explanation);
  ack.set_next_sequence(next);
  return BatchOutcome{std::move(ack), std::nullopt};
}

void Ingest::on_heartbeat(const std::string& agent_id, const v1::Heartbeat& heartbeat) {
  nlohmann::ordered_json counters = nlohmann::ordered_json::object();
  std::map<std::string, std::uint64_t> sorted(heartbeat.counters().begin(),
                                              heartbeat.counters().end());
  for (const auto& [k, v] : sorted) counters[k] = v;
  nlohmann::ordered_json status = nlohmann::ordered_json::object();
  std::map<std::string, std::string> st(heartbeat.status().begin(), heartbeat.status().end());
  for (const auto& [k, v] : st) status[k] = v;
  HeartbeatRecord rec;
  rec.agent_id = agent_id;
  rec.received_ns = now_ns();
  rec.time_ns = heartbeat.time_ns();
  const auto replace = nlohmann::ordered_json::error_handler_t::replace;
  rec.counters_json = counters.dump(-1, ' ', false, replace);
  rec.status_json = status.dump(-1, ' ', false, replace);
  counters_.heartbeats++;
  if (auto r = store_.record_heartbeat(rec); !r)
    log_->warn("heartbeat of {}: {}", agent_id, r.error().describe());
}

}  // namespace vagt::collector
