#pragma once

// DICOM upper layer (PS3.8 section 9) over TCP, with the DIMSE-C command sets
// (PS3.7) carried in P-DATA-TF.
//
// PDUs are framed by their 6-byte header (at most kMaxPduBytes buffered; a
// larger P-DATA-TF is skipped as "dicom.pdu_skipped", any other larger PDU
// stops the session as "dicom.pdu_too_large").
//
// Events (protocol "dicom", docs/events.md):
//  - "associate": A-ASSOCIATE-RQ with its A-ASSOCIATE-AC (success) or -RJ
//    (failure; code = reason, detail reject_result/source/reason) or A-ABORT.
//  - "c-echo", "c-store", "c-find", "c-move", "c-get": a request command
//    paired with its final response by message id (pending statuses skipped);
//    code = status as 0xNNNN. PatientID (0010,0020) of a C-STORE data set or
//    C-FIND identifier (first fragment only, implicit or explicit VR per the
//    accepted transfer syntax) becomes `patient`, pseudonymised.
//  principal = user identity (sub-item 0x58) primary field for types 1 and 2
//  (the passcode is never read); for Kerberos, SAML and JWT identities only
//  the type is recorded. resource = called AE title.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"
#include "agent/dissect/patient.h"

namespace vagt::agent::dissect {

class DicomDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxPduBytes = 1U << 20;
  static constexpr std::size_t kMaxCommandBytes = 64 * 1024;
  static constexpr std::size_t kMaxPendingRequests = 256;

  explicit DicomDissector(PseudonymizerPtr pseudonymizer) : patients_(std::move(pseudonymizer)) {}

  std::string_view name() const override { return "dicom"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
  // An A-ASSOCIATE-RQ header (type 1, protocol version 1).
  bool sniff(ByteView first_client_bytes) const override;

 private:
  PatientIds patients_;
};

// The DICOM data set element (0010,0020) PatientID in `data`, encoded in the
// given transfer syntax (implicit VR little endian when `explicit_vr` is
// false), or "" when it is not in view. Walks sequences of undefined length
// (depth-bounded); never reads past `data`.
std::string find_patient_id(ByteView data, bool explicit_vr);

}  // namespace vagt::agent::dissect
