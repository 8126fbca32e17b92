#include "agent/decode/json_lines.h"

#include "common/event_json.h"

namespace vagt::agent::decode {

std::string event_to_json_line(const v1::AccessEvent& event) {
  return event_to_json(event).dump(-1, ' ', false,
                                   nlohmann::ordered_json::error_handler_t::replace);
}

void JsonLinesWriter::on_event(v1::AccessEvent&& event) {
  out_ << event_to_json_line(event) << '\n';
  ++written_;
}

}  // namespace vagt::agent::decode
