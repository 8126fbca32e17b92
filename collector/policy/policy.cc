#include "collector/policy/policy.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "collector/policy/cidr.h"
#include "collector/policy/detector.h"
#include "collector/policy/principal.h"
#include "collector/policy/tz.h"
#include "common/event_json.h"
#include "common/yaml_util.h"

namespace vagt::collector {

const char* to_string(Severity s) noexcept {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "unknown";
}

std::optional<Severity> severity_from_string(std::string_view s) noexcept {
  for (Severity v :
       {Severity::kInfo, Severity::kLow, Severity::kMedium, Severity::kHigh, Severity::kCritical}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

namespace {

using policy::Cidr;
using policy::fold_ascii;
using policy::Identity;

constexpr int kPolicyVersion = 1;
constexpr std::size_t kMaxPolicyBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxQuotedName = 200;

// ---------------------------------------------------------------- compiled form

enum class Classification { kHealthData, kConfidential, kInternal, kPublic };

const char* classification_name(Classification c) {
  switch (c) {
    case Classification::kHealthData:
      return "health-data";
    case Classification::kConfidential:
      return "confidential";
    case Classification::kInternal:
      return "internal";
    case Classification::kPublic:
      return "public";
  }
  return "internal";
}

Severity severity_for(Classification c) {
  switch (c) {
    case Classification::kHealthData:
      return Severity::kHigh;
    case Classification::kConfidential:
      return Severity::kMedium;
    default:
      return Severity::kLow;
  }
}

struct Zone {
  std::string name;
  std::vector<Cidr> networks;
};

// A time window in the policy's time zone. from == to: whole days. to < from:
// the window runs over midnight and belongs to the day it starts on.
struct Window {
  enum class Holidays { kInclude, kExclude, kOnly };
  std::string name;
  std::uint8_t days = 0x7f;  // bit 0 = Sunday ... bit 6 = Saturday
  int from = 0, to = 0;      // minutes of the day, 0 .. 1440
  Holidays holidays = Holidays::kInclude;
};

struct System {
  std::string name;
  Classification classification = Classification::kInternal;
  std::vector<Cidr> addresses;         // empty = any
  std::vector<std::uint32_t> ports;    // empty = any
  std::vector<std::string> protocols;  // folded; empty = any
  std::uint64_t from_zones = 0;        // zone bits sources must be in; 0 = any

  bool matches(const v1::AccessEvent& e, const std::string& folded_protocol) const {
    if (!addresses.empty() && std::none_of(addresses.begin(), addresses.end(), [&](const Cidr& c) {
          return c.contains(e.dst().address());
        })) {
      return false;
    }
    if (!ports.empty() && std::find(ports.begin(), ports.end(), e.dst().port()) == ports.end()) {
      return false;
    }
    if (!protocols.empty() &&
        std::find(protocols.begin(), protocols.end(), folded_protocol) == protocols.end()) {
      return false;
    }
    return true;
  }
};

// Principals a grant covers, indexed by folded user name.
class PrincipalSet {
 public:
  void add(const Identity& id) {
    if (id.form == Identity::Form::kDn) {
      dns_.insert(id.dn);
    } else if (id.form == Identity::Form::kName) {
      auto& v = names_[id.user];
      if (std::find(v.begin(), v.end(), id.domain) == v.end()) v.push_back(id.domain);
    }
  }
  bool contains(const Identity& id) const {
    if (id.form == Identity::Form::kDn) return dns_.count(id.dn) != 0;
    if (id.form != Identity::Form::kName) return false;
    const auto it = names_.find(id.user);
    if (it == names_.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(), [&](const std::string& domain) {
      return domain.empty() || domain == id.domain;
    });
  }
  bool empty() const { return names_.empty() && dns_.empty(); }

 private:
  std::unordered_map<std::string, std::vector<std::string>> names_;  // "" domain = any
  std::unordered_set<std::string> dns_;
};

// One way a grant reaches principals: through one role, or directly.
struct GrantPath {
  std::string via;  // "role 'doctors'" or "principals"
  PrincipalSet who;
  bool anonymous = false;
  bool authenticated = false;
  std::uint64_t from_zones = 0;  // the role's zones; 0 = any
  bool emergency = false;        // a break-the-glass role
};

struct Grant {
  std::string id;
  std::string where;  // file:line:column, for warnings
  std::vector<GrantPath> paths;
  std::vector<std::string> role_names;
  std::vector<std::string> actions;  // folded; empty = any
  std::uint64_t from_zones = 0;      // 0 = any
  std::vector<std::size_t> windows;  // any of them; empty = always
};

enum class AccountKind { kHuman, kService, kSupplier };
const char* kind_name(AccountKind k) {
  return k == AccountKind::kHuman ? "human" : k == AccountKind::kService ? "service" : "supplier";
}

struct Person {
  std::string name;  // as written
  Identity id;
  std::string department;  // folded
  std::string site;
  AccountKind kind = AccountKind::kHuman;
  bool active = true;
  std::optional<std::int64_t> valid_until;  // last valid day (days since epoch, local)
  std::vector<std::string> roles;
};

class Directory {
 public:
  bool given = false;
  std::vector<Person> people;

  void index(std::size_t i) {
    const Identity& id = people[i].id;
    if (id.form == Identity::Form::kDn) {
      by_dn_.emplace(id.dn, i);
    } else {
      by_user_[id.user].push_back(i);
    }
  }
  const Person* find(const Identity& id) const {
    if (id.form == Identity::Form::kDn) {
      const auto it = by_dn_.find(id.dn);
      return it == by_dn_.end() ? nullptr : &people[it->second];
    }
    if (id.form != Identity::Form::kName) return nullptr;
    const auto it = by_user_.find(id.user);
    if (it == by_user_.end()) return nullptr;
    const Person* any = nullptr;
    for (std::size_t i : it->second) {
      const std::string& d = people[i].id.domain;
      if (!id.domain.empty() && d == id.domain) return &people[i];
      if (d.empty() && !any) any = &people[i];
    }
    return any;
  }
  // An entry for the same account already there?
  bool has(const Identity& id) const {
    const Person* p = find(id);
    return p && p->id.domain == id.domain;
  }

 private:
  std::unordered_map<std::string, std::vector<std::size_t>> by_user_;
  std::unordered_map<std::string, std::size_t> by_dn_;
};

// The detections with a stable id. Order matches kDetections.
enum class Det : std::size_t {
  kFailureBurst,
  kPasswordSpray,
  kOffHours,
  kUnknownPrincipal,
  kDisabledAccount,
  kExpiredAccount,
  kSupplierOutsideWindow,
  kSupplierOutsideZone,
  kCleartext,
  kZoneUnexpected,
  kPatientProtected,
  kEmergency,
  kUnexplainedAccess,
  kCount
};

struct DetectionSpec {
  const char* id;
  Severity severity;
};
constexpr DetectionSpec kDetections[] = {
    {"auth.failure_burst", Severity::kMedium},
    {"auth.password_spray", Severity::kHigh},
    {"access.off_hours", Severity::kMedium},
    {"identity.unknown_principal", Severity::kMedium},
    {"identity.disabled_account", Severity::kHigh},
    {"identity.expired_account", Severity::kHigh},
    {"supplier.outside_window", Severity::kHigh},
    {"supplier.outside_zone", Severity::kHigh},
    {"credentials.cleartext", Severity::kHigh},
    {"zone.unexpected", Severity::kMedium},
    {"patient.protected", Severity::kHigh},
    {"access.emergency", Severity::kHigh},
    {"patient.unexplained_access", Severity::kHigh},
};
static_assert(std::size(kDetections) == static_cast<std::size_t>(Det::kCount));

constexpr std::uint64_t kSecond = 1'000'000'000ULL;

struct DetectionConfig {
  bool enabled = false;
  Severity severity = Severity::kMedium;
  std::size_t threshold = 5;
  std::uint64_t window_ns = 300 * kSecond;
  std::optional<std::size_t> hours;  // access.off_hours: window index
  std::uint64_t grace_ns = 24 * 3600 * kSecond;
  std::uint64_t review_ns = 24 * 3600 * kSecond;
  std::vector<std::string> purposes = {"ETREAT"};
};

struct StaticRelation {
  std::string department;             // folded
  std::optional<std::int64_t> until;  // last day, local; none = open
};

class CompiledPolicy final : public Policy {
 public:
  std::string digest_;
  std::string source_;
  std::vector<std::string> files_;
  std::vector<std::string> warnings_;
  std::vector<Zone> zones_;
  std::vector<Window> windows_;
  std::unordered_set<std::int64_t> holidays_;
  policy::TimeZone tz_;
  std::vector<System> systems_;
  // Index: systems whose addresses are all single hosts, by address bytes;
  // every other system is tried in order. The first match in file order wins.
  std::unordered_map<std::string, std::vector<std::size_t>> systems_by_host_;
  std::vector<std::size_t> systems_unindexed_;
  std::vector<Grant> grants_;
  std::vector<std::vector<std::size_t>> grants_by_system_;       // system index -> grants
  std::unordered_map<std::string, std::string> domain_aliases_;  // folded alias -> canonical
  bool allow_unlisted_ = false;
  Directory directory_;
  std::array<DetectionConfig, static_cast<std::size_t>(Det::kCount)> detections_;
  std::unordered_set<std::string> protected_patients_;
  std::unordered_map<std::string, std::vector<StaticRelation>> relations_;  // patient -> ...

  const std::string& digest() const override { return digest_; }
  const std::string& source() const override { return source_; }
  const std::vector<std::string>& warnings() const override { return warnings_; }
  const std::vector<std::string>& files() const override { return files_; }
  Decision evaluate(const v1::AccessEvent& event) const override {
    return run(event, nullptr, nullptr);
  }
  Decision evaluate(const v1::AccessEvent& event, DetectionState& state) const override {
    return run(event, &state, nullptr);
  }
  Decision explain(const v1::AccessEvent& event, DetectionState& state,
                   std::vector<std::string>& trace) const override {
    return run(event, &state, &trace);
  }

  Identity canonical(Identity id) const {
    if (id.form == Identity::Form::kName && !id.domain.empty()) {
      const auto it = domain_aliases_.find(id.domain);
      if (it != domain_aliases_.end()) id.domain = it->second;
    }
    return id;
  }
  const DetectionConfig& det(Det d) const { return detections_[static_cast<std::size_t>(d)]; }
  DetectionConfig& det(Det d) { return detections_[static_cast<std::size_t>(d)]; }

  std::uint64_t zones_of(const std::string& address) const {
    std::uint64_t mask = 0;
    for (std::size_t i = 0; i < zones_.size(); ++i) {
      for (const Cidr& c : zones_[i].networks) {
        if (c.contains(address)) {
          mask |= std::uint64_t{1} << i;
          break;
        }
      }
    }
    return mask;
  }
  std::string zone_names(std::uint64_t mask) const {
    std::string out;
    for (std::size_t i = 0; i < zones_.size(); ++i) {
      if (mask & (std::uint64_t{1} << i)) out += (out.empty() ? "" : ", ") + zones_[i].name;
    }
    return out.empty() ? "no zone" : out;
  }
  bool in_window(const Window& w, std::int64_t unix_s) const;

  void index_systems() {
    for (std::size_t i = 0; i < systems_.size(); ++i) {
      const System& s = systems_[i];
      const bool hosts =
          !s.addresses.empty() && std::all_of(s.addresses.begin(), s.addresses.end(),
                                              [](const Cidr& c) { return c.is_host(); });
      if (!hosts) {
        systems_unindexed_.push_back(i);
        continue;
      }
      for (const Cidr& c : s.addresses) {
        auto& list = systems_by_host_[c.host_bytes()];
        if (list.empty() || list.back() != i) list.push_back(i);
      }
    }
  }

  std::size_t find_system(const v1::AccessEvent& e) const {
    const std::string protocol = fold_ascii(e.protocol());
    std::size_t best = systems_.size();
    auto scan = [&](const std::vector<std::size_t>& list) {
      for (std::size_t i : list) {
        if (i >= best) return;
        if (systems_[i].matches(e, protocol)) {
          best = i;
          return;
        }
      }
    };
    const std::string& a = e.dst().address();
    if (const auto it = systems_by_host_.find(a); it != systems_by_host_.end()) scan(it->second);
    static constexpr char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, '\xff', '\xff'};
    if (a.size() == 16 && a.compare(0, 12, kMapped, 12) == 0) {
      if (const auto it = systems_by_host_.find(a.substr(12)); it != systems_by_host_.end()) {
        scan(it->second);
      }
    }
    scan(systems_unindexed_);
    return best;
  }

 private:
  Decision run(const v1::AccessEvent& e, DetectionState* state,
               std::vector<std::string>* trace) const;
  void learn_adt(const v1::AccessEvent& e, DetectionState& state,
                 std::vector<std::string>* trace) const;
  void add(Decision& d, Det which, const std::string& system, std::string explanation) const {
    d.findings.push_back(Finding{kDetections[static_cast<std::size_t>(which)].id,
                                 det(which).severity, system, std::move(explanation)});
  }
};

bool CompiledPolicy::in_window(const Window& w, std::int64_t unix_s) const {
  const policy::LocalTime lt = tz_.local(unix_s);
  std::int64_t day = policy::days_from_civil(lt.year, lt.month, lt.day);
  const int m = lt.minute_of_day;
  if (w.from < w.to) {
    if (m < w.from || m >= w.to) return false;
  } else if (w.from > w.to) {
    if (m < w.to) {
      --day;  // the early hours of a shift that began yesterday
    } else if (m < w.from) {
      return false;
    }
  }
  const int weekday = static_cast<int>(((day + 4) % 7 + 7) % 7);
  if (!(w.days & (1u << weekday))) return false;
  const bool holiday = holidays_.count(day) != 0;
  switch (w.holidays) {
    case Window::Holidays::kExclude:
      return !holiday;
    case Window::Holidays::kOnly:
      return holiday;
    default:
      return true;
  }
}

// Quote a name taken from the network for a one-line explanation: ASCII
// control characters as \xNN, long names cut. (Renderers sanitize again.)
std::string quoted(const std::string& s) {
  std::string out = "'";
  std::size_t n = 0;
  for (unsigned char c : s) {
    if (++n > kMaxQuotedName) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

std::string who(const v1::AccessEvent& e) {
  std::string s = "principal " + quoted(e.principal());
  if (!e.realm().empty()) s += " (realm " + quoted(e.realm()) + ")";
  return s;
}

std::string what(const v1::AccessEvent& e) {
  std::string s = e.protocol().empty() ? "access" : e.protocol();
  if (!e.action().empty()) s += " " + e.action();
  return s;
}

std::string where(const v1::AccessEvent& e) {
  const std::string ep = format_endpoint(e.dst());
  return ep.empty() ? std::string() : " at " + ep;
}

std::string from_where(const v1::AccessEvent& e) {
  const std::string a = format_address(e.src().address());
  return a.empty() ? std::string() : " from " + a;
}

const char* verb(const v1::AccessEvent& e) {
  return e.outcome() == v1::OUTCOME_SUCCESS ? "succeeded" : "was seen (outcome unknown)";
}

bool action_allowed(const Grant& g, const std::string& folded_action) {
  return g.actions.empty() ||
         std::find(g.actions.begin(), g.actions.end(), folded_action) != g.actions.end();
}

std::string detail(const v1::AccessEvent& e, const char* key) {
  const auto it = e.detail().find(key);
  return it == e.detail().end() ? std::string() : it->second;
}

std::string local_time_text(const policy::TimeZone& tz, std::uint64_t time_ns) {
  const policy::LocalTime lt = tz.local(static_cast<std::int64_t>(time_ns / kSecond));
  char buf[64];
  std::snprintf(buf, sizeof buf, "%s %02d:%02d %s", lt.date().c_str(), lt.minute_of_day / 60,
                lt.minute_of_day % 60, tz.name().c_str());
  return buf;
}

bool cleartext_credentials(const v1::AccessEvent& e, std::string& how) {
  const std::string protocol = fold_ascii(e.protocol());
  const std::string auth = fold_ascii(detail(e, "auth"));
  const bool tls = fold_ascii(detail(e, "tls")) == "true";
  if (e.principal().empty() || tls) return false;
  if (protocol == "ldap" && auth == "simple" && (e.dst().port() == 389 || e.dst().port() == 3268)) {
    how = "an LDAP simple bind without StartTLS";
    return true;
  }
  if (protocol == "http" && auth == "basic") {
    how = "HTTP Basic authentication over plain HTTP";
    return true;
  }
  if (protocol == "ftp" && (fold_ascii(e.action()) == "login" || fold_ascii(e.action()) == "user" ||
                            fold_ascii(e.action()) == "pass")) {
    how = "an FTP login";
    return true;
  }
  return false;
}

void CompiledPolicy::learn_adt(const v1::AccessEvent& e, DetectionState& state,
                               std::vector<std::string>* trace) const {
  const std::string trigger = fold_ascii(detail(e, "trigger"));
  const std::string dept = fold_ascii(detail(e, "department"));
  const std::string prior = fold_ascii(detail(e, "prior_department"));
  if (e.patient().empty() || dept.empty()) return;
  const std::uint64_t t = e.time_ns();
  const std::uint64_t grace = det(Det::kUnexplainedAccess).grace_ns;
  const std::string up = detail(e, "trigger");
  if (trigger == "a01" || trigger == "a04" || trigger == "a08" || trigger == "a13") {
    state.open_relation(e.patient(), dept, t, up);
  } else if (trigger == "a02") {
    state.open_relation(e.patient(), dept, t, up);
    if (!prior.empty() && prior != dept) state.close_relation(e.patient(), prior, t, grace, up);
  } else if (trigger == "a03") {
    state.close_relation(e.patient(), dept, t, grace, up);
  } else if (trigger == "a11") {
    state.close_relation(e.patient(), dept, t, 0, up);
  } else if (trigger == "a12") {
    state.close_relation(e.patient(), dept, t, 0, up);
    if (!prior.empty() && prior != dept) state.open_relation(e.patient(), prior, t, up);
  } else {
    return;
  }
  if (trace) trace->push_back("treatment relations: ADT " + up + " for department " + dept);
}

Decision CompiledPolicy::run(const v1::AccessEvent& e, DetectionState* state,
                             std::vector<std::string>* trace) const {
  Decision d;
  auto note = [&](const std::string& line) {
    if (trace) trace->push_back(line);
  };
  // Capture-health records ("vagt") are evidence about the sensor, not access.
  if (e.protocol() == "vagt") {
    if (trace) note("capture-health record: not judged");
    return d;
  }

  const std::size_t sys = find_system(e);
  const bool listed = sys < systems_.size();
  if (listed) d.system = systems_[sys].name;
  if (trace)
    note(listed
             ? "system: '" + systems_[sys].name + "' (" +
                   classification_name(systems_[sys].classification) +
                   "), the first whose match fits " + format_endpoint(e.dst()) + " " + e.protocol()
             : "system: none matches " + format_endpoint(e.dst()) + " " + e.protocol());
  const std::uint64_t src_zones = zones_of(e.src().address());
  if (!zones_.empty() && trace) note("source zones: " + zone_names(src_zones));
  const std::string system_name = listed ? systems_[sys].name : std::string();
  const std::int64_t unix_s = static_cast<std::int64_t>(e.time_ns() / kSecond);

  const Identity id = canonical(policy::identity_from_event(e.principal(), e.realm()));
  const bool anonymous = id.form == Identity::Form::kAnonymous;
  const Person* person = directory_.given ? directory_.find(id) : nullptr;
  if (directory_.given && !anonymous) {
    if (trace)
      note(person ? "directory: " + quoted(person->name) + ", " + kind_name(person->kind) +
                        (person->department.empty() ? "" : ", department " + person->department) +
                        (person->active ? "" : ", disabled")
                  : "directory: principal not listed");
  }

  if (state && fold_ascii(e.protocol()) == "hl7" && fold_ascii(e.action()) == "adt") {
    learn_adt(e, *state, trace);
  }

  // Credentials in clear text are exposed whatever the outcome.
  if (det(Det::kCleartext).enabled) {
    std::string how;
    if (cleartext_credentials(e, how)) {
      add(d, Det::kCleartext, system_name,
          "Credentials of " + who(e) + " crossed the network in clear text (" + how + ")" +
              from_where(e) + where(e) + ".");
    }
  }

  // A failed authentication is not a use of access; it stays a recorded event
  // and feeds the failure detections.
  if (e.outcome() == v1::OUTCOME_FAILURE) {
    if (state && !anonymous) {
      const std::string key = id.form == Identity::Form::kDn ? id.dn : id.user + "@" + id.domain;
      if (const auto& c = det(Det::kFailureBurst); c.enabled) {
        const auto n = state->record_failure(key, e.time_ns(), c.window_ns, c.threshold);
        if (trace)
          note("auth.failure_burst: " + std::to_string(n.count) +
               " failure(s) of this principal "
               "in the window (threshold " +
               std::to_string(c.threshold) + ")");
        if (n.alert) {
          add(d, Det::kFailureBurst, system_name,
              std::to_string(n.count) + " failed authentications of " + who(e) + " within " +
                  std::to_string(c.window_ns / kSecond) + " s (threshold " +
                  std::to_string(c.threshold) + ")" + where(e) + ".");
        }
      }
      if (const auto& c = det(Det::kPasswordSpray); c.enabled) {
        const std::string src = format_address(e.src().address());
        const auto n = state->record_spray(src, key, e.time_ns(), c.window_ns, c.threshold);
        if (trace)
          note("auth.password_spray: " + std::to_string(n.count) +
               " distinct principal(s) failed from this source in the window (threshold " +
               std::to_string(c.threshold) + ")");
        if (n.alert) {
          add(d, Det::kPasswordSpray, system_name,
              "Failed authentications for " + std::to_string(n.count) +
                  " distinct principals from " + src + " within " +
                  std::to_string(c.window_ns / kSecond) + " s (threshold " +
                  std::to_string(c.threshold) + "): possible password spraying.");
        }
      }
    }
    if (trace) note("failed authentication: no RBAC decision");
    d.allowed = d.findings.empty();
    return d;
  }

  // Identity findings need a directory.
  if (directory_.given && !anonymous) {
    if (!person) {
      if (det(Det::kUnknownPrincipal).enabled) {
        add(d, Det::kUnknownPrincipal, system_name,
            "The " + what(e) + " by " + who(e) + " " + verb(e) + where(e) +
                ", and the directory does not list the principal.");
      }
    } else {
      if (!person->active && det(Det::kDisabledAccount).enabled) {
        add(d, Det::kDisabledAccount, system_name,
            "The " + what(e) + " by " + who(e) + " " + verb(e) + where(e) +
                ", but the account is disabled in the directory.");
      }
      if (person->valid_until && det(Det::kExpiredAccount).enabled) {
        const policy::LocalTime lt = tz_.local(unix_s);
        if (policy::days_from_civil(lt.year, lt.month, lt.day) > *person->valid_until) {
          add(
              d, Det::kExpiredAccount, system_name,
              "The " + what(e) + " by " + who(e) + " " + verb(e) + where(e) +
                  ", but the account was valid only until " +
                  [&] {
                    int y = 0, m = 0, dd = 0;
                    policy::civil_from_days(*person->valid_until, y, m, dd);
                    char buf[16];
                    std::snprintf(buf, sizeof buf, "%04d-%02d-%02d", y, m, dd);
                    return std::string(buf);
                  }() +
                  ".");
        }
      }
    }
  }

  if (!listed) {
    if (!allow_unlisted_) {
      d.findings.push_back(
          Finding{"rbac.unlisted_system", Severity::kLow, "",
                  (anonymous ? std::string("An anonymous ") + what(e) + " " + verb(e)
                             : "The " + what(e) + " by " + who(e) + " " + verb(e)) +
                      where(e) + ", on a system the policy does not list."});
    }
    d.allowed = d.findings.empty();
    return d;
  }

  const System& s = systems_[sys];
  const std::string on_system =
      " on system '" + s.name + "' (" + classification_name(s.classification) + ")" + where(e);

  if (s.from_zones && !(s.from_zones & src_zones) && det(Det::kZoneUnexpected).enabled) {
    add(d, Det::kZoneUnexpected, s.name,
        "The " + what(e) + " by " + (anonymous ? std::string("an anonymous client") : who(e)) +
            " came from " + format_address(e.src().address()) + " (" + zone_names(src_zones) +
            "), not from a zone allowed for system '" + s.name + "' (" + zone_names(s.from_zones) +
            ").");
  }

  // Grants: the first that fully applies wins.
  const std::string action = fold_ascii(e.action());
  const Grant* near_zone = nullptr;
  const Grant* near_window = nullptr;
  const Grant* applied = nullptr;
  bool emergency_role = false;
  std::string via;
  for (std::size_t gi : grants_by_system_[sys]) {
    const Grant& g = grants_[gi];
    if (!action_allowed(g, action)) {
      if (trace) note("grant '" + g.id + "': does not list action '" + e.action() + "'");
      continue;
    }
    bool named = false, zone_ok = false;
    const GrantPath* path = nullptr;
    for (const GrantPath& p : g.paths) {
      if (!(anonymous ? p.anonymous : (p.authenticated || p.who.contains(id)))) continue;
      named = true;
      const std::uint64_t need = p.from_zones;
      if ((need && !(need & src_zones)) || (g.from_zones && !(g.from_zones & src_zones))) {
        continue;
      }
      zone_ok = true;
      path = &p;
      break;
    }
    if (!named) {
      if (trace) note("grant '" + g.id + "': does not name this principal");
      continue;
    }
    if (!zone_ok) {
      if (trace)
        note("grant '" + g.id + "': names the principal, but not from " + zone_names(src_zones));
      if (!near_zone) near_zone = &g;
      continue;
    }
    if (!g.windows.empty() && std::none_of(g.windows.begin(), g.windows.end(), [&](std::size_t w) {
          return in_window(windows_[w], unix_s);
        })) {
      if (trace)
        note("grant '" + g.id + "': names the principal, but not at " +
             local_time_text(tz_, e.time_ns()));
      if (!near_window) near_window = &g;
      continue;
    }
    if (trace) note("grant '" + g.id + "': applies (via " + path->via + ")");
    applied = &g;
    emergency_role = path->emergency;
    via = path->via;
    break;
  }

  if (applied) {
    d.grant_id = applied->id;
  } else {
    const bool supplier = person && person->kind == AccountKind::kSupplier;
    if (supplier && near_zone && det(Det::kSupplierOutsideZone).enabled) {
      add(d, Det::kSupplierOutsideZone, s.name,
          "The " + what(e) + " by supplier " + who(e) + " " + verb(e) + on_system + " from " +
              format_address(e.src().address()) + " (" + zone_names(src_zones) +
              "), outside the zones of grant '" + near_zone->id + "'.");
    } else if (supplier && near_window && det(Det::kSupplierOutsideWindow).enabled) {
      add(d, Det::kSupplierOutsideWindow, s.name,
          "The " + what(e) + " by supplier " + who(e) + " " + verb(e) + on_system + " at " +
              local_time_text(tz_, e.time_ns()) + ", outside the windows of grant '" +
              near_window->id + "'.");
    } else if (anonymous) {
      d.findings.push_back(Finding{"rbac.anonymous", severity_for(s.classification), s.name,
                                   "An anonymous " + what(e) + " " + verb(e) + on_system +
                                       ", and no grant allows anonymous access."});
    } else {
      std::string why;
      if (near_zone) {
        why = " (grant '" + near_zone->id + "' names the principal but not from " +
              zone_names(src_zones) + ")";
      } else if (near_window) {
        why = " (grant '" + near_window->id + "' names the principal but not at " +
              local_time_text(tz_, e.time_ns()) + ")";
      }
      d.findings.push_back(Finding{"rbac.no_grant", severity_for(s.classification), s.name,
                                   "The " + what(e) + " by " + who(e) + " " + verb(e) + on_system +
                                       ", and no grant allows it" + why + "."});
    }
  }

  // Health-data detections.
  const bool health = s.classification == Classification::kHealthData;
  if (health && det(Det::kOffHours).enabled && det(Det::kOffHours).hours &&
      !in_window(windows_[*det(Det::kOffHours).hours], unix_s)) {
    add(d, Det::kOffHours, s.name,
        "The " + what(e) + " by " + (anonymous ? std::string("an anonymous client") : who(e)) +
            " on health-data system '" + s.name + "' at " + local_time_text(tz_, e.time_ns()) +
            ", outside window '" + windows_[*det(Det::kOffHours).hours].name + "'.");
  }
  if (!e.patient().empty() && det(Det::kPatientProtected).enabled &&
      protected_patients_.count(e.patient())) {
    add(d, Det::kPatientProtected, s.name,
        "The " + what(e) + " by " + who(e) + on_system +
            " concerned a patient on the protected list.");
  }
  const auto& em = det(Det::kEmergency);
  const std::string purpose = detail(e, "purpose_of_use");
  const bool etreat = !purpose.empty() && std::find(em.purposes.begin(), em.purposes.end(),
                                                    purpose) != em.purposes.end();
  if (emergency_role || etreat) {
    // Break-the-glass is always recorded for review, whatever `detections:` says.
    Finding f{kDetections[static_cast<std::size_t>(Det::kEmergency)].id, em.severity, s.name, ""};
    f.review_deadline_ns = e.time_ns() + em.review_ns;
    f.explanation = "Emergency access (" +
                    (emergency_role ? via : "purpose of use " + quoted(purpose)) + ") by " +
                    who(e) + on_system + ": review due by " + format_time_ns(f.review_deadline_ns) +
                    ".";
    d.findings.push_back(std::move(f));
  }
  const bool adt = fold_ascii(e.protocol()) == "hl7" && fold_ascii(e.action()) == "adt";
  if (health && !adt && !e.patient().empty() && !anonymous &&
      det(Det::kUnexplainedAccess).enabled && state) {
    std::string relation;
    const std::string dept = person ? person->department : std::string();
    if (!dept.empty()) {
      const auto it = relations_.find(e.patient());
      if (it != relations_.end()) {
        const policy::LocalTime lt = tz_.local(unix_s);
        const std::int64_t today = policy::days_from_civil(lt.year, lt.month, lt.day);
        for (const StaticRelation& r : it->second) {
          if (r.department == dept && (!r.until || today <= *r.until)) {
            relation = "treatment relation with department " + dept + " (relations file)";
          }
        }
      }
      if (relation.empty()) {
        if (auto r = state->relation(e.patient(), dept, e.time_ns())) {
          relation = "treatment relation with department " + dept + " since " +
                     format_time_ns(r->since_ns) + " (HL7 ADT " + r->trigger + ")";
        }
      }
    }
    if (relation.empty()) {
      add(d, Det::kUnexplainedAccess, s.name,
          "The " + what(e) + " by " + who(e) + on_system +
              " concerned a patient with no current "
              "treatment relation to " +
              (dept.empty() ? std::string("the principal (no department in the directory)")
                            : "the principal's department " + dept) +
              " (Health Act section 42a).");
    } else {
      d.basis = relation;
      if (trace) note("patient.unexplained_access: explained by " + relation);
    }
  }

  bool breach = false;
  for (const Finding& f : d.findings) {
    if (trace) note("finding " + f.rule_id + " (" + to_string(f.severity) + "): " + f.explanation);
    if (f.rule_id != "access.emergency") breach = true;
  }
  d.allowed = !breach;
  return d;
}

// ---------------------------------------------------------------- loader
//
// yaml-cpp throws; so does this loader internally (LoadError), and
// load_policy_text turns every exception into a Result at its boundary.

struct LoadError {
  std::string message;
};

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void error(const YAML::Mark& mark, const std::string& what) const {
    std::string where = source_;
    if (!mark.is_null()) {
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    throw LoadError{where + ": " + what};
  }
  [[noreturn]] void error(const YAML::Node& node, const std::string& what) const {
    error(node.Mark(), what);
  }

  static const char* kind(const YAML::Node& n) {
    if (!n.IsDefined()) return "nothing";
    switch (n.Type()) {
      case YAML::NodeType::Null:
        return "an empty value";
      case YAML::NodeType::Scalar:
        return "a scalar";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Map:
        return "a mapping";
      default:
        return "nothing";
    }
  }

  // Checks `node` is a mapping with only `allowed` keys, each once.
  void check_map(const YAML::Node& node, const std::string& what,
                 std::initializer_list<const char*> allowed) const {
    if (!node.IsMap()) error(node, what + " must be a mapping, found " + kind(node));
    std::set<std::string> seen;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) error(kv.first, "keys of " + what + " must be plain names");
      const std::string key = kv.first.Scalar();
      if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }) ==
          allowed.end()) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        error(kv.first, "unknown key '" + key + "' in " + what + " (allowed: " + list + ")");
      }
      if (!seen.insert(key).second) error(kv.first, "duplicate key '" + key + "' in " + what);
    }
  }

  // The value of `key` in `map`, or an error at the map when it is missing.
  YAML::Node required(const YAML::Node& map, const char* key, const std::string& what) const {
    YAML::Node v = map[key];
    if (!v.IsDefined()) error(map, what + " has no '" + key + "'");
    return v;
  }

  std::string string_of(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) error(n, what + " must be a string, found " + kind(n));
    return n.Scalar();
  }

  std::string name_of(const YAML::Node& n, const std::string& what) const {
    std::string s = string_of(n, what);
    const bool ok =
        !s.empty() && std::isalnum(static_cast<unsigned char>(s[0])) &&
        std::all_of(s.begin(), s.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        });
    if (!ok) error(n, what + " '" + s + "' must be letters, digits, '-', '_' or '.'");
    return s;
  }

  bool bool_of(const YAML::Node& n, const std::string& what) const {
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
      error(n, what + " must be true or false");
    }
    return b;
  }

  long long int_of(const YAML::Node& n, const std::string& what) const {
    long long v = 0;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) {
      error(n, what + " must be an integer");
    }
    return v;
  }

  // "90s", "5m", "2h", "1d" or a number of seconds -> nanoseconds.
  std::uint64_t duration_of(const YAML::Node& n, const std::string& what) const {
    const std::string v = string_of(n, what);
    std::size_t digits = 0;
    while (digits < v.size() && std::isdigit(static_cast<unsigned char>(v[digits]))) ++digits;
    const std::string unit = v.substr(digits);
    std::uint64_t scale = 0;
    if (unit.empty() || unit == "s") scale = 1;
    if (unit == "m") scale = 60;
    if (unit == "h") scale = 3600;
    if (unit == "d") scale = 86400;
    if (digits == 0 || digits > 7 || scale == 0) {
      error(n, what + " must be a duration such as 90s, 5m, 2h or 1d, not '" + v + "'");
    }
    const std::uint64_t seconds = std::stoull(v.substr(0, digits)) * scale;
    if (seconds == 0 || seconds > 400ULL * 86400) error(n, what + " must be 1s to 400d");
    return seconds * kSecond;
  }

  // An optional list: missing or null is empty.
  std::vector<YAML::Node> list_of(const YAML::Node& n, const std::string& what) const {
    std::vector<YAML::Node> out;
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsSequence()) error(n, what + " must be a list, found " + kind(n));
    for (const auto& item : n) out.push_back(item);
    return out;
  }

  std::unique_ptr<CompiledPolicy> compile(const YAML::Node& root);

  std::string where(const YAML::Node& n) const {
    const YAML::Mark m = n.Mark();
    if (m.is_null()) return source_;
    return source_ + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
  }

  // A file named in the policy, relative to the policy file. Every file read
  // this way is part of the policy set and of its digest.
  std::string read_extra(const YAML::Node& n, const std::string& what) {
    const std::string name = string_of(n, what);
    if (name.empty()) error(n, what + " is empty");
    std::filesystem::path path(name);
    if (path.is_relative()) path = std::filesystem::path(source_).parent_path() / path;
    std::ifstream in(path, std::ios::binary);
    if (!in) error(n, "cannot open " + path.string() + " (" + what + ")");
    std::string bytes;
    char buf[65536];
    while (in.read(buf, sizeof buf) || in.gcount() > 0) {
      bytes.append(buf, static_cast<std::size_t>(in.gcount()));
      if (bytes.size() > kMaxPolicyBytes * 4) error(n, path.string() + " is larger than 64 MiB");
    }
    if (in.bad()) error(n, "cannot read " + path.string());
    extra_.emplace_back(name, bytes);
    files_.push_back(path.string());
    return bytes;
  }

  const std::vector<std::pair<std::string, std::string>>& extra() const { return extra_; }
  std::vector<std::string>& files() { return files_; }

 private:
  std::string source_;
  std::vector<std::pair<std::string, std::string>> extra_;  // (name as written, bytes)
  std::vector<std::string> files_;
};

// RFC 4180 CSV: quoted fields may hold ',', '"' (doubled) and line breaks.
// Rows are returned with the line each starts on; errors say file:line.
struct CsvRow {
  std::size_t line = 0;
  std::vector<std::string> fields;
};

std::vector<CsvRow> parse_csv(std::string_view text, const std::string& file) {
  constexpr std::size_t kMaxRows = 2'000'000;
  constexpr std::size_t kMaxFields = 256;
  std::vector<CsvRow> rows;
  std::size_t line = 1;
  std::size_t i = 0;
  if (text.substr(0, 3) == "\xEF\xBB\xBF") i = 3;  // BOM from spreadsheet exports
  while (i < text.size()) {
    CsvRow row;
    row.line = line;
    std::string field;
    bool quoted_field = false, end_row = false;
    while (!end_row) {
      if (i >= text.size()) {
        end_row = true;
      } else if (quoted_field) {
        const char c = text[i++];
        if (c == '"') {
          if (i < text.size() && text[i] == '"') {
            field += '"';
            ++i;
          } else {
            quoted_field = false;
          }
        } else {
          if (c == '\n') ++line;
          field += c;
        }
        if (quoted_field && i >= text.size()) {
          throw LoadError{file + ":" + std::to_string(row.line) + ": unterminated quoted field"};
        }
        continue;
      } else {
        const char c = text[i++];
        if (c == '"' && field.empty()) {
          quoted_field = true;
          continue;
        }
        if (c == ',') {
          row.fields.push_back(std::move(field));
          field.clear();
          if (row.fields.size() > kMaxFields) {
            throw LoadError{file + ":" + std::to_string(row.line) + ": more than 256 fields"};
          }
          continue;
        }
        if (c == '\r' && i < text.size() && text[i] == '\n') continue;
        if (c == '\n') {
          ++line;
          end_row = true;
          continue;
        }
        field += c;
        continue;
      }
    }
    row.fields.push_back(std::move(field));
    const bool blank = row.fields.size() == 1 && row.fields[0].empty();
    if (!blank) rows.push_back(std::move(row));
    if (rows.size() > kMaxRows) throw LoadError{file + ": more than 2,000,000 rows"};
  }
  return rows;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> split_list(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  while (start <= s.size()) {
    const std::size_t end = std::min(s.find(sep, start), s.size());
    std::string item = trim(s.substr(start, end - start));
    if (!item.empty()) out.push_back(std::move(item));
    start = end + 1;
  }
  return out;
}

// "YYYY-MM-DD" -> days since 1970-01-01.
std::optional<std::int64_t> parse_date(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-') return std::nullopt;
  int v[3] = {0, 0, 0};
  const std::size_t starts[3] = {0, 5, 8}, lens[3] = {4, 2, 2};
  for (int k = 0; k < 3; ++k) {
    for (std::size_t j = 0; j < lens[k]; ++j) {
      const char c = s[starts[k] + j];
      if (c < '0' || c > '9') return std::nullopt;
      v[k] = v[k] * 10 + (c - '0');
    }
  }
  if (v[1] < 1 || v[1] > 12 || v[2] < 1) return std::nullopt;
  const std::int64_t days = policy::days_from_civil(v[0], v[1], v[2]);
  int y = 0, m = 0, d = 0;
  policy::civil_from_days(days, y, m, d);
  if (y != v[0] || m != v[1] || d != v[2]) return std::nullopt;  // 2026-02-30
  return days;
}

// "HH:MM" -> minutes; "24:00" only when `allow_24`.
std::optional<int> parse_clock(std::string_view s, bool allow_24) {
  if (s.size() != 5 || s[2] != ':') return std::nullopt;
  for (std::size_t i : {0, 1, 3, 4})
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
  const int h = (s[0] - '0') * 10 + (s[1] - '0');
  const int m = (s[3] - '0') * 10 + (s[4] - '0');
  if (m > 59) return std::nullopt;
  if (h == 24 && m == 0 && allow_24) return 1440;
  if (h > 23) return std::nullopt;
  return h * 60 + m;
}

std::optional<AccountKind> kind_from(std::string_view s) {
  const std::string k = fold_ascii(s);
  if (k == "human") return AccountKind::kHuman;
  if (k == "service") return AccountKind::kService;
  if (k == "supplier") return AccountKind::kSupplier;
  return std::nullopt;
}

std::optional<bool> active_from(std::string_view s) {
  const std::string k = fold_ascii(s);
  if (k == "active" || k == "enabled" || k.empty()) return true;
  if (k == "disabled" || k == "inactive" || k == "locked") return false;
  return std::nullopt;
}

struct RoleDef {
  std::string name;
  YAML::Node node;
  std::vector<Identity> members;
  std::vector<std::pair<std::string, YAML::Node>> inherits;
  std::uint64_t from_zones = 0;
  bool emergency = false;
  PrincipalSet effective;
};

std::unique_ptr<CompiledPolicy> Loader::compile(const YAML::Node& root) {
  if (!root.IsDefined() || root.IsNull()) error(YAML::Mark::null_mark(), "the policy is empty");
  check_map(root, "the policy",
            {"version", "name", "description", "unlisted_systems", "timezone", "holidays", "zones",
             "windows", "domains", "systems", "directory", "roles", "grants", "detections"});
  auto p = std::make_unique<CompiledPolicy>();

  const YAML::Node version = required(root, "version", "the policy");
  if (int_of(version, "version") != kPolicyVersion) {
    error(version, "unsupported policy version (this collector reads version 1)");
  }
  string_of(required(root, "name", "the policy"), "name");
  if (root["description"]) string_of(root["description"], "description");
  if (const YAML::Node u = root["unlisted_systems"]) {
    const std::string v = string_of(u, "unlisted_systems");
    if (v == "allow") {
      p->allow_unlisted_ = true;
    } else if (v != "flag") {
      error(u, "unlisted_systems must be 'flag' or 'allow', not '" + v + "'");
    }
  }

  // domains: canonical names and their aliases (NetBIOS names, UPN suffixes).
  for (const YAML::Node& dn : list_of(root["domains"], "domains")) {
    check_map(dn, "a domain", {"name", "aliases"});
    const YAML::Node name_node = required(dn, "name", "a domain");
    const std::string canonical = fold_ascii(string_of(name_node, "domain name"));
    if (canonical.empty()) error(name_node, "a domain name is empty");
    std::vector<std::pair<std::string, YAML::Node>> names = {{canonical, name_node}};
    for (const YAML::Node& a : list_of(dn["aliases"], "aliases")) {
      names.emplace_back(fold_ascii(string_of(a, "a domain alias")), a);
    }
    for (const auto& [alias, node] : names) {
      if (alias.empty()) error(node, "a domain alias is empty");
      if (!p->domain_aliases_.emplace(alias, canonical).second) {
        error(node, "domain name or alias '" + alias + "' is given twice");
      }
    }
  }

  // timezone and holidays: how windows and dates are read.
  const bool needs_tz = root["windows"] || root["directory"] || root["holidays"] ||
                        root["timezone"] || root["detections"];
  if (needs_tz) {
    const YAML::Node tzn = root["timezone"];
    const std::string name = tzn ? string_of(tzn, "timezone") : std::string("Europe/Copenhagen");
    auto tz = policy::TimeZone::load(name);
    if (!tz) {
      if (tzn) error(tzn, tz.error().message);
      error(YAML::Mark::null_mark(), "default timezone: " + tz.error().message);
    }
    p->tz_ = std::move(*tz);
  }
  for (const YAML::Node& h : list_of(root["holidays"], "holidays")) {
    const auto day = parse_date(string_of(h, "a holiday"));
    if (!day) error(h, "a holiday must be a date YYYY-MM-DD, not '" + h.Scalar() + "'");
    p->holidays_.insert(*day);
  }

  // zones: named networks that sources are in.
  std::unordered_map<std::string, std::size_t> zone_index;
  for (const YAML::Node& zn : list_of(root["zones"], "zones")) {
    check_map(zn, "a zone", {"name", "description", "networks"});
    Zone z;
    const YAML::Node name_node = required(zn, "name", "a zone");
    z.name = name_of(name_node, "zone name");
    if (zn["description"]) string_of(zn["description"], "description of zone '" + z.name + "'");
    const YAML::Node nets = required(zn, "networks", "zone '" + z.name + "'");
    for (const YAML::Node& a : list_of(nets, "networks of zone '" + z.name + "'")) {
      auto cidr = Cidr::parse(string_of(a, "a network"));
      if (!cidr) error(a, cidr.error().message);
      z.networks.push_back(*cidr);
    }
    if (z.networks.empty()) error(nets, "zone '" + z.name + "' lists no networks");
    if (p->zones_.size() == 64) error(name_node, "at most 64 zones");
    if (!zone_index.emplace(z.name, p->zones_.size()).second) {
      error(name_node, "zone '" + z.name + "' is defined twice");
    }
    p->zones_.push_back(std::move(z));
  }
  auto zones_of = [&](const YAML::Node& n, const std::string& what) {
    std::uint64_t mask = 0;
    for (const YAML::Node& z : list_of(n, what)) {
      const std::string name = string_of(z, "a zone of " + what);
      const auto it = zone_index.find(name);
      if (it == zone_index.end())
        error(z, what + " names zone '" + name + "', which is not defined");
      mask |= std::uint64_t{1} << it->second;
    }
    if (n.IsDefined() && !n.IsNull() && mask == 0) error(n, what + " is an empty list");
    return mask;
  };

  // windows: named time windows in the policy's time zone.
  std::unordered_map<std::string, std::size_t> window_index;
  for (const YAML::Node& wn : list_of(root["windows"], "windows")) {
    check_map(wn, "a window", {"name", "description", "weekdays", "from", "to", "holidays"});
    Window w;
    const YAML::Node name_node = required(wn, "name", "a window");
    w.name = name_of(name_node, "window name");
    const std::string what = "window '" + w.name + "'";
    if (wn["description"]) string_of(wn["description"], "description of " + what);
    if (const YAML::Node days = wn["weekdays"]) {
      static constexpr const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};
      w.days = 0;
      for (const YAML::Node& dn : list_of(days, "weekdays of " + what)) {
        const std::string day = fold_ascii(string_of(dn, "a weekday")).substr(0, 3);
        const auto it = std::find(std::begin(kDays), std::end(kDays), day);
        if (it == std::end(kDays) || fold_ascii(dn.Scalar()).size() < 3) {
          error(dn,
                "weekday '" + dn.Scalar() + "' is not one of mon, tue, wed, thu, fri, sat, sun");
        }
        w.days |= static_cast<std::uint8_t>(1u << (it - std::begin(kDays)));
      }
      if (w.days == 0) error(days, what + " lists no weekdays");
    }
    const YAML::Node from = wn["from"], to = wn["to"];
    if (from.IsDefined() != to.IsDefined()) error(wn, what + " needs both 'from' and 'to'");
    if (from) {
      const auto f = parse_clock(string_of(from, "from of " + what), false);
      if (!f) error(from, "'from' of " + what + " must be a time HH:MM (00:00 to 23:59)");
      const auto t = parse_clock(string_of(to, "to of " + what), true);
      if (!t) error(to, "'to' of " + what + " must be a time HH:MM (00:00 to 24:00)");
      w.from = *f;
      w.to = *t == 1440 ? 0 : *t;
      if (*f == *t)
        error(to, what + " runs from " + from.Scalar() +
                      " to the same time: omit "
                      "'from' and 'to' for whole days");
    }
    if (const YAML::Node h = wn["holidays"]) {
      const std::string v = string_of(h, "holidays of " + what);
      if (v == "exclude") {
        w.holidays = Window::Holidays::kExclude;
      } else if (v == "only") {
        w.holidays = Window::Holidays::kOnly;
      } else if (v != "include") {
        error(h, "holidays of " + what + " must be include, exclude or only");
      }
    }
    if (!window_index.emplace(w.name, p->windows_.size()).second) {
      error(name_node, what + " is defined twice");
    }
    p->windows_.push_back(std::move(w));
  }
  auto window_of = [&](const YAML::Node& n, const std::string& what) {
    const std::string name = string_of(n, what);
    const auto it = window_index.find(name);
    if (it == window_index.end())
      error(n, what + " names window '" + name + "', which is not defined");
    return it->second;
  };

  // systems, in order: an event belongs to the first that matches.
  std::unordered_map<std::string, std::size_t> system_index;
  for (const YAML::Node& sn : list_of(root["systems"], "systems")) {
    check_map(sn, "a system",
              {"name", "description", "classification", "owner", "match", "from_zones"});
    System s;
    const YAML::Node name_node = required(sn, "name", "a system");
    s.name = name_of(name_node, "system name");
    const std::string what = "system '" + s.name + "'";
    if (sn["description"]) string_of(sn["description"], "description of " + what);
    if (sn["owner"]) string_of(sn["owner"], "owner of " + what);
    const YAML::Node cl = required(sn, "classification", what);
    const std::string c = string_of(cl, "classification of " + what);
    if (c == "health-data") {
      s.classification = Classification::kHealthData;
    } else if (c == "confidential") {
      s.classification = Classification::kConfidential;
    } else if (c == "internal") {
      s.classification = Classification::kInternal;
    } else if (c == "public") {
      s.classification = Classification::kPublic;
    } else {
      error(cl,
            "classification '" + c + "' is not one of health-data, confidential, internal, public");
    }
    if (const YAML::Node m = sn["match"]) {
      check_map(m, "match of " + what, {"addresses", "ports", "protocols"});
      for (const YAML::Node& a : list_of(m["addresses"], "addresses of " + what)) {
        auto cidr = Cidr::parse(string_of(a, "an address"));
        if (!cidr) error(a, cidr.error().message);
        s.addresses.push_back(*cidr);
      }
      for (const YAML::Node& pn : list_of(m["ports"], "ports of " + what)) {
        const long long port = int_of(pn, "a port");
        if (port < 1 || port > 65535) error(pn, "port " + std::to_string(port) + " is not 1-65535");
        s.ports.push_back(static_cast<std::uint32_t>(port));
      }
      for (const YAML::Node& pr : list_of(m["protocols"], "protocols of " + what)) {
        s.protocols.push_back(fold_ascii(name_of(pr, "a protocol")));
      }
    }
    s.from_zones = zones_of(sn["from_zones"], "from_zones of " + what);
    if (!system_index.emplace(s.name, p->systems_.size()).second) {
      error(name_node, "system '" + s.name + "' is defined twice");
    }
    p->systems_.push_back(std::move(s));
  }
  p->grants_by_system_.resize(p->systems_.size());
  p->index_systems();

  auto member_text = [&](const std::string& text, const YAML::Node& n) {
    auto id = policy::identity_from_member(text);
    if (!id) error(n, id.error().message);
    return p->canonical(*id);
  };
  auto member = [&](const YAML::Node& n, const std::string& what) {
    return member_text(string_of(n, what), n);
  };

  // roles: named lists of principals (more come from the directory).
  std::vector<RoleDef> roles;
  std::unordered_map<std::string, std::size_t> role_index;
  for (const YAML::Node& rn : list_of(root["roles"], "roles")) {
    check_map(rn, "a role",
              {"name", "description", "members", "inherits", "from_zones", "emergency"});
    RoleDef r;
    r.node = required(rn, "name", "a role");
    r.name = name_of(r.node, "role name");
    const std::string what = "role '" + r.name + "'";
    if (rn["description"]) string_of(rn["description"], "description of " + what);
    for (const YAML::Node& m : list_of(rn["members"], "members of " + what)) {
      r.members.push_back(member(m, "a member of " + what));
    }
    for (const YAML::Node& i : list_of(rn["inherits"], "inherits of " + what)) {
      r.inherits.emplace_back(string_of(i, "a role " + what + " inherits"), i);
    }
    r.from_zones = zones_of(rn["from_zones"], "from_zones of " + what);
    if (rn["emergency"]) r.emergency = bool_of(rn["emergency"], "emergency of " + what);
    if (!role_index.emplace(r.name, roles.size()).second) {
      error(r.node, "role '" + r.name + "' is defined twice");
    }
    roles.push_back(std::move(r));
  }
  std::vector<std::vector<std::size_t>> parents(roles.size());
  for (std::size_t i = 0; i < roles.size(); ++i) {
    for (const auto& [name, node] : roles[i].inherits) {
      const auto it = role_index.find(name);
      if (it == role_index.end()) {
        error(node,
              "role '" + roles[i].name + "' inherits role '" + name + "', which is not defined");
      }
      parents[i].push_back(it->second);
    }
  }
  // Cyclic inheritance is refused, naming the cycle.
  {
    std::vector<int> color(roles.size(), 0);
    std::vector<std::size_t> stack;
    std::function<void(std::size_t)> visit = [&](std::size_t r) {
      color[r] = 1;
      stack.push_back(r);
      for (std::size_t q : parents[r]) {
        if (color[q] == 1) {
          std::string cycle;
          auto from = std::find(stack.begin(), stack.end(), q);
          for (auto it = from; it != stack.end(); ++it) cycle += roles[*it].name + " -> ";
          error(roles[r].node, "cyclic role inheritance: " + cycle + roles[q].name);
        }
        if (color[q] == 0) visit(q);
      }
      stack.pop_back();
      color[r] = 2;
    };
    for (std::size_t r = 0; r < roles.size(); ++r)
      if (color[r] == 0) visit(r);
  }

  // directory: principals with attributes, inline and/or from a CSV export.
  std::vector<std::pair<Identity, std::size_t>> directory_roles;  // (principal, role)
  if (const YAML::Node dir = root["directory"]) {
    check_map(dir, "the directory", {"principals", "csv", "columns", "separator", "group_roles"});
    p->directory_.given = true;
    // group -> roles
    std::unordered_map<std::string, std::vector<std::size_t>> group_roles;
    if (const YAML::Node gr = dir["group_roles"]) {
      if (!gr.IsMap()) error(gr, "group_roles must be a mapping of group name to role(s)");
      for (const auto& kv : gr) {
        const std::string group = fold_ascii(string_of(kv.first, "a group name"));
        std::vector<YAML::Node> targets;
        if (kv.second.IsSequence()) {
          targets = list_of(kv.second, "roles of group '" + group + "'");
        } else {
          targets.push_back(kv.second);
        }
        for (const YAML::Node& t : targets) {
          const std::string role = string_of(t, "a role of group '" + group + "'");
          const auto it = role_index.find(role);
          if (it == role_index.end())
            error(t, "group '" + group + "' maps to role '" + role + "', which is not defined");
          group_roles[group].push_back(it->second);
        }
      }
    }
    auto add_person = [&](Person person, const std::vector<std::string>& role_names,
                          const std::vector<std::string>& groups, const std::string& at,
                          const YAML::Node& node) {
      auto fail_at = [&](const std::string& what) {
        if (at.empty()) error(node, what);
        throw LoadError{at + ": " + what};
      };
      if (p->directory_.has(person.id))
        fail_at("principal '" + person.name + "' is listed twice in the directory");
      std::vector<std::size_t> rs;
      for (const std::string& rname : role_names) {
        const auto it = role_index.find(rname);
        if (it == role_index.end())
          fail_at("principal '" + person.name + "' has role '" + rname + "', which is not defined");
        rs.push_back(it->second);
      }
      for (const std::string& g : groups) {
        const auto it = group_roles.find(fold_ascii(g));
        if (it != group_roles.end()) rs.insert(rs.end(), it->second.begin(), it->second.end());
      }
      for (std::size_t r : rs) {
        directory_roles.emplace_back(person.id, r);
        person.roles.push_back(roles[r].name);
      }
      p->directory_.people.push_back(std::move(person));
      p->directory_.index(p->directory_.people.size() - 1);
    };
    for (const YAML::Node& pn : list_of(dir["principals"], "principals of the directory")) {
      check_map(pn, "a directory principal",
                {"name", "description", "roles", "groups", "department", "site", "kind", "status",
                 "valid_until"});
      Person person;
      const YAML::Node name_node = required(pn, "name", "a directory principal");
      person.name = string_of(name_node, "a principal name");
      person.id = member(name_node, "a principal name");
      const std::string what = "directory principal '" + person.name + "'";
      if (pn["description"]) string_of(pn["description"], "description of " + what);
      if (pn["department"])
        person.department = fold_ascii(string_of(pn["department"], "department of " + what));
      if (pn["site"]) person.site = string_of(pn["site"], "site of " + what);
      if (const YAML::Node k = pn["kind"]) {
        const auto kind = kind_from(string_of(k, "kind of " + what));
        if (!kind) error(k, "kind of " + what + " must be human, service or supplier");
        person.kind = *kind;
      }
      if (const YAML::Node st = pn["status"]) {
        const std::string v = string_of(st, "status of " + what);
        if (v != "active" && v != "disabled")
          error(st, "status of " + what + " must be active or disabled");
        person.active = v == "active";
      }
      if (const YAML::Node vu = pn["valid_until"]) {
        person.valid_until = parse_date(string_of(vu, "valid_until of " + what));
        if (!person.valid_until) error(vu, "valid_until of " + what + " must be a date YYYY-MM-DD");
      }
      std::vector<std::string> rnames, groups;
      for (const YAML::Node& r : list_of(pn["roles"], "roles of " + what))
        rnames.push_back(string_of(r, "a role"));
      for (const YAML::Node& g : list_of(pn["groups"], "groups of " + what))
        groups.push_back(string_of(g, "a group"));
      add_person(std::move(person), rnames, groups, "", name_node);
    }
    if (const YAML::Node csv = dir["csv"]) {
      const std::string file = string_of(csv, "directory csv");
      const std::string bytes = read_extra(csv, "the directory CSV");
      const std::vector<CsvRow> rows = parse_csv(bytes, file);
      if (rows.empty()) error(csv, file + " has no header row");
      char sep = ';';
      if (const YAML::Node sp = dir["separator"]) {
        const std::string v = string_of(sp, "separator");
        if (v.size() != 1 || v == ",") error(sp, "separator must be one character other than ','");
        sep = v[0];
      }
      static constexpr const char* kFields[] = {"name", "roles", "groups", "department",
                                                "site", "kind",  "status", "valid_until"};
      std::array<std::optional<std::size_t>, std::size(kFields)> col;
      const YAML::Node cols = dir["columns"];
      if (cols)
        check_map(
            cols, "columns of the directory",
            {"name", "roles", "groups", "department", "site", "kind", "status", "valid_until"});
      for (std::size_t f = 0; f < std::size(kFields); ++f) {
        const std::string header = cols && cols[kFields[f]]
                                       ? string_of(cols[kFields[f]], "a column name")
                                       : std::string(kFields[f]);
        const auto& hdr = rows[0].fields;
        for (std::size_t c = 0; c < hdr.size(); ++c) {
          if (fold_ascii(trim(hdr[c])) == fold_ascii(header)) col[f] = c;
        }
        if (!col[f] && cols && cols[kFields[f]]) {
          error(cols[kFields[f]], file + " has no column '" + header + "'");
        }
      }
      if (!col[0]) error(csv, file + ": the header has no name column (set columns: {name: ...})");
      for (std::size_t r = 1; r < rows.size(); ++r) {
        const CsvRow& row = rows[r];
        const std::string at = file + ":" + std::to_string(row.line);
        auto field = [&](std::size_t f) -> std::string {
          if (!col[f] || *col[f] >= row.fields.size()) return {};
          return trim(row.fields[*col[f]]);
        };
        Person person;
        person.name = field(0);
        auto id = policy::identity_from_member(person.name);
        if (!id) throw LoadError{at + ": " + id.error().message};
        person.id = p->canonical(*id);
        person.department = fold_ascii(field(3));
        person.site = field(4);
        if (!field(5).empty()) {
          const auto kind = kind_from(field(5));
          if (!kind)
            throw LoadError{at + ": kind '" + field(5) + "' is not human, service or supplier"};
          person.kind = *kind;
        }
        const auto active = active_from(field(6));
        if (!active) throw LoadError{at + ": status '" + field(6) + "' is not active or disabled"};
        person.active = *active;
        if (!field(7).empty()) {
          person.valid_until = parse_date(field(7));
          if (!person.valid_until)
            throw LoadError{at + ": valid_until '" + field(7) + "' is not a date YYYY-MM-DD"};
        }
        add_person(std::move(person), split_list(field(1), sep), split_list(field(2), sep), at,
                   csv);
      }
    }
  }

  // Effective members: a role's own, the directory's, and those of every role
  // that inherits it (transitively).
  {
    std::vector<std::vector<std::size_t>> ancestors(roles.size());
    for (std::size_t r = 0; r < roles.size(); ++r) {
      std::vector<std::size_t> todo = {r};
      std::vector<bool> seen(roles.size(), false);
      while (!todo.empty()) {
        const std::size_t q = todo.back();
        todo.pop_back();
        if (seen[q]) continue;
        seen[q] = true;
        ancestors[r].push_back(q);
        for (std::size_t up : parents[q]) todo.push_back(up);
      }
    }
    for (std::size_t r = 0; r < roles.size(); ++r) {
      for (std::size_t a : ancestors[r])
        for (const Identity& m : roles[r].members) roles[a].effective.add(m);
    }
    for (const auto& [id, r] : directory_roles) {
      for (std::size_t a : ancestors[r]) roles[a].effective.add(id);
    }
  }

  // grants: who may do what on which systems, from where, when.
  std::unordered_set<std::string> grant_ids;
  for (const YAML::Node& gn : list_of(root["grants"], "grants")) {
    check_map(gn, "a grant",
              {"id", "description", "roles", "principals", "anonymous", "authenticated", "systems",
               "actions", "from_zones", "windows"});
    const YAML::Node id_node = required(gn, "id", "a grant");
    Grant g;
    g.id = name_of(id_node, "grant id");
    g.where = where(id_node);
    const std::string what = "grant '" + g.id + "'";
    if (!grant_ids.insert(g.id).second) error(id_node, "grant id '" + g.id + "' is used twice");
    if (gn["description"]) string_of(gn["description"], "description of " + what);
    for (const YAML::Node& r : list_of(gn["roles"], "roles of " + what)) {
      const std::string role = string_of(r, "a role of " + what);
      const auto it = role_index.find(role);
      if (it == role_index.end())
        error(r, what + " names role '" + role + "', which is not defined");
      const RoleDef& rd = roles[it->second];
      GrantPath path;
      path.via = "role '" + rd.name + "'";
      path.who = rd.effective;
      path.from_zones = rd.from_zones;
      path.emergency = rd.emergency;
      g.paths.push_back(std::move(path));
      g.role_names.push_back(role);
    }
    GrantPath direct;
    direct.via = "principals";
    bool direct_used = false;
    for (const YAML::Node& pr : list_of(gn["principals"], "principals of " + what)) {
      direct.who.add(member(pr, "a principal of " + what));
      direct_used = true;
    }
    if (gn["anonymous"]) direct.anonymous = bool_of(gn["anonymous"], "anonymous of " + what);
    if (gn["authenticated"]) {
      direct.authenticated = bool_of(gn["authenticated"], "authenticated of " + what);
    }
    if (direct.anonymous) direct.via = "anonymous: true";
    if (direct.authenticated) direct.via = "authenticated: true";
    if (!direct_used && !direct.anonymous && !direct.authenticated && g.paths.empty()) {
      error(id_node, what +
                         " grants nobody: give roles, principals, authenticated: true or "
                         "anonymous: true");
    }
    if (direct_used || direct.anonymous || direct.authenticated)
      g.paths.push_back(std::move(direct));
    for (const YAML::Node& a : list_of(gn["actions"], "actions of " + what)) {
      g.actions.push_back(fold_ascii(name_of(a, "an action")));
    }
    g.from_zones = zones_of(gn["from_zones"], "from_zones of " + what);
    for (const YAML::Node& w : list_of(gn["windows"], "windows of " + what)) {
      g.windows.push_back(window_of(w, "a window of " + what));
    }
    const YAML::Node sys = required(gn, "systems", what);
    const auto systems = list_of(sys, "systems of " + what);
    if (systems.empty()) error(sys, what + " lists no systems");
    const std::size_t index = p->grants_.size();
    for (const YAML::Node& sn : systems) {
      const std::string name = string_of(sn, "a system of " + what);
      const auto it = system_index.find(name);
      if (it == system_index.end()) {
        error(sn, what + " names system '" + name + "', which is not defined");
      }
      auto& list = p->grants_by_system_[it->second];
      if (list.empty() || list.back() != index) list.push_back(index);
    }
    p->grants_.push_back(std::move(g));
  }

  // Overlapping grants are legal (the first that applies wins) but usually a
  // mistake: warn, naming both.
  constexpr std::size_t kMaxWarnings = 100;
  for (std::size_t si = 0; si < p->systems_.size(); ++si) {
    const auto& list = p->grants_by_system_[si];
    for (std::size_t i = 0; i < list.size() && p->warnings_.size() < kMaxWarnings; ++i) {
      for (std::size_t j = i + 1; j < list.size() && p->warnings_.size() < kMaxWarnings; ++j) {
        const Grant& a = p->grants_[list[i]];
        const Grant& b = p->grants_[list[j]];
        const bool actions_overlap =
            a.actions.empty() || b.actions.empty() ||
            std::any_of(a.actions.begin(), a.actions.end(), [&](const std::string& x) {
              return std::find(b.actions.begin(), b.actions.end(), x) != b.actions.end();
            });
        if (!actions_overlap) continue;
        std::string shared;
        for (const std::string& r : a.role_names) {
          if (std::find(b.role_names.begin(), b.role_names.end(), r) != b.role_names.end()) {
            shared = "role '" + r + "'";
            break;
          }
        }
        if (shared.empty()) continue;
        const bool same_limits = a.from_zones == b.from_zones && a.windows == b.windows;
        p->warnings_.push_back(b.where + ": warning: grants '" + a.id + "' (" + a.where +
                               ") and '" + b.id + "' both give " + shared +
                               " overlapping actions on system '" + p->systems_[si].name + "'" +
                               (same_limits
                                    ? " (redundant)"
                                    : " with different zones or windows (contradictory: either one "
                                      "allows the access)"));
      }
    }
  }

  // detections: which are on, their severity and thresholds.
  if (const YAML::Node dets = root["detections"]) {
    if (!dets.IsMap()) error(dets, "detections must be a mapping of detection id to settings");
    std::set<std::string> seen;
    for (const auto& kv : dets) {
      const std::string id = string_of(kv.first, "a detection id");
      const auto* spec = std::find_if(std::begin(kDetections), std::end(kDetections),
                                      [&](const DetectionSpec& d) { return id == d.id; });
      if (spec == std::end(kDetections)) {
        std::string list;
        for (const auto& d : kDetections) list += (list.empty() ? "" : ", ") + std::string(d.id);
        error(kv.first, "unknown detection '" + id + "' (known: " + list + ")");
      }
      if (!seen.insert(id).second) error(kv.first, "detection '" + id + "' is configured twice");
      const Det which = static_cast<Det>(spec - std::begin(kDetections));
      DetectionConfig& c = p->det(which);
      c.enabled = true;
      c.severity = spec->severity;
      const YAML::Node v = kv.second;
      if (v.IsNull()) continue;
      const std::string what = "detection '" + id + "'";
      switch (which) {
        case Det::kFailureBurst:
        case Det::kPasswordSpray:
          check_map(v, what, {"enabled", "severity", "threshold", "window"});
          break;
        case Det::kOffHours:
          check_map(v, what, {"enabled", "severity", "hours"});
          break;
        case Det::kEmergency:
          check_map(v, what, {"enabled", "severity", "review_within_h", "purpose_of_use"});
          break;
        case Det::kUnexplainedAccess:
          check_map(v, what, {"enabled", "severity", "grace", "relations"});
          break;
        case Det::kPatientProtected:
          check_map(v, what, {"enabled", "severity", "patients"});
          break;
        default:
          check_map(v, what, {"enabled", "severity"});
      }
      if (v["enabled"]) c.enabled = bool_of(v["enabled"], "enabled of " + what);
      if (const YAML::Node sv = v["severity"]) {
        const auto sev = severity_from_string(string_of(sv, "severity of " + what));
        if (!sev) error(sv, "severity of " + what + " must be info, low, medium, high or critical");
        c.severity = *sev;
      }
      if (const YAML::Node t = v["threshold"]) {
        const long long n = int_of(t, "threshold of " + what);
        if (n < 2 || n > 1000) error(t, "threshold of " + what + " must be 2 to 1000");
        c.threshold = static_cast<std::size_t>(n);
      }
      if (const YAML::Node w = v["window"]) c.window_ns = duration_of(w, "window of " + what);
      if (const YAML::Node g = v["grace"]) c.grace_ns = duration_of(g, "grace of " + what);
      if (const YAML::Node h = v["hours"]) c.hours = window_of(h, "hours of " + what);
      if (const YAML::Node r = v["review_within_h"]) {
        const long long hrs = int_of(r, "review_within_h of " + what);
        if (hrs < 1 || hrs > 24 * 365) error(r, "review_within_h must be 1 to 8760");
        c.review_ns = static_cast<std::uint64_t>(hrs) * 3600 * kSecond;
      }
      if (const YAML::Node pu = v["purpose_of_use"]) {
        c.purposes.clear();
        for (const YAML::Node& x : list_of(pu, "purpose_of_use of " + what)) {
          c.purposes.push_back(string_of(x, "a purpose of use"));
        }
      }
      for (const YAML::Node& x : list_of(v["patients"], "patients of " + what)) {
        const std::string pseudonym = string_of(x, "a patient pseudonym");
        if (pseudonym.rfind("p1:", 0) != 0) {
          error(x, "a protected patient must be a pseudonym 'p1:...', never a clear identifier");
        }
        p->protected_patients_.insert(pseudonym);
      }
      if (const YAML::Node rel = v["relations"]) {
        const std::string file = string_of(rel, "relations file");
        const std::string bytes = read_extra(rel, "the relations file");
        const std::vector<CsvRow> rows = parse_csv(bytes, file);
        for (const CsvRow& row : rows) {
          const std::string at = file + ":" + std::to_string(row.line);
          if (row.line == rows.front().line && !row.fields.empty() &&
              fold_ascii(trim(row.fields[0])) == "patient") {
            continue;  // header
          }
          if (row.fields.size() < 2 || row.fields.size() > 3) {
            throw LoadError{at + ": expected patient,department[,until]"};
          }
          const std::string pseudonym = trim(row.fields[0]);
          if (pseudonym.rfind("p1:", 0) != 0) {
            throw LoadError{at + ": the patient must be a pseudonym 'p1:...'"};
          }
          StaticRelation sr;
          sr.department = fold_ascii(trim(row.fields[1]));
          if (sr.department.empty()) throw LoadError{at + ": empty department"};
          if (row.fields.size() == 3 && !trim(row.fields[2]).empty()) {
            sr.until = parse_date(trim(row.fields[2]));
            if (!sr.until) throw LoadError{at + ": until must be a date YYYY-MM-DD"};
          }
          p->relations_[pseudonym].push_back(std::move(sr));
        }
      }
    }
    if (p->det(Det::kOffHours).enabled && !p->det(Det::kOffHours).hours) {
      error(dets, "detection 'access.off_hours' needs 'hours: <window name>'");
    }
    for (Det d : {Det::kUnknownPrincipal, Det::kUnexplainedAccess}) {
      if (p->det(d).enabled && !p->directory_.given) {
        error(dets, std::string("detection '") + kDetections[static_cast<std::size_t>(d)].id +
                        "' needs a directory");
      }
    }
  }
  // Break-the-glass is always recorded; its severity defaults to high.
  if (!p->det(Det::kEmergency).enabled) p->det(Det::kEmergency).severity = Severity::kHigh;
  return p;
}

Result<std::string> sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return fail(ErrorCode::kCrypto, "SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

// The line of a second YAML document's marker ("---" after content, or any
// "..." end marker followed by more), or nothing for a single document.
std::optional<std::size_t> second_document_line(std::string_view text) {
  bool content = false;
  std::size_t line = 0;
  for (std::size_t pos = 0; pos <= text.size();) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) end = text.size();
    std::string_view l = text.substr(pos, end - pos);
    ++line;
    if (!l.empty() && l.back() == '\r') l.remove_suffix(1);
    const bool marker = (l.starts_with("---") || l.starts_with("...")) &&
                        (l.size() == 3 || l[3] == ' ' || l[3] == '\t');
    if (marker) {
      if (content || l.starts_with("...")) {
        // "..." ends the document; only trailing comments or blanks may follow.
        if (l.starts_with("---")) return line;
        for (std::size_t p2 = end + 1; p2 < text.size();) {
          std::size_t e2 = text.find('\n', p2);
          if (e2 == std::string_view::npos) e2 = text.size();
          std::string_view rest = text.substr(p2, e2 - p2);
          ++line;
          const auto first = rest.find_first_not_of(" \t\r");
          if (first != std::string_view::npos && rest[first] != '#') return line;
          p2 = e2 + 1;
        }
        return std::nullopt;
      }
    } else {
      const auto first = l.find_first_not_of(" \t");
      if (first != std::string_view::npos && l[first] != '#' && !l.starts_with("%")) content = true;
    }
    pos = end + 1;
  }
  return std::nullopt;
}

}  // namespace

Result<std::shared_ptr<const Policy>> load_policy_text(std::string_view bytes,
                                                       const std::string& source) {
  if (bytes.size() > kMaxPolicyBytes) {
    return fail(ErrorCode::kTooLarge, source + ": policy larger than 16 MiB");
  }
  auto digest = sha256_hex(bytes);
  if (!digest) return tl::unexpected(digest.error());
  if (auto text = yaml::check_yaml_text(bytes, source); !text) return tl::unexpected(text.error());
  if (auto second = second_document_line(bytes))
    return fail(ErrorCode::kInvalidArgument, source + ":" + std::to_string(*second) +
                                                 ":1: a policy file holds one YAML document");
  try {
    // YAML::Load, not LoadAll: yaml-cpp 0.7's LoadAll loops without end on
    // a document that starts with a flow entry (",") (tests/fuzz/regressions).
    const YAML::Node doc = YAML::Load(std::string(bytes));
    Loader loader(source);
    std::unique_ptr<CompiledPolicy> p = loader.compile(doc);
    if (!loader.extra().empty()) {
      // The policy set: the policy file's bytes, then each file it names, in
      // the order loaded, each behind a separator line with its name and size.
      std::string set(bytes);
      for (const auto& [name, content] : loader.extra()) {
        set += "\n--vagt-policy-set-file " + name + " " + std::to_string(content.size()) + "\n";
        set += content;
      }
      digest = sha256_hex(set);
      if (!digest) return tl::unexpected(digest.error());
    }
    p->digest_ = std::move(*digest);
    p->source_ = source;
    p->files_.push_back(source);
    for (const std::string& f : loader.files()) p->files_.push_back(f);
    return std::shared_ptr<const Policy>(std::move(p));
  } catch (const LoadError& e) {
    return fail(ErrorCode::kInvalidArgument, e.message);
  } catch (const YAML::Exception& e) {
    std::string where = source;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return fail(ErrorCode::kInvalidArgument, where + ": " + e.msg);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidArgument, source + ": " + e.what());
  }
}

Result<std::shared_ptr<const Policy>> load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kIo, "cannot open policy file " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return fail(ErrorCode::kIo, "cannot read policy file " + path);
  return load_policy_text(buf.str(), path);
}

}  // namespace vagt::collector
