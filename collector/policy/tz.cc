#include "collector/policy/tz.h"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <sstream>

#include "common/byte_reader.h"

namespace vagt::collector::policy {

namespace {

constexpr std::size_t kMaxTzifBytes = 1024 * 1024;
constexpr std::uint32_t kMaxTransitions = 20000;
constexpr std::uint32_t kMaxTypes = 256;

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

bool leap(int y) noexcept { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int days_in_month(int y, int m) noexcept {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && leap(y) ? 29 : kDays[m - 1];
}

}  // namespace

// Howard Hinnant's algorithms (public domain), as in C++20 <chrono>.
std::int64_t days_from_civil(int y, int m, int d) noexcept {
  y -= m <= 2;
  const std::int64_t era = floor_div(y, 400);
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = static_cast<unsigned>((153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1);
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, int& y, int& m, int& d) noexcept {
  z += 719468;
  const std::int64_t era = floor_div(z, 146097);
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  y = static_cast<int>(static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2));
}

std::string LocalTime::date() const {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", year, month, day);
  return buf;
}

Result<TimeZone> TimeZone::load(std::string_view name, const std::string& zoneinfo_dir) {
  if (name == "UTC" || name == "Etc/UTC") return TimeZone();
  const bool path_like = !name.empty() &&
                         std::all_of(name.begin(), name.end(),
                                     [](char c) {
                                       return std::isalnum(static_cast<unsigned char>(c)) ||
                                              c == '/' || c == '_' || c == '-' || c == '+';
                                     }) &&
                         name.find("..") == std::string_view::npos && name.front() != '/';
  if (path_like && name.find('/') != std::string_view::npos) {
    const std::string path = zoneinfo_dir + "/" + std::string(name);
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      return fail(ErrorCode::kNotFound, "time zone '" + std::string(name) + "': cannot read " +
                                            path + " (is the tzdata package installed?)");
    }
    std::ostringstream buf;
    buf << in.rdbuf();
    return from_tzif(buf.str(), std::string(name));
  }
  return from_posix(name, std::string(name));
}

Result<TimeZone> TimeZone::from_posix(std::string_view rule, std::string name) {
  auto p = parse_posix(rule);
  if (!p) {
    return fail(
        ErrorCode::kInvalidArgument,
        "time zone '" + name +
            "' is neither a zone name (Area/City) nor a POSIX TZ rule: " + p.error().message);
  }
  TimeZone tz;
  tz.name_ = std::move(name);
  tz.has_footer_ = true;
  tz.footer_ = *p;
  tz.offset_before_ = p->std_offset;
  return tz;
}

Result<TimeZone> TimeZone::from_tzif(std::string_view bytes, std::string name) {
  auto bad = [&](const std::string& what) {
    return fail(ErrorCode::kMalformed, "time zone file for '" + name + "': " + what);
  };
  if (bytes.size() > kMaxTzifBytes) return bad("larger than 1 MiB");
  ByteReader r(as_bytes(bytes));
  struct Header {
    std::uint32_t isut, isstd, leap, time, type, chars;
  };
  auto header = [&](Header& h, char& version) {
    const ByteView magic = r.bytes(4);
    if (!r.ok() || as_chars(magic) != "TZif") return false;
    version = static_cast<char>(r.u8());
    r.skip(15);
    h = {r.u32be(), r.u32be(), r.u32be(), r.u32be(), r.u32be(), r.u32be()};
    return r.ok() && h.time <= kMaxTransitions && h.type >= 1 && h.type <= kMaxTypes &&
           h.leap <= kMaxTransitions && h.chars <= 4096 && h.isut <= h.type && h.isstd <= h.type;
  };
  Header h{};
  char version = 0;
  if (!header(h, version)) return bad("not a TZif file, or counts out of range");
  std::size_t time_size = 4;
  if (version >= '2') {
    r.skip(h.time * 5 + h.type * 6 + h.chars + h.leap * 8 + h.isstd + h.isut);
    char v2 = 0;
    if (!header(h, v2)) return bad("the 64-bit block is missing or out of range");
    time_size = 8;
  }
  std::vector<std::int64_t> times(h.time);
  for (auto& t : times) {
    t = time_size == 8 ? static_cast<std::int64_t>(r.u64be())
                       : static_cast<std::int64_t>(static_cast<std::int32_t>(r.u32be()));
  }
  std::vector<std::uint8_t> idx(h.time);
  for (auto& i : idx) i = r.u8();
  std::vector<int> offsets(h.type);
  for (auto& o : offsets) {
    o = static_cast<int>(static_cast<std::int32_t>(r.u32be()));
    r.skip(2);  // isdst, designation index
    if (o < -26 * 3600 || o > 26 * 3600) return bad("a UTC offset is out of range");
  }
  r.skip(h.chars + h.leap * (time_size + 4) + h.isstd + h.isut);
  if (!r.ok()) return bad("truncated");
  TimeZone tz;
  tz.name_ = std::move(name);
  for (std::size_t i = 0; i < times.size(); ++i) {
    if (idx[i] >= h.type) return bad("a transition names a type that does not exist");
    if (i > 0 && times[i] <= times[i - 1]) return bad("transitions are not ascending");
    tz.transitions_.push_back(times[i]);
    tz.offsets_after_.push_back(offsets[idx[i]]);
  }
  tz.offset_before_ = offsets[0];
  if (version >= '2' && !r.empty()) {
    const std::string_view rest = as_chars(r.rest());
    if (rest.size() < 2 || rest.front() != '\n') return bad("malformed footer");
    const std::size_t end = rest.find('\n', 1);
    if (end == std::string_view::npos) return bad("unterminated footer");
    const std::string_view footer = rest.substr(1, end - 1);
    if (!footer.empty()) {
      auto p = parse_posix(footer);
      if (!p) return bad("footer: " + p.error().message);
      tz.has_footer_ = true;
      tz.footer_ = *p;
    }
  }
  return tz;
}

Result<TimeZone::Posix> TimeZone::parse_posix(std::string_view s) {
  std::size_t i = 0;
  auto bad = [&](const std::string& what) {
    // (Built by append: g++ 12 -O3 warns falsely on "'" + std::string(...).)
    std::string message(1, '\'');
    message.append(s).append("': ").append(what);
    return fail(ErrorCode::kInvalidArgument, message);
  };
  auto parse_name = [&]() {
    if (i < s.size() && s[i] == '<') {
      const std::size_t end = s.find('>', i);
      if (end == std::string_view::npos) return false;
      i = end + 1;
      return true;
    }
    const std::size_t start = i;
    while (i < s.size() && std::isalpha(static_cast<unsigned char>(s[i]))) ++i;
    return i - start >= 3;
  };
  // [+-]hh[:mm[:ss]] -> seconds
  auto parse_time = [&](int& out, bool allow_sign) {
    int sign = 1;
    if (allow_sign && i < s.size() && (s[i] == '+' || s[i] == '-')) sign = s[i++] == '-' ? -1 : 1;
    int parts[3] = {0, 0, 0};
    for (int k = 0; k < 3; ++k) {
      if (k > 0) {
        if (i >= s.size() || s[i] != ':') break;
        ++i;
      }
      const std::size_t start = i;
      int v = 0;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && i - start < 3) {
        v = v * 10 + (s[i++] - '0');
      }
      if (i == start) return false;
      parts[k] = v;
    }
    if (parts[0] > 167 || parts[1] > 59 || parts[2] > 59) return false;
    out = sign * (parts[0] * 3600 + parts[1] * 60 + parts[2]);
    return true;
  };
  auto parse_rule = [&](Rule& rule) {
    if (i >= s.size() || s[i] != 'M') return false;
    ++i;
    int nums[3] = {0, 0, 0};
    for (int k = 0; k < 3; ++k) {
      if (k > 0) {
        if (i >= s.size() || s[i] != '.') return false;
        ++i;
      }
      const std::size_t start = i;
      while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i])) && i - start < 2) {
        nums[k] = nums[k] * 10 + (s[i++] - '0');
      }
      if (i == start) return false;
    }
    rule.month = nums[0];
    rule.week = nums[1];
    rule.weekday = nums[2];
    if (rule.month < 1 || rule.month > 12 || rule.week < 1 || rule.week > 5 || rule.weekday > 6) {
      return false;
    }
    rule.time_s = 7200;
    if (i < s.size() && s[i] == '/') {
      ++i;
      if (!parse_time(rule.time_s, true)) return false;
    }
    return true;
  };

  Posix p;
  if (!parse_name()) return bad("expected a zone abbreviation");
  int west = 0;
  if (!parse_time(west, true)) return bad("expected a UTC offset");
  p.std_offset = -west;
  if (i == s.size()) return p;
  if (!parse_name()) return bad("expected a daylight-saving abbreviation");
  p.has_dst = true;
  p.dst_offset = p.std_offset + 3600;
  if (i < s.size() && s[i] != ',') {
    if (!parse_time(west, true)) return bad("expected a daylight-saving offset");
    p.dst_offset = -west;
  }
  if (i >= s.size() || s[i] != ',') return bad("daylight saving needs ',Mm.w.d' rules");
  ++i;
  if (!parse_rule(p.start)) return bad("expected a start rule Mm.w.d[/time]");
  if (i >= s.size() || s[i] != ',') return bad("expected ',' and an end rule");
  ++i;
  if (!parse_rule(p.end)) return bad("expected an end rule Mm.w.d[/time]");
  if (i != s.size()) return bad("unexpected text after the rules");
  return p;
}

int TimeZone::posix_offset(const Posix& p, std::int64_t t) noexcept {
  if (!p.has_dst) return p.std_offset;
  int y = 0, m = 0, d = 0;
  civil_from_days(floor_div(t + p.std_offset, 86400), y, m, d);
  auto rule_day = [&](const Rule& r) {
    const std::int64_t first = days_from_civil(y, r.month, 1);
    const int wd_first = static_cast<int>(((first + 4) % 7 + 7) % 7);
    int day = 1 + (r.weekday - wd_first + 7) % 7 + (r.week - 1) * 7;
    while (day > days_in_month(y, r.month)) day -= 7;
    return days_from_civil(y, r.month, day);
  };
  // Local wall-clock rule times are in the offset in force before the change.
  const std::int64_t start = rule_day(p.start) * 86400 + p.start.time_s - p.std_offset;
  const std::int64_t end = rule_day(p.end) * 86400 + p.end.time_s - p.dst_offset;
  const bool dst = start < end ? (t >= start && t < end) : (t < end || t >= start);
  return dst ? p.dst_offset : p.std_offset;
}

int TimeZone::offset_at(std::int64_t t) const noexcept {
  if (transitions_.empty() || t >= transitions_.back()) {
    if (has_footer_) return posix_offset(footer_, t);
    return transitions_.empty() ? offset_before_ : offsets_after_.back();
  }
  if (t < transitions_.front()) return offset_before_;
  const auto it = std::upper_bound(transitions_.begin(), transitions_.end(), t);
  return offsets_after_[static_cast<std::size_t>(it - transitions_.begin()) - 1];
}

LocalTime TimeZone::local(std::int64_t t) const noexcept {
  LocalTime lt;
  lt.offset_s = offset_at(t);
  const std::int64_t local = t + lt.offset_s;
  const std::int64_t days = floor_div(local, 86400);
  const std::int64_t sod = local - days * 86400;
  civil_from_days(days, lt.year, lt.month, lt.day);
  lt.weekday = static_cast<int>(((days + 4) % 7 + 7) % 7);
  lt.minute_of_day = static_cast<int>(sod / 60);
  lt.second = static_cast<int>(sod % 60);
  return lt;
}

}  // namespace vagt::collector::policy
