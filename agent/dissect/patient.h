#pragma once

// Patient identifiers inside dissectors: every identifier a protocol carries
// (FHIR Patient id, HL7 PID-3, DICOM PatientID) becomes a keyed pseudonym
// before it is put in an event. Without a pseudonymizer the result is empty:
// a clear identifier is never the fallback.

#include <memory>
#include <string>
#include <string_view>

#include "common/crypto.h"

namespace vagt::agent::dissect {

using PseudonymizerPtr = std::shared_ptr<const crypto::Pseudonymizer>;

class PatientIds {
 public:
  explicit PatientIds(PseudonymizerPtr pseudonymizer) : p_(std::move(pseudonymizer)) {}

  // "p1:<hex>" for a non-empty identifier (surrounding blanks ignored); "" for
  // an empty one or when no pseudonymizer was given.
  std::string pseudonym(std::string_view id) const;

  // `text` with every run of exactly 10 digits (or 6 digits, '-', 4 digits)
  // whose first six read as a date DDMMYY -- the shape of a Danish CPR
  // number -- replaced by its pseudonym ("[patient]" without a
  // pseudonymizer). For free text such as URL paths.
  std::string redact_cpr_like(std::string_view text) const;

 private:
  PseudonymizerPtr p_;
};

}  // namespace vagt::agent::dissect
