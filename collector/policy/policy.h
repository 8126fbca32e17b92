#pragma once

// The collector's decision engine. A Policy is compiled once from YAML and is
// immutable afterwards, so the ingest threads can share one through a
// shared_ptr<const Policy> and a reload swaps the pointer.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/proto/vagt.pb.h"
#include "common/result.h"

namespace vagt::collector {

enum class Severity { kInfo, kLow, kMedium, kHigh, kCritical };
const char* to_string(Severity s) noexcept;
// "info", "low", "medium", "high", "critical" (as to_string writes them).
std::optional<Severity> severity_from_string(std::string_view s) noexcept;

// One finding about one event. An event may have none (allowed) or several.
struct Finding {
  std::string rule_id;  // stable id, e.g. "rbac.no_grant"
  Severity severity = Severity::kMedium;
  std::string system;       // name of the matched system, empty if none
  std::string explanation;  // one sentence for the security team, no secrets
  // access.emergency: when the review is due (event time + review_within_h);
  // 0 for every other finding.
  std::uint64_t review_deadline_ns = 0;
};

struct Decision {
  bool allowed = true;   // false when any finding is a possible breach
  std::string system;    // matched system name ("" when unlisted)
  std::string grant_id;  // the grant that allowed it, if any
  std::vector<Finding> findings;
  // Why an access was allowed beyond the grant, e.g. the treatment relation
  // that explains a patient-data access. Not a finding; may be empty.
  std::string basis;
};

class DetectionState;  // collector/policy/detector.h

class Policy {
 public:
  virtual ~Policy() = default;
  // Hex SHA-256 over the exact bytes of the policy file(s) as loaded.
  virtual const std::string& digest() const = 0;
  virtual const std::string& source() const = 0;  // path it was loaded from
  // Stateless decision: RBAC and every detection that needs no memory.
  virtual Decision evaluate(const v1::AccessEvent& event) const = 0;
  // Full decision: also the stateful detections (failure bursts, spraying,
  // treatment relations), reading and updating `state`.
  virtual Decision evaluate(const v1::AccessEvent& event, DetectionState& state) const = 0;
  // The same, writing one line per step (system match, each grant considered
  // and why it did or did not apply, each detection) to `trace`.
  virtual Decision explain(const v1::AccessEvent& event, DetectionState& state,
                           std::vector<std::string>& trace) const = 0;
  // Load-time warnings (overlapping grants, ...): file:line:column: text.
  virtual const std::vector<std::string>& warnings() const = 0;
  // The files of the policy set, in the order the digest covers them.
  virtual const std::vector<std::string>& files() const = 0;
};

// Compile a policy file (and the files it names: directory CSV, relations). Errors name file:line
// and what is wrong; the caller keeps its old policy when this fails.
Result<std::shared_ptr<const Policy>> load_policy_file(const std::string& path);
// The same from bytes already read; `source` names them in errors and source().
Result<std::shared_ptr<const Policy>> load_policy_text(std::string_view bytes,
                                                       const std::string& source);

}  // namespace vagt::collector
