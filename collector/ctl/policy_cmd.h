#pragma once

// `vagtctl policy check|test|explain`: the policy author's tools. Each returns
// the process exit code (0 ok, 1 a check/test failed, 2 bad input) and writes
// results to `out`, problems to `err`. docs/policy.md describes the formats.

#include <ostream>
#include <string>
#include <vector>

#include "common/proto/vagt.pb.h"
#include "common/result.h"

namespace vagt::collector::ctl {

// Loads each policy file; prints "FILE: ok, sha256 ..." and warnings, or the
// error with file:line:column. Non-zero when any file does not load.
int policy_check(const std::vector<std::string>& files, std::ostream& out, std::ostream& err);

// Runs the table-driven policy tests in DIR (every *.yaml, sorted) or in one
// file: events in, expected rule ids (and optionally the grant) out.
int policy_test(const std::string& path, std::ostream& out, std::ostream& err);

// Explains the decision for the event(s) in EVENT_FILE (one JSON/YAML object
// as `vagtctl events --json` writes it, or a list evaluated in order).
int policy_explain(const std::string& policy_file, const std::string& event_file, std::ostream& out,
                   std::ostream& err);

// An event from its JSON form (docs/events.md field names). `text` is the
// JSON (or YAML flow) of one object.
Result<v1::AccessEvent> event_from_json_text(const std::string& text);

}  // namespace vagt::collector::ctl
