#pragma once

// Events as JSON lines (one vagt::event_to_json object per line), the output
// of `vagt-agent decode`.

#include <cstdint>
#include <ostream>
#include <string>

#include "agent/decode/pipeline.h"

namespace vagt::agent::decode {

// One line, without the trailing newline. Invalid UTF-8 is replaced, never thrown.
std::string event_to_json_line(const v1::AccessEvent& event);

class JsonLinesWriter final : public EventSink {
 public:
  explicit JsonLinesWriter(std::ostream& out) : out_(out) {}
  void on_event(v1::AccessEvent&& event) override;
  std::uint64_t written() const { return written_; }

 private:
  std::ostream& out_;
  std::uint64_t written_ = 0;
};

}  // namespace vagt::agent::decode
