#pragma once

// Frames on the wire: 4-byte big-endian length, then one protobuf message.
// The length is checked against a hard limit before any byte is buffered.

#include <google/protobuf/message_lite.h>

#include <array>
#include <cstdint>
#include <string>

#include "common/result.h"

namespace vagt {

inline constexpr std::uint32_t kDefaultMaxFrameBytes = 8u << 20;  // 8 MiB
inline constexpr std::uint32_t kProtocolVersion = 1;

// Length prefix plus serialized message; error when it would exceed the limit.
Result<std::string> encode_frame(const google::protobuf::MessageLite& message,
                                 std::uint32_t max_frame_bytes = kDefaultMaxFrameBytes);

// Body length from a prefix; kTooLarge above the limit, kMalformed at zero.
Result<std::uint32_t> decode_frame_length(const std::array<std::uint8_t, 4>& prefix,
                                          std::uint32_t max_frame_bytes);

// Parse a frame body into `message`; kMalformed when protobuf refuses it.
Result<void> decode_frame_body(const std::string& body, google::protobuf::MessageLite& message);

}  // namespace vagt
