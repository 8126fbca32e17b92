// The evidence ledger end to end without the network: batches through
// Ingest, signed tree heads, then vagtctl verify's checks against a store
// edited behind the collector's back through the raw sqlite3 API.

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "collector/ledger/head_signer.h"
#include "collector/ledger/verify.h"
#include "collector/server/ingest.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/batch.h"
#include "common/merkle.h"
#include "tests/common/test_cert.h"

namespace vagt::collector {
namespace {

namespace fs = std::filesystem;

v1::AccessEvent event(std::uint64_t t, const std::string& principal) {
  v1::AccessEvent e;
  e.set_time_ns(t);
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
  return e;
}

class LedgerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (fs::temp_directory_path() / "vagt-ledger-XXXXXX").string();
    dir_ = mkdtemp(tmpl.data());
    path_ = (dir_ / "collector.db").string();
    auto s = SqliteStore::open(path_);
    ASSERT_TRUE(s) << s.error().describe();
    store_ = std::move(*s);
    auto policy = load_policy_file(std::string(VAGT_SOURCE_DIR) + "/policies/example.yaml");
    ASSERT_TRUE(policy) << policy.error().message;
    ingest_ = std::make_unique<Ingest>(*store_, *policy, IngestLimits{},
                                       make_logger("test-ingest", "off"));
    auto key = crypto::PrivateKey::generate_ed25519();
    ASSERT_TRUE(key);
    agent_cert_.emplace(testing::self_signed(*key, "agent-1"));
    signer_.emplace("agent-1", std::move(*key), std::string(16, '\x01'));
    auto ckey = crypto::PrivateKey::generate_ed25519();
    ASSERT_TRUE(ckey);
    collector_cert_pem_ = testing::self_signed(*ckey, "vagt-collector").pem();
    heads_.emplace(*store_, std::move(*ckey), collector_cert_pem_);
  }
  void TearDown() override {
    heads_.reset();
    ingest_.reset();
    store_.reset();
    fs::remove_all(dir_);
  }

  v1::Batch sign(int n, std::uint64_t t0 = 0) {
    if (t0 == 0) t0 = now_ns();
    std::vector<v1::AccessEvent> events;
    for (int i = 0; i < n; ++i) events.push_back(event(t0 + i, "user" + std::to_string(i)));
    auto b = signer_->sign(events, t0);
    EXPECT_TRUE(b);
    return *b;
  }
  BatchOutcome send(const v1::Batch& b) {
    v1::AgentMessage m;
    *m.mutable_batch() = b;
    return ingest_->on_batch("agent-1", *agent_cert_, b, m.SerializeAsString());
  }
  // Three batches of events (some breach the example policy), a signed head.
  void populate() {
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(send(sign(3)).ack);
    auto h = heads_->sign_if_grown(1'700'000'001'000'000'000);
    ASSERT_TRUE(h) << h.error().describe();
    ASSERT_TRUE(*h);
  }
  ledger::VerifyReport verify() {
    SqliteOptions ro;
    ro.read_only = true;
    auto s = SqliteStore::open(path_, ro);
    EXPECT_TRUE(s);
    auto r = ledger::verify_store(**s);
    EXPECT_TRUE(r) << r.error().describe();
    return r ? *r : ledger::VerifyReport{};
  }
  void side_exec(const std::string& sql) {
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open(path_.c_str(), &db), SQLITE_OK);
    char* err = nullptr;
    EXPECT_EQ(sqlite3_exec(db, sql.c_str(), nullptr, nullptr, &err), SQLITE_OK) << (err ? err : "");
    sqlite3_free(err);
    sqlite3_close(db);
  }
  static std::string first(const ledger::VerifyReport& r) {
    return r.problems.empty() ? "none"
                              : r.problems[0].table + " " + std::to_string(r.problems[0].id) +
                                    ": " + r.problems[0].what;
  }

  fs::path dir_;
  std::string path_;
  std::unique_ptr<SqliteStore> store_;
  std::unique_ptr<Ingest> ingest_;
  std::optional<crypto::Certificate> agent_cert_;
  std::optional<ChainSigner> signer_;
  std::string collector_cert_pem_;
  std::optional<ledger::HeadSigner> heads_;
};

TEST_F(LedgerTest, EveryRecordIsALeafAndAnUntouchedStoreVerifies) {
  populate();
  auto size = store_->ledger_size();
  ASSERT_TRUE(size);
  auto breaches = store_->breaches({});
  ASSERT_TRUE(breaches);
  // 3 batches + 9 events + their policy breaches.
  EXPECT_EQ(*size, 3u + 9u + breaches->size());
  const auto r = verify();
  EXPECT_TRUE(r.ok()) << first(r);
  EXPECT_EQ(r.batches, 3u);
  EXPECT_EQ(r.events, 9u);
  EXPECT_EQ(r.heads, 1u);
  EXPECT_EQ(r.signed_size, *size);
  EXPECT_EQ(r.leaves, *size);
  // Nothing new: no second head.
  auto again = heads_->sign_if_grown(1'700'000'002'000'000'000);
  ASSERT_TRUE(again);
  EXPECT_FALSE(*again);
}

TEST_F(LedgerTest, EditedEventRowIsNamed) {
  populate();
  side_exec("UPDATE events SET principal = 'someone-else' WHERE id = 5");
  const auto r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].table, "events");
  EXPECT_EQ(r.problems[0].id, 5);
  EXPECT_NE(r.problems[0].what.find("edited"), std::string::npos) << first(r);
}

TEST_F(LedgerTest, EditedRawBytesAreNamedEvenWithARecomputedLeaf) {
  populate();
  // An editor who knows the leaf encoding rewrites the row and its leaf: the
  // batch's signed Merkle leaf and the signed tree head still catch it.
  std::string raw;
  {
    auto ev = event(1, "mallory").SerializeAsString();
    raw = crypto::to_hex(as_bytes(ev));
  }
  side_exec("UPDATE events SET raw = X'" + raw + "' WHERE id = 2");
  {
    SqliteOptions ro;
    ro.read_only = true;
    auto s = SqliteStore::open(path_, ro);
    ASSERT_TRUE(s);
    std::string leaf_hex;
    ASSERT_TRUE((*s)->scan_records(ledger::kEvent, [&](const ledger::Row& row) -> Result<void> {
      if (std::get<std::int64_t>(row[0]) == 2)
        leaf_hex = crypto::to_hex(ledger::leaf_hash(ledger::kEvent.name, row));
      return {};
    }));
    ASSERT_FALSE(leaf_hex.empty());
    side_exec("UPDATE ledger SET leaf_hash = X'" + leaf_hex +
              "' WHERE kind = 'event' AND record_id = 2");
  }
  const auto r = verify();
  ASSERT_FALSE(r.ok());
  bool event_named = false, head_named = false;
  for (const auto& p : r.problems) {
    event_named = event_named || (p.table == "events" && p.id == 2 &&
                                  p.what.find("Merkle leaf") != std::string::npos);
    head_named = head_named || p.table == "tree_heads";
  }
  EXPECT_TRUE(event_named) << first(r);
  EXPECT_TRUE(head_named) << first(r);
}

TEST_F(LedgerTest, DeletedRowIsNamed) {
  populate();
  side_exec("PRAGMA foreign_keys = OFF; DELETE FROM breaches WHERE id = 1");
  const auto r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].table, "breaches");
  EXPECT_EQ(r.problems[0].id, 1);
  EXPECT_NE(r.problems[0].what.find("deleted"), std::string::npos) << first(r);
}

TEST_F(LedgerTest, InsertedRowIsNamed) {
  populate();
  side_exec(
      "INSERT INTO breaches (id, kind, rule_id, severity, agent_id, detected_ns, explanation) "
      "VALUES (999, 'policy', 'rbac.no_grant', 'high', 'agent-1', 1, 'made up')");
  const auto r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].table, "breaches");
  EXPECT_EQ(r.problems[0].id, 999);
  EXPECT_NE(r.problems[0].what.find("inserted"), std::string::npos) << first(r);
}

TEST_F(LedgerTest, DeletedBatchWithItsLeavesBreaksTheChainAndTheSignedHead) {
  populate();
  side_exec(
      "PRAGMA foreign_keys = OFF; DELETE FROM ledger WHERE idx = (SELECT MAX(idx) FROM ledger)");
  const auto r = verify();
  ASSERT_FALSE(r.ok());
  bool head = false;
  for (const auto& p : r.problems) head = head || p.table == "tree_heads";
  EXPECT_TRUE(head) << first(r);
}

TEST_F(LedgerTest, ForgedOrForeignTreeHeadIsNamed) {
  populate();
  side_exec("UPDATE tree_heads SET tree_size = tree_size - 1 WHERE id = 1");
  auto r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].table, "tree_heads");
  EXPECT_EQ(r.problems[0].id, 1);
  EXPECT_NE(r.problems[0].what.find("signature"), std::string::npos) << first(r);

  // A head signed by some other key verifies on its own certificate, but not
  // against the trusted collector certificate.
  side_exec("UPDATE tree_heads SET tree_size = tree_size + 1 WHERE id = 1");
  auto other = crypto::PrivateKey::generate_ed25519();
  ASSERT_TRUE(other);
  const std::string other_pem = testing::self_signed(*other, "impostor").pem();
  ledger::HeadSigner impostor(*store_, std::move(*other), other_pem);
  ASSERT_TRUE(send(sign(1)).ack);
  ASSERT_TRUE(impostor.sign_if_grown(1'700'000'003'000'000'000));
  SqliteOptions ro;
  ro.read_only = true;
  auto s = SqliteStore::open(path_, ro);
  ASSERT_TRUE(s);
  ledger::VerifyOptions opts;
  EXPECT_TRUE(ledger::verify_store(**s, opts)->ok());
  opts.trusted_cert_pem = collector_cert_pem_;
  auto pinned = ledger::verify_store(**s, opts);
  ASSERT_TRUE(pinned);
  ASSERT_FALSE(pinned->ok());
  EXPECT_EQ(pinned->problems[0].table, "tree_heads");
  EXPECT_EQ(pinned->problems[0].id, 2);
}

TEST_F(LedgerTest, SuccessiveHeadsAreConsistent) {
  populate();
  ASSERT_TRUE(send(sign(2)).ack);
  ASSERT_TRUE(heads_->sign_if_grown(1'700'000'002'000'000'000).value());
  auto r = verify();
  EXPECT_TRUE(r.ok()) << first(r);
  EXPECT_EQ(r.heads, 2u);
  // A head edited after it was signed (here its time) no longer verifies.
  side_exec("UPDATE tree_heads SET signed_ns = 1 WHERE id = 2");
  r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].table, "tree_heads");
  EXPECT_EQ(r.problems[0].id, 2);
}

TEST_F(LedgerTest, ForgedBatchIsRefusedAndRecordedNotStored) {
  populate();
  v1::Batch b = sign(2);
  b.mutable_events(0)->append("x");  // no longer the signed Merkle leaf
  const auto out = send(b);
  ASSERT_TRUE(out.refusal);
  EXPECT_EQ(out.refusal->code(), "integrity.merkle_mismatch");
  BreachFilter f;
  f.kind = "integrity";
  auto findings = store_->breaches(f);
  ASSERT_TRUE(findings);
  ASSERT_EQ(findings->size(), 1u);
  EXPECT_EQ(verify().batches, 3u);
  EXPECT_TRUE(verify().ok());  // the finding itself is a ledger record
}

TEST_F(LedgerTest, ResendOfTheLastBatchIsAckedReplayOfAnOldOneIsAFinding) {
  const v1::Batch b1 = sign(2);
  const v1::Batch b2 = sign(2);
  ASSERT_TRUE(send(b1).ack);
  ASSERT_TRUE(send(b2).ack);
  // The agent did not see the last ack and resends: acked, not stored twice.
  auto resend = send(b2);
  ASSERT_TRUE(resend.ack);
  EXPECT_EQ(resend.ack->next_sequence(), 4u);
  EXPECT_EQ(ingest_->counters().batches_duplicate.load(), 1u);
  // An old batch after the chain moved on: refused and recorded.
  auto replay = send(b1);
  ASSERT_TRUE(replay.refusal);
  EXPECT_EQ(replay.refusal->code(), "integrity.replay");
  BreachFilter f;
  f.rule_id = "integrity.replay";
  auto findings = store_->breaches(f);
  ASSERT_TRUE(findings);
  EXPECT_EQ(findings->size(), 1u);
  auto events = store_->events({});
  ASSERT_TRUE(events);
  EXPECT_EQ(events->size(), 4u);
  EXPECT_TRUE(verify().ok());
}

TEST_F(LedgerTest, EnrolmentChangesAreLedgerRecords) {
  EnrolmentChange c{"agent-1", std::string(64, 'a'), "enroll", 10, "alice", ""};
  ASSERT_TRUE(store_->record_enrolment(c));
  auto e = store_->enrolment("agent-1");
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->status, "enrolled");
  EXPECT_EQ((*e)->enrolled_by, "alice");
  c.action = "revoke";
  c.changed_ns = 20;
  c.operator_name = "bob";
  c.reason = "host decommissioned";
  ASSERT_TRUE(store_->record_enrolment(c));
  e = store_->enrolment("agent-1");
  ASSERT_TRUE(e && *e);
  EXPECT_EQ((*e)->status, "revoked");
  EXPECT_EQ((*e)->enrolled_by, "alice");
  EXPECT_EQ((*e)->changed_by, "bob");
  EXPECT_EQ((*e)->reason, "host decommissioned");
  EXPECT_EQ(store_->enrolments()->size(), 1u);
  EXPECT_FALSE(store_->enrolment("agent-2").value());
  EXPECT_EQ(store_->ledger_size().value(), 2u);
  EXPECT_TRUE(verify().ok());
  side_exec("UPDATE enrolments SET operator = 'mallory' WHERE id = 2");
  const auto r = verify();
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.problems[0].table, "enrolments");
  EXPECT_EQ(r.problems[0].id, 2);
}

TEST_F(LedgerTest, ClockSkewIsAFindingAndTheBatchIsStored) {
  const std::uint64_t two_days = 2ull * 86'400 * 1'000'000'000;
  const auto out = send(sign(2, now_ns() + two_days));
  ASSERT_TRUE(out.ack);
  EXPECT_EQ(out.ack->next_sequence(), 2u);
  BreachFilter f;
  f.rule_id = "integrity.clock_skew";
  auto findings = store_->breaches(f);
  ASSERT_TRUE(findings);
  ASSERT_EQ(findings->size(), 1u);
  EXPECT_EQ((*findings)[0].severity, Severity::kMedium);
  EXPECT_EQ(ingest_->counters().clock_skew_findings.load(), 1u);
  // Within the allowed skew (old packets from an offline capture): nothing.
  ASSERT_TRUE(send(sign(1, now_ns() - two_days / 4)).ack);
  EXPECT_EQ(store_->breaches(f)->size(), 1u);
  EXPECT_TRUE(verify().ok());
}

TEST(TokenBucket, SlowsDownInsteadOfDropping) {
  using namespace std::chrono_literals;
  const auto t0 = TokenBucket::Clock::now();
  TokenBucket bucket(10, 2, t0);  // 10 a second, 2 at once
  EXPECT_EQ(bucket.take(t0).count(), 0);
  EXPECT_EQ(bucket.take(t0).count(), 0);
  EXPECT_EQ(bucket.take(t0), std::chrono::nanoseconds(100ms));
  EXPECT_EQ(bucket.take(t0), std::chrono::nanoseconds(200ms));  // queued behind the last
  EXPECT_EQ(bucket.take(t0 + 10s).count(), 0);                  // refilled, capped at 2
  EXPECT_EQ(bucket.take(t0 + 10s).count(), 0);
  EXPECT_GT(bucket.take(t0 + 10s).count(), 0);
}

TEST_F(LedgerTest, AgentOverItsBatchRateIsThrottledPerAgent) {
  IngestLimits limits;
  limits.batches_per_second = 5;
  limits.batch_burst = 1;
  Ingest ingest(*store_, ingest_->policy(), limits, make_logger("test-throttle", "off"));
  EXPECT_EQ(ingest.throttle("agent-1").count(), 0);
  const auto wait = ingest.throttle("agent-1");
  EXPECT_GT(wait.count(), 0);
  EXPECT_LE(wait, std::chrono::milliseconds(200));
  EXPECT_EQ(ingest.throttle("agent-2").count(), 0);  // another agent has its own bucket
  EXPECT_EQ(ingest.counters().throttled_batches.load(), 1u);
  EXPECT_EQ(ingest_->throttle("agent-1").count(), 0);  // no limit configured: never waits
}

TEST_F(LedgerTest, SchemaOneStoreIsMigratedWithEveryRecordAsALeaf) {
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(send(sign(3)).ack);
  const auto records = store_->ledger_size().value();
  heads_.reset();
  ingest_.reset();
  store_.reset();
  // Back to schema 1: no ledger, no heads, no registry.
  side_exec(
      "DROP TABLE ledger; DROP TABLE tree_heads; DROP TABLE enrolments; PRAGMA user_version = 1");
  auto s = SqliteStore::open(path_);
  ASSERT_TRUE(s) << s.error().describe();
  store_ = std::move(*s);
  EXPECT_EQ(store_->ledger_size().value(), records);
  const auto r = verify();
  EXPECT_TRUE(r.ok()) << first(r);
  EXPECT_EQ(r.leaves, records);
  EXPECT_EQ(r.batches, 2u);
}

TEST_F(LedgerTest, LeafEncodingIsStable) {
  // Pinned: changing the encoding breaks every stored ledger (docs/evidence.md).
  const ledger::Row row{std::int64_t{7}, std::string("ab"), std::monostate{}};
  EXPECT_EQ(crypto::to_hex(as_bytes(ledger::encode_leaf("batch", row))),
            crypto::to_hex(as_bytes(std::string("vagt-ledger-leaf-v1\0\x05"
                                                "batch",
                                                26) +
                                    std::string("\0\0\0\x03", 4) +
                                    std::string("\x01\0\0\0\0\0\0\0\x07", 9) +
                                    std::string("\x02\0\0\0\x02"
                                                "ab",
                                                7) +
                                    std::string(1, '\0'))));
}

}  // namespace
}  // namespace vagt::collector
