#include "agent/dissect/dicom/dicom_dissector.h"

#include <array>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/dissect/framer.h"
#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

// PDU types (PS3.8 9.3).
constexpr std::uint8_t kAssociateRq = 0x01;
constexpr std::uint8_t kAssociateAc = 0x02;
constexpr std::uint8_t kAssociateRj = 0x03;
constexpr std::uint8_t kPData = 0x04;
constexpr std::uint8_t kReleaseRq = 0x05;
constexpr std::uint8_t kReleaseRp = 0x06;
constexpr std::uint8_t kAbort = 0x07;

// Items and sub-items.
constexpr std::uint8_t kItemPresentationContextRq = 0x20;
constexpr std::uint8_t kItemPresentationContextAc = 0x21;
constexpr std::uint8_t kItemTransferSyntax = 0x40;
constexpr std::uint8_t kItemUserInformation = 0x50;
constexpr std::uint8_t kSubItemUserIdentity = 0x58;

constexpr std::string_view kImplicitVrLittleEndian = "1.2.840.10008.1.2";
constexpr std::string_view kDeflatedExplicitVr = "1.2.840.10008.1.2.1.99";

constexpr std::uint32_t kUndefinedLength = 0xFFFFFFFF;

// Command elements, group 0000 (PS3.7 E.1).
constexpr std::uint16_t kAffectedSopClass = 0x0002;
constexpr std::uint16_t kCommandField = 0x0100;
constexpr std::uint16_t kMessageId = 0x0110;
constexpr std::uint16_t kMessageIdRespondedTo = 0x0120;
constexpr std::uint16_t kDataSetType = 0x0800;
constexpr std::uint16_t kStatus = 0x0900;
constexpr std::uint16_t kNoDataSet = 0x0101;

std::string_view command_name(std::uint16_t field) {
  switch (field & 0x7FFF) {
    case 0x0001:
      return "c-store";
    case 0x0010:
      return "c-get";
    case 0x0020:
      return "c-find";
    case 0x0021:
      return "c-move";
    case 0x0030:
      return "c-echo";
    default:
      return "";
  }
}

std::string ae_title(ByteView raw) { return std::string(trim_blanks(sanitize_utf8(raw, 16))); }

std::string uid_text(ByteView raw) {
  std::string s = sanitize_utf8(raw, 64);
  while (!s.empty() && (s.back() == '\0' || s.back() == ' ')) s.pop_back();
  return s;
}

std::string hex16(std::uint16_t v) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "0x%04X", v);
  return buf;
}

bool long_length_vr(std::string_view vr) {
  static constexpr std::array<std::string_view, 13> kLong = {
      "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"};
  for (std::string_view v : kLong) {
    if (vr == v) return true;
  }
  return false;
}

// Walks data set elements; returns false when the data runs out or is bad.
// `found` receives PatientID at the top level.
bool walk_elements(ByteReader& r, bool explicit_vr, int depth, bool top, std::string& found,
                   bool& done) {
  while (!done && r.remaining() >= 8) {
    const std::uint16_t group = r.u16le();
    const std::uint16_t element = r.u16le();
    if (group == 0xFFFE) {
      // Item delimiters end an undefined-length item or sequence.
      r.skip(4);
      if (element == 0xE00D || element == 0xE0DD) return true;
      return false;
    }
    std::uint32_t length = 0;
    bool sequence = false;
    if (explicit_vr) {
      const std::string_view vr = as_chars(r.bytes(2));
      if (long_length_vr(vr)) {
        r.skip(2);
        length = r.u32le();
      } else {
        length = r.u16le();
      }
      sequence = vr == "SQ";
    } else {
      length = r.u32le();
      sequence = length == kUndefinedLength;
    }
    if (!r.ok()) return false;
    if (top && (group > 0x0010 || (group == 0x0010 && element > 0x0020))) {
      done = true;  // elements are in ascending order: PatientID is not here
      return true;
    }
    if (top && group == 0x0010 && element == 0x0020) {
      if (length == kUndefinedLength) return false;
      const ByteView v = r.bytes(length);
      if (!r.ok()) return false;
      std::string s(as_chars(v));
      while (!s.empty() && (s.back() == ' ' || s.back() == '\0')) s.pop_back();
      found = std::move(s);
      done = true;
      return true;
    }
    if (length != kUndefinedLength) {
      if (length > r.remaining()) return false;
      r.skip(length);
      continue;
    }
    // Undefined length: a sequence of items (or encapsulated pixel data).
    if (!sequence || depth >= 8) return false;
    while (r.remaining() >= 8) {
      const std::uint16_t ig = r.u16le();
      const std::uint16_t ie = r.u16le();
      const std::uint32_t il = r.u32le();
      if (ig != 0xFFFE) return false;
      if (ie == 0xE0DD) break;  // end of the sequence
      if (ie != 0xE000) return false;
      if (il == kUndefinedLength) {
        bool inner_done = false;
        std::string ignored;
        if (!walk_elements(r, explicit_vr, depth + 1, false, ignored, inner_done)) return false;
      } else {
        if (il > r.remaining()) return false;
        r.skip(il);
      }
    }
    if (!r.ok()) return false;
  }
  return true;
}

struct PendingRequest {
  std::string action;
  std::string sop_class;
  std::string patient;
  std::uint64_t time_ns = 0;
};

class DicomSession final : public StreamSession {
 public:
  DicomSession(const PatientIds& patients, SessionOutput& out) : patients_(patients), out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction direction, std::uint64_t length, std::uint64_t time_ns) override;
  void on_close(std::uint64_t time_ns) override;
  bool wants_data() const override { return !stopped_; }

 private:
  struct Side {
    LengthFramer framer{6, DicomDissector::kMaxPduBytes};
    std::vector<std::uint8_t> command;                              // command fragments so far
    std::optional<std::pair<int, std::uint16_t>> awaiting_dataset;  // (dir, message id)
  };

  void stop(std::string_view id) {
    out_.anomaly(id);
    stopped_ = true;
  }
  void on_pdu(Direction direction, std::uint8_t type, ByteView body, std::uint64_t time_ns);
  void on_associate_rq(ByteView body, std::uint64_t time_ns);
  void on_associate_ac(ByteView body);
  void on_pdata(Direction direction, ByteView body, std::uint64_t time_ns);
  void on_command(Direction direction, std::uint8_t context, ByteView command,
                  std::uint64_t time_ns);
  void on_dataset_fragment(Direction direction, std::uint8_t context, ByteView data);
  v1::AccessEvent base_event(std::uint64_t time_ns, std::string action) const;
  void emit_association(std::optional<bool> accepted, std::optional<std::string> code,
                        std::map<std::string, std::string> extra);
  void emit_request(const PendingRequest& req, std::optional<std::uint16_t> status);

  const PatientIds& patients_;
  SessionOutput& out_;
  Side side_[2];
  bool stopped_ = false;

  // Association.
  bool association_open_ = false;  // RQ seen, no AC/RJ/abort yet
  std::uint64_t association_time_ns_ = 0;
  std::string calling_ae_;
  std::string called_ae_;
  std::string principal_;
  std::string identity_type_;
  std::map<std::uint8_t, std::string> proposed_abstract_;  // context id -> abstract syntax
  std::map<std::uint8_t, bool> explicit_vr_;               // accepted context -> explicit VR?
  std::map<std::pair<int, std::uint16_t>, PendingRequest> pending_;
};

void DicomSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  Side& side = side_[static_cast<std::size_t>(direction)];
  // PDU header: type, reserved, 4-byte big-endian length.
  auto length_of = [&](ByteView h) -> std::optional<std::uint64_t> {
    if (h[0] < kAssociateRq || h[0] > kAbort) {
      stop("dicom.unknown_pdu");
      return std::nullopt;
    }
    return (std::uint64_t{h[2]} << 24) | (std::uint64_t{h[3]} << 16) | (std::uint64_t{h[4]} << 8) |
           h[5];
  };
  auto oversize = [&](ByteView h, std::uint64_t) {
    if (h[0] != kPData) {
      stop("dicom.pdu_too_large");
      return false;
    }
    out_.anomaly("dicom.pdu_skipped");
    return true;
  };
  side.framer.feed(data, length_of, oversize, [&](ByteView h, ByteView body) {
    on_pdu(direction, h[0], body, time_ns);
    return !stopped_;
  });
  if (stopped_) {
    side_[0].framer.clear();
    side_[1].framer.clear();
  }
}

void DicomSession::on_pdu(Direction direction, std::uint8_t type, ByteView body,
                          std::uint64_t time_ns) {
  switch (type) {
    case kAssociateRq:
      on_associate_rq(body, time_ns);
      break;
    case kAssociateAc:
      on_associate_ac(body);
      break;
    case kAssociateRj: {
      ByteReader r(body);
      r.skip(1);
      const std::uint8_t result = r.u8();
      const std::uint8_t source = r.u8();
      const std::uint8_t reason = r.u8();
      if (!r.ok()) {
        out_.anomaly("dicom.malformed_pdu");
        return;
      }
      emit_association(false, std::to_string(reason),
                       {{"reject_result", std::to_string(result)},
                        {"reject_source", std::to_string(source)},
                        {"reject_reason", std::to_string(reason)}});
      break;
    }
    case kPData:
      on_pdata(direction, body, time_ns);
      break;
    case kReleaseRq:
    case kReleaseRp:
      break;
    case kAbort: {
      ByteView b = body;
      ByteReader r(b);
      r.skip(2);
      const std::uint8_t source = r.u8();
      const std::uint8_t reason = r.u8();
      std::map<std::string, std::string> extra;
      if (r.ok()) {
        extra = {{"abort_source", std::to_string(source)},
                 {"abort_reason", std::to_string(reason)}};
      }
      if (association_open_) emit_association(false, std::nullopt, extra);
      // What was asked and not answered stays unknown.
      for (const auto& [key, req] : pending_) emit_request(req, std::nullopt);
      pending_.clear();
      break;
    }
    default:
      break;
  }
}

void DicomSession::on_associate_rq(ByteView body, std::uint64_t time_ns) {
  ByteReader r(body);
  r.skip(4);  // protocol version, reserved
  const ByteView called = r.bytes(16);
  const ByteView calling = r.bytes(16);
  r.skip(32);
  if (!r.ok()) {
    out_.anomaly("dicom.malformed_associate");
    return;
  }
  if (association_open_) emit_association(std::nullopt, std::nullopt, {});
  association_open_ = true;
  association_time_ns_ = time_ns;
  called_ae_ = ae_title(called);
  calling_ae_ = ae_title(calling);
  principal_.clear();
  identity_type_.clear();
  proposed_abstract_.clear();
  explicit_vr_.clear();
  while (r.remaining() >= 4) {
    const std::uint8_t item = r.u8();
    r.skip(1);
    const std::uint16_t length = r.u16be();
    ByteReader v(r.bytes(length));
    if (!r.ok()) break;
    if (item == kItemPresentationContextRq) {
      const std::uint8_t id = v.u8();
      v.skip(3);
      while (v.remaining() >= 4) {
        const std::uint8_t sub = v.u8();
        v.skip(1);
        const ByteView value = v.bytes(v.u16be());
        if (sub == 0x30 && proposed_abstract_.size() < 256)
          proposed_abstract_[id] = uid_text(value);
      }
    } else if (item == kItemUserInformation) {
      while (v.remaining() >= 4) {
        const std::uint8_t sub = v.u8();
        v.skip(1);
        ByteReader s(v.bytes(v.u16be()));
        if (!v.ok() || sub != kSubItemUserIdentity) continue;
        // type, positive-response-requested, primary field; the secondary
        // field (type 2 passcode) is never read.
        const std::uint8_t identity_type = s.u8();
        s.skip(1);
        const ByteView primary = s.bytes(s.u16be());
        identity_type_ = std::to_string(identity_type);
        if (!s.ok()) {
          out_.anomaly("dicom.malformed_user_identity");
        } else if (identity_type == 1 || identity_type == 2) {
          principal_ = sanitize_utf8(primary, 256);
        }
      }
    }
  }
  if (!r.ok()) out_.anomaly("dicom.malformed_associate");
}

void DicomSession::on_associate_ac(ByteView body) {
  ByteReader r(body);
  r.skip(68);
  while (r.ok() && r.remaining() >= 4) {
    const std::uint8_t item = r.u8();
    r.skip(1);
    ByteReader v(r.bytes(r.u16be()));
    if (!r.ok() || item != kItemPresentationContextAc) continue;
    const std::uint8_t id = v.u8();
    v.skip(1);
    const std::uint8_t result = v.u8();
    v.skip(1);
    if (result != 0) continue;  // not accepted
    while (v.remaining() >= 4) {
      const std::uint8_t sub = v.u8();
      v.skip(1);
      const ByteView value = v.bytes(v.u16be());
      if (sub == kItemTransferSyntax && v.ok() && explicit_vr_.size() < 256) {
        const std::string ts = uid_text(value);
        if (ts == kDeflatedExplicitVr) continue;  // compressed: not readable
        explicit_vr_[id] = ts != kImplicitVrLittleEndian;
      }
    }
  }
  if (!r.ok()) out_.anomaly("dicom.malformed_associate");
  emit_association(true, std::nullopt, {});
}

void DicomSession::on_pdata(Direction direction, ByteView body, std::uint64_t time_ns) {
  Side& side = side_[static_cast<std::size_t>(direction)];
  ByteReader r(body);
  while (r.remaining() >= 6) {
    const std::uint32_t length = r.u32be();
    const ByteView pdv = r.bytes(length);
    if (!r.ok() || length < 2) {
      out_.anomaly("dicom.malformed_pdv");
      return;
    }
    const std::uint8_t context = pdv[0];
    const std::uint8_t header = pdv[1];
    const ByteView fragment = pdv.subspan(2);
    const bool is_command = (header & 0x01) != 0;
    const bool last = (header & 0x02) != 0;
    if (is_command) {
      if (side.command.size() + fragment.size() > DicomDissector::kMaxCommandBytes) {
        out_.anomaly("dicom.command_too_large");
        side.command.clear();
        continue;
      }
      side.command.insert(side.command.end(), fragment.begin(), fragment.end());
      if (last) {
        const std::vector<std::uint8_t> command = std::move(side.command);
        side.command.clear();
        on_command(direction, context, command, time_ns);
      }
    } else {
      on_dataset_fragment(direction, context, fragment);
    }
  }
}

void DicomSession::on_command(Direction direction, std::uint8_t context, ByteView command,
                              std::uint64_t time_ns) {
  // Implicit VR little endian, group 0000 (PS3.7 6.3.1).
  std::string sop_class;
  std::optional<std::uint16_t> field, message_id, responded_to, dataset_type, status;
  ByteReader r(command);
  while (r.remaining() >= 8) {
    const std::uint16_t group = r.u16le();
    const std::uint16_t element = r.u16le();
    const std::uint32_t length = r.u32le();
    const ByteView value = r.bytes(length);
    if (!r.ok() || group != 0x0000) break;
    auto u16 = [&]() -> std::optional<std::uint16_t> {
      if (value.size() != 2) return std::nullopt;
      return static_cast<std::uint16_t>(value[0] | (value[1] << 8));
    };
    switch (element) {
      case kAffectedSopClass:
        sop_class = uid_text(value);
        break;
      case kCommandField:
        field = u16();
        break;
      case kMessageId:
        message_id = u16();
        break;
      case kMessageIdRespondedTo:
        responded_to = u16();
        break;
      case kDataSetType:
        dataset_type = u16();
        break;
      case kStatus:
        status = u16();
        break;
      default:
        break;
    }
  }
  if (!field) {
    out_.anomaly("dicom.malformed_command");
    return;
  }
  const std::string_view action = command_name(*field);
  if (action.empty()) return;  // N-services, C-CANCEL: no events
  Side& side = side_[static_cast<std::size_t>(direction)];
  const int d = static_cast<int>(direction);
  const bool response = (*field & 0x8000) != 0;
  if (!response) {
    if (!message_id) {
      out_.anomaly("dicom.malformed_command");
      return;
    }
    if (pending_.size() >= DicomDissector::kMaxPendingRequests) {
      out_.anomaly("dicom.too_many_pending");
      return;
    }
    PendingRequest req;
    req.action = std::string(action);
    req.sop_class = sop_class.empty() && proposed_abstract_.contains(context)
                        ? proposed_abstract_[context]
                        : sop_class;
    req.time_ns = time_ns;
    const auto key = std::make_pair(d, *message_id);
    pending_[key] = std::move(req);
    const bool has_dataset = dataset_type && *dataset_type != kNoDataSet;
    const bool wants_patient = *field == 0x0001 || *field == 0x0020;
    side.awaiting_dataset.reset();
    if (has_dataset && wants_patient) side.awaiting_dataset = key;
    return;
  }
  if (!responded_to || !status) {
    out_.anomaly("dicom.malformed_command");
    return;
  }
  // Pending (0xFF00, 0xFF01): more responses follow.
  if (*status == 0xFF00 || *status == 0xFF01) return;
  auto it = pending_.find(std::make_pair(1 - d, *responded_to));
  if (it == pending_.end()) {
    out_.anomaly("dicom.response_without_request");
    return;
  }
  emit_request(it->second, *status);
  pending_.erase(it);
}

void DicomSession::on_dataset_fragment(Direction direction, std::uint8_t context, ByteView data) {
  Side& side = side_[static_cast<std::size_t>(direction)];
  if (!side.awaiting_dataset) return;
  const auto key = *side.awaiting_dataset;
  side.awaiting_dataset.reset();  // only the first fragment is looked at
  auto it = pending_.find(key);
  auto ts = explicit_vr_.find(context);
  if (it == pending_.end()) return;
  if (ts == explicit_vr_.end()) {
    out_.anomaly("dicom.unknown_transfer_syntax");
    return;
  }
  const std::string id = find_patient_id(data, ts->second);
  if (!id.empty()) it->second.patient = patients_.pseudonym(id);
}

v1::AccessEvent DicomSession::base_event(std::uint64_t time_ns, std::string action) const {
  v1::AccessEvent event;
  event.set_time_ns(time_ns);
  event.set_protocol("dicom");
  event.set_action(std::move(action));
  event.set_principal(principal_);
  event.set_resource(called_ae_);
  auto& d = *event.mutable_detail();
  d["calling_ae"] = calling_ae_;
  d["called_ae"] = called_ae_;
  if (!identity_type_.empty()) d["user_identity_type"] = identity_type_;
  return event;
}

void DicomSession::emit_association(std::optional<bool> accepted, std::optional<std::string> code,
                                    std::map<std::string, std::string> extra) {
  if (!association_open_) {
    out_.anomaly("dicom.answer_without_associate");
    return;
  }
  association_open_ = false;
  v1::AccessEvent event = base_event(association_time_ns_, "associate");
  event.set_outcome(!accepted   ? v1::OUTCOME_UNKNOWN
                    : *accepted ? v1::OUTCOME_SUCCESS
                                : v1::OUTCOME_FAILURE);
  if (code) event.set_code(*code);
  for (auto& [k, v] : extra) (*event.mutable_detail())[k] = std::move(v);
  out_.emit(std::move(event));
}

void DicomSession::emit_request(const PendingRequest& req, std::optional<std::uint16_t> status) {
  v1::AccessEvent event = base_event(req.time_ns, req.action);
  event.set_patient(req.patient);
  auto& d = *event.mutable_detail();
  if (!req.sop_class.empty()) d["sop_class"] = req.sop_class;
  if (!status) {
    event.set_outcome(v1::OUTCOME_UNKNOWN);
  } else {
    const std::uint16_t s = *status;
    d["status"] = hex16(s);
    event.set_code(hex16(s));
    // PS3.7 C: 0000 success, Bxxx warnings (stored/answered with coercion);
    // 0001 and 0107/0116 are warnings too. Everything else is a failure or cancel.
    const bool ok = s == 0x0000 || s == 0x0001 || s == 0x0107 || s == 0x0116 || (s >> 12) == 0xB;
    event.set_outcome(ok ? v1::OUTCOME_SUCCESS : v1::OUTCOME_FAILURE);
  }
  out_.emit(std::move(event));
}

void DicomSession::on_gap(Direction direction, std::uint64_t /*length*/, std::uint64_t) {
  if (stopped_) return;
  // PDUs carry no marker to find the next one by: the rest of the flow is lost.
  (void)direction;
  stop("dicom.gap");
}

void DicomSession::on_close(std::uint64_t /*time_ns*/) {
  if (!stopped_ && (!side_[0].framer.empty() || !side_[1].framer.empty()))
    out_.anomaly("dicom.truncated_pdu");
  if (association_open_) emit_association(std::nullopt, std::nullopt, {});
  for (const auto& [key, req] : pending_) emit_request(req, std::nullopt);
  pending_.clear();
}

}  // namespace

std::string find_patient_id(ByteView data, bool explicit_vr) {
  ByteReader r(data);
  std::string found;
  bool done = false;
  walk_elements(r, explicit_vr, 0, true, found, done);
  return found;
}

std::unique_ptr<StreamSession> DicomDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                           SessionOutput& out) const {
  return std::make_unique<DicomSession>(patients_, out);
}

bool DicomDissector::sniff(ByteView data) const {
  ByteReader r(data);
  const std::uint8_t type = r.u8();
  const std::uint8_t reserved = r.u8();
  const std::uint32_t length = r.u32be();
  const std::uint16_t version = r.u16be();
  return r.ok() && type == kAssociateRq && reserved == 0 && length >= 68 &&
         length <= kMaxPduBytes && version == 0x0001;
}

}  // namespace vagt::agent::dissect
