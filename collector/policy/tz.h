#pragma once

// Local time for policy windows. g++ 12's libstdc++ has no chrono time-zone
// database, so this reads the system's compiled zone files (TZif, RFC 8536,
// Debian package tzdata) with a bounds-checked reader, and falls back to the
// file's POSIX TZ footer (e.g. "CET-1CEST,M3.5.0,M10.5.0/3") for instants
// after its last transition. A zone may also be given as a POSIX TZ string.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace vagt::collector::policy {

struct LocalTime {
  int year = 1970, month = 1, day = 1;  // civil date
  int weekday = 4;                      // 0 = Sunday ... 6 = Saturday
  int minute_of_day = 0;                // 0 .. 1439
  int second = 0;
  int offset_s = 0;          // UTC offset in force
  std::string date() const;  // "YYYY-MM-DD"
};

// Days since 1970-01-01 for a civil date (proleptic Gregorian), and back.
std::int64_t days_from_civil(int y, int m, int d) noexcept;
void civil_from_days(std::int64_t z, int& y, int& m, int& d) noexcept;

class TimeZone {
 public:
  TimeZone() = default;  // UTC
  // "Europe/Copenhagen" (read from `zoneinfo_dir`), "UTC", or a POSIX TZ
  // string such as "CET-1CEST,M3.5.0,M10.5.0/3".
  static Result<TimeZone> load(std::string_view name,
                               const std::string& zoneinfo_dir = "/usr/share/zoneinfo");
  // From the bytes of a TZif file; `name` is for messages.
  static Result<TimeZone> from_tzif(std::string_view bytes, std::string name);
  static Result<TimeZone> from_posix(std::string_view rule, std::string name);

  int offset_at(std::int64_t unix_s) const noexcept;
  LocalTime local(std::int64_t unix_s) const noexcept;
  const std::string& name() const { return name_; }

 private:
  struct Rule {  // one POSIX "Mm.w.d/time" transition rule
    int month = 0, week = 0, weekday = 0, time_s = 7200;
  };
  struct Posix {
    int std_offset = 0;  // seconds east of UTC
    bool has_dst = false;
    int dst_offset = 0;
    Rule start, end;
  };
  static Result<Posix> parse_posix(std::string_view rule);
  static int posix_offset(const Posix& p, std::int64_t unix_s) noexcept;

  std::string name_ = "UTC";
  std::vector<std::int64_t> transitions_;  // ascending
  std::vector<int> offsets_after_;         // offset from each transition on
  int offset_before_ = 0;                  // before the first transition
  bool has_footer_ = false;
  Posix footer_;
};

}  // namespace vagt::collector::policy
