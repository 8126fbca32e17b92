#include "collector/ctl/render.h"

#include <algorithm>
#include <array>
#include <cstdio>

#include "common/event_json.h"

namespace vagt::collector::ctl {
namespace {

using Row = std::vector<std::string>;

constexpr const char* kEventColumns[] = {"time",    "agent",     "protocol", "src",
                                         "dst",     "principal", "realm",    "action",
                                         "outcome", "code",      "system",   "verdict"};
constexpr const char* kBreachColumns[] = {"id",       "detected",   "kind",  "rule",
                                          "severity", "status",     "agent", "principal",
                                          "system",   "explanation"};

void append_escape(std::string& out, const char* fmt, unsigned value) {
  char buf[12];
  std::snprintf(buf, sizeof buf, fmt, value);
  out += buf;
}

// Length of the valid UTF-8 sequence at s[i] and its code point, or 0.
std::size_t utf8_sequence(std::string_view s, std::size_t i, char32_t& cp) {
  const auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  std::size_t n;
  char32_t min;
  if (c < 0x80) {
    cp = c;
    return 1;
  } else if ((c & 0xE0) == 0xC0) {
    n = 2, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 3, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 4, cp = c & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// Code points that reorder or hide text in a terminal (C1 controls, line and
// paragraph separators, bidirectional overrides and isolates).
bool is_deceptive(char32_t cp) {
  return (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         (cp >= 0x202A && cp <= 0x202E) || (cp >= 0x2066 && cp <= 0x2069) || cp == 0x200E ||
         cp == 0x200F || cp == 0x061C;
}

std::string time_cell(std::uint64_t ns, bool short_form) {
  if (ns == 0) return "";
  std::string t = format_time_ns(ns);                                   // ...:SS.nnnnnnnnnZ
  if (short_form && t.size() > 7) t = t.substr(0, t.size() - 7) + "Z";  // milliseconds
  return t;
}

std::string table(const std::vector<std::string_view>& header, const std::vector<Row>& rows) {
  std::vector<Row> cells;
  cells.reserve(rows.size() + 1);
  Row head;
  for (auto h : header) {
    std::string u(h);
    std::transform(u.begin(), u.end(), u.begin(), [](char c) {
      return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 'a' + 'A') : c;
    });
    head.push_back(std::move(u));
  }
  cells.push_back(std::move(head));
  for (const Row& r : rows) {
    Row s;
    for (const auto& c : r) s.push_back(c.empty() ? "-" : sanitize(c));
    cells.push_back(std::move(s));
  }
  std::vector<std::size_t> width(header.size(), 0);
  for (const Row& r : cells) {
    for (std::size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], display_width(r[i]));
  }
  std::string out;
  for (const Row& r : cells) {
    std::string line;
    for (std::size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line.append(width[i] - display_width(r[i]) + 2, ' ');
    }
    out += line + "\n";
  }
  return out;
}

std::string csv_cell(const std::string& raw) {
  std::string s = sanitize(raw);
  if (!s.empty() && (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@')) s = "'" + s;
  if (s.find_first_of(",\"") == std::string::npos &&
      (s.empty() || (s.front() != ' ' && s.back() != ' '))) {
    return s;
  }
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

std::string csv(const std::vector<std::string_view>& header, const std::vector<Row>& rows) {
  std::string out;
  for (std::size_t i = 0; i < header.size(); ++i) {
    out += (i ? "," : "") + std::string(header[i]);
  }
  out += "\n";
  for (const Row& r : rows) {
    for (std::size_t i = 0; i < r.size(); ++i) out += (i ? "," : "") + csv_cell(r[i]);
    out += "\n";
  }
  return out;
}

std::string dump(const nlohmann::ordered_json& j) {
  return j.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

const char* verdict(bool allowed) { return allowed ? "allowed" : "breach"; }

Row event_row(const StoredEvent& se, bool for_people) {
  const v1::AccessEvent& e = se.event;
  return {time_cell(e.time_ns(), for_people),
          e.agent_id(),
          e.protocol(),
          format_endpoint(e.src()),
          format_endpoint(e.dst()),
          e.principal(),
          e.realm(),
          e.action(),
          outcome_name(e.outcome()),
          e.has_code() ? e.code() : std::string(),
          se.system,
          verdict(se.allowed)};
}

Row breach_row(const StoredBreach& b, bool for_people) {
  return {std::to_string(b.id),
          time_cell(b.detected_ns, for_people),
          b.kind,
          b.rule_id,
          to_string(b.severity),
          b.status,
          b.agent_id,
          b.principal,
          b.system,
          b.explanation};
}

template <typename T, typename RowFn, typename JsonFn, std::size_t N>
std::string render(const std::vector<T>& items, Format format, const char* const (&columns)[N],
                   RowFn row, JsonFn json) {
  if (format == Format::kJson) {
    std::string out;
    for (const T& item : items) out += dump(json(item)) + "\n";
    return out;
  }
  const std::vector<std::string_view> header(std::begin(columns), std::end(columns));
  std::vector<Row> rows;
  rows.reserve(items.size());
  for (const T& item : items) rows.push_back(row(item, format == Format::kTable));
  return format == Format::kTable ? table(header, rows) : csv(header, rows);
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

}  // namespace

std::string sanitize(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    char32_t cp = 0;
    const std::size_t n = utf8_sequence(s, i, cp);
    if (n == 0) {
      append_escape(out, "\\x%02x", c);
      ++i;
      continue;
    }
    if (n == 1) {
      switch (c) {
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\\':
          out += "\\\\";
          break;
        default:
          if (c < 0x20 || c == 0x7f) {
            append_escape(out, "\\x%02x", c);
          } else {
            out += static_cast<char>(c);
          }
      }
    } else if (is_deceptive(cp)) {
      append_escape(out, "\\u%04x", static_cast<unsigned>(cp));
    } else {
      out.append(s.substr(i, n));
    }
    i += n;
  }
  return out;
}

std::size_t display_width(std::string_view s) {
  return static_cast<std::size_t>(
      std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

nlohmann::ordered_json event_json(const StoredEvent& se) {
  nlohmann::ordered_json j;
  j["id"] = se.id;
  const nlohmann::ordered_json ev = event_to_json(se.event);  // outlives the loop
  for (const auto& [k, v] : ev.items()) j[k] = v;
  j["system"] =
      se.system.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(se.system);
  j["verdict"] = verdict(se.allowed);
  return j;
}

nlohmann::ordered_json breach_json(const StoredBreach& b) {
  auto opt = [](const std::string& s) {
    return s.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(s);
  };
  nlohmann::ordered_json j;
  j["id"] = b.id;
  j["detected"] = format_time_ns(b.detected_ns);
  j["kind"] = b.kind;
  j["rule"] = b.rule_id;
  j["severity"] = to_string(b.severity);
  j["status"] = b.status;
  j["agent"] = b.agent_id;
  j["seq"] = b.sequence ? nlohmann::ordered_json(*b.sequence) : nlohmann::ordered_json(nullptr);
  j["event_ts"] = b.event_time_ns ? nlohmann::ordered_json(format_time_ns(b.event_time_ns))
                                  : nlohmann::ordered_json(nullptr);
  j["principal"] = opt(b.principal);
  j["realm"] = opt(b.realm);
  j["protocol"] = opt(b.protocol);
  j["system"] = opt(b.system);
  j["src"] = opt(b.src);
  j["dst"] = opt(b.dst);
  j["explanation"] = b.explanation;
  j["policy_digest"] = opt(b.policy_digest);
  return j;
}

std::string render_events(const std::vector<StoredEvent>& events, Format format) {
  return render(events, format, kEventColumns, event_row, event_json);
}

std::string render_breaches(const std::vector<StoredBreach>& breaches, Format format) {
  return render(breaches, format, kBreachColumns, breach_row, breach_json);
}

nlohmann::ordered_json enrolment_json(const Enrolment& e) {
  nlohmann::ordered_json j;
  j["agent"] = e.agent_id;
  j["fingerprint"] = e.fingerprint;
  j["status"] = e.status;
  j["enrolled"] = e.enrolled_ns ? nlohmann::ordered_json(format_time_ns(e.enrolled_ns))
                                : nlohmann::ordered_json(nullptr);
  j["enrolled_by"] = e.enrolled_by;
  j["changed"] = format_time_ns(e.changed_ns);
  j["changed_by"] = e.changed_by;
  j["reason"] =
      e.reason.empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.reason);
  return j;
}

std::string render_enrolments(const std::vector<Enrolment>& enrolments, Format format) {
  static const char* const kColumns[] = {"agent",       "fingerprint", "status",     "enrolled",
                                         "enrolled_by", "changed",     "changed_by", "reason"};
  auto row = [](const Enrolment& e, bool for_people) -> Row {
    return {e.agent_id,    e.fingerprint,
            e.status,      time_cell(e.enrolled_ns, for_people),
            e.enrolled_by, time_cell(e.changed_ns, for_people),
            e.changed_by,  e.reason};
  };
  return render(enrolments, format, kColumns, row, enrolment_json);
}

std::string render_verify(const ledger::VerifyReport& r, bool json) {
  if (json) {
    nlohmann::ordered_json j;
    j["ok"] = r.ok();
    j["leaves"] = r.leaves;
    j["records"] = r.records;
    j["batches"] = r.batches;
    j["events"] = r.events;
    j["tree_heads"] = r.heads;
    j["signed_size"] = r.signed_size;
    j["root"] = r.root_hex;
    auto problems = nlohmann::ordered_json::array();
    for (const auto& p : r.problems)
      problems.push_back({{"table", p.table}, {"id", p.id}, {"what", p.what}});
    j["problems"] = std::move(problems);
    return dump(j) + "\n";
  }
  std::string out;
  for (const auto& p : r.problems)
    out += "MISMATCH " + sanitize(p.table) + " " + std::to_string(p.id) + ": " + sanitize(p.what) +
           "\n";
  out += std::string(r.ok() ? "verified" : "FAILED") + ": " + std::to_string(r.leaves) +
         " ledger leaves, " + std::to_string(r.records) + " records, " + std::to_string(r.batches) +
         " batches, " + std::to_string(r.events) + " events, " + std::to_string(r.heads) +
         " signed tree heads; root " + r.root_hex + "\n";
  if (r.leaves > r.signed_size)
    out += "note: " + std::to_string(r.leaves - r.signed_size) +
           " leaves are newer than the newest signed tree head (not yet signed)\n";
  return out;
}

Result<std::uint64_t> parse_rfc3339(std::string_view t) {
  const auto bad = [&] {
    return fail(ErrorCode::kInvalidArgument,
                "'" + sanitize(t) + "' is not an RFC 3339 time (2024-05-01T12:00:00Z)");
  };
  std::size_t pos = 0;
  auto digits = [&](std::size_t n, unsigned& v) {
    if (pos + n > t.size()) return false;
    v = 0;
    for (std::size_t k = 0; k < n; ++k) {
      const char c = t[pos + k];
      if (c < '0' || c > '9') return false;
      v = v * 10 + static_cast<unsigned>(c - '0');
    }
    pos += n;
    return true;
  };
  auto expect = [&](char c) {
    if (pos < t.size() && t[pos] == c) return ++pos, true;
    return false;
  };
  unsigned year, month, day, hour = 0, minute = 0, second = 0;
  if (!digits(4, year) || !expect('-') || !digits(2, month) || !expect('-') || !digits(2, day)) {
    return bad();
  }
  static constexpr std::array<unsigned, 12> kDays = {31, 29, 31, 30, 31, 30,
                                                     31, 31, 30, 31, 30, 31};
  const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (month < 1 || month > 12 || day < 1 || day > kDays[month - 1] ||
      (month == 2 && day == 29 && !leap)) {
    return bad();
  }
  std::int64_t offset_s = 0;
  std::uint64_t nanos = 0;
  if (pos < t.size()) {
    if (!(expect('T') || expect('t') || expect(' '))) return bad();
    if (!digits(2, hour) || !expect(':') || !digits(2, minute) || !expect(':') ||
        !digits(2, second) || hour > 23 || minute > 59 || second > 60) {
      return bad();
    }
    if (expect('.')) {
      std::size_t n = 0;
      std::uint64_t scale = 100'000'000;
      while (pos < t.size() && t[pos] >= '0' && t[pos] <= '9') {
        nanos += static_cast<std::uint64_t>(t[pos] - '0') * scale;
        scale /= 10;
        ++pos, ++n;
      }
      if (n == 0) return bad();
    }
    if (expect('Z') || expect('z')) {
      // UTC
    } else if (pos < t.size() && (t[pos] == '+' || t[pos] == '-')) {
      const int sign = t[pos] == '-' ? -1 : 1;
      ++pos;
      unsigned oh, om;
      if (!digits(2, oh) || !expect(':') || !digits(2, om) || oh > 23 || om > 59) return bad();
      offset_s = sign * static_cast<std::int64_t>(oh * 3600 + om * 60);
    } else {
      return bad();
    }
    if (pos != t.size()) return bad();
  }
  const std::int64_t secs = days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 +
                            std::min(second, 59u) - offset_s;
  if (secs < 0) return bad();
  return static_cast<std::uint64_t>(secs) * 1'000'000'000ULL + nanos;
}

namespace {

std::uint64_t counter(const nlohmann::ordered_json& counters, const char* name) {
  const auto it = counters.find(name);
  return it != counters.end() && it->is_number_unsigned() ? it->get<std::uint64_t>() : 0;
}

nlohmann::ordered_json parse_object(const std::string& text) {
  auto j = nlohmann::ordered_json::parse(text, nullptr, false);
  return j.is_object() ? j : nlohmann::ordered_json::object();
}

}  // namespace

std::string agent_health(const HeartbeatRecord& hb, std::uint64_t now_ns) {
  const auto counters = parse_object(hb.counters_json);
  if (counter(counters, "lost_events") > 0) return "losing";
  std::uint64_t interval_s = counter(counters, "heartbeat_interval_s");
  if (interval_s == 0) interval_s = 30;
  const std::uint64_t age = now_ns > hb.received_ns ? now_ns - hb.received_ns : 0;
  return age > 3 * interval_s * 1'000'000'000ull ? "stale" : "ok";
}

std::string render_agent_status(const std::vector<HeartbeatRecord>& heartbeats,
                                std::uint64_t now_ns, Format format) {
  static const char* const kColumns[] = {"agent",       "last_seen",  "age_s",
                                         "events",      "acked",      "spooled_batches",
                                         "lost_events", "reconnects", "health"};
  auto age_s = [now_ns](const HeartbeatRecord& hb) {
    return now_ns > hb.received_ns ? (now_ns - hb.received_ns) / 1'000'000'000ull : 0;
  };
  return render(
      heartbeats, format, kColumns,
      [&](const HeartbeatRecord& hb, bool for_people) {
        const auto c = parse_object(hb.counters_json);
        return Row{hb.agent_id,
                   time_cell(hb.received_ns, for_people),
                   std::to_string(age_s(hb)),
                   std::to_string(counter(c, "events")),
                   std::to_string(counter(c, "acked")),
                   std::to_string(counter(c, "spooled_batches")),
                   std::to_string(counter(c, "lost_events")),
                   std::to_string(counter(c, "reconnects")),
                   agent_health(hb, now_ns)};
      },
      [&](const HeartbeatRecord& hb) {
        nlohmann::ordered_json j;
        j["agent"] = hb.agent_id;
        j["last_seen"] = format_time_ns(hb.received_ns);
        j["age_s"] = age_s(hb);
        j["agent_time"] = format_time_ns(hb.time_ns);
        j["counters"] = parse_object(hb.counters_json);
        j["status"] = parse_object(hb.status_json);
        j["health"] = agent_health(hb, now_ns);
        return j;
      });
}

}  // namespace vagt::collector::ctl
