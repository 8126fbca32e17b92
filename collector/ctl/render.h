#pragma once

// vagtctl's output: stored events and breaches as an aligned text table for
// people, JSON Lines for tools, or CSV for spreadsheets.
//
// Everything shown comes from the network in the end (principal names, realms,
// resources), so every cell is sanitized: control characters, DEL, C1 and
// invalid UTF-8 bytes are written as \n, \t, \r or \xNN, and a backslash as
// "\\". JSON escapes by its own rules instead (invalid UTF-8 becomes U+FFFD).
// CSV cells starting with = + - @ are prefixed with ' so that a spreadsheet
// never runs a principal name as a formula.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "collector/ledger/verify.h"
#include "collector/store/store.h"
#include "common/result.h"

namespace vagt::collector::ctl {

enum class Format { kTable, kJson, kCsv };

// Columns: time, agent, protocol, src, dst, principal, realm, action,
// outcome, code, system, verdict ("allowed" | "breach").
std::string render_events(const std::vector<StoredEvent>& events, Format format);
// Columns: id, detected, kind, rule, severity, status, agent, principal,
// system, explanation.
std::string render_breaches(const std::vector<StoredBreach>& breaches, Format format);

// One JSON object each: event_to_json(event) plus "id", "system", "verdict";
// a breach with all fields of StoredBreach (times as RFC 3339).
nlohmann::ordered_json event_json(const StoredEvent& event);
nlohmann::ordered_json breach_json(const StoredBreach& breach);

// Columns: agent, fingerprint, status, enrolled, enrolled_by, changed,
// changed_by, reason.
std::string render_enrolments(const std::vector<Enrolment>& enrolments, Format format);
nlohmann::ordered_json enrolment_json(const Enrolment& enrolment);

// vagtctl verify's result: one JSON object (--json), or lines for people
// naming each problem as "table id: what".
std::string render_verify(const ledger::VerifyReport& report, bool json);
// `vagtctl agents status`: one row per agent from its last heartbeat.
// Columns: agent, last_seen, age_s, events, acked, spooled_batches,
// lost_events, reconnects, health. Health: "losing" when lost_events > 0,
// "stale" when no heartbeat came for 3 of the agent's heartbeat intervals
// (its heartbeat_interval_s counter; 30 s when absent), else "ok".
std::string render_agent_status(const std::vector<HeartbeatRecord>& heartbeats,
                                std::uint64_t now_ns, Format format);
std::string agent_health(const HeartbeatRecord& heartbeat, std::uint64_t now_ns);

// The cell escaping described above.
std::string sanitize(std::string_view text);
// Display width of a sanitized cell: one column per UTF-8 code point.
std::size_t display_width(std::string_view sanitized);

// "2024-05-01T12:00:00Z", "2024-05-01T12:00:00.5+02:00", "2024-05-01" (UTC
// midnight) -> ns since the Unix epoch. Refuses anything else, and times
// before 1970.
Result<std::uint64_t> parse_rfc3339(std::string_view text);

}  // namespace vagt::collector::ctl
