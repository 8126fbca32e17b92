#include "common/batch.h"

#include "common/merkle.h"

namespace vagt {

const std::string& genesis_link() {
  static const std::string kZero(32, '\0');
  return kZero;
}

ChainSigner::ChainSigner(std::string agent_id, crypto::PrivateKey key, std::string boot_id)
    : agent_id_(std::move(agent_id)),
      key_(std::move(key)),
      key_id_(key_.key_id()),
      boot_id_(std::move(boot_id)) {}

void ChainSigner::resume(std::uint64_t next_sequence, std::string last_header_sha256) {
  next_sequence_ = next_sequence;
  last_header_sha256_ = std::move(last_header_sha256);
}

Result<v1::Batch> ChainSigner::sign(std::vector<v1::AccessEvent>& events, std::uint64_t now_ns) {
  if (events.empty()) return fail(ErrorCode::kInvalidArgument, "empty batch");
  v1::Batch batch;
  std::vector<crypto::Sha256> leaves;
  leaves.reserve(events.size());
  std::uint64_t first_time = events.front().time_ns(), last_time = first_time;
  std::uint64_t seq = next_sequence_;
  for (auto& e : events) {
    e.set_agent_id(agent_id_);
    e.set_sequence(seq++);
    first_time = std::min(first_time, e.time_ns());
    last_time = std::max(last_time, e.time_ns());
    std::string* bytes = batch.add_events();
    if (!e.SerializeToString(bytes)) return fail(ErrorCode::kInternal, "event serialization");
    if (bytes->size() > kMaxEventBytes)
      return fail(ErrorCode::kTooLarge, "event of " + std::to_string(bytes->size()) + " bytes");
    leaves.push_back(merkle::leaf_hash(as_bytes(*bytes)));
  }
  v1::BatchHeader header;
  header.set_agent_id(agent_id_);
  header.set_key_id(key_id_);
  header.set_boot_id(boot_id_);
  header.set_first_sequence(next_sequence_);
  header.set_count(static_cast<std::uint32_t>(events.size()));
  header.set_first_time_ns(first_time);
  header.set_last_time_ns(last_time);
  header.set_prev_header_sha256(last_header_sha256_.empty() ? genesis_link() : last_header_sha256_);
  header.set_merkle_root(crypto::to_string(merkle::root_of_hashes(leaves)));
  header.set_created_ns(now_ns);
  if (!header.SerializeToString(batch.mutable_header()))
    return fail(ErrorCode::kInternal, "header serialization");
  auto sig = key_.sign(as_bytes(batch.header()));
  if (!sig) return tl::unexpected(sig.error());
  batch.set_signature(std::move(*sig));
  next_sequence_ = seq;
  last_header_sha256_ = crypto::to_string(crypto::sha256(batch.header()));
  return batch;
}

namespace {

BatchCheck reject(std::string id, std::string why) {
  return BatchCheck{std::nullopt, BatchRejection{std::move(id), std::move(why)}};
}

}  // namespace

BatchCheck verify_batch(const v1::Batch& batch, const crypto::Certificate& signer,
                        const std::string& expected_agent_id, const BatchLimits& limits) {
  auto key = signer.public_key();
  if (!key || !key->is_ed25519())
    return reject("integrity.bad_key", "the agent certificate does not carry an Ed25519 key");
  if (batch.signature().size() != 64 ||
      !key->verify(as_bytes(batch.header()), as_bytes(batch.signature())))
    return reject("integrity.bad_signature",
                  "the batch header signature does not verify with the agent certificate");
  VerifiedBatch out;
  if (!out.header.ParseFromString(batch.header()))
    return reject("integrity.malformed_header", "the signed header does not parse");
  const auto& h = out.header;
  if (h.agent_id() != expected_agent_id)
    return reject("integrity.identity_mismatch", "the header names agent '" + h.agent_id() +
                                                     "' but the certificate is for '" +
                                                     expected_agent_id + "'");
  if (h.key_id() != key->key_id())
    return reject("integrity.key_mismatch", "the header key id is not the certificate's key");
  if (h.count() == 0 || h.count() != static_cast<std::uint32_t>(batch.events_size()))
    return reject("integrity.count_mismatch", "the header counts " + std::to_string(h.count()) +
                                                  " events but the batch carries " +
                                                  std::to_string(batch.events_size()));
  if (h.count() > limits.max_events)
    return reject("integrity.batch_too_large",
                  "batch of " + std::to_string(h.count()) + " events exceeds the limit");
  if (h.prev_header_sha256().size() != 32 || h.merkle_root().size() != 32)
    return reject("integrity.malformed_header", "chain link or Merkle root is not 32 bytes");

  std::vector<crypto::Sha256> leaves;
  leaves.reserve(static_cast<std::size_t>(batch.events_size()));
  for (const auto& bytes : batch.events()) leaves.push_back(merkle::leaf_hash(as_bytes(bytes)));
  if (crypto::to_string(merkle::root_of_hashes(leaves)) != h.merkle_root())
    return reject(
        "integrity.merkle_mismatch",
        "the events do not hash to the signed Merkle root (altered, dropped or reordered)");

  out.events.reserve(leaves.size());
  std::uint64_t seq = h.first_sequence();
  for (const auto& bytes : batch.events()) {
    if (bytes.size() > limits.max_event_bytes)
      return reject("integrity.event_too_large", "an event exceeds the size limit");
    v1::AccessEvent e;
    if (!e.ParseFromString(bytes))
      return reject("integrity.malformed_event", "a signed event does not parse");
    if (e.agent_id() != expected_agent_id || e.sequence() != seq)
      return reject("integrity.sequence_mismatch",
                    "event " + std::to_string(seq) + " carries another agent id or sequence");
    ++seq;
    out.events.push_back(std::move(e));
  }
  out.header_sha256 = crypto::to_string(crypto::sha256(batch.header()));
  return BatchCheck{std::move(out), std::nullopt};
}

}  // namespace vagt
