#pragma once

// Storage for the collector: one interface, engines in subfolders
// (store/sqlite now, store/postgres later). Only main() picks an engine.
// Every call is safe to make from several threads; engines serialise writes.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "collector/ledger/leaf.h"
#include "collector/ledger/tree_head.h"
#include "collector/policy/policy.h"
#include "common/proto/vagt.pb.h"
#include "common/result.h"

namespace vagt::collector {

// Where an agent's chain stands in the store.
struct ChainState {
  std::uint64_t next_sequence = 0;      // first sequence not yet stored
  std::string last_header_sha256;       // raw 32 bytes; empty at genesis
};

// One decoded event of a batch, with its exact signed bytes and its decision.
struct EventRecord {
  v1::AccessEvent event;
  std::string raw;                      // exact serialized bytes (Merkle leaf)
  Decision decision;
};

// A verified batch, to be stored atomically with its events and decisions.
struct BatchRecord {
  std::string agent_id;
  std::uint64_t first_sequence = 0;
  std::uint32_t count = 0;
  std::string header;                   // exact signed header bytes
  std::string header_sha256;            // raw 32 bytes
  std::string signature;
  std::string raw_batch;                // the frame body (AgentMessage with the Batch), exactly as received
  std::string agent_cert_pem;           // certificate that verifies `signature`
  std::string policy_digest;
  std::uint64_t received_ns = 0;
  std::vector<EventRecord> events;
};

// A problem with what an agent sent (bad signature, chain break, gap, replay,
// fork, identity mismatch). Stored as a possible breach of kind "integrity".
struct IntegrityFinding {
  std::string agent_id;                 // from the certificate
  std::string rule_id;                  // "integrity.bad_signature", ...
  Severity severity = Severity::kHigh;
  std::string explanation;
  std::string raw_batch;                // the evidence, exactly as received
  std::string agent_cert_pem;
  std::uint64_t detected_ns = 0;
};

enum class AppendStatus { kStored, kDuplicate };

// The last Heartbeat of an agent (vagtctl agents status).
struct HeartbeatRecord {
  std::string agent_id;
  std::uint64_t received_ns = 0;  // collector clock
  std::uint64_t time_ns = 0;      // agent clock
  std::string counters_json;      // {"events": 12, ...}
  std::string status_json;        // {"files": "done", ...}
};

// Query side (vagtctl).
struct EventFilter {
  std::optional<std::uint64_t> since_ns, until_ns;
  std::optional<std::string> agent_id, principal, protocol, system;
  std::size_t limit = 1000;
};

struct StoredEvent {
  std::int64_t id = 0;
  v1::AccessEvent event;
  std::string system;
  bool allowed = true;
};

struct BreachFilter {
  std::optional<std::uint64_t> since_ns, until_ns;
  std::optional<std::string> kind;      // "policy" | "integrity"
  std::optional<std::string> rule_id, principal, agent_id;
  std::size_t limit = 1000;
};

struct StoredBreach {
  std::int64_t id = 0;
  std::string kind;                     // "policy" | "integrity"
  std::string rule_id;
  Severity severity = Severity::kMedium;
  std::string status;                   // "open" until triaged
  std::uint64_t event_time_ns = 0;      // 0 for integrity findings
  std::uint64_t detected_ns = 0;
  std::string agent_id;
  std::optional<std::uint64_t> sequence;
  std::string principal, realm, protocol, system, src, dst;
  std::string explanation;
  std::string policy_digest;
};

// Evidence ledger (docs/evidence.md): leaf `index` covers record
// (kind, record_id); leaves are appended in the transaction of the record.
struct LedgerLeaf {
  std::uint64_t index = 0;
  std::string kind;
  std::int64_t record_id = 0;
  std::string leaf_hash;  // raw 32 bytes as stored
};

// A stored batch with the raw bytes of its event rows, for offline checks.
struct StoredBatch {
  std::int64_t id = 0;
  std::string agent_id;
  std::uint64_t first_sequence = 0;
  std::uint64_t count = 0;
  std::string header, header_sha256, signature, raw_batch, agent_cert_pem;
  std::vector<std::int64_t> event_ids;  // in sequence order
  std::vector<std::uint64_t> event_sequences;
  std::vector<std::string> event_raws;
};

// Enrolment registry: an append-only history of changes; an agent's state is
// its latest change.
struct EnrolmentChange {
  std::string agent_id;
  std::string fingerprint;  // hex SHA-256 of the certificate DER (lower case)
  std::string action;       // "enroll" | "revoke"
  std::uint64_t changed_ns = 0;
  std::string operator_name;
  std::string reason;
};

struct Enrolment {
  std::string agent_id;
  std::string fingerprint;
  std::string status;             // "enrolled" | "revoked"
  std::uint64_t enrolled_ns = 0;  // the latest enroll
  std::string enrolled_by;
  std::uint64_t changed_ns = 0;  // the latest change (enroll or revoke)
  std::string changed_by;
  std::string reason;  // of a revocation
};

template <typename T>
using Visitor = std::function<Result<void>(const T&)>;

class Store {
 public:
  virtual ~Store() = default;

  virtual Result<ChainState> chain_state(const std::string& agent_id) = 0;
  // Atomic: the batch, its events, decisions and breaches, or nothing.
  // kDuplicate when this exact header is already stored (an agent resend).
  virtual Result<AppendStatus> append_batch(const BatchRecord& batch) = 0;
  virtual Result<void> record_integrity_finding(const IntegrityFinding& finding) = 0;

  // A verified LossNotice: records `finding` (integrity.spool_loss) and moves
  // the agent's chain past the lost range, atomically.
  virtual Result<void> record_loss(const IntegrityFinding& finding, std::uint64_t next_sequence,
                                   const std::string& last_header_sha256) {
    (void)finding, (void)next_sequence, (void)last_header_sha256;
    return fail(ErrorCode::kStore, "this store engine does not record losses");
  }
  // Keeps the last heartbeat per agent.
  virtual Result<void> record_heartbeat(const HeartbeatRecord& heartbeat) {
    (void)heartbeat;
    return fail(ErrorCode::kStore, "this store engine does not keep heartbeats");
  }
  virtual Result<std::vector<HeartbeatRecord>> heartbeats() {
    return fail(ErrorCode::kStore, "this store engine does not keep heartbeats");
  }

  virtual Result<std::vector<StoredEvent>> events(const EventFilter& filter) = 0;
  virtual Result<std::vector<StoredBreach>> breaches(const BreachFilter& filter) = 0;

  // Ledger. Leaf hashes in index order (for tree heads).
  virtual Result<std::vector<crypto::Sha256>> ledger_leaf_hashes() = 0;
  virtual Result<std::uint64_t> ledger_size() = 0;
  virtual Result<void> append_tree_head(const ledger::SignedTreeHead& head) = 0;
  virtual Result<std::vector<ledger::SignedTreeHead>> tree_heads() = 0;  // oldest first

  // Offline verification: everything, in a stable order. A visitor's error
  // stops the scan and is returned.
  virtual Result<void> scan_ledger(const Visitor<LedgerLeaf>& visit) = 0;  // by index
  // The records of one kind as their leaf rows (the kind's columns), by id.
  virtual Result<void> scan_records(const ledger::RecordKind& kind,
                                    const Visitor<ledger::Row>& visit) = 0;
  // Batches by agent, then first sequence, each with its event rows.
  virtual Result<void> scan_batches(const Visitor<StoredBatch>& visit) = 0;
  // Runs `reads` on one consistent snapshot of the store (while a collector
  // goes on appending). Meant for a connection of its own (vagtctl verify).
  virtual Result<void> read_snapshot(const std::function<Result<void>()>& reads) = 0;

  // Enrolment registry (changes are ledger records).
  virtual Result<void> record_enrolment(const EnrolmentChange& change) = 0;
  virtual Result<std::optional<Enrolment>> enrolment(const std::string& agent_id) = 0;
  virtual Result<std::vector<Enrolment>> enrolments() = 0;
};

}  // namespace vagt::collector
