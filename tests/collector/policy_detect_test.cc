// The policy language beyond RBAC (zones, windows, directory, inheritance)
// and every detection, including window edges and DST change days.

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "collector/policy/detector.h"
#include "collector/policy/policy.h"
#include "collector/policy/tz.h"
#include "tests/collector/policy_test_util.h"

namespace vagt::collector {
namespace {

using testing::addr;
using testing::TempDir;

constexpr std::uint64_t kS = 1'000'000'000ULL;

// UTC instant of a civil time, in ns.
std::uint64_t utc(int y, int m, int d, int hh, int mm, int ss = 0) {
  return static_cast<std::uint64_t>(policy::days_from_civil(y, m, d) * 86400 + hh * 3600 + mm * 60 +
                                    ss) *
         kS;
}

struct Ev {
  const char* dst = "10.20.0.10";
  std::uint32_t port = 443;
  std::string principal = "CORP\\ann";
  const char* src = "10.10.1.1";
  const char* protocol = "http";
  const char* action = "read";
  std::uint64_t time = utc(2026, 6, 10, 8, 0);  // Wednesday 10:00 in Copenhagen
  v1::Outcome outcome = v1::OUTCOME_SUCCESS;
  std::string patient;
  std::vector<std::pair<std::string, std::string>> detail;

  v1::AccessEvent make() const {
    v1::AccessEvent e;
    e.set_time_ns(time);
    e.set_protocol(protocol);
    e.set_action(action);
    e.set_principal(principal);
    e.set_outcome(outcome);
    e.set_patient(patient);
    e.mutable_src()->set_address(addr(src));
    e.mutable_src()->set_port(50000);
    e.mutable_dst()->set_address(addr(dst));
    e.mutable_dst()->set_port(port);
    for (const auto& [k, v] : detail) (*e.mutable_detail())[k] = v;
    return e;
  }
};

constexpr const char* kPolicy = R"(version: 1
name: detect
timezone: Europe/Copenhagen
holidays: [2026-12-24]
domains:
  - name: corp.example
    aliases: [CORP]
zones:
  - name: clinical
    networks: [10.10.0.0/16]
  - name: servers
    networks: [10.20.0.0/16]
  - name: supplier-vpn
    networks: [10.99.0.0/16]
windows:
  - name: day
    weekdays: [mon, tue, wed, thu, fri]
    from: "07:00"
    to: "18:00"
    holidays: exclude
  - name: every-morning
    from: "07:00"
    to: "18:00"
  - name: night
    from: "22:00"
    to: "06:00"
systems:
  - name: epj
    classification: health-data
    from_zones: [clinical, servers, supplier-vpn]
    match: {addresses: [10.20.0.10/32], ports: [443], protocols: [http]}
  - name: nightly
    classification: internal
    match: {addresses: [10.20.0.11/32]}
  - name: directory
    classification: confidential
    match: {addresses: [10.20.0.2/32], protocols: [ldap, ftp]}
  - name: hl7
    classification: health-data
    match: {addresses: [10.20.0.30/32], protocols: [hl7]}
directory:
  group_roles:
    GG-Doctors: doctors
  principals:
    - {name: CORP\ann, groups: [GG-Doctors], department: CARD}
    - {name: CORP\bob, roles: [nurses], department: ORTO, status: disabled}
    - {name: CORP\old, roles: [nurses], department: ORTO, valid_until: 2026-03-01}
    - {name: CORP\sup, roles: [suppliers], kind: supplier}
    - {name: CORP\er, roles: [emergency], department: AKM}
    - {name: CORP\ops, roles: [night-ops], kind: service}
roles:
  - name: clinicians
  - name: doctors
    inherits: [clinicians]
  - name: nurses
    inherits: [clinicians]
  - name: suppliers
    from_zones: [supplier-vpn]
  - name: emergency
    emergency: true
  - name: night-ops
grants:
  - id: clinicians-epj
    roles: [clinicians]
    systems: [epj]
  - id: supplier-epj
    roles: [suppliers]
    systems: [epj]
    windows: [day]
  - id: supplier-morning
    roles: [suppliers]
    systems: [nightly]
    windows: [every-morning]
  - id: night-jobs
    roles: [night-ops]
    systems: [nightly]
    windows: [night]
  - id: emergency-epj
    roles: [emergency]
    systems: [epj]
  - id: bind
    authenticated: true
    systems: [directory]
  - id: adt
    anonymous: true
    systems: [hl7]
detections:
  auth.failure_burst: {threshold: 3, window: 60s}
  auth.password_spray: {threshold: 3, window: 10m, severity: critical}
  access.off_hours: {hours: day}
  identity.unknown_principal:
  identity.disabled_account:
  identity.expired_account:
  supplier.outside_window:
  supplier.outside_zone:
  credentials.cleartext:
  zone.unexpected:
  patient.protected: {patients: ["p1:protected"]}
  access.emergency: {review_within_h: 12}
  patient.unexplained_access: {grace: 2h}
)";

std::vector<std::string> ids(const Decision& d) {
  std::vector<std::string> out;
  for (const Finding& f : d.findings) out.push_back(f.rule_id);
  std::sort(out.begin(), out.end());
  return out;
}

using Ids = std::vector<std::string>;

class DetectTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = load_policy_file(dir_.write("p.yaml", kPolicy));
    ASSERT_TRUE(p) << p.error().message;
    policy_ = *p;
  }
  Decision eval(const Ev& e) { return policy_->evaluate(e.make(), state_); }

  TempDir dir_;
  std::shared_ptr<const Policy> policy_;
  DetectionState state_;
};

TEST_F(DetectTest, GroupToRoleAndInheritanceGrant) {
  const Decision d = eval(Ev{});
  EXPECT_EQ(ids(d), Ids{});
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.grant_id, "clinicians-epj");
}

TEST_F(DetectTest, SupplierWindowEdges) {
  Ev e;
  e.principal = "CORP\\sup";
  e.src = "10.99.0.5";
  e.time = utc(2026, 6, 10, 5, 0);  // 07:00 local (CEST): first minute inside
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = utc(2026, 6, 10, 4, 59, 59);  // 06:59:59: outside
  EXPECT_EQ(ids(eval(e)), (Ids{"access.off_hours", "supplier.outside_window"}));
  e.time = utc(2026, 6, 10, 15, 59, 59);  // 17:59:59: inside
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = utc(2026, 6, 10, 16, 0);  // 18:00: the end is exclusive
  EXPECT_EQ(ids(eval(e)), (Ids{"access.off_hours", "supplier.outside_window"}));
  e.time = utc(2026, 6, 13, 8, 0);  // Saturday 10:00
  EXPECT_EQ(ids(eval(e)), (Ids{"access.off_hours", "supplier.outside_window"}));
  e.time = utc(2026, 12, 24, 9, 0);  // Thursday 10:00 (CET), a holiday
  const Decision d = eval(e);
  EXPECT_EQ(ids(d), (Ids{"access.off_hours", "supplier.outside_window"}));
  EXPECT_FALSE(d.allowed);
  EXPECT_NE(d.findings[0].explanation.find("2026-12-24 10:00 Europe/Copenhagen"), std::string::npos)
      << d.findings[0].explanation;
}

TEST_F(DetectTest, WindowsFollowDaylightSavingChanges) {
  Ev e;
  e.principal = "CORP\\sup";
  e.src = "10.99.0.5";
  e.dst = "10.20.0.11";  // nightly: window every-morning 07:00-18:00 every day
  // Sunday 2026-03-29: clocks go 02:00 CET -> 03:00 CEST.
  e.time = utc(2026, 3, 29, 5, 30);  // 07:30 CEST
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = utc(2026, 3, 28, 5, 30);  // Saturday 06:30 CET
  EXPECT_EQ(ids(eval(e)), Ids{"supplier.outside_window"});
  e.time = utc(2026, 3, 29, 4, 59, 59);  // 06:59:59 CEST
  EXPECT_EQ(ids(eval(e)), Ids{"supplier.outside_window"});
  // Sunday 2026-10-25: clocks go 03:00 CEST -> 02:00 CET.
  e.time = utc(2026, 10, 24, 5, 30);  // 07:30 CEST
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = utc(2026, 10, 25, 5, 30);  // 06:30 CET
  EXPECT_EQ(ids(eval(e)), Ids{"supplier.outside_window"});
  e.time = utc(2026, 10, 25, 6, 0);  // 07:00 CET
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = utc(2026, 10, 25, 16, 59, 59);  // 17:59:59 CET
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = utc(2026, 10, 25, 17, 0);  // 18:00 CET
  EXPECT_EQ(ids(eval(e)), Ids{"supplier.outside_window"});
}

TEST_F(DetectTest, WindowOverMidnightBelongsToItsStartDay) {
  Ev e;
  e.principal = "CORP\\ops";
  e.dst = "10.20.0.11";
  e.time = utc(2026, 6, 10, 20, 0);  // 22:00: inside
  EXPECT_TRUE(eval(e).allowed);
  e.time = utc(2026, 6, 11, 3, 59, 59);  // 05:59:59 next day: inside
  EXPECT_TRUE(eval(e).allowed);
  e.time = utc(2026, 6, 11, 4, 0);  // 06:00: outside, service account -> rbac.no_grant
  const Decision d = eval(e);
  EXPECT_EQ(ids(d), Ids{"rbac.no_grant"});
  EXPECT_NE(d.findings[0].explanation.find("grant 'night-jobs' names the principal but not at"),
            std::string::npos)
      << d.findings[0].explanation;
  e.time = utc(2026, 6, 10, 19, 59);  // 21:59: outside
  EXPECT_FALSE(eval(e).allowed);
}

TEST_F(DetectTest, SupplierOutsideZoneAndZoneUnexpected) {
  Ev e;
  e.principal = "CORP\\sup";
  e.src = "10.10.0.5";  // clinical, not the supplier VPN
  EXPECT_EQ(ids(eval(e)), Ids{"supplier.outside_zone"});
  Ev f;
  f.src = "192.0.2.7";  // no zone
  const Decision d = eval(f);
  EXPECT_EQ(ids(d), Ids{"zone.unexpected"});
  EXPECT_EQ(d.grant_id, "clinicians-epj");
  EXPECT_NE(d.findings[0].explanation.find("clinical, servers, supplier-vpn"), std::string::npos);
}

TEST_F(DetectTest, OffHoursOnHealthDataOnly) {
  Ev e;
  e.time = utc(2026, 6, 10, 21, 0);  // 23:00 local
  const Decision d = eval(e);
  EXPECT_EQ(ids(d), Ids{"access.off_hours"});
  EXPECT_EQ(d.findings[0].severity, Severity::kMedium);
  e.dst = "10.20.0.2";
  e.protocol = "ldap";
  e.action = "bind";
  e.port = 636;
  EXPECT_EQ(ids(eval(e)), Ids{});  // confidential, not health-data
}

TEST_F(DetectTest, DirectoryIdentities) {
  Ev e;
  e.principal = "CORP\\zed";
  EXPECT_EQ(ids(eval(e)), (Ids{"identity.unknown_principal", "rbac.no_grant"}));
  e.principal = "bob@corp.example";
  const Decision disabled = eval(e);
  EXPECT_EQ(ids(disabled), Ids{"identity.disabled_account"});
  EXPECT_EQ(disabled.findings[0].severity,
            Severity::kHigh);  // its default, listed without settings
  e.principal = "CORP\\old";
  e.time = utc(2026, 3, 1, 22, 59, 59);  // 23:59:59 on the last valid day (CET)
  EXPECT_EQ(ids(eval(e)), Ids{"access.off_hours"});
  e.time = utc(2026, 3, 1, 23, 0);  // 00:00 the day after
  EXPECT_EQ(ids(eval(e)), (Ids{"access.off_hours", "identity.expired_account"}));
  e.time = utc(2026, 6, 10, 8, 0);
  EXPECT_EQ(ids(eval(e)), Ids{"identity.expired_account"});
}

TEST_F(DetectTest, CleartextCredentials) {
  Ev e;
  e.dst = "10.20.0.2";
  e.protocol = "ldap";
  e.action = "bind";
  e.port = 389;
  e.detail = {{"auth", "simple"}};
  const Decision d = eval(e);
  EXPECT_EQ(ids(d), Ids{"credentials.cleartext"});
  EXPECT_EQ(d.findings[0].explanation.find("secret"), std::string::npos);
  e.outcome = v1::OUTCOME_FAILURE;  // exposed even when the password was wrong
  EXPECT_EQ(ids(eval(e)), Ids{"credentials.cleartext"});
  e.outcome = v1::OUTCOME_SUCCESS;
  e.port = 3268;
  EXPECT_EQ(ids(eval(e)), Ids{"credentials.cleartext"});
  e.port = 636;
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.port = 389;
  e.detail = {{"auth", "sasl"}};
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.detail = {{"auth", "simple"}};
  e.principal = "";  // anonymous simple bind carries no credentials
  EXPECT_EQ(ids(eval(e)), Ids{"rbac.anonymous"});
  Ev h;
  h.detail = {{"auth", "basic"}};
  EXPECT_EQ(ids(eval(h)), Ids{"credentials.cleartext"});
  Ev f;
  f.dst = "10.20.0.2";
  f.protocol = "ftp";
  f.action = "login";
  f.port = 21;
  EXPECT_EQ(ids(eval(f)), Ids{"credentials.cleartext"});
}

// A failed LDAPS bind of CORP\ann to the directory.
Ev failed_bind() {
  Ev e;
  e.dst = "10.20.0.2";
  e.protocol = "ldap";
  e.action = "bind";
  e.port = 636;
  e.outcome = v1::OUTCOME_FAILURE;
  return e;
}

TEST_F(DetectTest, FailureBurstWindowEdge) {
  Ev e = failed_bind();
  const std::uint64_t t0 = e.time;
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = t0 + 30 * kS;
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = t0 + 60 * kS;  // the first failure is exactly one window old: out
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time = t0 + 61 * kS;  // 30 s, 60 s, 61 s: three within 60 s
  const Decision d = eval(e);
  EXPECT_EQ(ids(d), Ids{"auth.failure_burst"});
  EXPECT_FALSE(d.allowed);
  e.time = t0 + 62 * kS;  // one alert per window
  EXPECT_EQ(ids(eval(e)), Ids{});
  // Another principal has its own count.
  e.principal = "CORP\\bob";
  EXPECT_EQ(ids(eval(e)), Ids{});
  // Stateless evaluation never alerts.
  e.principal = "CORP\\ann";
  EXPECT_EQ(ids(policy_->evaluate(e.make())), Ids{});
}

TEST_F(DetectTest, PasswordSprayCountsDistinctPrincipals) {
  Ev e = failed_bind();
  e.src = "10.10.7.7";
  e.principal = "CORP\\a1";
  EXPECT_EQ(ids(eval(e)), Ids{});
  EXPECT_EQ(ids(eval(e)), Ids{});  // same principal again: still one
  e.principal = "CORP\\a2";
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.principal = "CORP\\a3";
  e.time += 9 * 60 * kS;
  const Decision d = eval(e);
  EXPECT_EQ(ids(d), Ids{"auth.password_spray"});
  EXPECT_EQ(d.findings[0].severity, Severity::kCritical);
  // From another source: separate.
  e.src = "10.10.7.8";
  EXPECT_EQ(ids(eval(e)), Ids{});
}

TEST_F(DetectTest, ProtectedPatient) {
  Ev e;
  e.patient = "p1:protected";
  auto got = ids(eval(e));
  EXPECT_NE(std::find(got.begin(), got.end(), "patient.protected"), got.end());
}

TEST_F(DetectTest, EmergencyAccessNeedsReview) {
  Ev e;
  e.principal = "CORP\\er";
  Decision d = eval(e);
  ASSERT_EQ(ids(d), Ids{"access.emergency"});
  EXPECT_TRUE(d.allowed);  // allowed, but recorded for review
  EXPECT_EQ(d.grant_id, "emergency-epj");
  EXPECT_EQ(d.findings[0].review_deadline_ns, e.time + 12 * 3600 * kS);
  EXPECT_NE(d.findings[0].explanation.find("review due by 2026-06-10T20:00:00"), std::string::npos)
      << d.findings[0].explanation;
  Ev p;
  p.detail = {{"purpose_of_use", "ETREAT"}};
  d = eval(p);
  EXPECT_EQ(ids(d), Ids{"access.emergency"});
}

TEST_F(DetectTest, UnexplainedAccessAndRelationsFromAdt) {
  Ev read;
  read.patient = "p1:aaa";
  read.detail = {{"fhir_resource_type", "Observation"}};
  EXPECT_EQ(ids(eval(read)), Ids{"patient.unexplained_access"});

  Ev adt;
  adt.dst = "10.20.0.30";
  adt.port = 2575;
  adt.protocol = "hl7";
  adt.action = "adt";
  adt.principal = "";
  adt.patient = "p1:aaa";
  adt.time = read.time + kS;
  adt.detail = {{"trigger", "A01"}, {"department", "CARD"}};
  EXPECT_EQ(ids(eval(adt)), Ids{});
  read.time = adt.time + kS;
  Decision d = eval(read);
  EXPECT_EQ(ids(d), Ids{});
  EXPECT_NE(d.basis.find("department card"), std::string::npos) << d.basis;
  EXPECT_NE(d.basis.find("A01"), std::string::npos) << d.basis;

  // Another department's doctor still has no relation.
  Ev nurse = read;
  nurse.principal = "CORP\\er";  // department AKM, emergency role
  EXPECT_EQ(ids(eval(nurse)), (Ids{"access.emergency", "patient.unexplained_access"}));

  // Discharge: the relation lasts the 2 h grace period.
  adt.time = read.time + kS;
  adt.detail = {{"trigger", "A03"}, {"department", "CARD"}};
  eval(adt);
  read.time = adt.time + 2 * 3600 * kS - kS;
  EXPECT_EQ(ids(eval(read)), Ids{});
  read.time = adt.time + 2 * 3600 * kS;
  EXPECT_EQ(ids(eval(read)), Ids{"patient.unexplained_access"});
}

TEST_F(DetectTest, RelationEndsAtGraceAndCancelAdmitEndsAtOnce) {
  Ev read;
  read.patient = "p1:bbb";
  Ev adt;
  adt.dst = "10.20.0.30";
  adt.protocol = "hl7";
  adt.action = "adt";
  adt.principal = "";
  adt.patient = "p1:bbb";
  adt.time = utc(2026, 6, 10, 6, 0);
  adt.detail = {{"trigger", "A04"}, {"department", "card"}};
  eval(adt);
  adt.time = utc(2026, 6, 10, 7, 0);
  adt.detail = {{"trigger", "A03"}, {"department", "CARD"}};
  eval(adt);
  read.time = utc(2026, 6, 10, 8, 59, 59);  // grace 2 h: last second inside
  EXPECT_EQ(ids(eval(read)), Ids{});
  read.time = utc(2026, 6, 10, 9, 0);
  EXPECT_EQ(ids(eval(read)), Ids{"patient.unexplained_access"});

  adt.time = utc(2026, 6, 10, 10, 0);
  adt.detail = {{"trigger", "A01"}, {"department", "CARD"}};
  eval(adt);
  read.time = utc(2026, 6, 10, 10, 1);
  EXPECT_EQ(ids(eval(read)), Ids{});
  adt.time = utc(2026, 6, 10, 10, 2);
  adt.detail = {{"trigger", "A11"}, {"department", "CARD"}};
  eval(adt);
  read.time = utc(2026, 6, 10, 10, 3);
  EXPECT_EQ(ids(eval(read)), Ids{"patient.unexplained_access"});
  // Transfer to ORTO, prior CARD: CARD keeps the grace period, ORTO starts.
  adt.time = utc(2026, 6, 10, 11, 0);
  adt.detail = {{"trigger", "A01"}, {"department", "CARD"}};
  eval(adt);
  adt.time = utc(2026, 6, 10, 12, 0);
  adt.detail = {{"trigger", "A02"}, {"department", "ORTO"}, {"prior_department", "CARD"}};
  eval(adt);
  read.time = utc(2026, 6, 10, 13, 59, 59);
  EXPECT_EQ(ids(eval(read)), Ids{});
  read.time = utc(2026, 6, 10, 14, 0);
  EXPECT_EQ(ids(eval(read)), Ids{"patient.unexplained_access"});
}

TEST_F(DetectTest, StateSurvivesAPolicyReload) {
  Ev e = failed_bind();
  EXPECT_EQ(ids(eval(e)), Ids{});
  e.time += kS;
  EXPECT_EQ(ids(eval(e)), Ids{});
  // A new policy version (a comment added): the rule persists, so does its window.
  auto reloaded = load_policy_text(std::string(kPolicy) + "# v2\n", "p2.yaml");
  ASSERT_TRUE(reloaded) << reloaded.error().message;
  EXPECT_NE((*reloaded)->digest(), policy_->digest());
  e.time += kS;
  EXPECT_EQ(ids((*reloaded)->evaluate(e.make(), state_)), Ids{"auth.failure_burst"});
}

TEST(DetectionState, MemoryCeilingEvictsAndCounts) {
  DetectionState s(2);
  s.record_failure("a", 1 * kS, 60 * kS, 5);
  s.record_failure("b", 2 * kS, 60 * kS, 5);
  s.record_failure("c", 3 * kS, 60 * kS, 5);  // map full of live keys: one evicted
  auto st = s.stats();
  EXPECT_EQ(st.failure_keys, 2u);
  EXPECT_EQ(st.evictions, 1u);
  s.record_failure("d", 200 * kS, 60 * kS, 5);  // expired keys swept first, no eviction
  st = s.stats();
  EXPECT_EQ(st.evictions, 1u);
  EXPECT_EQ(st.failure_keys, 1u);
  for (int i = 0; i < 10; ++i) s.open_relation("p1:x" + std::to_string(i), "card", kS, "A01");
  EXPECT_EQ(s.stats().relations, 2u);
  EXPECT_EQ(s.stats().evictions, 9u);
}

// ------------------------------------------------------------ loading

bool has(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

std::string load_error(const std::string& text) {
  auto p = load_policy_text(text, "bad.yaml");
  return p ? std::string("(loaded)") : p.error().message;
}

TEST(PolicyLanguage, CyclicInheritanceIsRefused) {
  const std::string m = load_error(
      "version: 1\nname: t\nroles:\n  - name: a\n    inherits: [b]\n  - name: b\n    inherits: "
      "[c]\n  - name: c\n    inherits: [a]\n");
  EXPECT_PRED2(has, m, "bad.yaml:8:11: cyclic role inheritance: a -> b -> c -> a");
}

TEST(PolicyLanguage, BadWindowsZonesAndDetections) {
  const std::string base = "version: 1\nname: t\n";
  EXPECT_PRED2(has,
               load_error(base + "windows:\n  - name: w\n    from: \"25:00\"\n    to: \"06:00\"\n"),
               "bad.yaml:5:11: 'from' of window 'w' must be a time HH:MM");
  EXPECT_PRED2(has, load_error(base + "windows:\n  - name: w\n    weekdays: [funday]\n"),
               "bad.yaml:5:16: weekday 'funday'");
  EXPECT_PRED2(has, load_error(base + "zones:\n  - name: z\n    networks: [10.0.0.1/8]\n"),
               "bad.yaml:5:16: '10.0.0.1/8' has host bits");
  EXPECT_PRED2(has, load_error(base + "detections:\n  auth.nope: {}\n"),
               "unknown detection 'auth.nope'");
  EXPECT_PRED2(has, load_error(base + "detections:\n  identity.unknown_principal:\n"),
               "needs a directory");
  EXPECT_PRED2(has, load_error(base + "detections:\n  access.off_hours: {}\n"), "needs 'hours:");
  EXPECT_PRED2(has, load_error(base + "detections:\n  auth.failure_burst: {window: 5 minutes}\n"),
               "bad.yaml:4:32: window of detection 'auth.failure_burst' must be a duration");
  EXPECT_PRED2(has, load_error(base + "timezone: Mars/Olympus\n"), "bad.yaml:3:11: time zone");
  EXPECT_PRED2(has, load_error(base + "holidays: [2026-02-30]\n"), "must be a date");
  EXPECT_PRED2(
      has, load_error(base + "detections:\n  patient.protected: {patients: [\"0101701234\"]}\n"),
      "never a clear identifier");
}

TEST(PolicyLanguage, OverlappingGrantsWarn) {
  auto p = load_policy_text(
      "version: 1\nname: t\nsystems:\n  - {name: s, classification: internal}\nroles:\n  - name: "
      "r\ngrants:\n  - {id: a, roles: [r], systems: [s]}\n  - {id: b, roles: [r], systems: [s], "
      "actions: [read]}\n",
      "w.yaml");
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_EQ((*p)->warnings().size(), 1u);
  EXPECT_PRED2(has, (*p)->warnings()[0], "w.yaml:9:10: warning: grants 'a' (w.yaml:8:10) and 'b'");
}

TEST(PolicyLanguage, DirectoryFromCsvIsPartOfTheDigest) {
  TempDir dir;
  dir.write("people.csv",
            "Account,Dept,Groups,State,Until\n"
            "CORP\\ann,CARD,GG-Doctors;GG-Other,Active,\n"
            "\"CORP\\bob\",\"ORTO\",GG-Doctors,Disabled,2027-01-31\n");
  const std::string text =
      "version: 1\nname: t\ndomains:\n  - {name: corp.example, aliases: [CORP]}\nsystems:\n"
      "  - {name: epj, classification: health-data}\nroles:\n  - name: doctors\n"
      "directory:\n  csv: people.csv\n  columns: {name: Account, department: Dept, groups: "
      "Groups, status: State, valid_until: Until}\n  group_roles: {GG-Doctors: doctors}\n"
      "grants:\n  - {id: g, roles: [doctors], systems: [epj]}\n"
      "detections:\n  identity.disabled_account:\n";
  const std::string path = dir.write("p.yaml", text);
  auto p = load_policy_file(path);
  ASSERT_TRUE(p) << p.error().message;
  ASSERT_EQ((*p)->files().size(), 2u);
  EXPECT_NE((*p)->files()[1].find("people.csv"), std::string::npos);
  auto alone = load_policy_text("version: 1\nname: t\n", "x");
  ASSERT_TRUE(alone);
  Ev e;
  e.dst = "10.1.1.1";
  e.principal = "ann@corp.example";
  DetectionState st;
  EXPECT_EQ((*p)->evaluate(e.make(), st).grant_id, "g");
  e.principal = "CORP\\bob";
  EXPECT_EQ(ids((*p)->evaluate(e.make(), st)), Ids{"identity.disabled_account"});

  // Changing only the CSV changes the digest of the policy set.
  const std::string before = (*p)->digest();
  dir.write("people.csv", "Account,Dept,Groups,State,Until\nCORP\\ann,CARD,GG-Doctors,Active,\n");
  auto q = load_policy_file(path);
  ASSERT_TRUE(q) << q.error().message;
  EXPECT_NE((*q)->digest(), before);

  // A bad row is named by file and line; nothing half-loaded.
  dir.write("people.csv",
            "Account,Dept,Groups,State,Until\nCORP\\ann,CARD,,Active,\n"
            "CORP\\bob,ORTO,,Sleeping,\n");
  auto r = load_policy_file(path);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("people.csv:3: status 'Sleeping'"), std::string::npos)
      << r.error().message;
}

TEST(PolicyLanguage, ExistingPoliciesKeepTheirDigest) {
  const std::string text = "version: 1\nname: t\n";
  auto p = load_policy_text(text, "x");
  ASSERT_TRUE(p);
  // SHA-256("version: 1\nname: t\n"), the file bytes alone.
  EXPECT_EQ((*p)->files(), std::vector<std::string>{"x"});
  EXPECT_EQ((*p)->digest().size(), 64u);
}

// ------------------------------------------------------------ time zones

TEST(TimeZone, CopenhagenFromTzifAcrossDstChanges) {
  auto tz = policy::TimeZone::load("Europe/Copenhagen");
  ASSERT_TRUE(tz) << tz.error().message;
  auto off = [&](std::uint64_t ns) { return tz->offset_at(static_cast<std::int64_t>(ns / kS)); };
  EXPECT_EQ(off(utc(2026, 3, 29, 0, 59, 59)), 3600);
  EXPECT_EQ(off(utc(2026, 3, 29, 1, 0)), 7200);
  EXPECT_EQ(off(utc(2026, 10, 25, 0, 59, 59)), 7200);
  EXPECT_EQ(off(utc(2026, 10, 25, 1, 0)), 3600);
  // Far beyond the file's transitions the POSIX footer rule applies.
  EXPECT_EQ(off(utc(2095, 3, 27, 0, 59, 59)), 3600);  // last Sunday of March 2095 is the 27th
  EXPECT_EQ(off(utc(2095, 3, 27, 1, 0)), 7200);
  EXPECT_EQ(off(utc(2095, 10, 30, 0, 59, 59)), 7200);
  EXPECT_EQ(off(utc(2095, 10, 30, 1, 0)), 3600);
  const policy::LocalTime lt = tz->local(static_cast<std::int64_t>(utc(2026, 3, 29, 1, 0) / kS));
  EXPECT_EQ(lt.date(), "2026-03-29");
  EXPECT_EQ(lt.minute_of_day, 3 * 60);
  EXPECT_EQ(lt.weekday, 0);
}

TEST(TimeZone, PosixRuleMatchesTheEuRule) {
  auto tz = policy::TimeZone::load("CET-1CEST,M3.5.0,M10.5.0/3");
  ASSERT_TRUE(tz) << tz.error().message;
  for (int year : {2024, 2025, 2026, 2027, 2030}) {
    // Last Sundays: find them by stepping back from the 31st.
    for (int month : {3, 10}) {
      int day = 31;
      while (((policy::days_from_civil(year, month, day) + 4) % 7) != 0) --day;
      const std::int64_t change = policy::days_from_civil(year, month, day) * 86400 + 3600;
      EXPECT_EQ(tz->offset_at(change - 1), month == 3 ? 3600 : 7200) << year << "-" << month;
      EXPECT_EQ(tz->offset_at(change), month == 3 ? 7200 : 3600) << year << "-" << month;
    }
  }
  EXPECT_FALSE(policy::TimeZone::load("CET-1CEST,M13.5.0,M10.5.0/3"));
  EXPECT_FALSE(policy::TimeZone::load("CET-1CEST,J60,J300"));
  EXPECT_FALSE(policy::TimeZone::load("../../etc/passwd"));
}

TEST(TimeZone, MalformedTzifIsAnErrorNeverACrash) {
  std::ifstream in("/usr/share/zoneinfo/Europe/Copenhagen", std::ios::binary);
  ASSERT_TRUE(in);
  const std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ASSERT_GT(bytes.size(), 44u);
  std::size_t refused = 0;
  for (std::size_t n = 0; n < bytes.size(); n += 7) {
    if (!policy::TimeZone::from_tzif(bytes.substr(0, n), "cut")) ++refused;
  }
  EXPECT_GT(refused, 0u);
  std::string flipped = bytes;
  flipped[0] = 'X';
  EXPECT_FALSE(policy::TimeZone::from_tzif(flipped, "x"));
  std::string big_count = bytes;
  big_count[32] = '\x7f';  // timecnt far beyond the limit
  EXPECT_FALSE(policy::TimeZone::from_tzif(big_count, "x"));
}

TEST(TimeZone, CivilDaysRoundTrip) {
  for (std::int64_t d = -800000; d < 800000; d += 997) {
    int y = 0, m = 0, dd = 0;
    policy::civil_from_days(d, y, m, dd);
    EXPECT_EQ(policy::days_from_civil(y, m, dd), d);
  }
  EXPECT_EQ(policy::days_from_civil(1970, 1, 1), 0);
  EXPECT_EQ(policy::days_from_civil(2000, 3, 1), 11017);
}

}  // namespace
}  // namespace vagt::collector
