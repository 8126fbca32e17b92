#include "common/framing.h"

#include <gtest/gtest.h>

#include "common/proto/vagt.pb.h"

namespace vagt {
namespace {

TEST(Framing, RoundTrip) {
  v1::AgentMessage m;
  m.mutable_hello()->set_protocol_version(1);
  m.mutable_hello()->set_agent_version("test");
  auto frame = encode_frame(m);
  ASSERT_TRUE(frame);
  std::array<std::uint8_t, 4> prefix{};
  std::copy_n(frame->begin(), 4, prefix.begin());
  auto len = decode_frame_length(prefix, kDefaultMaxFrameBytes);
  ASSERT_TRUE(len);
  EXPECT_EQ(*len + 4, frame->size());
  v1::AgentMessage back;
  ASSERT_TRUE(decode_frame_body(frame->substr(4), back));
  EXPECT_EQ(back.hello().agent_version(), "test");
}

TEST(Framing, LimitsAreEnforced) {
  EXPECT_EQ(decode_frame_length({0, 0, 0, 0}, 1024).error().code, ErrorCode::kMalformed);
  EXPECT_EQ(decode_frame_length({0xff, 0xff, 0xff, 0xff}, 1024).error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(decode_frame_length({0, 0, 4, 1}, 1024).error().code, ErrorCode::kTooLarge);
  EXPECT_EQ(*decode_frame_length({0, 0, 4, 0}, 1024), 1024u);
  v1::AgentMessage big;
  big.mutable_batch()->add_events(std::string(2000, 'x'));
  EXPECT_EQ(encode_frame(big, 1024).error().code, ErrorCode::kTooLarge);
}

TEST(Framing, GarbageBodyIsMalformedNotACrash) {
  v1::AgentMessage m;
  const std::string garbage("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01", 11);
  auto r = decode_frame_body(garbage, m);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kMalformed);
}

}  // namespace
}  // namespace vagt
