#include "agent/dissect/hl7/hl7_dissector.h"

#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

constexpr std::uint8_t kStartBlock = 0x0B;
constexpr std::uint8_t kEndBlock = 0x1C;
constexpr std::uint8_t kCarriageReturn = 0x0D;

// One parsed message: the fields the events need, as written (bounded UTF-8).
struct Message {
  std::string sending_application;
  std::string sending_facility;
  std::string receiving_application;
  std::string receiving_facility;
  std::string message_type;  // "ADT^A01"
  std::string message_code;  // "ADT"
  std::string trigger;       // "A01"
  std::string control_id;
  std::string version;
  std::string operator_id;              // EVN-5.1
  std::string patient;                  // pseudonym of PID-3.1
  std::string location;                 // PV1-3 as written
  std::string department;               // PV1-3.1
  std::optional<std::string> ack_code;  // MSA-1
  std::string ack_control_id;           // MSA-2
};

std::vector<std::string_view> split(std::string_view s, char sep, std::size_t max_parts = 256) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (out.size() + 1 < max_parts) {
    const std::size_t j = s.find(sep, i);
    if (j == std::string_view::npos) break;
    out.push_back(s.substr(i, j - i));
    i = j + 1;
  }
  out.push_back(s.substr(i));
  return out;
}

std::string field_text(std::string_view s) { return sanitize_utf8(as_bytes(s), 256); }

class Hl7Session final : public StreamSession {
 public:
  Hl7Session(const PatientIds& patients, SessionOutput& out) : patients_(patients), out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction direction, std::uint64_t length, std::uint64_t time_ns) override;
  void on_close(std::uint64_t time_ns) override;
  bool wants_data() const override { return !stopped_; }

 private:
  struct Pending {
    Message message;
    std::uint64_t time_ns = 0;
  };

  std::optional<Message> parse(std::string_view text);
  void on_message(std::string_view text, std::uint64_t time_ns);
  void emit(const Pending& p, const std::optional<std::string>& ack_code);

  const PatientIds& patients_;
  SessionOutput& out_;
  std::vector<std::uint8_t> buffer_[2];
  bool stopped_ = false;
  std::map<std::string, Pending> pending_;  // control id -> unacknowledged message
};

std::optional<Message> Hl7Session::parse(std::string_view text) {
  // MSH|^~\&|...: MSH-1 is the character after "MSH", MSH-2 the encoding
  // characters (component, repetition, escape, subcomponent).
  if (text.size() < 8 || text.substr(0, 3) != "MSH") return std::nullopt;
  const char field_sep = text[3];
  const char component_sep = text[4];
  const char repetition_sep = text[5];
  if (field_sep == component_sep || field_sep == '\r' || field_sep == '\n') return std::nullopt;

  Message m;
  std::size_t segments = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t end = text.find_first_of("\r\n", i);
    if (end == std::string_view::npos) end = text.size();  // the last segment may lack its CR
    const std::string_view segment = text.substr(i, end - i);
    i = end + 1;
    if (segment.empty()) continue;
    if (++segments > Hl7Dissector::kMaxSegments) {
      out_.anomaly("hl7.too_many_segments");
      break;
    }
    const std::vector<std::string_view> f = split(segment, field_sep);
    auto field = [&](std::size_t n) { return n < f.size() ? f[n] : std::string_view{}; };
    auto first_component = [&](std::string_view v) {
      v = v.substr(0, v.find(repetition_sep));
      return v.substr(0, v.find(component_sep));
    };
    const std::string_view name = f[0];
    if (name == "MSH") {
      // f[1] holds MSH-2, so MSH-n is f[n - 1].
      m.sending_application = field_text(field(2));
      m.sending_facility = field_text(field(3));
      m.receiving_application = field_text(field(4));
      m.receiving_facility = field_text(field(5));
      const std::vector<std::string_view> type = split(field(8), component_sep, 4);
      m.message_code = field_text(type[0]);
      if (type.size() > 1) m.trigger = field_text(type[1]);
      m.message_type = m.trigger.empty() ? m.message_code : m.message_code + "^" + m.trigger;
      m.control_id = field_text(field(9));
      m.version = field_text(first_component(field(11)));
    } else if (name == "EVN") {
      m.operator_id = field_text(first_component(field(5)));
    } else if (name == "PID" && m.patient.empty()) {
      const std::string_view id = first_component(field(3));
      m.patient = patients_.pseudonym(id);
    } else if (name == "PV1") {
      m.location = field_text(field(3));
      m.department = field_text(first_component(field(3)));
    } else if (name == "MSA") {
      m.ack_code = field_text(field(1));
      m.ack_control_id = field_text(field(2));
    }
  }
  return m;
}

void Hl7Session::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  auto& buf = buffer_[static_cast<std::size_t>(direction)];
  buf.insert(buf.end(), data.begin(), data.end());
  std::size_t pos = 0;
  while (pos < buf.size()) {
    const ByteView rest = ByteView(buf).subspan(pos);
    if (rest[0] != kStartBlock) {
      // Bytes outside a frame (after a gap, or a peer that is not MLLP).
      std::size_t skip = 1;
      while (skip < rest.size() && rest[skip] != kStartBlock) ++skip;
      out_.anomaly("hl7.bytes_outside_frame");
      pos += skip;
      continue;
    }
    std::size_t end = 1;
    while (end + 1 < rest.size() && !(rest[end] == kEndBlock && rest[end + 1] == kCarriageReturn))
      ++end;
    if (end + 1 >= rest.size()) {
      if (rest.size() > Hl7Dissector::kMaxMessageBytes) {
        out_.anomaly("hl7.message_too_large");
        stopped_ = true;
      }
      break;
    }
    on_message(as_chars(rest.subspan(1, end - 1)), time_ns);
    pos += end + 2;
  }
  if (stopped_) {
    buffer_[0] = {};
    buffer_[1] = {};
    return;
  }
  buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(pos));
}

void Hl7Session::on_message(std::string_view text, std::uint64_t time_ns) {
  std::optional<Message> m = parse(text);
  if (!m) {
    out_.anomaly("hl7.malformed_message");
    return;
  }
  if (m->ack_code) {
    auto it = pending_.find(m->ack_control_id);
    if (it == pending_.end()) {
      out_.anomaly("hl7.ack_without_message");
      return;
    }
    emit(it->second, m->ack_code);
    pending_.erase(it);
    return;
  }
  if (pending_.size() >= Hl7Dissector::kMaxPendingMessages && !pending_.contains(m->control_id)) {
    out_.anomaly("hl7.too_many_pending");
    emit(Pending{std::move(*m), time_ns}, std::nullopt);
    return;
  }
  if (auto it = pending_.find(m->control_id); it != pending_.end()) {
    // The same control id again (a resend): the first is not answered.
    emit(it->second, std::nullopt);
    pending_.erase(it);
  }
  std::string id = m->control_id;
  pending_.emplace(std::move(id), Pending{std::move(*m), time_ns});
}

void Hl7Session::emit(const Pending& p, const std::optional<std::string>& ack_code) {
  const Message& m = p.message;
  v1::AccessEvent event;
  event.set_time_ns(p.time_ns);
  event.set_protocol("hl7");
  event.set_action(m.message_code == "ADT" ? "adt" : "message");
  event.set_principal(m.operator_id);
  event.set_patient(m.patient);
  event.set_resource(m.location);
  auto& d = *event.mutable_detail();
  d["message_type"] = m.message_type;
  if (!m.trigger.empty()) d["trigger"] = m.trigger;
  d["control_id"] = m.control_id;
  d["sending_application"] = m.sending_application;
  d["sending_facility"] = m.sending_facility;
  d["receiving_application"] = m.receiving_application;
  d["receiving_facility"] = m.receiving_facility;
  if (!m.version.empty()) d["hl7_version"] = m.version;
  if (!m.department.empty()) d["department"] = m.department;
  if (!ack_code) {
    event.set_outcome(v1::OUTCOME_UNKNOWN);
  } else {
    d["ack_code"] = *ack_code;
    event.set_code(*ack_code);
    if (*ack_code == "AA" || *ack_code == "CA") {
      event.set_outcome(v1::OUTCOME_SUCCESS);
    } else if (*ack_code == "AE" || *ack_code == "AR" || *ack_code == "CE" || *ack_code == "CR") {
      event.set_outcome(v1::OUTCOME_FAILURE);
    } else {
      event.set_outcome(v1::OUTCOME_UNKNOWN);
      out_.anomaly("hl7.unknown_ack_code");
    }
  }
  out_.emit(std::move(event));
}

void Hl7Session::on_gap(Direction direction, std::uint64_t /*length*/, std::uint64_t) {
  if (stopped_) return;
  // The next 0x0B starts a frame again.
  buffer_[static_cast<std::size_t>(direction)].clear();
  out_.anomaly("hl7.gap");
}

void Hl7Session::on_close(std::uint64_t /*time_ns*/) {
  if (!stopped_ && (!buffer_[0].empty() || !buffer_[1].empty()))
    out_.anomaly("hl7.truncated_message");
  for (const auto& [id, p] : pending_) emit(p, std::nullopt);
  pending_.clear();
}

}  // namespace

std::unique_ptr<StreamSession> Hl7Dissector::new_session(const flow::FlowInfo& /*flow*/,
                                                         SessionOutput& out) const {
  return std::make_unique<Hl7Session>(patients_, out);
}

bool Hl7Dissector::sniff(ByteView data) const {
  return data.size() >= 4 && data[0] == kStartBlock && as_chars(data.subspan(1, 3)) == "MSH";
}

}  // namespace vagt::agent::dissect
