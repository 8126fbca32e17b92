#pragma once

// Request targets of HTTP and FHIR REST (HL7 FHIR R4 "RESTful API"):
// what a path says (resource type, id, interaction) and a query string made
// safe for an event (patient identifiers pseudonymised, secrets dropped).

#include <optional>
#include <string>
#include <string_view>

#include "agent/dissect/patient.h"

namespace vagt::agent::dissect::http {

struct FhirRequest {
  std::string resource_type;  // "Patient"; empty for whole-system interactions
  std::string id;             // logical id as written (a Patient id is pseudonymised by the caller)
  std::string version_id;     // vread
  std::string compartment;    // "Patient" for [base]/Patient/<id>/Observation
  std::string interaction;    // read vread search create update patch delete history
                              // capabilities batch operation
  std::string operation;      // "$everything"
};

// The FHIR request a method and path (no query) make, or nullopt when the
// path has no FHIR base: a "fhir" segment, or a segment naming a well-known
// resource type ("Patient", "Observation", ...) followed by at most an id
// and a _history / $operation / compartment tail.
std::optional<FhirRequest> parse_fhir_path(std::string_view method, std::string_view path);

// The query string with patient search parameters (patient, subject,
// identifier and their chained/modifier forms; _id too when `patient_type`)
// replaced by pseudonyms -- for `identifier=system|value` the value only --
// secret-looking parameters (access_token, code, password, ...) reduced to
// "name=[redacted]", and CPR-shaped numbers elsewhere pseudonymised. The
// first patient pseudonym goes to `patient` when that is still empty.
std::string redact_query(std::string_view query, const PatientIds& patients, bool patient_type,
                         std::string& patient);

}  // namespace vagt::agent::dissect::http
