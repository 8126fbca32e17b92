// Spool: records survive restart, a torn tail and a flipped byte are dropped
// and counted (the flipped one becomes a loss when its header verifies), a
// full spool drops the oldest batches into losses, acks remove segments.

#include "agent/spool/spool.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "agent/spool/crc32c.h"
#include "common/batch.h"
#include "tests/common/test_cert.h"

namespace vagt::agent::spool {
namespace {

namespace fs = std::filesystem;

class SpoolTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("vagt_spool_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    auto key = crypto::PrivateKey::generate_ed25519();
    ASSERT_TRUE(key);
    cert_.emplace(testing::self_signed(*key, "agent-1"));
    signer_.emplace("agent-1", std::move(*key), std::string(16, 'b'));
  }
  void TearDown() override { fs::remove_all(dir_); }

  SpoolConfig config(std::uint64_t max_bytes = 1 << 20, std::uint64_t segment = 4096) {
    SpoolConfig c;
    c.dir = dir_.string();
    c.max_bytes = max_bytes;
    c.segment_bytes = segment;
    return c;
  }
  std::unique_ptr<Spool> open(const SpoolConfig& c) {
    auto pub = cert_->public_key();
    auto s = Spool::open(c, make_logger("spool-test", "off"),
                         [pub = std::make_shared<crypto::PublicKey>(std::move(*pub))](
                             const std::string& h, const std::string& sig) {
                           return pub->verify(as_bytes(h), as_bytes(sig));
                         });
    EXPECT_TRUE(s) << (s ? "" : s.error().describe());
    return s ? std::move(*s) : nullptr;
  }
  v1::Batch batch(std::size_t events) {
    std::vector<v1::AccessEvent> ev(events);
    for (auto& e : ev) {
      e.set_time_ns(1'700'000'000'000'000'000ull);
      e.set_protocol("ldap");
      e.set_principal("alice");
      e.set_resource(std::string(100, 'r'));
    }
    auto b = signer_->sign(ev, 1);
    EXPECT_TRUE(b);
    return *b;
  }
  std::vector<fs::path> segments() const {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir_))
      if (e.path().extension() == ".seg" && fs::file_size(e.path()) > 0) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }

  fs::path dir_;
  std::optional<crypto::Certificate> cert_;
  std::optional<ChainSigner> signer_;
};

TEST(Crc32c, KnownVectors) {
  EXPECT_EQ(crc32c(""), 0u);
  EXPECT_EQ(crc32c("123456789"), 0xE3069283u);  // RFC 3720 check value
  EXPECT_EQ(crc32c(std::string(32, '\0')), 0x8A9136AAu);
}

TEST_F(SpoolTest, AppendReadAckAndRestart) {
  {
    auto s = open(config());
    ASSERT_TRUE(s);
    EXPECT_FALSE(s->anchored());
    ASSERT_TRUE(s->anchor(0, ""));
    for (int i = 0; i < 10; ++i) ASSERT_TRUE(s->append(batch(3)));
    EXPECT_EQ(s->next_sequence(), 30u);
    EXPECT_EQ(s->batches(), 10u);
    auto r = s->record_at(27);  // in the open segment: not yet fsynced
    ASSERT_TRUE(r);
    EXPECT_FALSE(r->durable);
    ASSERT_TRUE(s->sync());
    EXPECT_TRUE(s->record_at(27)->durable);
    r = s->record_at(6);
    ASSERT_TRUE(r);
    auto payload = s->read(*r);
    ASSERT_TRUE(payload);
    v1::Batch b;
    ASSERT_TRUE(b.ParseFromString(*payload));
    EXPECT_EQ(b.header(), r->header);
    ASSERT_TRUE(s->ack_through(12));
    EXPECT_EQ(s->first_unacked(), 12u);
    ASSERT_TRUE(s->close());
  }
  auto s = open(config());
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->anchored());
  EXPECT_EQ(s->next_sequence(), 30u);
  EXPECT_EQ(s->last_header_sha256(), signer_->last_header_sha256());
  // Acks are not persisted per record: what is left of a segment is resent
  // (the collector dedups); fully acked segments are gone.
  ASSERT_TRUE(s->first_unacked());
  EXPECT_LE(*s->first_unacked(), 12u);
  ASSERT_TRUE(s->ack_through(30));
  EXPECT_TRUE(s->empty());
  EXPECT_TRUE(s->append(batch(1)));  // the chain continues after restart
  EXPECT_EQ(s->next_sequence(), 31u);
}

TEST_F(SpoolTest, AnchorSurvivesAnEmptySpool) {
  {
    auto s = open(config());
    ASSERT_TRUE(s->anchor(500, std::string(32, 'h')));
    ASSERT_TRUE(s->close());
  }
  auto s = open(config());
  EXPECT_TRUE(s->anchored());
  EXPECT_EQ(s->next_sequence(), 500u);
  EXPECT_EQ(s->last_header_sha256(), std::string(32, 'h'));
  EXPECT_FALSE(s->anchor(0, ""));  // anchoring twice is refused
}

TEST_F(SpoolTest, TornTailIsDroppedAndCounted) {
  {
    auto s = open(config(1 << 20, 1 << 20));
    ASSERT_TRUE(s->anchor(0, ""));
    for (int i = 0; i < 4; ++i) ASSERT_TRUE(s->append(batch(2)));
    ASSERT_TRUE(s->close());
  }
  auto segs = segments();
  ASSERT_EQ(segs.size(), 1u);
  fs::resize_file(segs[0], fs::file_size(segs[0]) - 7);
  auto s = open(config(1 << 20, 1 << 20));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->counters().torn_records, 1u);
  EXPECT_EQ(s->batches(), 3u);
  EXPECT_EQ(s->next_sequence(), 6u);  // the chain resumes after the last whole record
  ASSERT_TRUE(s->append(batch(2)).has_value() == false);  // signer is at 8: not continuous
  signer_->resume(s->next_sequence(), s->last_header_sha256());
  ASSERT_TRUE(s->append(batch(2)));
  EXPECT_EQ(s->next_sequence(), 8u);
}

TEST_F(SpoolTest, FlippedByteInEventsBecomesALoss) {
  std::string header_of_second;
  {
    auto s = open(config(1 << 20, 1 << 20));
    ASSERT_TRUE(s->anchor(0, ""));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->append(batch(2)));
    header_of_second = s->record_at(2)->header;
    ASSERT_TRUE(s->close());
  }
  auto segs = segments();
  ASSERT_EQ(segs.size(), 1u);
  // Flip the last byte of the second record (inside its events).
  const auto size = fs::file_size(segs[0]);
  const auto pos = static_cast<std::streamoff>(2 * size / 3 - 5);
  {
    std::fstream f(segs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(pos);
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(pos);
    f.write(&c, 1);
  }
  auto s = open(config(1 << 20, 1 << 20));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->counters().corrupt_records, 1u);
  EXPECT_EQ(s->counters().unrecoverable_records, 0u);
  EXPECT_EQ(s->batches(), 2u);
  EXPECT_FALSE(s->record_at(2));
  auto losses = s->losses();
  ASSERT_EQ(losses.size(), 1u);
  EXPECT_EQ(losses[0].first_sequence, 2u);
  EXPECT_EQ(losses[0].count, 2u);
  EXPECT_EQ(losses[0].header, header_of_second);
  EXPECT_EQ(losses[0].reason, "corrupt_record");
  EXPECT_EQ(s->next_sequence(), 6u);
}

TEST_F(SpoolTest, FlippedByteInHeaderIsUnrecoverable) {
  {
    auto s = open(config(1 << 20, 1 << 20));
    ASSERT_TRUE(s->anchor(0, ""));
    for (int i = 0; i < 3; ++i) ASSERT_TRUE(s->append(batch(2)));
    ASSERT_TRUE(s->close());
  }
  auto segs = segments();
  const auto size = fs::file_size(segs[0]);
  // The header sits at the start of each record's payload.
  const auto pos = static_cast<std::streamoff>(size / 3 + 8 + 20);
  {
    std::fstream f(segs[0], std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(pos);
    f.write("\x7f\x7f", 2);
  }
  auto s = open(config(1 << 20, 1 << 20));
  ASSERT_TRUE(s);
  EXPECT_EQ(s->counters().corrupt_records, 1u);
  EXPECT_EQ(s->counters().unrecoverable_records, 1u);
  EXPECT_EQ(s->batches(), 2u);
  EXPECT_TRUE(s->losses().empty());
}

TEST_F(SpoolTest, FullSpoolDropsOldestIntoLosses) {
  auto s = open(config(3 * 2048, 2048));
  ASSERT_TRUE(s->anchor(0, ""));
  std::uint64_t appended = 0;
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(s->append(batch(2)));
    appended += 2;
  }
  EXPECT_LE(s->bytes(), 3u * 2048u);
  const auto c = s->counters();
  EXPECT_GT(c.dropped_batches, 0u);
  auto losses = s->losses();
  ASSERT_EQ(losses.size(), c.dropped_batches);
  EXPECT_EQ(c.dropped_events, 2 * c.dropped_batches);
  // Losses are the oldest batches, contiguous from sequence 0, and the
  // spool holds exactly the rest.
  std::uint64_t seq = 0;
  for (const auto& l : losses) {
    EXPECT_EQ(l.first_sequence, seq);
    EXPECT_EQ(l.reason, "spool_full");
    seq += l.count;
  }
  EXPECT_EQ(s->first_unacked(), seq);
  EXPECT_EQ(seq + 2 * s->batches(), appended);
  // Losses survive a restart until acked.
  ASSERT_TRUE(s->close());
  s.reset();
  s = open(config(3 * 2048, 2048));
  EXPECT_EQ(s->losses().size(), losses.size());
  ASSERT_TRUE(s->ack_through(seq));
  EXPECT_TRUE(s->losses().empty());
}

TEST_F(SpoolTest, ConfigIsChecked) {
  auto c = config(100, 4096);
  EXPECT_FALSE(Spool::open(c, make_logger("spool-test", "off")));
}

}  // namespace
}  // namespace vagt::agent::spool
