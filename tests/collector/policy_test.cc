#include "collector/policy/policy.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "collector/policy/cidr.h"
#include "collector/policy/principal.h"
#include "tests/collector/policy_test_util.h"

namespace vagt::collector {
namespace {


using testing::addr;
using testing::TempDir;

v1::AccessEvent event(const char* dst, std::uint32_t port, const std::string& principal,
                      const std::string& realm = "", v1::Outcome outcome = v1::OUTCOME_SUCCESS,
                      const char* protocol = "ldap", const char* action = "bind") {
  v1::AccessEvent e;
  e.set_time_ns(1'700'000'000'000'000'000ULL);
  e.set_protocol(protocol);
  e.set_action(action);
  e.set_principal(principal);
  e.set_realm(realm);
  e.set_outcome(outcome);
  e.mutable_src()->set_address(addr("10.9.9.9"));
  e.mutable_src()->set_port(50000);
  e.mutable_dst()->set_address(addr(dst));
  e.mutable_dst()->set_port(port);
  return e;
}

constexpr const char* kPolicy = R"(version: 1
name: test
domains:
  - name: corp.example
    aliases: [CORP]
systems:
  - name: epj
    classification: health-data
    owner: clinic
    match:
      addresses: [10.1.0.0/16, "2001:db8:1::/48"]
      ports: [443]
  - name: dir
    classification: confidential
    match:
      addresses: [10.2.0.0/24]
      ports: [389, 3268]
      protocols: [ldap]
  - name: wiki
    classification: internal
    match:
      addresses: [10.3.0.0/24]
  - name: kiosk
    classification: public
    match:
      addresses: [10.4.0.0/24]
roles:
  - name: doctors
    members:
      - CORP\ann
      - bob@corp.example
      - carl
  - name: dir-admins
    members:
      - "CN=Dir Admin, OU=Admins ,DC=corp,DC=example"
grants:
  - id: doctors-epj
    roles: [doctors]
    systems: [epj]
  - id: admins-bind
    roles: [dir-admins]
    principals: [svc-backup@CORP]
    systems: [dir]
    actions: [bind]
  - id: kiosk-anon
    anonymous: true
    systems: [kiosk]
  - id: wiki-staff
    authenticated: true
    systems: [wiki]
    actions: [read]
)";

class PolicyTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto p = load_policy_file(dir_.write("p.yaml", kPolicy));
    ASSERT_TRUE(p) << p.error().message;
    policy_ = *p;
  }
  Decision eval(const v1::AccessEvent& e) const { return policy_->evaluate(e); }

  TempDir dir_;
  std::shared_ptr<const Policy> policy_;
};

TEST_F(PolicyTest, GrantAllowsViaRole) {
  const Decision d =
      eval(event("10.1.2.3", 443, "ann", "CORP.EXAMPLE", v1::OUTCOME_SUCCESS, "http", "login"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.system, "epj");
  EXPECT_EQ(d.grant_id, "doctors-epj");
  EXPECT_TRUE(d.findings.empty());
}

TEST_F(PolicyTest, NoGrantIsHighOnHealthData) {
  const Decision d = eval(event("10.1.2.3", 443, "mallory", "CORP"));
  EXPECT_FALSE(d.allowed);
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].rule_id, "rbac.no_grant");
  EXPECT_EQ(d.findings[0].severity, Severity::kHigh);
  EXPECT_EQ(d.findings[0].system, "epj");
  const std::string& x = d.findings[0].explanation;
  EXPECT_NE(x.find("'mallory'"), std::string::npos) << x;
  EXPECT_NE(x.find("'epj'"), std::string::npos) << x;
  EXPECT_NE(x.find("no grant"), std::string::npos) << x;
}

TEST_F(PolicyTest, SeverityFollowsClassification) {
  auto sev = [&](const char* dst, std::uint32_t port) {
    const Decision d = eval(event(dst, port, "mallory"));
    EXPECT_EQ(d.findings.size(), 1u);
    return d.findings.empty() ? Severity::kInfo : d.findings[0].severity;
  };
  EXPECT_EQ(sev("10.2.0.5", 389), Severity::kMedium);
  EXPECT_EQ(sev("10.3.0.5", 80), Severity::kLow);
}

TEST_F(PolicyTest, UnknownOutcomeIsJudgedLikeSuccess) {
  const Decision d = eval(event("10.1.2.3", 443, "mallory", "", v1::OUTCOME_UNKNOWN));
  EXPECT_FALSE(d.allowed);
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_NE(d.findings[0].explanation.find("outcome unknown"), std::string::npos);
}

TEST_F(PolicyTest, FailureIsNotABreach) {
  const Decision d = eval(event("10.1.2.3", 443, "mallory", "", v1::OUTCOME_FAILURE));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.system, "epj");
  EXPECT_TRUE(d.findings.empty());
  EXPECT_TRUE(eval(event("10.99.0.1", 22, "mallory", "", v1::OUTCOME_FAILURE)).findings.empty());
}

TEST_F(PolicyTest, PrincipalForms) {
  auto allowed = [&](const std::string& p, const std::string& realm) {
    return eval(event("10.1.0.1", 443, p, realm)).allowed;
  };
  // Member CORP\ann: NetBIOS, UPN, NTLM user + domain, alias or canonical, any case.
  EXPECT_TRUE(allowed("CORP\\ann", ""));
  EXPECT_TRUE(allowed("corp\\ANN", ""));
  EXPECT_TRUE(allowed("ann@corp.example", ""));
  EXPECT_TRUE(allowed("Ann@CORP", ""));
  EXPECT_TRUE(allowed("ann", "CORP"));          // NTLM user + domain
  EXPECT_TRUE(allowed("ann", "corp.example"));  // Kerberos cname + realm
  EXPECT_FALSE(allowed("ann", ""));             // no domain: cannot prove it is CORP
  EXPECT_FALSE(allowed("ann", "OTHER"));
  EXPECT_FALSE(allowed("OTHER\\ann", "CORP"));  // domain in the name wins over realm
  EXPECT_FALSE(allowed("ann@other.example", "CORP"));
  // Member bob@corp.example.
  EXPECT_TRUE(allowed("CORP\\bob", ""));
  EXPECT_TRUE(allowed("BOB", "Corp.Example"));
  EXPECT_FALSE(allowed("bob", "evil.example"));
  // Member carl (no domain): any domain, or none.
  EXPECT_TRUE(allowed("carl", ""));
  EXPECT_TRUE(allowed("X\\Carl", ""));
  EXPECT_TRUE(allowed("carl@anything.example", ""));
  // A DN is never reduced to its CN.
  EXPECT_FALSE(allowed("CN=carl,OU=Users,DC=corp,DC=example", ""));
}

TEST_F(PolicyTest, DnPrincipalsCompareAsNormalisedDn) {
  auto bind = [&](const std::string& p) { return eval(event("10.2.0.7", 389, p)); };
  EXPECT_TRUE(bind("cn=dir admin,ou=admins,dc=CORP,dc=example").allowed);
  EXPECT_TRUE(bind("CN=Dir Admin , OU=Admins, DC=corp, DC=example").allowed);
  EXPECT_EQ(bind("CN=Dir Admin,OU=Admins,DC=corp,DC=example").grant_id, "admins-bind");
  EXPECT_FALSE(bind("CN=Dir Admin,OU=Guests,DC=corp,DC=example").allowed);
  EXPECT_FALSE(bind("CN=DirAdmin,OU=Admins,DC=corp,DC=example").allowed);
  EXPECT_FALSE(bind("Dir Admin").allowed);
}

TEST_F(PolicyTest, GrantActionsAndDirectPrincipals) {
  EXPECT_TRUE(eval(event("10.2.0.7", 389, "svc-backup", "CORP.EXAMPLE")).allowed);
  const Decision search = eval(
      event("10.2.0.7", 389, "svc-backup", "CORP.EXAMPLE", v1::OUTCOME_SUCCESS, "ldap", "search"));
  EXPECT_FALSE(search.allowed);
  EXPECT_EQ(search.findings.at(0).rule_id, "rbac.no_grant");
  // Protocol mismatch: dir only matches ldap, so a krb event there is unlisted.
  EXPECT_EQ(eval(event("10.2.0.7", 389, "svc-backup", "CORP", v1::OUTCOME_SUCCESS, "krb"))
                .findings.at(0)
                .rule_id,
            "rbac.unlisted_system");
}

TEST_F(PolicyTest, CidrMatchingV4AndV6) {
  EXPECT_EQ(eval(event("10.1.255.255", 443, "carl")).system, "epj");
  EXPECT_EQ(eval(event("10.2.0.255", 389, "carl")).system, "dir");
  EXPECT_EQ(eval(event("10.2.1.0", 389, "carl")).system, "");
  EXPECT_EQ(eval(event("2001:db8:1:ffff::1", 443, "carl")).system, "epj");
  EXPECT_EQ(eval(event("2001:db8:2::1", 443, "carl")).system, "");
  EXPECT_EQ(eval(event("::ffff:10.1.0.9", 443, "carl")).system, "epj");  // IPv4-mapped
  EXPECT_EQ(eval(event("10.1.0.9", 80, "carl")).system, "");             // wrong port
}

TEST(Cidr, ParseAndContain) {
  auto c = policy::Cidr::parse("192.168.0.0/23");
  ASSERT_TRUE(c);
  EXPECT_TRUE(c->contains(addr("192.168.1.200")));
  EXPECT_FALSE(c->contains(addr("192.168.2.0")));
  EXPECT_FALSE(c->contains(addr("::1")));
  EXPECT_EQ(c->to_string(), "192.168.0.0/23");
  auto h = policy::Cidr::parse("fe80::1");
  ASSERT_TRUE(h);
  EXPECT_TRUE(h->contains(addr("fe80::1")));
  EXPECT_FALSE(h->contains(addr("fe80::2")));
  EXPECT_TRUE(policy::Cidr::parse("0.0.0.0/0")->contains(addr("8.8.8.8")));
  for (const char* bad : {"10.0.0.1/8", "10.0.0.0/33", "::/129", "10.0.0/8", "x", "10.0.0.0/",
                          "10.0.0.0/-1", "10.0.0.0/8x"}) {
    EXPECT_FALSE(policy::Cidr::parse(bad)) << bad;
  }
}

TEST_F(PolicyTest, UnlistedSystem) {
  const Decision d = eval(event("192.0.2.1", 22, "carl", "", v1::OUTCOME_SUCCESS, "ssh", "login"));
  EXPECT_FALSE(d.allowed);
  EXPECT_EQ(d.system, "");
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].rule_id, "rbac.unlisted_system");
  EXPECT_EQ(d.findings[0].severity, Severity::kLow);
}

TEST(PolicyUnlisted, AllowSilencesUnlisted) {
  TempDir dir;
  auto p = load_policy_file(dir.write("p.yaml", "version: 1\nname: x\nunlisted_systems: allow\n"));
  ASSERT_TRUE(p) << p.error().message;
  const Decision d = (*p)->evaluate(event("192.0.2.1", 22, "carl"));
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.findings.empty());
}

TEST_F(PolicyTest, Anonymous) {
  const Decision d = eval(event("10.2.0.7", 389, ""));
  EXPECT_FALSE(d.allowed);
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].rule_id, "rbac.anonymous");
  EXPECT_EQ(d.findings[0].severity, Severity::kMedium);
  EXPECT_EQ(eval(event("10.2.0.7", 389, "WELLKNOWN/ANONYMOUS", "", v1::OUTCOME_SUCCESS))
                .findings.at(0)
                .rule_id,
            "rbac.anonymous");
  const Decision kiosk = eval(event("10.4.0.7", 80, ""));
  EXPECT_TRUE(kiosk.allowed);
  EXPECT_EQ(kiosk.grant_id, "kiosk-anon");
  // A named principal on the kiosk still needs a grant of its own.
  EXPECT_FALSE(eval(event("10.4.0.7", 80, "carl")).allowed);
  EXPECT_TRUE(eval(event("10.2.0.7", 389, "", "", v1::OUTCOME_FAILURE)).allowed);
}

TEST_F(PolicyTest, ExplanationEscapesNetworkText) {
  const Decision d = eval(event("10.1.0.1", 443, "evil\nname'\x1b[31m", "R"));
  ASSERT_EQ(d.findings.size(), 1u);
  const std::string& x = d.findings[0].explanation;
  EXPECT_EQ(x.find('\n'), std::string::npos) << x;
  EXPECT_EQ(x.find('\x1b'), std::string::npos) << x;
  EXPECT_NE(x.find("'evil\\x0aname'\\x1b[31m'"), std::string::npos) << x;
}

TEST_F(PolicyTest, AuthenticatedGrantCoversAnyNamedPrincipal) {
  auto read = [&](const std::string& p) {
    return eval(event("10.3.0.9", 80, p, "", v1::OUTCOME_SUCCESS, "http", "read"));
  };
  EXPECT_EQ(read("anybody").grant_id, "wiki-staff");
  EXPECT_EQ(read("CN=x,DC=y").grant_id, "wiki-staff");
  EXPECT_EQ(read("").findings.at(0).rule_id, "rbac.anonymous");
  EXPECT_FALSE(
      eval(event("10.3.0.9", 80, "anybody", "", v1::OUTCOME_SUCCESS, "http", "write")).allowed);
}

TEST_F(PolicyTest, ExplanationKeepsDomainBackslash) {
  const Decision d = eval(event("10.1.0.1", 443, "OTHER\\eve", ""));
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_NE(d.findings[0].explanation.find("principal 'OTHER\\eve'"), std::string::npos)
      << d.findings[0].explanation;
}

TEST_F(PolicyTest, CaptureHealthEventsAreNotAccess) {
  const Decision d = eval(event("10.9.9.9", 0, "", "", v1::OUTCOME_SUCCESS, "vagt", "drop"));
  EXPECT_TRUE(d.allowed);
  EXPECT_TRUE(d.findings.empty());
}

TEST(PolicyDigest, ChangesWithOneByte) {
  TempDir dir;
  const std::string text = "version: 1\nname: digest-test\n";
  auto a = load_policy_file(dir.write("a.yaml", text));
  auto b = load_policy_file(dir.write("b.yaml", text + " "));
  auto c = load_policy_file(dir.write("c.yaml", text));
  ASSERT_TRUE(a && b && c);
  EXPECT_EQ((*a)->digest().size(), 64u);
  EXPECT_NE((*a)->digest(), (*b)->digest());
  EXPECT_EQ((*a)->digest(), (*c)->digest());
  // sha256("version: 1\nname: digest-test\n") computed independently (sha256sum).
  EXPECT_EQ((*a)->digest(), "03f6fec7c4a42dfe9beb263fbff5a851e21bcc8f33c1646ed10c50d75053054a");
  auto d = load_policy_text(text, "mem");
  ASSERT_TRUE(d);
  EXPECT_EQ((*d)->digest(), (*a)->digest());
  EXPECT_EQ((*d)->source(), "mem");
}

struct BadCase {
  const char* name;
  const char* yaml;
  int line;
  int column;  // 0: not checked
  const char* message;
};

class PolicyLoadError : public ::testing::TestWithParam<BadCase> {};

TEST_P(PolicyLoadError, NamesFileLineAndProblem) {
  const BadCase& c = GetParam();
  TempDir dir;
  const std::string path = dir.write("bad.yaml", c.yaml);
  auto p = load_policy_file(path);
  ASSERT_FALSE(p) << c.name;
  EXPECT_EQ(p.error().code, ErrorCode::kInvalidArgument);
  const std::string& m = p.error().message;
  std::string where = path + ":" + std::to_string(c.line) + ":";
  if (c.column) where += std::to_string(c.column) + ":";
  EXPECT_EQ(m.rfind(where, 0), 0u) << c.name << ": " << m;
  EXPECT_NE(m.find(c.message), std::string::npos) << c.name << ": " << m;
}

INSTANTIATE_TEST_SUITE_P(
    Cases, PolicyLoadError,
    ::testing::Values(
        BadCase{"unknown_top_key", "version: 1\nname: t\nzonez: []\n", 3, 1, "unknown key 'zonez'"},
        BadCase{"wrong_version", "version: 2\nname: t\n", 1, 10, "unsupported policy version"},
        BadCase{"version_not_int", "version: one\nname: t\n", 1, 10, "must be an integer"},
        BadCase{"syntax", "version: 1\nname: [t\n", 3, 0, ""},
        BadCase{"duplicate_key", "version: 1\nname: t\nname: u\n", 3, 1, "duplicate key 'name'"},
        BadCase{"systems_not_list", "version: 1\nname: t\nsystems: {a: 1}\n", 3, 10,
                "must be a list"},
        BadCase{"unknown_system_key",
                "version: 1\nname: t\nsystems:\n  - name: a\n    classification: public\n"
                "    colour: red\n",
                6, 5, "unknown key 'colour' in a system"},
        BadCase{"bad_classification",
                "version: 1\nname: t\nsystems:\n  - name: a\n    classification: secret\n", 5, 21,
                "classification 'secret'"},
        BadCase{"missing_classification", "version: 1\nname: t\nsystems:\n  - name: a\n", 4, 5,
                "has no 'classification'"},
        BadCase{"bad_cidr",
                "version: 1\nname: t\nsystems:\n  - name: a\n    classification: public\n"
                "    match:\n      addresses: [10.0.0.0/8, 10.0.0.300/32]\n",
                7, 31, "not an IPv4 or IPv6 address"},
        BadCase{"host_bits",
                "version: 1\nname: t\nsystems:\n  - name: a\n    classification: public\n"
                "    match:\n      addresses:\n        - 192.168.66.138/24\n",
                8, 11, "host bits"},
        BadCase{"bad_port",
                "version: 1\nname: t\nsystems:\n  - name: a\n    classification: public\n"
                "    match:\n      ports: [389, 70000]\n",
                7, 20, "not 1-65535"},
        BadCase{"port_wrong_type",
                "version: 1\nname: t\nsystems:\n  - name: a\n    classification: public\n"
                "    match:\n      ports: [ldap]\n",
                7, 15, "must be an integer"},
        BadCase{"duplicate_system",
                "version: 1\nname: t\nsystems:\n  - name: a\n    classification: public\n"
                "  - name: a\n    classification: public\n",
                6, 11, "system 'a' is defined twice"},
        BadCase{"duplicate_role", "version: 1\nname: t\nroles:\n  - name: r\n  - name: r\n", 5, 11,
                "role 'r' is defined twice"},
        BadCase{"duplicate_grant",
                "version: 1\nname: t\nsystems:\n  - name: s\n    classification: public\n"
                "grants:\n  - id: g\n    principals: [x]\n    systems: [s]\n"
                "  - id: g\n    principals: [y]\n    systems: [s]\n",
                10, 9, "grant id 'g' is used twice"},
        BadCase{"undefined_role",
                "version: 1\nname: t\nsystems:\n  - name: s\n    classification: public\n"
                "grants:\n  - id: g\n    roles: [nurses]\n    systems: [s]\n",
                8, 13, "role 'nurses', which is not defined"},
        BadCase{"undefined_system",
                "version: 1\nname: t\nroles:\n  - name: r\n    members: [x]\n"
                "grants:\n  - id: g\n    roles: [r]\n    systems:\n      - epj\n",
                10, 9, "system 'epj', which is not defined"},
        BadCase{"grant_nobody",
                "version: 1\nname: t\nsystems:\n  - name: s\n    classification: public\n"
                "grants:\n  - id: g\n    systems: [s]\n",
                7, 9, "grants nobody"},
        BadCase{"grant_no_systems",
                "version: 1\nname: t\ngrants:\n  - id: g\n    principals: [x]\n", 4, 5,
                "has no 'systems'"},
        BadCase{"anonymous_not_bool",
                "version: 1\nname: t\nsystems:\n  - name: s\n    classification: public\n"
                "grants:\n  - id: g\n    anonymous: maybe\n    systems: [s]\n",
                8, 16, "must be true or false"},
        BadCase{"bad_member",
                "version: 1\nname: t\nroles:\n  - name: r\n    members: [\"CORP\\\\\"]\n", 5, 15,
                "no user name"},
        BadCase{"member_empty_domain",
                "version: 1\nname: t\nroles:\n  - name: r\n    members:\n      - ann@\n", 6, 9,
                "empty domain"},
        BadCase{"bad_unlisted", "version: 1\nname: t\nunlisted_systems: maybe\n", 3, 19,
                "'flag' or 'allow'"},
        BadCase{"bad_name",
                "version: 1\nname: t\nsystems:\n  - name: \"a b\"\n    classification: public\n", 4,
                11, "must be letters"},
        BadCase{"alias_twice",
                "version: 1\nname: t\ndomains:\n  - name: corp.example\n    aliases: [CORP]\n"
                "  - name: other.example\n    aliases: [corp]\n",
                7, 15, "given twice"},
        BadCase{"missing_name", "version: 1\n", 1, 1, "has no 'name'"},
        BadCase{"two_documents", "version: 1\nname: t\n---\nversion: 1\nname: u\n", 3, 1,
                "one YAML document"},
        BadCase{"not_a_map", "- a\n- b\n", 1, 1, "must be a mapping"}),
    [](const ::testing::TestParamInfo<BadCase>& i) { return std::string(i.param.name); });

TEST(PolicyLoad, EmptyFileAndMissingFile) {
  TempDir dir;
  auto empty = load_policy_file(dir.write("e.yaml", ""));
  ASSERT_FALSE(empty);
  EXPECT_NE(empty.error().message.find("empty"), std::string::npos);
  auto missing = load_policy_file(dir.write("x", "") + ".does-not-exist");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().code, ErrorCode::kIo);
}

TEST(PolicyLoad, FutureKeysOfThisVersionStillRefusedNotIgnored) {
  // A typo must never silently widen access: "grnats" is refused.
  auto p = load_policy_text("version: 1\nname: t\ngrnats: []\n", "typo.yaml");
  ASSERT_FALSE(p);
  EXPECT_NE(p.error().message.find("typo.yaml:3:1: unknown key 'grnats'"), std::string::npos)
      << p.error().message;
}

// The shipped example policy loads and judges the corpus principals as its
// comments promise.
TEST(ExamplePolicy, LoadsAndJudgesCorpusPrincipals) {
  auto p = load_policy_file(std::string(VAGT_SOURCE_DIR) + "/policies/example.yaml");
  ASSERT_TRUE(p) << p.error().message;
  const Policy& policy = **p;
  // zeek_aduser1-ntlm.pcap: NTLM User1 / ADHACKING.LOCAL -> granted.
  Decision d = policy.evaluate(event("192.168.226.136", 389, "User1", "ADHACKING.LOCAL"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.system, "directory");
  EXPECT_EQ(d.grant_id, "directory-admin-bind");
  // zeek_sasl-ntlm.pcap: sasladmin on loopback OpenLDAP -> granted.
  d = policy.evaluate(event("127.0.1.1", 389, "sasladmin@slapd.ldap", "LOCALHOST"));
  EXPECT_TRUE(d.allowed) << (d.findings.empty() ? "" : d.findings[0].explanation);
  d = policy.evaluate(event("127.0.1.1", 389, "sasladmin", "LOCALHOST"));
  EXPECT_TRUE(d.allowed);
  // zeek_simpleauth.pcap: UPN and DN simple binds to the global catalog -> no grant.
  for (const char* who : {"xxxxxxxxxxx@xx.xxx.xxxxx.net",
                          "CN=xxxxxxxx,OU=Users,OU=Accounts,DC=xx,DC=xxx,DC=xxxxx,DC=net"}) {
    d = policy.evaluate(event("10.0.0.2", 3268, who));
    EXPECT_FALSE(d.allowed) << who;
    ASSERT_EQ(d.findings.size(), 1u);
    EXPECT_EQ(d.findings[0].rule_id, "rbac.no_grant");
    EXPECT_EQ(d.findings[0].system, "directory");
    EXPECT_EQ(d.findings[0].severity, Severity::kMedium);
  }
  // zeek_ldap_invalid_credentials.pcap: failed binds -> recorded, no finding.
  d = policy.evaluate(event("192.168.66.138", 389, "Administrator", "", v1::OUTCOME_FAILURE));
  EXPECT_TRUE(d.findings.empty());
  EXPECT_EQ(d.system, "directory");
  // zeek_kinit.pcap: granted principal and anonymous PKINIT.
  d = policy.evaluate(event("192.168.1.32", 88, "valid_client_principal", "VLADG.NET",
                            v1::OUTCOME_SUCCESS, "krb", "ticket"));
  EXPECT_TRUE(d.allowed);
  d = policy.evaluate(event("192.168.1.32", 88, "WELLKNOWN/ANONYMOUS", "VLADG.NET",
                            v1::OUTCOME_SUCCESS, "krb", "ticket"));
  ASSERT_EQ(d.findings.size(), 1u);
  EXPECT_EQ(d.findings[0].rule_id, "rbac.anonymous");
  // The unbinds that close sessions (zeek_ldap_invalid_credentials.pcap
  // ends with an anonymous unbind) are not access.
  d = policy.evaluate(event("192.168.66.138", 389, "", "", v1::OUTCOME_UNKNOWN, "ldap", "unbind"));
  EXPECT_TRUE(d.allowed);
  EXPECT_EQ(d.grant_id, "directory-unbind");
  d = policy.evaluate(event("127.0.1.1", 389, "sasladmin@slapd.ldap", "LOCALHOST",
                            v1::OUTCOME_UNKNOWN, "ldap", "unbind"));
  EXPECT_TRUE(d.allowed);
  // An unlisted server.
  d = policy.evaluate(event("192.168.1.99", 22, "User1", "ADHACKING"));
  EXPECT_EQ(d.findings.at(0).rule_id, "rbac.unlisted_system");
}

TEST(PrincipalIdentity, Forms) {
  using policy::Identity;
  auto e = policy::identity_from_event("CORP\\Ann", "IGNORED");
  EXPECT_EQ(e.form, Identity::Form::kName);
  EXPECT_EQ(e.user, "ann");
  EXPECT_EQ(e.domain, "corp");
  e = policy::identity_from_event("ann@Corp.Example", "");
  EXPECT_EQ(e.user, "ann");
  EXPECT_EQ(e.domain, "corp.example");
  e = policy::identity_from_event("ann", "CORP");
  EXPECT_EQ(e.domain, "corp");
  e = policy::identity_from_event(" ", "CORP");
  EXPECT_EQ(e.form, Identity::Form::kAnonymous);
  e = policy::identity_from_event("uid=ann, ou=People;dc=x", "");
  EXPECT_EQ(e.form, Identity::Form::kDn);
  EXPECT_EQ(e.dn, "uid=ann,ou=people,dc=x");
  EXPECT_EQ(policy::normalize_dn("CN=Smith\\, John ,OU=A"), "cn=smith\\, john,ou=a");
  EXPECT_FALSE(policy::identity_from_member(""));
  EXPECT_FALSE(policy::identity_from_member("@corp"));
  EXPECT_FALSE(policy::identity_from_member("\\ann"));
}

}  // namespace
}  // namespace vagt::collector
