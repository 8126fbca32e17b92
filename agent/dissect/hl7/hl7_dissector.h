#pragma once

// HL7 v2 messages over MLLP (HL7 v2.5.1 Appendix C: 0x0B message 0x1C 0x0D).
// Frames are taken from either direction (at most kMaxMessageBytes each; a
// larger one is "hl7.message_too_large" and the session stops). Segments end
// in CR (LF and CRLF accepted); the field and component separators come from
// MSH-1 and MSH-2.
//
// One event per message that is not an acknowledgement, paired with the
// ACK whose MSA-2 names its control id (docs/events.md, "hl7"): action "adt"
// for ADT messages, else "message"; principal = EVN-5 (first component);
// patient = pseudonym of PID-3 (first repetition, first component); resource
// = PV1-3 as written; outcome from MSA-1 (AA/CA success, AE/AR/CE/CR
// failure; no ACK: unknown). No other patient data (names, birth dates)
// leaves the parser.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"
#include "agent/dissect/patient.h"

namespace vagt::agent::dissect {

class Hl7Dissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxMessageBytes = 1U << 20;
  static constexpr std::size_t kMaxPendingMessages = 256;
  static constexpr std::size_t kMaxSegments = 1024;

  explicit Hl7Dissector(PseudonymizerPtr pseudonymizer) : patients_(std::move(pseudonymizer)) {}

  std::string_view name() const override { return "hl7"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
  // 0x0B "MSH": an MLLP frame starting a message.
  bool sniff(ByteView first_client_bytes) const override;

 private:
  PatientIds patients_;
};

}  // namespace vagt::agent::dissect
