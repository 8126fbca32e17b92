#include "common/result.h"

namespace vagt {

const char* to_string(ErrorCode code) noexcept {
  switch (code) {
    case ErrorCode::kInvalidArgument:
      return "invalid argument";
    case ErrorCode::kMalformed:
      return "malformed";
    case ErrorCode::kTooLarge:
      return "too large";
    case ErrorCode::kNotFound:
      return "not found";
    case ErrorCode::kIo:
      return "i/o error";
    case ErrorCode::kCrypto:
      return "crypto error";
    case ErrorCode::kIntegrity:
      return "integrity failure";
    case ErrorCode::kRefused:
      return "refused";
    case ErrorCode::kStore:
      return "store error";
    case ErrorCode::kTimeout:
      return "timeout";
    case ErrorCode::kInternal:
      return "internal error";
  }
  return "unknown error";
}

}  // namespace vagt
