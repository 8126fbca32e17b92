#pragma once

// The embedded store engine: one SQLite file in WAL mode.
//
// - Schema versioned with PRAGMA user_version, created on first open; a file
//   written by a newer schema is refused, never modified.
// - synchronous=FULL: a batch acknowledged to an agent (which then drops it
//   from its spool) survives power loss.
// - Every statement is prepared once with fixed SQL; values are only ever
//   bound, never spliced into SQL text.
// - One mutex serialises all use of the connection. Other processes
//   (vagtctl) read concurrently through WAL.
// - Sequence numbers and nanosecond times are stored as SQLite INTEGER
//   (signed 64-bit): fine until sequence 2^63 and the year 2262.
//
// Query semantics (events() / breaches()): newest first; since_ns is
// inclusive, until_ns exclusive; principal compares ASCII case-insensitively,
// the other filters exactly; limit 0 means no limit. events() filters on the
// event time, breaches() on the detection time.

#include <memory>
#include <mutex>
#include <string>

#include "collector/store/store.h"

struct sqlite3;

namespace vagt::collector {

struct SqliteOptions {
  bool read_only = false;  // open an existing store for queries; never create or migrate
  int busy_timeout_ms = 5000;
  long long max_pages = 0;  // > 0 caps the file (PRAGMA max_page_count); writes beyond fail
};

class SqliteStore final : public Store {
 public:
  static constexpr int kSchemaVersion = 2;

  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path);
  static Result<std::unique_ptr<SqliteStore>> open(const std::string& path,
                                                   const SqliteOptions& options);
  ~SqliteStore() override;
  SqliteStore(const SqliteStore&) = delete;
  SqliteStore& operator=(const SqliteStore&) = delete;

  Result<ChainState> chain_state(const std::string& agent_id) override;
  // Refuses (kInvalidArgument) a batch whose events do not number `count` or
  // lack their raw bytes. Event i gets sequence first_sequence + i. Same
  // first sequence with the same header: kDuplicate. Same first sequence with
  // another header, or a range overlapping a stored batch: error kIntegrity
  // (the caller records the fork). Decisions' findings become policy breaches.
  Result<AppendStatus> append_batch(const BatchRecord& batch) override;
  Result<void> record_integrity_finding(const IntegrityFinding& finding) override;
  // One transaction: the finding, then the chain moved forward (never back).
  Result<void> record_loss(const IntegrityFinding& finding, std::uint64_t next_sequence,
                           const std::string& last_header_sha256) override;
  Result<void> record_heartbeat(const HeartbeatRecord& heartbeat) override;
  Result<std::vector<HeartbeatRecord>> heartbeats() override;

  Result<std::vector<StoredEvent>> events(const EventFilter& filter) override;
  Result<std::vector<StoredBreach>> breaches(const BreachFilter& filter) override;

  Result<std::vector<crypto::Sha256>> ledger_leaf_hashes() override;
  Result<std::uint64_t> ledger_size() override;
  Result<void> append_tree_head(const ledger::SignedTreeHead& head) override;
  Result<std::vector<ledger::SignedTreeHead>> tree_heads() override;
  Result<void> scan_ledger(const Visitor<LedgerLeaf>& visit) override;
  Result<void> scan_records(const ledger::RecordKind& kind,
                            const Visitor<ledger::Row>& visit) override;
  Result<void> scan_batches(const Visitor<StoredBatch>& visit) override;
  Result<void> read_snapshot(const std::function<Result<void>()>& reads) override;
  Result<void> record_enrolment(const EnrolmentChange& change) override;
  Result<std::optional<Enrolment>> enrolment(const std::string& agent_id) override;
  Result<std::vector<Enrolment>> enrolments() override;

  const std::string& path() const { return path_; }

 private:
  struct Statements;
  SqliteStore(std::string path, sqlite3* db);
  Result<void> init(const SqliteOptions& options);
  Result<AppendStatus> append_locked(const BatchRecord& batch);
  Result<void> prepare_all(bool read_only);
  // Appends the leaf of record (kind, id), read back from its row; inside
  // the caller's transaction.
  Result<void> append_leaf(std::size_t kind_index, std::int64_t record_id);
  Result<void> backfill_ledger();
  Result<void> insert_breach_locked(const IntegrityFinding& finding);

  std::string path_;
  sqlite3* db_ = nullptr;
  std::unique_ptr<Statements> stmts_;
  std::mutex mutex_;
};

}  // namespace vagt::collector
