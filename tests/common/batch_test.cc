#include "common/batch.h"

#include <gtest/gtest.h>

#include "tests/common/test_cert.h"

namespace vagt {
namespace {

class BatchTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto k = crypto::PrivateKey::generate_ed25519();
    ASSERT_TRUE(k);
    cert_.emplace(testing::self_signed(*k, "agent-1"));
    signer_.emplace("agent-1", std::move(*k), std::string(16, '\x42'));
  }

  std::vector<v1::AccessEvent> events(int n, std::uint64_t t0 = 1'700'000'000'000'000'000ULL) {
    std::vector<v1::AccessEvent> out;
    for (int i = 0; i < n; ++i) {
      v1::AccessEvent e;
      e.set_time_ns(t0 + static_cast<std::uint64_t>(i));
      e.set_protocol("ldap");
      e.set_principal("user" + std::to_string(i));
      e.set_outcome(v1::OUTCOME_SUCCESS);
      out.push_back(e);
    }
    return out;
  }

  v1::Batch sign(int n) {
    auto ev = events(n);
    auto b = signer_->sign(ev, 1);
    EXPECT_TRUE(b);
    return *b;
  }

  BatchCheck verify(const v1::Batch& b) { return verify_batch(b, *cert_, "agent-1"); }

  std::optional<crypto::Certificate> cert_;
  std::optional<ChainSigner> signer_;
};

TEST_F(BatchTest, SignedBatchVerifies) {
  auto b = sign(5);
  auto check = verify(b);
  ASSERT_TRUE(check.batch) << check.rejection->explanation;
  EXPECT_EQ(check.batch->header.first_sequence(), 0u);
  EXPECT_EQ(check.batch->header.count(), 5u);
  EXPECT_EQ(check.batch->header.prev_header_sha256(), genesis_link());
  ASSERT_EQ(check.batch->events.size(), 5u);
  EXPECT_EQ(check.batch->events[3].sequence(), 3u);
  EXPECT_EQ(check.batch->events[3].agent_id(), "agent-1");
}

TEST_F(BatchTest, ChainLinksConsecutiveHeaders) {
  auto first = sign(2);
  auto second = sign(3);
  auto c1 = verify(first), c2 = verify(second);
  ASSERT_TRUE(c1.batch && c2.batch);
  EXPECT_EQ(c2.batch->header.first_sequence(), 2u);
  EXPECT_EQ(c2.batch->header.prev_header_sha256(), c1.batch->header_sha256);
}

TEST_F(BatchTest, ResumeContinuesFromGivenPoint) {
  signer_->resume(100, std::string(32, '\x07'));
  auto b = sign(1);
  auto c = verify(b);
  ASSERT_TRUE(c.batch);
  EXPECT_EQ(c.batch->header.first_sequence(), 100u);
  EXPECT_EQ(c.batch->header.prev_header_sha256(), std::string(32, '\x07'));
}

TEST_F(BatchTest, EveryFlippedHeaderByteIsRejected) {
  auto b = sign(3);
  for (std::size_t i = 0; i < b.header().size(); ++i) {
    v1::Batch t = b;
    (*t.mutable_header())[i] ^= 0x01;
    auto c = verify(t);
    ASSERT_TRUE(c.rejection) << "byte " << i;
    EXPECT_EQ(c.rejection->finding_id, "integrity.bad_signature");
  }
}

TEST_F(BatchTest, EveryFlippedSignatureByteIsRejected) {
  auto b = sign(3);
  for (std::size_t i = 0; i < b.signature().size(); ++i) {
    v1::Batch t = b;
    (*t.mutable_signature())[i] ^= 0x80;
    auto c = verify(t);
    ASSERT_TRUE(c.rejection) << "byte " << i;
    EXPECT_EQ(c.rejection->finding_id, "integrity.bad_signature");
  }
}

TEST_F(BatchTest, EveryFlippedEventByteIsRejected) {
  auto b = sign(3);
  for (int e = 0; e < b.events_size(); ++e) {
    for (std::size_t i = 0; i < b.events(e).size(); ++i) {
      v1::Batch t = b;
      (*t.mutable_events(e))[i] ^= 0x01;
      auto c = verify(t);
      ASSERT_TRUE(c.rejection) << "event " << e << " byte " << i;
      EXPECT_EQ(c.rejection->finding_id, "integrity.merkle_mismatch");
    }
  }
}

TEST_F(BatchTest, DroppedReorderedOrAddedEventsAreRejected) {
  auto b = sign(3);
  v1::Batch dropped = b;
  dropped.mutable_events()->RemoveLast();
  EXPECT_EQ(verify(dropped).rejection->finding_id, "integrity.count_mismatch");
  v1::Batch swapped = b;
  swapped.mutable_events()->SwapElements(0, 1);
  EXPECT_EQ(verify(swapped).rejection->finding_id, "integrity.merkle_mismatch");
  v1::Batch added = b;
  added.add_events(b.events(0));
  EXPECT_EQ(verify(added).rejection->finding_id, "integrity.count_mismatch");
}

TEST_F(BatchTest, FlippedChainLinkIsRejected) {
  // The link is inside the signed header: changing it breaks the signature.
  auto b = sign(1);
  v1::BatchHeader h;
  ASSERT_TRUE(h.ParseFromString(b.header()));
  std::string link = h.prev_header_sha256();
  link[0] ^= 1;
  h.set_prev_header_sha256(link);
  v1::Batch t = b;
  h.SerializeToString(t.mutable_header());
  EXPECT_EQ(verify(t).rejection->finding_id, "integrity.bad_signature");
}

TEST_F(BatchTest, AnotherAgentsCertificateIsRejected) {
  auto b = sign(1);
  auto other_key = crypto::PrivateKey::generate_ed25519();
  auto other = testing::self_signed(*other_key, "agent-1");
  EXPECT_EQ(verify_batch(b, other, "agent-1").rejection->finding_id, "integrity.bad_signature");
  EXPECT_EQ(verify_batch(b, *cert_, "agent-2").rejection->finding_id,
            "integrity.identity_mismatch");
}

TEST_F(BatchTest, BatchLargerThanLimitIsRejected) {
  auto b = sign(10);
  BatchLimits limits;
  limits.max_events = 5;
  EXPECT_EQ(verify_batch(b, *cert_, "agent-1", limits).rejection->finding_id,
            "integrity.batch_too_large");
}

}  // namespace
}  // namespace vagt
