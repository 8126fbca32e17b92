#include "collector/store/sqlite/sqlite_store.h"

#include <sqlite3.h>

#include <array>
#include <cstdint>
#include <string_view>

#include "common/event_json.h"

namespace vagt::collector {
namespace {

constexpr const char* kSchemaV1[] = {
    R"sql(CREATE TABLE agents (
  agent_id           TEXT PRIMARY KEY,
  next_sequence      INTEGER NOT NULL DEFAULT 0,
  last_header_sha256 BLOB,
  first_seen_ns      INTEGER NOT NULL,
  last_seen_ns       INTEGER NOT NULL
))sql",
    R"sql(CREATE TABLE batches (
  id             INTEGER PRIMARY KEY,
  agent_id       TEXT NOT NULL REFERENCES agents(agent_id),
  first_sequence INTEGER NOT NULL,
  count          INTEGER NOT NULL,
  header         BLOB NOT NULL,
  header_sha256  BLOB NOT NULL,
  signature      BLOB NOT NULL,
  raw_batch      BLOB NOT NULL,
  agent_cert_pem TEXT NOT NULL,
  policy_digest  TEXT NOT NULL,
  received_ns    INTEGER NOT NULL,
  UNIQUE (agent_id, first_sequence)
))sql",
    R"sql(CREATE TABLE events (
  id        INTEGER PRIMARY KEY,
  batch_id  INTEGER NOT NULL REFERENCES batches(id),
  agent_id  TEXT NOT NULL,
  sequence  INTEGER NOT NULL,
  time_ns   INTEGER NOT NULL,
  protocol  TEXT NOT NULL,
  transport TEXT NOT NULL,
  src       TEXT NOT NULL,
  dst       TEXT NOT NULL,
  principal TEXT NOT NULL,
  realm     TEXT NOT NULL,
  action    TEXT NOT NULL,
  resource  TEXT NOT NULL,
  patient   TEXT,
  outcome   TEXT NOT NULL,
  code      TEXT,
  detail    TEXT NOT NULL,
  raw       BLOB NOT NULL,
  system    TEXT NOT NULL,
  allowed   INTEGER NOT NULL,
  grant_id  TEXT,
  UNIQUE (agent_id, sequence)
))sql",
    "CREATE INDEX events_time ON events(time_ns)",
    "CREATE INDEX events_principal ON events(principal COLLATE NOCASE, time_ns)",
    "CREATE INDEX events_agent ON events(agent_id, time_ns)",
    "CREATE INDEX events_system ON events(system, time_ns)",
    "CREATE INDEX events_patient ON events(patient, time_ns) WHERE patient IS NOT NULL",
    "CREATE INDEX events_batch ON events(batch_id)",
    R"sql(CREATE TABLE breaches (
  id             INTEGER PRIMARY KEY,
  kind           TEXT NOT NULL CHECK (kind IN ('policy', 'integrity')),
  rule_id        TEXT NOT NULL,
  severity       TEXT NOT NULL,
  status         TEXT NOT NULL DEFAULT 'open',
  event_id       INTEGER REFERENCES events(id),
  agent_id       TEXT NOT NULL,
  sequence       INTEGER,
  system         TEXT NOT NULL DEFAULT '',
  detected_ns    INTEGER NOT NULL,
  explanation    TEXT NOT NULL,
  policy_digest  TEXT NOT NULL DEFAULT '',
  evidence       BLOB,
  agent_cert_pem TEXT
))sql",
    "CREATE INDEX breaches_detected ON breaches(detected_ns)",
    "CREATE INDEX breaches_rule ON breaches(rule_id, detected_ns)",
    "CREATE INDEX breaches_agent ON breaches(agent_id, detected_ns)",
    "CREATE INDEX breaches_event ON breaches(event_id)",
};

// Version 2: the evidence ledger, signed tree heads, the enrolment registry.
constexpr const char* kSchemaV2[] = {
    R"sql(CREATE TABLE ledger (
  idx       INTEGER PRIMARY KEY,
  kind      TEXT NOT NULL,
  record_id INTEGER NOT NULL,
  leaf_hash BLOB NOT NULL,
  UNIQUE (kind, record_id)
))sql",
    R"sql(CREATE TABLE tree_heads (
  id              INTEGER PRIMARY KEY,
  tree_size       INTEGER NOT NULL,
  root            BLOB NOT NULL,
  signed_ns       INTEGER NOT NULL,
  signature       BLOB NOT NULL,
  signer_cert_pem TEXT NOT NULL
))sql",
    R"sql(CREATE TABLE enrolments (
  id          INTEGER PRIMARY KEY,
  agent_id    TEXT NOT NULL,
  fingerprint TEXT NOT NULL,
  action      TEXT NOT NULL CHECK (action IN ('enroll', 'revoke')),
  changed_ns  INTEGER NOT NULL,
  operator    TEXT NOT NULL,
  reason      TEXT NOT NULL DEFAULT ''
))sql",
    "CREATE INDEX enrolments_agent ON enrolments(agent_id, id)",
};

constexpr const char* kNextLeaf = "SELECT COALESCE(MAX(idx) + 1, 0) FROM ledger";
constexpr const char* kInsertLeaf =
    "INSERT INTO ledger (idx, kind, record_id, leaf_hash) VALUES (?1, ?2, ?3, ?4)";
constexpr const char* kLeafHashes = "SELECT leaf_hash FROM ledger ORDER BY idx";
constexpr const char* kScanLedger =
    "SELECT idx, kind, record_id, leaf_hash FROM ledger ORDER BY idx";
constexpr const char* kInsertHead =
    "INSERT INTO tree_heads (tree_size, root, signed_ns, signature, signer_cert_pem) "
    "VALUES (?1, ?2, ?3, ?4, ?5)";
constexpr const char* kSelectHeads =
    "SELECT id, tree_size, root, signed_ns, signature, signer_cert_pem FROM tree_heads "
    "ORDER BY id";
constexpr const char* kScanBatches =
    "SELECT id, agent_id, first_sequence, count, header, header_sha256, signature, raw_batch, "
    "agent_cert_pem FROM batches ORDER BY agent_id, first_sequence, id";
constexpr const char* kBatchEvents =
    "SELECT id, sequence, raw FROM events WHERE batch_id = ?1 ORDER BY sequence, id";
constexpr const char* kInsertEnrolment =
    "INSERT INTO enrolments (agent_id, fingerprint, action, changed_ns, operator, reason) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
// Latest change per agent, with its latest enroll.
constexpr const char* kSelectEnrolments =
    "SELECT c.agent_id, c.fingerprint, c.action, c.changed_ns, c.operator, c.reason, "
    "COALESCE(e.changed_ns, 0), COALESCE(e.operator, ''), COALESCE(e.fingerprint, '') "
    "FROM enrolments c "
    "LEFT JOIN enrolments e ON e.id = (SELECT MAX(id) FROM enrolments "
    "  WHERE agent_id = c.agent_id AND action = 'enroll') "
    "WHERE c.id = (SELECT MAX(id) FROM enrolments WHERE agent_id = c.agent_id) "
    "AND (?1 IS NULL OR c.agent_id = ?1) ORDER BY c.agent_id";
// Added after schema v1 shipped; created when missing (additive, no version bump).
constexpr const char* kCreateHeartbeats =
    "CREATE TABLE IF NOT EXISTS heartbeats (agent_id TEXT PRIMARY KEY, received_ns INTEGER NOT "
    "NULL, time_ns INTEGER NOT NULL, counters TEXT NOT NULL, status TEXT NOT NULL)";
constexpr const char* kUpsertHeartbeat =
    "INSERT INTO heartbeats (agent_id, received_ns, time_ns, counters, status) VALUES (?1, ?2, "
    "?3, ?4, ?5) ON CONFLICT (agent_id) DO UPDATE SET received_ns = ?2, time_ns = ?3, "
    "counters = ?4, status = ?5";
constexpr const char* kSelectHeartbeats =
    "SELECT agent_id, received_ns, time_ns, counters, status FROM heartbeats ORDER BY agent_id";

constexpr const char* kFindBatch =
    "SELECT header_sha256 FROM batches WHERE agent_id = ?1 AND first_sequence = ?2";
constexpr const char* kFindOverlap =
    "SELECT first_sequence FROM batches WHERE agent_id = ?1 AND first_sequence < ?3 "
    "AND first_sequence + count > ?2 LIMIT 1";
constexpr const char* kUpsertAgent =
    "INSERT INTO agents (agent_id, next_sequence, last_header_sha256, first_seen_ns, "
    "last_seen_ns) VALUES (?1, 0, NULL, ?2, ?2) ON CONFLICT (agent_id) DO NOTHING";
constexpr const char* kInsertBatch =
    "INSERT INTO batches (agent_id, first_sequence, count, header, header_sha256, signature, "
    "raw_batch, agent_cert_pem, policy_digest, received_ns) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
constexpr const char* kInsertEvent =
    "INSERT INTO events (batch_id, agent_id, sequence, time_ns, protocol, transport, src, dst, "
    "principal, realm, action, resource, patient, outcome, code, detail, raw, system, allowed, "
    "grant_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, "
    "?17, ?18, ?19, ?20)";
constexpr const char* kInsertBreach =
    "INSERT INTO breaches (kind, rule_id, severity, status, event_id, agent_id, sequence, "
    "system, detected_ns, explanation, policy_digest, evidence, agent_cert_pem) "
    "VALUES (?1, ?2, ?3, 'open', ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)";
// Right-hand sides see the old row: the chain only moves forward.
constexpr const char* kAdvanceAgent =
    "UPDATE agents SET next_sequence = MAX(next_sequence, ?2), "
    "last_header_sha256 = CASE WHEN ?2 >= next_sequence THEN ?3 ELSE last_header_sha256 END, "
    "last_seen_ns = ?4 WHERE agent_id = ?1";
constexpr const char* kChainState =
    "SELECT next_sequence, last_header_sha256 FROM agents WHERE agent_id = ?1";
constexpr const char* kSelectEvents =
    "SELECT id, agent_id, sequence, time_ns, protocol, principal, realm, action, resource, "
    "patient, outcome, code, raw, system, allowed FROM events "
    "WHERE (?1 IS NULL OR time_ns >= ?1) AND (?2 IS NULL OR time_ns < ?2) "
    "AND (?3 IS NULL OR agent_id = ?3) AND (?4 IS NULL OR principal = ?4 COLLATE NOCASE) "
    "AND (?5 IS NULL OR protocol = ?5) AND (?6 IS NULL OR system = ?6) "
    "ORDER BY time_ns DESC, id DESC LIMIT ?7";
constexpr const char* kSelectBreaches =
    "SELECT b.id, b.kind, b.rule_id, b.severity, b.status, COALESCE(e.time_ns, 0), "
    "b.detected_ns, b.agent_id, b.sequence, COALESCE(e.principal, ''), COALESCE(e.realm, ''), "
    "COALESCE(e.protocol, ''), b.system, COALESCE(e.src, ''), COALESCE(e.dst, ''), "
    "b.explanation, b.policy_digest FROM breaches b LEFT JOIN events e ON e.id = b.event_id "
    "WHERE (?1 IS NULL OR b.detected_ns >= ?1) AND (?2 IS NULL OR b.detected_ns < ?2) "
    "AND (?3 IS NULL OR b.kind = ?3) AND (?4 IS NULL OR b.rule_id = ?4) "
    "AND (?5 IS NULL OR e.principal = ?5 COLLATE NOCASE) AND (?6 IS NULL OR b.agent_id = ?6) "
    "ORDER BY b.detected_ns DESC, b.id DESC LIMIT ?7";

// A prepared statement, finalized on destruction.
class Stmt {
 public:
  Stmt() = default;
  explicit Stmt(sqlite3_stmt* s) : s_(s) {}
  Stmt(Stmt&& o) noexcept : s_(o.s_) { o.s_ = nullptr; }
  Stmt& operator=(Stmt&& o) noexcept {
    std::swap(s_, o.s_);
    return *this;
  }
  ~Stmt() { sqlite3_finalize(s_); }
  sqlite3_stmt* get() const { return s_; }

 private:
  sqlite3_stmt* s_ = nullptr;
};

// One use of a cached statement: bindings cleared and reset when it ends, so
// bound buffers (SQLITE_STATIC) are never read after the caller's data dies.
class Use {
 public:
  explicit Use(const Stmt& s) : s_(s.get()) {}
  ~Use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  Use(const Use&) = delete;
  Use& operator=(const Use&) = delete;

  void null(int i) { rc(sqlite3_bind_null(s_, i)); }
  void i64(int i, std::int64_t v) { rc(sqlite3_bind_int64(s_, i, v)); }
  void u64(int i, std::uint64_t v) { i64(i, static_cast<std::int64_t>(v)); }
  void text(int i, std::string_view v) {
    rc(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_STATIC, SQLITE_UTF8));
  }
  void blob(int i, std::string_view v) {
    // A zero-length blob, not NULL, for an empty value.
    rc(v.empty() ? sqlite3_bind_zeroblob(s_, i, 0)
                 : sqlite3_bind_blob64(s_, i, v.data(), v.size(), SQLITE_STATIC));
  }
  void opt_text(int i, const std::optional<std::string>& v) { v ? text(i, *v) : null(i); }
  void opt_u64(int i, const std::optional<std::uint64_t>& v) { v ? u64(i, *v) : null(i); }
  void limit(int i, std::size_t n) { i64(i, n == 0 ? -1 : static_cast<std::int64_t>(n)); }

  int step() { return bind_rc_ != SQLITE_OK ? bind_rc_ : sqlite3_step(s_); }

  std::int64_t col_i64(int c) const { return sqlite3_column_int64(s_, c); }
  std::uint64_t col_u64(int c) const { return static_cast<std::uint64_t>(col_i64(c)); }
  bool col_null(int c) const { return sqlite3_column_type(s_, c) == SQLITE_NULL; }
  // Every column of the current row as a ledger value.
  ledger::Row row() const {
    ledger::Row out;
    const int n = sqlite3_column_count(s_);
    out.reserve(static_cast<std::size_t>(n));
    for (int c = 0; c < n; ++c) {
      switch (sqlite3_column_type(s_, c)) {
        case SQLITE_NULL:
          out.emplace_back(std::monostate{});
          break;
        case SQLITE_INTEGER:
          out.emplace_back(col_i64(c));
          break;
        case SQLITE_FLOAT:
          out.emplace_back(sqlite3_column_double(s_, c));
          break;
        default:
          out.emplace_back(col_str(c));
          break;
      }
    }
    return out;
  }
  std::string col_str(int c) const {
    const auto* p = static_cast<const char*>(sqlite3_column_blob(s_, c));
    const int n = sqlite3_column_bytes(s_, c);
    return p ? std::string(p, static_cast<std::size_t>(n)) : std::string();
  }

 private:
  void rc(int r) {
    if (r != SQLITE_OK && bind_rc_ == SQLITE_OK) bind_rc_ = r;
  }
  sqlite3_stmt* s_;
  int bind_rc_ = SQLITE_OK;
};

tl::unexpected<Error> db_fail(sqlite3* db, const std::string& what) {
  return fail(ErrorCode::kStore, what + ": " + sqlite3_errmsg(db) + " (" +
                                     sqlite3_errstr(sqlite3_extended_errcode(db)) + ")");
}

Result<void> exec(sqlite3* db, const char* sql) {
  char* msg = nullptr;
  if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
    std::string m = msg ? msg : sqlite3_errmsg(db);
    sqlite3_free(msg);
    return fail(ErrorCode::kStore, std::string(sql) + ": " + m);
  }
  return {};
}

Result<std::int64_t> pragma_int(sqlite3* db, const char* sql) {
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db, sql, -1, &raw, nullptr) != SQLITE_OK) return db_fail(db, sql);
  Stmt s(raw);
  if (sqlite3_step(s.get()) != SQLITE_ROW) return db_fail(db, sql);
  return sqlite3_column_int64(s.get(), 0);
}

// Rolls back unless committed.
class Transaction {
 public:
  explicit Transaction(sqlite3* db) : db_(db) {}
  ~Transaction() {
    if (open_) sqlite3_exec(db_, "ROLLBACK", nullptr, nullptr, nullptr);
  }
  Result<void> begin() {
    if (auto r = exec(db_, "BEGIN IMMEDIATE"); !r) return r;
    open_ = true;
    return {};
  }
  Result<void> commit() {
    if (auto r = exec(db_, "COMMIT"); !r) return r;
    open_ = false;
    return {};
  }

 private:
  sqlite3* db_;
  bool open_ = false;
};

// Positions in ledger::kAllKinds.
constexpr std::size_t kBatchKind = 0, kEventKind = 1, kBreachKind = 2, kEnrolmentKind = 3;
static_assert(ledger::kAllKinds[kBatchKind].name == ledger::kBatch.name);
static_assert(ledger::kAllKinds[kEventKind].name == ledger::kEvent.name);
static_assert(ledger::kAllKinds[kBreachKind].name == ledger::kBreach.name);
static_assert(ledger::kAllKinds[kEnrolmentKind].name == ledger::kEnrolment.name);

std::string_view bytes_of(const crypto::Sha256& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

std::string json_dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

}  // namespace

struct SqliteStore::Statements {
  Stmt find_batch, find_overlap, upsert_agent, insert_batch, insert_event, insert_breach,
      advance_agent, chain_state, select_events, select_breaches;
  Stmt next_leaf, insert_leaf, leaf_hashes, scan_ledger, insert_head, select_heads, scan_batches,
      batch_events, insert_enrolment, select_enrolments;
  std::array<Stmt, std::size(ledger::kAllKinds)> select_record;  // by id, per kind
};

SqliteStore::SqliteStore(std::string path, sqlite3* db) : path_(std::move(path)), db_(db) {}

SqliteStore::~SqliteStore() {
  stmts_.reset();  // finalize before close
  sqlite3_close(db_);
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path) {
  return open(path, SqliteOptions{});
}

Result<std::unique_ptr<SqliteStore>> SqliteStore::open(const std::string& path,
                                                       const SqliteOptions& options) {
  sqlite3* db = nullptr;
  const int flags =
      options.read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  const int rc = sqlite3_open_v2(path.c_str(), &db, flags | SQLITE_OPEN_NOMUTEX, nullptr);
  std::unique_ptr<SqliteStore> store(new SqliteStore(path, db));  // closes db on every path
  if (rc != SQLITE_OK) {
    return fail(ErrorCode::kStore, "cannot open database " + path + ": " +
                                       (db ? sqlite3_errmsg(db) : sqlite3_errstr(rc)));
  }
  if (auto r = store->init(options); !r) {
    return fail(r.error().code, path + ": " + r.error().message);
  }
  return store;
}

Result<void> SqliteStore::init(const SqliteOptions& options) {
  sqlite3_extended_result_codes(db_, 1);
  if (sqlite3_busy_timeout(db_, options.busy_timeout_ms) != SQLITE_OK) {
    return db_fail(db_, "busy timeout");
  }
  if (auto r = exec(db_, "PRAGMA foreign_keys = ON"); !r) return r;
  if (options.max_pages > 0) {
    const std::string sql = "PRAGMA max_page_count = " + std::to_string(options.max_pages);
    if (auto r = pragma_int(db_, sql.c_str()); !r) return tl::unexpected(r.error());
  }

  auto version = pragma_int(db_, "PRAGMA user_version");
  if (!version) return tl::unexpected(version.error());
  if (*version > kSchemaVersion) {
    return fail(ErrorCode::kStore, "schema version " + std::to_string(*version) +
                                       " is newer than this program knows (" +
                                       std::to_string(kSchemaVersion) + ")");
  }
  if (options.read_only) {
    if (*version != kSchemaVersion) {
      return fail(ErrorCode::kStore, "not a vagt collector database (no schema)");
    }
  } else {
    if (auto r = exec(db_, "PRAGMA journal_mode = WAL"); !r) return r;
    if (auto r = exec(db_, "PRAGMA synchronous = FULL"); !r) return r;
    Transaction tx(db_);
    if (auto r = tx.begin(); !r) return r;
    // Read again inside the write lock: another process may have created it.
    version = pragma_int(db_, "PRAGMA user_version");
    if (!version) return tl::unexpected(version.error());
    if (*version == 0) {
      for (const char* sql : kSchemaV1) {
        if (auto r = exec(db_, sql); !r) return r;
      }
    }
    if (*version < 2) {
      for (const char* sql : kSchemaV2) {
        if (auto r = exec(db_, sql); !r) return r;
      }
    }
    // Added after v1 shipped; created when missing (additive, no version bump).
    if (auto r = exec(db_, kCreateHeartbeats); !r) return r;
    if (auto r = prepare_all(false); !r) return r;
    if (*version == 1) {
      // Records stored before the ledger existed become its first leaves.
      if (auto r = backfill_ledger(); !r) return r;
    }
    if (*version < kSchemaVersion) {
      const std::string set = "PRAGMA user_version = " + std::to_string(kSchemaVersion);
      if (auto r = exec(db_, set.c_str()); !r) return r;
    }
    if (auto r = tx.commit(); !r) return r;
    return {};
  }
  return prepare_all(true);
}

Result<void> SqliteStore::prepare_all(bool read_only) {
  stmts_ = std::make_unique<Statements>();
  auto prepare = [&](Stmt& s, const char* sql) -> Result<void> {
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v3(db_, sql, -1, SQLITE_PREPARE_PERSISTENT, &raw, nullptr) != SQLITE_OK) {
      return db_fail(db_, "prepare");
    }
    s = Stmt(raw);
    return {};
  };
  Statements& st = *stmts_;
  for (auto [stmt, sql] :
       {std::pair{&st.chain_state, kChainState}, std::pair{&st.select_events, kSelectEvents},
        std::pair{&st.select_breaches, kSelectBreaches}, std::pair{&st.leaf_hashes, kLeafHashes},
        std::pair{&st.scan_ledger, kScanLedger}, std::pair{&st.select_heads, kSelectHeads},
        std::pair{&st.scan_batches, kScanBatches}, std::pair{&st.batch_events, kBatchEvents},
        std::pair{&st.select_enrolments, kSelectEnrolments}, std::pair{&st.next_leaf, kNextLeaf}}) {
    if (auto r = prepare(*stmt, sql); !r) return r;
  }
  for (std::size_t k = 0; k < std::size(ledger::kAllKinds); ++k) {
    const auto& kind = ledger::kAllKinds[k];
    const std::string sql = "SELECT " + std::string(kind.columns) + " FROM " +
                            std::string(kind.table) + " WHERE id = ?1";
    if (auto r = prepare(st.select_record[k], sql.c_str()); !r) return r;
  }
  if (!read_only) {
    for (auto [stmt, sql] :
         {std::pair{&st.find_batch, kFindBatch}, std::pair{&st.find_overlap, kFindOverlap},
          std::pair{&st.upsert_agent, kUpsertAgent}, std::pair{&st.insert_batch, kInsertBatch},
          std::pair{&st.insert_event, kInsertEvent}, std::pair{&st.insert_breach, kInsertBreach},
          std::pair{&st.advance_agent, kAdvanceAgent}, std::pair{&st.insert_leaf, kInsertLeaf},
          std::pair{&st.insert_head, kInsertHead},
          std::pair{&st.insert_enrolment, kInsertEnrolment}}) {
      if (auto r = prepare(*stmt, sql); !r) return r;
    }
  }
  return {};
}

Result<void> SqliteStore::append_leaf(std::size_t kind_index, std::int64_t record_id) {
  Statements& st = *stmts_;
  const auto& kind = ledger::kAllKinds[kind_index];
  ledger::Row row;
  {
    Use q(st.select_record[kind_index]);
    q.i64(1, record_id);
    if (q.step() != SQLITE_ROW)
      return db_fail(db_, "ledger: " + std::string(kind.name) + " " + std::to_string(record_id));
    row = q.row();
  }
  std::int64_t index = 0;
  {
    Use q(st.next_leaf);
    if (q.step() != SQLITE_ROW) return db_fail(db_, "ledger size");
    index = q.col_i64(0);
  }
  const crypto::Sha256 hash = ledger::leaf_hash(kind.name, row);
  Use q(st.insert_leaf);
  q.i64(1, index);
  q.text(2, kind.name);
  q.i64(3, record_id);
  q.blob(4, bytes_of(hash));
  if (q.step() != SQLITE_DONE)
    return db_fail(db_,
                   "ledger leaf for " + std::string(kind.name) + " " + std::to_string(record_id));
  return {};
}

Result<void> SqliteStore::backfill_ledger() {
  // Batches with their events and breaches, in the order ingest stores them.
  std::vector<std::pair<std::size_t, std::int64_t>> records;
  for (std::size_t k = 0; k < std::size(ledger::kAllKinds); ++k) {
    const std::string sql = "SELECT id FROM " + std::string(ledger::kAllKinds[k].table);
    sqlite3_stmt* raw = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
      return db_fail(db_, sql);
    Stmt s(raw);
    int rc;
    while ((rc = sqlite3_step(s.get())) == SQLITE_ROW)
      records.emplace_back(k, sqlite3_column_int64(s.get(), 0));
    if (rc != SQLITE_DONE) return db_fail(db_, sql);
  }
  for (const auto& [k, id] : records) {
    if (auto r = append_leaf(k, id); !r) return r;
  }
  return {};
}

Result<ChainState> SqliteStore::chain_state(const std::string& agent_id) {
  std::lock_guard lock(mutex_);
  Use q(stmts_->chain_state);
  q.text(1, agent_id);
  const int rc = q.step();
  if (rc == SQLITE_DONE) return ChainState{};
  if (rc != SQLITE_ROW) return db_fail(db_, "chain state of " + agent_id);
  return ChainState{q.col_u64(0), q.col_str(1)};
}

Result<AppendStatus> SqliteStore::append_batch(const BatchRecord& batch) {
  if (batch.count == 0 || batch.events.size() != batch.count) {
    return fail(ErrorCode::kInvalidArgument,
                "batch of " + batch.agent_id + " at " + std::to_string(batch.first_sequence) +
                    " declares " + std::to_string(batch.count) + " events and carries " +
                    std::to_string(batch.events.size()));
  }
  if (batch.agent_id.empty() || batch.header_sha256.empty()) {
    return fail(ErrorCode::kInvalidArgument, "batch without agent id or header digest");
  }
  for (std::size_t i = 0; i < batch.events.size(); ++i) {
    if (batch.events[i].raw.empty()) {
      return fail(ErrorCode::kInvalidArgument,
                  "event " + std::to_string(i) + " of the batch has no raw bytes");
    }
  }
  if (!stmts_->insert_batch.get()) return fail(ErrorCode::kStore, "store opened read-only");
  std::lock_guard lock(mutex_);
  return append_locked(batch);
}

Result<AppendStatus> SqliteStore::append_locked(const BatchRecord& b) {
  Statements& st = *stmts_;
  Transaction tx(db_);
  if (auto r = tx.begin(); !r) return tl::unexpected(r.error());
  const std::string where = "batch of " + b.agent_id + " at " + std::to_string(b.first_sequence);

  {
    Use q(st.find_batch);
    q.text(1, b.agent_id);
    q.u64(2, b.first_sequence);
    const int rc = q.step();
    if (rc == SQLITE_ROW) {
      if (q.col_str(0) == b.header_sha256) return AppendStatus::kDuplicate;
      return fail(ErrorCode::kIntegrity,
                  "fork: " + where + " is already stored with a different header");
    }
    if (rc != SQLITE_DONE) return db_fail(db_, where);
  }
  {
    Use q(st.find_overlap);
    q.text(1, b.agent_id);
    q.u64(2, b.first_sequence);
    q.u64(3, b.first_sequence + b.count);
    const int rc = q.step();
    if (rc == SQLITE_ROW) {
      return fail(ErrorCode::kIntegrity,
                  where + " overlaps the stored batch at " + std::to_string(q.col_u64(0)));
    }
    if (rc != SQLITE_DONE) return db_fail(db_, where);
  }
  {
    Use q(st.upsert_agent);
    q.text(1, b.agent_id);
    q.u64(2, b.received_ns);
    if (q.step() != SQLITE_DONE) return db_fail(db_, "agent " + b.agent_id);
  }
  std::int64_t batch_id = 0;
  {
    Use q(st.insert_batch);
    q.text(1, b.agent_id);
    q.u64(2, b.first_sequence);
    q.i64(3, b.count);
    q.blob(4, b.header);
    q.blob(5, b.header_sha256);
    q.blob(6, b.signature);
    q.blob(7, b.raw_batch);
    q.text(8, b.agent_cert_pem);
    q.text(9, b.policy_digest);
    q.u64(10, b.received_ns);
    if (q.step() != SQLITE_DONE) return db_fail(db_, where);
    batch_id = sqlite3_last_insert_rowid(db_);
  }
  if (auto r = append_leaf(kBatchKind, batch_id); !r) return tl::unexpected(r.error());
  for (std::size_t i = 0; i < b.events.size(); ++i) {
    const EventRecord& rec = b.events[i];
    const v1::AccessEvent& e = rec.event;
    const std::uint64_t sequence = b.first_sequence + i;
    const std::string src = format_endpoint(e.src());
    const std::string dst = format_endpoint(e.dst());
    const std::string detail = json_dump(event_to_json(e)["detail"]);
    std::int64_t event_id = 0;
    {
      Use q(st.insert_event);
      q.i64(1, batch_id);
      q.text(2, b.agent_id);
      q.u64(3, sequence);
      q.u64(4, e.time_ns());
      q.text(5, e.protocol());
      q.text(6, transport_name(e.transport()));
      q.text(7, src);
      q.text(8, dst);
      q.text(9, e.principal());
      q.text(10, e.realm());
      q.text(11, e.action());
      q.text(12, e.resource());
      e.patient().empty() ? q.null(13) : q.text(13, e.patient());
      q.text(14, outcome_name(e.outcome()));
      e.has_code() ? q.text(15, e.code()) : q.null(15);
      q.text(16, detail);
      q.blob(17, rec.raw);
      q.text(18, rec.decision.system);
      q.i64(19, rec.decision.allowed ? 1 : 0);
      rec.decision.grant_id.empty() ? q.null(20) : q.text(20, rec.decision.grant_id);
      if (q.step() != SQLITE_DONE) {
        return db_fail(db_, "event " + std::to_string(sequence) + " of " + b.agent_id);
      }
      event_id = sqlite3_last_insert_rowid(db_);
    }
    if (auto r = append_leaf(kEventKind, event_id); !r) return tl::unexpected(r.error());
    for (const Finding& f : rec.decision.findings) {
      Use q(st.insert_breach);
      q.text(1, "policy");
      q.text(2, f.rule_id);
      q.text(3, to_string(f.severity));
      q.i64(4, event_id);
      q.text(5, b.agent_id);
      q.u64(6, sequence);
      q.text(7, f.system.empty() ? rec.decision.system : f.system);
      q.u64(8, b.received_ns);
      q.text(9, f.explanation);
      q.text(10, b.policy_digest);
      q.null(11);
      q.null(12);
      if (q.step() != SQLITE_DONE) {
        return db_fail(db_, "finding " + f.rule_id + " on event " + std::to_string(sequence));
      }
      if (auto r = append_leaf(kBreachKind, sqlite3_last_insert_rowid(db_)); !r)
        return tl::unexpected(r.error());
    }
  }
  {
    Use q(st.advance_agent);
    q.text(1, b.agent_id);
    q.u64(2, b.first_sequence + b.count);
    q.blob(3, b.header_sha256);
    q.u64(4, b.received_ns);
    if (q.step() != SQLITE_DONE) return db_fail(db_, "chain of " + b.agent_id);
  }
  if (auto r = tx.commit(); !r) return tl::unexpected(r.error());
  return AppendStatus::kStored;
}

Result<void> SqliteStore::record_integrity_finding(const IntegrityFinding& f) {
  if (!stmts_->insert_breach.get()) return fail(ErrorCode::kStore, "store opened read-only");
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  if (auto r = tx.begin(); !r) return r;
  if (auto r = insert_breach_locked(f); !r) return r;
  return tx.commit();
}

Result<void> SqliteStore::insert_breach_locked(const IntegrityFinding& f) {
  {
    Use q(stmts_->insert_breach);
    q.text(1, "integrity");
    q.text(2, f.rule_id);
    q.text(3, to_string(f.severity));
    q.null(4);
    q.text(5, f.agent_id);
    q.null(6);
    q.text(7, "");
    q.u64(8, f.detected_ns);
    q.text(9, f.explanation);
    q.text(10, "");
    f.raw_batch.empty() ? q.null(11) : q.blob(11, f.raw_batch);
    f.agent_cert_pem.empty() ? q.null(12) : q.text(12, f.agent_cert_pem);
    if (q.step() != SQLITE_DONE) return db_fail(db_, "integrity finding " + f.rule_id);
  }
  return append_leaf(kBreachKind, sqlite3_last_insert_rowid(db_));
}

Result<void> SqliteStore::record_loss(const IntegrityFinding& f, std::uint64_t next_sequence,
                                      const std::string& last_header_sha256) {
  if (!stmts_->insert_breach.get()) return fail(ErrorCode::kStore, "store opened read-only");
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  if (auto r = tx.begin(); !r) return r;
  if (auto r = insert_breach_locked(f); !r) return r;
  {
    Use q(stmts_->upsert_agent);
    q.text(1, f.agent_id);
    q.u64(2, f.detected_ns);
    if (q.step() != SQLITE_DONE) return db_fail(db_, "agent " + f.agent_id);
  }
  {
    Use q(stmts_->advance_agent);
    q.text(1, f.agent_id);
    q.u64(2, next_sequence);
    q.blob(3, last_header_sha256);
    q.u64(4, f.detected_ns);
    if (q.step() != SQLITE_DONE) return db_fail(db_, "chain of " + f.agent_id);
  }
  return tx.commit();
}

Result<void> SqliteStore::record_heartbeat(const HeartbeatRecord& h) {
  if (!stmts_->insert_breach.get()) return fail(ErrorCode::kStore, "store opened read-only");
  std::lock_guard lock(mutex_);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, kUpsertHeartbeat, -1, &raw, nullptr) != SQLITE_OK)
    return db_fail(db_, "heartbeat");
  Stmt stmt(raw);
  Use q(stmt);
  q.text(1, h.agent_id);
  q.u64(2, h.received_ns);
  q.u64(3, h.time_ns);
  q.text(4, h.counters_json);
  q.text(5, h.status_json);
  if (q.step() != SQLITE_DONE) return db_fail(db_, "heartbeat of " + h.agent_id);
  return {};
}

Result<std::vector<HeartbeatRecord>> SqliteStore::heartbeats() {
  std::lock_guard lock(mutex_);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, kSelectHeartbeats, -1, &raw, nullptr) != SQLITE_OK)
    return db_fail(db_, "heartbeats (a store written before heartbeats existed has none)");
  Stmt stmt(raw);
  Use q(stmt);
  std::vector<HeartbeatRecord> out;
  int rc = 0;
  while ((rc = q.step()) == SQLITE_ROW)
    out.push_back(
        HeartbeatRecord{q.col_str(0), q.col_u64(1), q.col_u64(2), q.col_str(3), q.col_str(4)});
  if (rc != SQLITE_DONE) return db_fail(db_, "heartbeats");
  return out;
}

Result<std::vector<StoredEvent>> SqliteStore::events(const EventFilter& f) {
  std::lock_guard lock(mutex_);
  Use q(stmts_->select_events);
  q.opt_u64(1, f.since_ns);
  q.opt_u64(2, f.until_ns);
  q.opt_text(3, f.agent_id);
  q.opt_text(4, f.principal);
  q.opt_text(5, f.protocol);
  q.opt_text(6, f.system);
  q.limit(7, f.limit);
  std::vector<StoredEvent> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    StoredEvent se;
    se.id = q.col_i64(0);
    // The exact signed bytes are the record; the columns are an index.
    const std::string raw = q.col_str(12);
    if (!se.event.ParseFromString(raw)) {
      se.event.Clear();
      se.event.set_time_ns(q.col_u64(3));
      se.event.set_protocol(q.col_str(4));
      se.event.set_principal(q.col_str(5));
      se.event.set_realm(q.col_str(6));
      se.event.set_action(q.col_str(7));
      se.event.set_resource(q.col_str(8));
      se.event.set_patient(q.col_str(9));
      const std::string outcome = q.col_str(10);
      se.event.set_outcome(outcome == "success"   ? v1::OUTCOME_SUCCESS
                           : outcome == "failure" ? v1::OUTCOME_FAILURE
                                                  : v1::OUTCOME_UNKNOWN);
      if (!q.col_null(11)) se.event.set_code(q.col_str(11));
    }
    if (se.event.agent_id().empty()) se.event.set_agent_id(q.col_str(1));
    se.event.set_sequence(q.col_u64(2));
    se.system = q.col_str(13);
    se.allowed = q.col_i64(14) != 0;
    out.push_back(std::move(se));
  }
  if (rc != SQLITE_DONE) return db_fail(db_, "query events");
  return out;
}

Result<std::vector<StoredBreach>> SqliteStore::breaches(const BreachFilter& f) {
  std::lock_guard lock(mutex_);
  Use q(stmts_->select_breaches);
  q.opt_u64(1, f.since_ns);
  q.opt_u64(2, f.until_ns);
  q.opt_text(3, f.kind);
  q.opt_text(4, f.rule_id);
  q.opt_text(5, f.principal);
  q.opt_text(6, f.agent_id);
  q.limit(7, f.limit);
  std::vector<StoredBreach> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    StoredBreach b;
    b.id = q.col_i64(0);
    b.kind = q.col_str(1);
    b.rule_id = q.col_str(2);
    b.severity = severity_from_string(q.col_str(3)).value_or(Severity::kMedium);
    b.status = q.col_str(4);
    b.event_time_ns = q.col_u64(5);
    b.detected_ns = q.col_u64(6);
    b.agent_id = q.col_str(7);
    if (!q.col_null(8)) b.sequence = q.col_u64(8);
    b.principal = q.col_str(9);
    b.realm = q.col_str(10);
    b.protocol = q.col_str(11);
    b.system = q.col_str(12);
    b.src = q.col_str(13);
    b.dst = q.col_str(14);
    b.explanation = q.col_str(15);
    b.policy_digest = q.col_str(16);
    out.push_back(std::move(b));
  }
  if (rc != SQLITE_DONE) return db_fail(db_, "query breaches");
  return out;
}

Result<std::vector<crypto::Sha256>> SqliteStore::ledger_leaf_hashes() {
  std::lock_guard lock(mutex_);
  Use q(stmts_->leaf_hashes);
  std::vector<crypto::Sha256> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    const std::string h = q.col_str(0);
    crypto::Sha256 d{};
    if (h.size() != d.size())
      return fail(ErrorCode::kIntegrity, "a ledger leaf hash is not 32 bytes");
    std::copy(h.begin(), h.end(), d.begin());
    out.push_back(d);
  }
  if (rc != SQLITE_DONE) return db_fail(db_, "ledger");
  return out;
}

Result<std::uint64_t> SqliteStore::ledger_size() {
  std::lock_guard lock(mutex_);
  Use q(stmts_->next_leaf);
  if (q.step() != SQLITE_ROW) return db_fail(db_, "ledger size");
  return q.col_u64(0);
}

Result<void> SqliteStore::append_tree_head(const ledger::SignedTreeHead& h) {
  if (!stmts_->insert_head.get()) return fail(ErrorCode::kStore, "store opened read-only");
  std::lock_guard lock(mutex_);
  Use q(stmts_->insert_head);
  q.u64(1, h.head.tree_size);
  q.blob(2, bytes_of(h.head.root));
  q.u64(3, h.head.signed_ns);
  q.blob(4, h.signature);
  q.text(5, h.signer_cert_pem);
  if (q.step() != SQLITE_DONE) return db_fail(db_, "tree head");
  return {};
}

Result<std::vector<ledger::SignedTreeHead>> SqliteStore::tree_heads() {
  std::lock_guard lock(mutex_);
  Use q(stmts_->select_heads);
  std::vector<ledger::SignedTreeHead> out;
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    ledger::SignedTreeHead h;
    h.id = q.col_i64(0);
    h.head.tree_size = q.col_u64(1);
    const std::string root = q.col_str(2);
    if (root.size() == h.head.root.size()) std::copy(root.begin(), root.end(), h.head.root.begin());
    h.head.signed_ns = q.col_u64(3);
    h.signature = q.col_str(4);
    h.signer_cert_pem = q.col_str(5);
    out.push_back(std::move(h));
  }
  if (rc != SQLITE_DONE) return db_fail(db_, "tree heads");
  return out;
}

Result<void> SqliteStore::scan_ledger(const Visitor<LedgerLeaf>& visit) {
  std::lock_guard lock(mutex_);
  Use q(stmts_->scan_ledger);
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    LedgerLeaf leaf;
    leaf.index = q.col_u64(0);
    leaf.kind = q.col_str(1);
    leaf.record_id = q.col_i64(2);
    leaf.leaf_hash = q.col_str(3);
    if (auto r = visit(leaf); !r) return r;
  }
  if (rc != SQLITE_DONE) return db_fail(db_, "ledger");
  return {};
}

Result<void> SqliteStore::scan_records(const ledger::RecordKind& kind,
                                       const Visitor<ledger::Row>& visit) {
  // The SQL is made of the kind's fixed table and column names only.
  const std::string sql =
      "SELECT " + std::string(kind.columns) + " FROM " + std::string(kind.table) + " ORDER BY id";
  std::lock_guard lock(mutex_);
  sqlite3_stmt* raw = nullptr;
  if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &raw, nullptr) != SQLITE_OK)
    return db_fail(db_, "scan " + std::string(kind.table));
  Stmt stmt(raw);
  Use q(stmt);
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    if (auto r = visit(q.row()); !r) return r;
  }
  if (rc != SQLITE_DONE) return db_fail(db_, "scan " + std::string(kind.table));
  return {};
}

Result<void> SqliteStore::scan_batches(const Visitor<StoredBatch>& visit) {
  std::lock_guard lock(mutex_);
  Use q(stmts_->scan_batches);
  int rc;
  while ((rc = q.step()) == SQLITE_ROW) {
    StoredBatch b;
    b.id = q.col_i64(0);
    b.agent_id = q.col_str(1);
    b.first_sequence = q.col_u64(2);
    b.count = q.col_u64(3);
    b.header = q.col_str(4);
    b.header_sha256 = q.col_str(5);
    b.signature = q.col_str(6);
    b.raw_batch = q.col_str(7);
    b.agent_cert_pem = q.col_str(8);
    {
      Use e(stmts_->batch_events);
      e.i64(1, b.id);
      int erc;
      while ((erc = e.step()) == SQLITE_ROW) {
        b.event_ids.push_back(e.col_i64(0));
        b.event_sequences.push_back(e.col_u64(1));
        b.event_raws.push_back(e.col_str(2));
      }
      if (erc != SQLITE_DONE) return db_fail(db_, "events of batch " + std::to_string(b.id));
    }
    if (auto r = visit(b); !r) return r;
  }
  if (rc != SQLITE_DONE) return db_fail(db_, "batches");
  return {};
}

Result<void> SqliteStore::read_snapshot(const std::function<Result<void>()>& reads) {
  {
    std::lock_guard lock(mutex_);
    // A read transaction: WAL keeps every read in it on one snapshot.
    if (auto r = exec(db_, "BEGIN DEFERRED"); !r) return r;
  }
  auto result = reads();
  std::lock_guard lock(mutex_);
  if (auto r = exec(db_, "COMMIT"); !r && result) return r;
  return result;
}

Result<void> SqliteStore::record_enrolment(const EnrolmentChange& c) {
  if (!stmts_->insert_enrolment.get()) return fail(ErrorCode::kStore, "store opened read-only");
  if (c.agent_id.empty() || (c.action != "enroll" && c.action != "revoke"))
    return fail(ErrorCode::kInvalidArgument, "enrolment change needs an agent id and an action");
  std::lock_guard lock(mutex_);
  Transaction tx(db_);
  if (auto r = tx.begin(); !r) return r;
  {
    Use q(stmts_->insert_enrolment);
    q.text(1, c.agent_id);
    q.text(2, c.fingerprint);
    q.text(3, c.action);
    q.u64(4, c.changed_ns);
    q.text(5, c.operator_name);
    q.text(6, c.reason);
    if (q.step() != SQLITE_DONE) return db_fail(db_, "enrolment of " + c.agent_id);
  }
  if (auto r = append_leaf(kEnrolmentKind, sqlite3_last_insert_rowid(db_)); !r) return r;
  return tx.commit();
}

namespace {

std::vector<Enrolment> read_enrolments(Use& q, int& rc) {
  std::vector<Enrolment> out;
  while ((rc = q.step()) == SQLITE_ROW) {
    Enrolment e;
    e.agent_id = q.col_str(0);
    const std::string action = q.col_str(2);
    e.status = action == "revoke" ? "revoked" : "enrolled";
    // A revocation names the certificate it revokes; else the enrolled one.
    e.fingerprint = q.col_str(1).empty() ? q.col_str(8) : q.col_str(1);
    e.changed_ns = q.col_u64(3);
    e.changed_by = q.col_str(4);
    if (action == "revoke") e.reason = q.col_str(5);
    e.enrolled_ns = q.col_u64(6);
    e.enrolled_by = q.col_str(7);
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

Result<std::optional<Enrolment>> SqliteStore::enrolment(const std::string& agent_id) {
  std::lock_guard lock(mutex_);
  Use q(stmts_->select_enrolments);
  q.text(1, agent_id);
  int rc = SQLITE_DONE;
  auto rows = read_enrolments(q, rc);
  if (rc != SQLITE_DONE) return db_fail(db_, "enrolment of " + agent_id);
  if (rows.empty()) return std::optional<Enrolment>{};
  return std::optional<Enrolment>(std::move(rows.front()));
}

Result<std::vector<Enrolment>> SqliteStore::enrolments() {
  std::lock_guard lock(mutex_);
  Use q(stmts_->select_enrolments);
  q.null(1);
  int rc = SQLITE_DONE;
  auto rows = read_enrolments(q, rc);
  if (rc != SQLITE_DONE) return db_fail(db_, "enrolments");
  return rows;
}

}  // namespace vagt::collector
