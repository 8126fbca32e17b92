// Ingest: LossNotice handling (verify, chain, finding, chain advance) and
// heartbeats, against a real SQLite store.

#include "collector/server/ingest.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "collector/store/sqlite/sqlite_store.h"
#include "tests/common/test_cert.h"

namespace vagt::collector {
namespace {

namespace fs = std::filesystem;

class IngestLossTest : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = fs::temp_directory_path() /
            ("vagt_ingest_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name() + ".db");
    fs::remove(path_);
    auto store = SqliteStore::open(path_.string());
    ASSERT_TRUE(store);
    store_ = std::move(*store);
    auto policy = load_policy_file(std::string(VAGT_SOURCE_DIR) + "/policies/example.yaml");
    ASSERT_TRUE(policy) << policy.error().describe();
    ingest_.emplace(*store_, *policy, IngestLimits{}, make_logger("ingest-test", "off"));
    auto key = crypto::PrivateKey::generate_ed25519();
    ASSERT_TRUE(key);
    cert_.emplace(testing::self_signed(*key, "agent-1"));
    signer_.emplace("agent-1", std::move(*key), std::string(16, 'b'));
  }
  void TearDown() override {
    ingest_.reset();
    store_.reset();
    for (const char* suffix : {"", "-wal", "-shm"}) fs::remove(path_.string() + suffix);
  }
  v1::Batch batch(std::size_t n) {
    std::vector<v1::AccessEvent> ev(n);
    for (std::size_t i = 0; i < n; ++i) {
      ev[i].set_time_ns(1'000 + i);
      ev[i].set_protocol("ldap");
      ev[i].set_action("bind");
    }
    auto b = signer_->sign(ev, now_ns());  // a time within the clock-skew bound
    EXPECT_TRUE(b);
    return *b;
  }
  BatchOutcome deliver(const v1::Batch& b) {
    v1::AgentMessage m;
    *m.mutable_batch() = b;
    return ingest_->on_batch("agent-1", *cert_, b, m.SerializeAsString());
  }
  BatchOutcome lose(const std::vector<v1::Batch>& lost, const std::string& reason) {
    v1::AgentMessage m;
    auto* n = m.mutable_loss();
    for (const auto& b : lost) {
      n->add_headers(b.header());
      n->add_signatures(b.signature());
    }
    n->set_reason(reason);
    return ingest_->on_loss("agent-1", *cert_, *n, m.SerializeAsString());
  }
  std::vector<StoredBreach> integrity() {
    BreachFilter f;
    f.kind = "integrity";
    return *store_->breaches(f);
  }

  fs::path path_;
  std::unique_ptr<SqliteStore> store_;
  std::optional<Ingest> ingest_;
  std::optional<crypto::Certificate> cert_;
  std::optional<ChainSigner> signer_;
};

TEST_F(IngestLossTest, VerifiedLossIsRecordedAndTheChainContinues) {
  ASSERT_TRUE(deliver(batch(3)).ack);
  const v1::Batch lost1 = batch(4), lost2 = batch(5);
  auto out = lose({lost1, lost2}, "spool_full");
  ASSERT_TRUE(out.ack);
  EXPECT_EQ(out.ack->next_sequence(), 12u);
  auto findings = integrity();
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].rule_id, "integrity.spool_loss");
  EXPECT_NE(findings[0].explanation.find("9 signed event(s)"), std::string::npos);
  EXPECT_NE(findings[0].explanation.find("sequences 3..11"), std::string::npos);
  EXPECT_NE(findings[0].explanation.find("spool_full"), std::string::npos);
  EXPECT_EQ(store_->chain_state("agent-1")->next_sequence, 12u);
  // The next batch links through the hole.
  auto next = deliver(batch(2));
  ASSERT_TRUE(next.ack);
  EXPECT_EQ(next.ack->next_sequence(), 14u);
  // A resent notice is acknowledged without a second finding.
  auto again = lose({lost1, lost2}, "spool_full");
  ASSERT_TRUE(again.ack);
  EXPECT_EQ(integrity().size(), 1u);
  EXPECT_EQ(ingest_->counters().events_lost.load(), 9u);
}

TEST_F(IngestLossTest, NoticeThatDoesNotChainIsRefused) {
  ASSERT_TRUE(deliver(batch(3)).ack);
  (void)batch(4);  // skipped: the notice leaves a hole
  auto out = lose({batch(5)}, "spool_full");
  ASSERT_TRUE(out.refusal);
  EXPECT_EQ(out.refusal->code(), "integrity.bad_loss_notice");
  EXPECT_EQ(store_->chain_state("agent-1")->next_sequence, 3u);
  ASSERT_EQ(integrity().size(), 1u);
  EXPECT_EQ(integrity()[0].rule_id, "integrity.bad_loss_notice");
}

TEST_F(IngestLossTest, ForgedSignatureIsRefused) {
  v1::Batch b = batch(2);
  b.mutable_signature()->front() ^= 1;
  auto out = lose({b}, "spool_full");
  ASSERT_TRUE(out.refusal);
  EXPECT_EQ(out.refusal->code(), "integrity.bad_loss_notice");
  EXPECT_EQ(store_->chain_state("agent-1")->next_sequence, 0u);
}

TEST_F(IngestLossTest, HeartbeatKeepsTheLastOne) {
  v1::Heartbeat hb;
  hb.set_time_ns(5);
  (*hb.mutable_counters())["events"] = 7;
  ingest_->on_heartbeat("agent-1", hb);
  (*hb.mutable_counters())["events"] = 9;
  (*hb.mutable_status())["files"] = "done";
  ingest_->on_heartbeat("agent-1", hb);
  auto rows = store_->heartbeats();
  ASSERT_TRUE(rows);
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].counters_json, R"({"events":9})");
  EXPECT_EQ((*rows)[0].status_json, R"({"files":"done"})");
}

}  // namespace
}  // namespace vagt::collector
