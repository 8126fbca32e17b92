#pragma once

// FTP control connections (RFC 959, RFC 4217 AUTH TLS) over TCP.
//
// Events (protocol "ftp", docs/events.md):
//  - "login": USER (principal) answered by 230 (success), or followed by
//    PASS / ACCT and their replies: 230 / 202 success, 4xx / 5xx (530 Login
//    incorrect) failure; code = the reply code. The PASS argument is never
//    read.
//  - "starttls": AUTH TLS/SSL answered 234; parsing stops there.
// Commands and replies are paired in order (multi-line replies and 1xx
// preliminary replies understood). Lines are at most kMaxLineBytes.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class FtpDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxLineBytes = 8 * 1024;
  static constexpr std::size_t kMaxPendingCommands = 64;

  std::string_view name() const override { return "ftp"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
};

}  // namespace vagt::agent::dissect
