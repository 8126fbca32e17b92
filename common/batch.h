#pragma once

// Signed, chained batches of events (docs/wire-protocol.md).
//
// The agent's ChainSigner numbers events densely, serializes each one once,
// and signs a header that binds agent id, key id, boot id, sequence range,
// time range, the previous header's SHA-256 and the RFC 6962 root over the
// exact event bytes. verify_batch() re-checks all of that from the bytes and
// the signer's certificate alone; chain continuity against stored state is
// the caller's (it needs the store).

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "common/crypto.h"
#include "common/proto/vagt.pb.h"
#include "common/result.h"

namespace vagt {

inline constexpr std::uint32_t kDefaultMaxEventsPerBatch = 1000;
inline constexpr std::size_t kMaxEventBytes = 64 * 1024;

class ChainSigner {
 public:
  ChainSigner(std::string agent_id, crypto::PrivateKey key, std::string boot_id);

  // Continue the chain where the collector (or the spool) says it stands.
  void resume(std::uint64_t next_sequence, std::string last_header_sha256);

  // Assigns agent id and sequence to the events, serializes, signs.
  Result<v1::Batch> sign(std::vector<v1::AccessEvent>& events, std::uint64_t now_ns);

  std::uint64_t next_sequence() const { return next_sequence_; }
  const std::string& last_header_sha256() const { return last_header_sha256_; }
  const std::string& agent_id() const { return agent_id_; }

 private:
  std::string agent_id_;
  crypto::PrivateKey key_;
  std::string key_id_;
  std::string boot_id_;
  std::uint64_t next_sequence_ = 0;
  std::string last_header_sha256_;  // raw 32 bytes; empty means genesis
};

// A batch whose signature, identity, count and Merkle root are correct.
struct VerifiedBatch {
  v1::BatchHeader header;
  std::string header_sha256;            // raw 32 bytes
  std::vector<v1::AccessEvent> events;  // decoded, in order
};

// Why a batch was refused: a stable finding id and one sentence.
struct BatchRejection {
  std::string finding_id;  // "integrity.bad_signature", "integrity.merkle_mismatch", ...
  std::string explanation;
};

struct BatchLimits {
  std::uint32_t max_events = kDefaultMaxEventsPerBatch;
  std::size_t max_event_bytes = kMaxEventBytes;
};

// Checks the batch against the certificate the agent presented.
// Either `batch` is set or `rejection` is.
struct BatchCheck {
  std::optional<VerifiedBatch> batch;
  std::optional<BatchRejection> rejection;
};
BatchCheck verify_batch(const v1::Batch& batch, const crypto::Certificate& signer,
                        const std::string& expected_agent_id, const BatchLimits& limits = {});

// 32 zero bytes: the chain link of an agent's first batch ever.
const std::string& genesis_link();

}  // namespace vagt
