#include "common/framing.h"

namespace vagt {

Result<std::string> encode_frame(const google::protobuf::MessageLite& message,
                                 std::uint32_t max_frame_bytes) {
  const std::size_t size = message.ByteSizeLong();
  if (size == 0 || size > max_frame_bytes)
    return fail(ErrorCode::kTooLarge, "frame of " + std::to_string(size) + " bytes is outside 1.." +
                                          std::to_string(max_frame_bytes));
  std::string out(4 + size, '\0');
  out[0] = static_cast<char>((size >> 24) & 0xff);
  out[1] = static_cast<char>((size >> 16) & 0xff);
  out[2] = static_cast<char>((size >> 8) & 0xff);
  out[3] = static_cast<char>(size & 0xff);
  if (!message.SerializeToArray(out.data() + 4, static_cast<int>(size)))
    return fail(ErrorCode::kInternal, "protobuf serialization failed");
  return out;
}

Result<std::uint32_t> decode_frame_length(const std::array<std::uint8_t, 4>& p,
                                          std::uint32_t max_frame_bytes) {
  const std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                            (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
  if (len == 0) return fail(ErrorCode::kMalformed, "empty frame");
  if (len > max_frame_bytes)
    return fail(ErrorCode::kTooLarge, "frame of " + std::to_string(len) + " bytes exceeds limit " +
                                          std::to_string(max_frame_bytes));
  return len;
}

Result<void> decode_frame_body(const std::string& body, google::protobuf::MessageLite& message) {
  if (!message.ParseFromString(body))
    return fail(ErrorCode::kMalformed, "frame is not a valid protobuf message");
  return {};
}

}  // namespace vagt
