#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <thread>

#include "collector/store/sqlite/sqlite_store.h"

namespace vagt::collector {
namespace {

namespace fs = std::filesystem;

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vagt-store-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    path_ = (dir_ / "collector.db").string();
    open();
  }
  void TearDown() override {
    store_.reset();
    fs::remove_all(dir_);
  }
  void open() {
    store_.reset();
    auto s = SqliteStore::open(path_);
    ASSERT_TRUE(s) << s.error().describe();
    store_ = std::move(*s);
  }

  // Runs SQL on a second, raw connection (the test's side door).
  void side_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  std::int64_t side_count(const std::string& table) {
    sqlite3* db = nullptr;
    EXPECT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    sqlite3_stmt* st = nullptr;
    const std::string sql = "SELECT count(*) FROM " + table;
    EXPECT_EQ(sqlite3_prepare_v2(db, sql.c_str(), -1, &st, nullptr), SQLITE_OK);
    std::int64_t n = -1;
    if (sqlite3_step(st) == SQLITE_ROW) n = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    sqlite3_close(db);
    return n;
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
};

std::string digest(char c) { return std::string(32, c); }

EventRecord make_event(std::uint64_t time_ns, const std::string& principal, bool allowed,
                       const std::string& system = "directory") {
  EventRecord r;
  v1::AccessEvent& e = r.event;
  e.set_time_ns(time_ns);
  e.set_agent_id("agent-1");
  e.set_protocol("ldap");
  e.set_transport(v1::TRANSPORT_TCP);
  e.mutable_src()->set_address(std::string("\x0a\x00\x00\x01", 4));
  e.mutable_src()->set_port(50000);
  e.mutable_dst()->set_address(std::string("\x0a\x00\x00\x02", 4));
  e.mutable_dst()->set_port(389);
  e.set_principal(principal);
  e.set_realm("CORP");
  e.set_action("bind");
  e.set_outcome(v1::OUTCOME_SUCCESS);
  e.set_code("0");
  (*e.mutable_detail())["mech"] = "simple";
  r.raw = e.SerializeAsString();
  r.decision.system = system;
  r.decision.allowed = allowed;
  if (!allowed) {
    r.decision.findings.push_back(Finding{"rbac.no_grant", Severity::kHigh, system,
                                          "The ldap bind by principal '" + principal +
                                              "' succeeded on system 'directory', and no grant "
                                              "allows it."});
  } else {
    r.decision.grant_id = "g1";
  }
  return r;
}

BatchRecord make_batch(const std::string& agent, std::uint64_t first, std::uint32_t count,
                       char header_tag, std::uint64_t time0 = 1'000'000'000'000) {
  BatchRecord b;
  b.agent_id = agent;
  b.first_sequence = first;
  b.count = count;
  b.header = std::string("header-") + header_tag;
  b.header_sha256 = digest(header_tag);
  b.signature = std::string(64, 's');
  b.raw_batch = std::string("raw\0batch", 9) + header_tag;
  b.agent_cert_pem = "-----BEGIN CERTIFICATE-----\n...\n";
  b.policy_digest = "abc123";
  b.received_ns = time0 + 500;
  for (std::uint32_t i = 0; i < count; ++i) {
    b.events.push_back(
        make_event(time0 + first + i, "user" + std::to_string(first + i), (first + i) % 2 == 0));
  }
  return b;
}

TEST_F(StoreTest, CreatesVersionedSchemaInWalMode) {
  EXPECT_TRUE(fs::exists(path_));
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
  sqlite3_stmt* st = nullptr;
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_EQ(sqlite3_column_int(st, 0), SqliteStore::kSchemaVersion);
  sqlite3_finalize(st);
  ASSERT_EQ(sqlite3_prepare_v2(db, "PRAGMA journal_mode", -1, &st, nullptr), SQLITE_OK);
  ASSERT_EQ(sqlite3_step(st), SQLITE_ROW);
  EXPECT_STREQ(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)), "wal");
  sqlite3_finalize(st);
  sqlite3_close(db);
  auto cs = store_->chain_state("nobody");
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->next_sequence, 0u);
  EXPECT_TRUE(cs->last_header_sha256.empty());
}

TEST_F(StoreTest, AppendAndQueryRoundTrip) {
  const BatchRecord b = make_batch("agent-1", 0, 4, 'a');
  auto r = store_->append_batch(b);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, AppendStatus::kStored);

  auto ev = store_->events({});
  ASSERT_TRUE(ev) << ev.error().describe();
  ASSERT_EQ(ev->size(), 4u);
  // Newest first; the event is the exact stored one.
  EXPECT_EQ((*ev)[0].event.sequence(), 3u);
  EXPECT_EQ((*ev)[3].event.sequence(), 0u);
  EXPECT_EQ((*ev)[3].event.SerializeAsString(), b.events[0].raw);
  EXPECT_EQ((*ev)[0].event.principal(), "user3");
  EXPECT_EQ((*ev)[0].event.detail().at("mech"), "simple");
  EXPECT_EQ((*ev)[0].system, "directory");
  EXPECT_FALSE((*ev)[0].allowed);
  EXPECT_TRUE((*ev)[1].allowed);

  auto br = store_->breaches({});
  ASSERT_TRUE(br) << br.error().describe();
  ASSERT_EQ(br->size(), 2u);  // sequences 1 and 3 were not allowed
  const StoredBreach& s = (*br)[0];
  EXPECT_EQ(s.kind, "policy");
  EXPECT_EQ(s.rule_id, "rbac.no_grant");
  EXPECT_EQ(s.severity, Severity::kHigh);
  EXPECT_EQ(s.status, "open");
  EXPECT_EQ(s.agent_id, "agent-1");
  EXPECT_EQ(s.principal, "user3");
  EXPECT_EQ(s.realm, "CORP");
  EXPECT_EQ(s.protocol, "ldap");
  EXPECT_EQ(s.system, "directory");
  EXPECT_EQ(s.src, "10.0.0.1:50000");
  EXPECT_EQ(s.dst, "10.0.0.2:389");
  EXPECT_EQ(s.policy_digest, "abc123");
  EXPECT_EQ(s.detected_ns, b.received_ns);
  EXPECT_EQ(s.event_time_ns, b.events[3].event.time_ns());
  ASSERT_TRUE(s.sequence);
  EXPECT_EQ(*s.sequence, 3u);
}

TEST_F(StoreTest, Filters) {
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 0, 4, 'a', 1000)));
  ASSERT_TRUE(store_->append_batch(make_batch("agent-2", 0, 2, 'b', 5000)));
  EventFilter f;
  f.agent_id = "agent-2";
  EXPECT_EQ(store_->events(f)->size(), 2u);
  f = {};
  f.principal = "USER2";  // case-insensitive
  auto ev = store_->events(f);
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].event.agent_id(), "agent-1");
  f = {};
  f.since_ns = 1002;
  f.until_ns = 5000;  // exclusive
  EXPECT_EQ(store_->events(f)->size(), 2u);
  f = {};
  f.limit = 3;
  ev = store_->events(f);
  ASSERT_EQ(ev->size(), 3u);
  EXPECT_EQ((*ev)[0].event.time_ns(), 5001u);
  f = {};
  f.protocol = "krb";
  EXPECT_EQ(store_->events(f)->size(), 0u);
  f = {};
  f.system = "directory";
  f.limit = 0;  // no limit
  EXPECT_EQ(store_->events(f)->size(), 6u);

  BreachFilter bf;
  bf.agent_id = "agent-1";
  EXPECT_EQ(store_->breaches(bf)->size(), 2u);
  bf = {};
  bf.rule_id = "rbac.no_grant";
  bf.principal = "user1";
  EXPECT_EQ(store_->breaches(bf)->size(), 2u);  // user1 of both agents
  bf.kind = "integrity";
  EXPECT_EQ(store_->breaches(bf)->size(), 0u);
}

TEST_F(StoreTest, DuplicateIsDetectedAndWritesNothing) {
  const BatchRecord b = make_batch("agent-1", 0, 3, 'a');
  ASSERT_EQ(*store_->append_batch(b), AppendStatus::kStored);
  auto r = store_->append_batch(b);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ(*r, AppendStatus::kDuplicate);
  EXPECT_EQ(side_count("batches"), 1);
  EXPECT_EQ(side_count("events"), 3);
  EXPECT_EQ(side_count("breaches"), 1);
}

TEST_F(StoreTest, ForkAndOverlapAreIntegrityErrors) {
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 0, 3, 'a')));
  auto fork = store_->append_batch(make_batch("agent-1", 0, 3, 'b'));
  ASSERT_FALSE(fork);
  EXPECT_EQ(fork.error().code, ErrorCode::kIntegrity);
  EXPECT_NE(fork.error().message.find("fork"), std::string::npos);
  auto overlap = store_->append_batch(make_batch("agent-1", 2, 3, 'c'));
  ASSERT_FALSE(overlap);
  EXPECT_EQ(overlap.error().code, ErrorCode::kIntegrity);
  EXPECT_EQ(side_count("batches"), 1);
  EXPECT_EQ(side_count("events"), 3);
  // Another agent may use the same sequence numbers.
  EXPECT_EQ(*store_->append_batch(make_batch("agent-2", 0, 3, 'b')), AppendStatus::kStored);
}

TEST_F(StoreTest, ChainStateAdvances) {
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 0, 3, 'a')));
  auto cs = store_->chain_state("agent-1");
  ASSERT_TRUE(cs);
  EXPECT_EQ(cs->next_sequence, 3u);
  EXPECT_EQ(cs->last_header_sha256, digest('a'));
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 3, 2, 'b')));
  cs = store_->chain_state("agent-1");
  EXPECT_EQ(cs->next_sequence, 5u);
  EXPECT_EQ(cs->last_header_sha256, digest('b'));
  // A later batch after a gap moves the chain on; filling the gap afterwards
  // does not move it back.
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 10, 2, 'd')));
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 5, 5, 'c')));
  cs = store_->chain_state("agent-1");
  EXPECT_EQ(cs->next_sequence, 12u);
  EXPECT_EQ(cs->last_header_sha256, digest('d'));
  EXPECT_EQ(store_->chain_state("agent-2")->next_sequence, 0u);
}

TEST_F(StoreTest, FailingInsertLeavesNothing) {
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 0, 2, 'a')));
  // Make the third event of the next batch fail inside the transaction.
  side_exec(
      "CREATE TRIGGER fail_seq4 BEFORE INSERT ON events WHEN NEW.sequence = 4 "
      "BEGIN SELECT RAISE(ABORT, 'injected failure'); END");
  open();  // a fresh connection sees the trigger in its prepared statements
  auto r = store_->append_batch(make_batch("agent-1", 2, 4, 'b'));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kStore);
  EXPECT_NE(r.error().message.find("injected failure"), std::string::npos) << r.error().message;
  EXPECT_EQ(side_count("batches"), 1);
  EXPECT_EQ(side_count("events"), 2);
  EXPECT_EQ(side_count("breaches"), 1);
  auto cs = store_->chain_state("agent-1");
  EXPECT_EQ(cs->next_sequence, 2u);
  EXPECT_EQ(cs->last_header_sha256, digest('a'));
  side_exec("DROP TRIGGER fail_seq4");
  open();
  EXPECT_EQ(*store_->append_batch(make_batch("agent-1", 2, 4, 'b')), AppendStatus::kStored);
}

TEST_F(StoreTest, FullDatabaseIsAnErrorNotSilence) {
  store_.reset();
  SqliteOptions o;
  o.max_pages = 40;
  auto s = SqliteStore::open(path_, o);
  ASSERT_TRUE(s) << s.error().describe();
  BatchRecord big = make_batch("agent-1", 0, 50, 'a');
  big.raw_batch = std::string(400 * 1024, 'x');
  auto r = (*s)->append_batch(big);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kStore);
  EXPECT_NE(r.error().message.find("full"), std::string::npos) << r.error().message;
  EXPECT_EQ((*s)->events({})->size(), 0u);
  EXPECT_EQ((*s)->chain_state("agent-1")->next_sequence, 0u);
}

TEST_F(StoreTest, RefusesInconsistentBatches) {
  BatchRecord b = make_batch("agent-1", 0, 3, 'a');
  b.count = 4;
  EXPECT_EQ(store_->append_batch(b).error().code, ErrorCode::kInvalidArgument);
  b = make_batch("agent-1", 0, 3, 'a');
  b.events[1].raw.clear();
  EXPECT_EQ(store_->append_batch(b).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(side_count("batches"), 0);
}

TEST_F(StoreTest, HostileStringsAreOnlyData) {
  const std::string evil = "x'); DROP TABLE events;--";
  BatchRecord b = make_batch("agent-1", 0, 1, 'a');
  b.events[0] = make_event(1, evil, false);
  ASSERT_TRUE(store_->append_batch(b));
  EventFilter f;
  f.principal = evil;
  auto ev = store_->events(f);
  ASSERT_TRUE(ev) << ev.error().describe();
  ASSERT_EQ(ev->size(), 1u);
  EXPECT_EQ((*ev)[0].event.principal(), evil);
  f.principal = "' OR '1'='1";
  EXPECT_EQ(store_->events(f)->size(), 0u);
  EXPECT_EQ(side_count("events"), 1);
  BreachFilter bf;
  bf.principal = evil;
  EXPECT_EQ(store_->breaches(bf)->size(), 1u);
}

TEST_F(StoreTest, IntegrityFindingStoredAndListed) {
  IntegrityFinding f;
  f.agent_id = "agent-9";
  f.rule_id = "integrity.bad_signature";
  f.severity = Severity::kCritical;
  f.explanation = "Batch at sequence 7 has a bad signature.";
  f.raw_batch = std::string("\x00\x01raw", 5);
  f.agent_cert_pem = "PEM";
  f.detected_ns = 42;
  ASSERT_TRUE(store_->record_integrity_finding(f));
  BreachFilter bf;
  bf.kind = "integrity";
  auto br = store_->breaches(bf);
  ASSERT_TRUE(br);
  ASSERT_EQ(br->size(), 1u);
  const StoredBreach& b = (*br)[0];
  EXPECT_EQ(b.kind, "integrity");
  EXPECT_EQ(b.rule_id, "integrity.bad_signature");
  EXPECT_EQ(b.severity, Severity::kCritical);
  EXPECT_EQ(b.agent_id, "agent-9");
  EXPECT_EQ(b.detected_ns, 42u);
  EXPECT_EQ(b.event_time_ns, 0u);
  EXPECT_FALSE(b.sequence);
  EXPECT_EQ(b.explanation, f.explanation);
  bf.kind = "policy";
  EXPECT_EQ(store_->breaches(bf)->size(), 0u);
}

TEST_F(StoreTest, ReopenKeepsData) {
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 0, 3, 'a')));
  open();
  EXPECT_EQ(store_->events({})->size(), 3u);
  EXPECT_EQ(store_->chain_state("agent-1")->next_sequence, 3u);
  EXPECT_EQ(*store_->append_batch(make_batch("agent-1", 0, 3, 'a')), AppendStatus::kDuplicate);
}

TEST_F(StoreTest, ReadOnlyOpen) {
  ASSERT_TRUE(store_->append_batch(make_batch("agent-1", 0, 2, 'a')));
  SqliteOptions ro;
  ro.read_only = true;
  auto r = SqliteStore::open(path_, ro);
  ASSERT_TRUE(r) << r.error().describe();
  EXPECT_EQ((*r)->events({})->size(), 2u);
  EXPECT_FALSE((*r)->append_batch(make_batch("agent-1", 2, 1, 'b')));
  auto missing = SqliteStore::open((dir_ / "missing.db").string(), ro);
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("missing.db"), std::string::npos);
  EXPECT_FALSE(fs::exists(dir_ / "missing.db"));
  // An empty SQLite file is not a vagt store.
  sqlite3* db = nullptr;
  ASSERT_EQ(sqlite3_open((dir_ / "other.db").c_str(), &db), SQLITE_OK);
  sqlite3_exec(db, "CREATE TABLE t(x)", nullptr, nullptr, nullptr);
  sqlite3_close(db);
  auto other = SqliteStore::open((dir_ / "other.db").string(), ro);
  ASSERT_FALSE(other);
  EXPECT_NE(other.error().message.find("not a vagt"), std::string::npos);
}

TEST_F(StoreTest, ConcurrentAppendsAndQueries) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string agent = "agent-" + std::to_string(t);
      for (std::uint64_t i = 0; i < 10; ++i) {
        auto r = store_->append_batch(make_batch(agent, i * 3, 3, static_cast<char>('a' + i)));
        EXPECT_TRUE(r) << r.error().describe();
        EXPECT_TRUE(store_->events({}));
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(side_count("events"), 4 * 10 * 3);
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ(store_->chain_state("agent-" + std::to_string(t))->next_sequence, 30u);
  }
}

TEST_F(StoreTest, RefusesNewerSchema) {
  store_.reset();
  side_exec("PRAGMA user_version = 99");
  auto s = SqliteStore::open(path_);
  ASSERT_FALSE(s);
  EXPECT_NE(s.error().message.find("newer"), std::string::npos);
}

}  // namespace
}  // namespace vagt::collector
