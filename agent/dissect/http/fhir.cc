#include "agent/dissect/http/fhir.h"

#include <array>
#include <vector>

#include "agent/dissect/text.h"

namespace vagt::agent::dissect::http {
namespace {

// Resource types that mark a FHIR base without a "fhir" segment.
constexpr std::array<std::string_view, 24> kWellKnownTypes = {"AllergyIntolerance",
                                                              "Appointment",
                                                              "CarePlan",
                                                              "Condition",
                                                              "Consent",
                                                              "DiagnosticReport",
                                                              "DocumentReference",
                                                              "Encounter",
                                                              "EpisodeOfCare",
                                                              "Group",
                                                              "ImagingStudy",
                                                              "Immunization",
                                                              "Location",
                                                              "Medication",
                                                              "MedicationRequest",
                                                              "Observation",
                                                              "Organization",
                                                              "Patient",
                                                              "Practitioner",
                                                              "PractitionerRole",
                                                              "Procedure",
                                                              "QuestionnaireResponse",
                                                              "ServiceRequest",
                                                              "Specimen"};

bool is_well_known_type(std::string_view s) {
  for (std::string_view t : kWellKnownTypes) {
    if (s == t) return true;
  }
  return false;
}

bool looks_like_type(std::string_view s) {
  if (s.empty() || s.size() > 64 || s[0] < 'A' || s[0] > 'Z') return false;
  for (char c : s) {
    const bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (!alnum) return false;
  }
  return true;
}

std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < path.size() && out.size() < 64) {
    const std::size_t j = path.find('/', i);
    const std::string_view seg = path.substr(i, j == std::string_view::npos ? path.npos : j - i);
    if (!seg.empty()) out.push_back(seg);
    if (j == std::string_view::npos) break;
    i = j + 1;
  }
  return out;
}

std::string whole_type_interaction(std::string_view method) {
  if (method == "GET" || method == "HEAD") return "search";
  if (method == "POST") return "create";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return "other";
}

std::string instance_interaction(std::string_view method) {
  if (method == "GET" || method == "HEAD") return "read";
  if (method == "PUT") return "update";
  if (method == "PATCH") return "patch";
  if (method == "DELETE") return "delete";
  return "other";
}

bool is_secret_name(std::string_view name) {
  static constexpr std::array<std::string_view, 18> kSecret = {
      "access_token", "id_token", "refresh_token", "token",     "code",    "client_secret",
      "password",     "passwd",   "pwd",           "secret",    "api_key", "apikey",
      "key",          "sig",      "signature",     "assertion", "session", "jsessionid"};
  for (std::string_view s : kSecret) {
    if (name == s) return true;
  }
  return false;
}

}  // namespace

std::optional<FhirRequest> parse_fhir_path(std::string_view method, std::string_view path) {
  const std::vector<std::string_view> segs = split_path(path);
  std::optional<std::size_t> start;
  for (std::size_t i = 0; i < segs.size() && !start; ++i) {
    if (ascii_lower(segs[i]) == "fhir") start = i + 1;
  }
  // No "fhir" segment: the first well-known resource type, with a short tail.
  for (std::size_t i = 0; i < segs.size() && !start; ++i) {
    if (is_well_known_type(segs[i]) && segs.size() - i <= 4) start = i;
  }
  if (!start) return std::nullopt;
  FhirRequest req;
  const std::size_t n = segs.size() - *start;
  auto seg = [&](std::size_t k) { return segs[*start + k]; };
  if (n == 0) {
    req.interaction = method == "POST" ? "batch" : "other";
    return req;
  }
  if (seg(0) == "metadata") {
    req.interaction = "capabilities";
    return req;
  }
  if (seg(0) == "_history") {
    req.interaction = "history";
    return req;
  }
  if (seg(0) == "_search") {
    req.interaction = "search";
    return req;
  }
  if (seg(0).front() == '$') {
    req.interaction = "operation";
    req.operation = sanitize_utf8(as_bytes(seg(0)), 64);
    return req;
  }
  if (!looks_like_type(seg(0))) return std::nullopt;
  req.resource_type = std::string(seg(0));
  if (n == 1) {
    req.interaction = whole_type_interaction(method);
    return req;
  }
  if (seg(1) == "_search") {
    req.interaction = "search";
    return req;
  }
  if (seg(1) == "_history") {
    req.interaction = "history";
    return req;
  }
  if (seg(1).front() == '$') {
    req.interaction = "operation";
    req.operation = sanitize_utf8(as_bytes(seg(1)), 64);
    return req;
  }
  req.id = sanitize_utf8(as_bytes(percent_decode(seg(1))), 128);
  if (n == 2) {
    req.interaction = instance_interaction(method);
    return req;
  }
  if (seg(2) == "_history") {
    if (n == 3) {
      req.interaction = "history";
    } else {
      req.interaction = "vread";
      req.version_id = sanitize_utf8(as_bytes(seg(3)), 64);
    }
    return req;
  }
  if (seg(2).front() == '$') {
    req.interaction = "operation";
    req.operation = sanitize_utf8(as_bytes(seg(2)), 64);
    return req;
  }
  if (looks_like_type(seg(2))) {
    // Compartment search: [base]/Patient/<id>/Observation.
    req.compartment = req.resource_type;
    req.resource_type = std::string(seg(2));
    req.interaction = "search";
    return req;
  }
  req.interaction = "other";
  return req;
}

std::string redact_query(std::string_view query, const PatientIds& patients, bool patient_type,
                         std::string& patient) {
  std::string out;
  std::size_t i = 0;
  std::size_t params = 0;
  while (i <= query.size() && params < 256) {
    const std::size_t amp = query.find('&', i);
    const std::string_view param =
        query.substr(i, amp == std::string_view::npos ? query.npos : amp - i);
    ++params;
    if (!out.empty() || i > 0) out.push_back('&');
    const std::size_t eq = param.find('=');
    const std::string_view raw_name = param.substr(0, eq);
    const std::string name = ascii_lower(percent_decode(raw_name));
    // "subject:Patient", "patient.identifier": the part before ':' or '.'.
    const std::string base = name.substr(0, name.find_first_of(":."));
    const bool patient_param = base == "patient" || base == "subject" || base == "identifier" ||
                               (patient_type && base == "_id");
    out.append(patients.redact_cpr_like(raw_name));
    if (eq != std::string_view::npos) {
      out.push_back('=');
      const std::string_view raw_value = param.substr(eq + 1);
      if (is_secret_name(base)) {
        out.append("[redacted]");
      } else if (patient_param) {
        const std::string value = percent_decode(raw_value);
        // system|value (token search) or Type/id (reference search).
        std::size_t cut = value.rfind('|');
        std::string prefix;
        if (cut != std::string::npos) {
          prefix = patients.redact_cpr_like(value.substr(0, cut + 1));
        } else {
          cut = value.rfind('/');
          if (cut != std::string::npos) prefix = patients.redact_cpr_like(value.substr(0, cut + 1));
        }
        const std::string id = cut == std::string::npos ? value : value.substr(cut + 1);
        std::string p = patients.pseudonym(id);
        if (p.empty() && !id.empty()) p = "[patient]";
        // An identifier on another resource type names that resource, not a
        // patient: pseudonymised all the same, but not the event's patient.
        if (patient.empty() && (base != "identifier" || patient_type)) patient = p;
        out.append(prefix).append(p);
      } else {
        out.append(patients.redact_cpr_like(raw_value));
      }
    }
    if (amp == std::string_view::npos) break;
    i = amp + 1;
  }
  return out;
}

}  // namespace vagt::agent::dissect::http
