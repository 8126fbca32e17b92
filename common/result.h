#pragma once

// The one status type of vagt outside the data plane: Result<T> holds a value
// or an Error (a stable code plus a human message). Never add a second one.

#include <string>
#include <tl/expected.hpp>
#include <utility>

namespace vagt {

enum class ErrorCode {
  kInvalidArgument,  // caller gave something unusable (config, CLI, file content)
  kMalformed,        // bytes from outside did not parse
  kTooLarge,         // a size limit was exceeded
  kNotFound,
  kIo,         // file system or socket failure
  kCrypto,     // key, certificate, signature
  kIntegrity,  // a signature, chain or Merkle check failed
  kRefused,    // the peer or the policy said no
  kStore,      // database failure
  kTimeout,
  kInternal,
};

const char* to_string(ErrorCode code) noexcept;

struct Error {
  ErrorCode code = ErrorCode::kInternal;
  std::string message;

  std::string describe() const { return std::string(to_string(code)) + ": " + message; }
};

template <typename T>
using Result = tl::expected<T, Error>;

// `return fail(ErrorCode::kIo, "open " + path);` in any Result-returning function.
inline tl::unexpected<Error> fail(ErrorCode code, std::string message) {
  return tl::unexpected<Error>(Error{code, std::move(message)});
}

}  // namespace vagt
