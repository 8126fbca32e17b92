#include <gtest/gtest.h>

#include <sstream>
#include <string>
#include <vector>

#include "collector/ctl/render.h"

namespace vagt::collector::ctl {
namespace {

std::vector<std::string> lines(const std::string& s) {
  std::vector<std::string> out;
  std::istringstream in(s);
  for (std::string l; std::getline(in, l);) out.push_back(l);
  return out;
}

StoredEvent stored(std::int64_t id, const std::string& principal, bool allowed) {
  StoredEvent se;
  se.id = id;
  v1::AccessEvent& e = se.event;
  e.set_time_ns(1'714'564'800'123'456'789ULL);  // 2024-05-01T12:00:00.123456789Z
  e.set_agent_id("agent-1");
  e.set_sequence(static_cast<std::uint64_t>(id));
  e.set_protocol("ldap");
  e.set_transport(v1::TRANSPORT_TCP);
  e.mutable_src()->set_address(std::string("\x0a\x00\x00\x01", 4));
  e.mutable_src()->set_port(50000);
  e.mutable_dst()->set_address(std::string("\x0a\x00\x00\x02", 4));
  e.mutable_dst()->set_port(389);
  e.set_principal(principal);
  e.set_realm("CORP");
  e.set_action("bind");
  e.set_outcome(v1::OUTCOME_SUCCESS);
  e.set_code("0");
  se.system = "directory";
  se.allowed = allowed;
  return se;
}

StoredBreach breach(std::int64_t id, const std::string& principal, const std::string& why) {
  StoredBreach b;
  b.id = id;
  b.kind = "policy";
  b.rule_id = "rbac.no_grant";
  b.severity = Severity::kHigh;
  b.status = "open";
  b.event_time_ns = 1'714'564'800'000'000'000ULL;
  b.detected_ns = 1'714'564'801'000'000'000ULL;
  b.agent_id = "agent-1";
  b.sequence = 7;
  b.principal = principal;
  b.realm = "CORP";
  b.protocol = "ldap";
  b.system = "directory";
  b.src = "10.0.0.1:50000";
  b.dst = "10.0.0.2:389";
  b.explanation = why;
  b.policy_digest = "abcd";
  return b;
}

TEST(Sanitize, EscapesControlsAndBadUtf8) {
  EXPECT_EQ(sanitize("plain name"), "plain name");
  EXPECT_EQ(sanitize("a\nb\tc\rd"), "a\\nb\\tc\\rd");
  EXPECT_EQ(sanitize("\x1b[31mred"), "\\x1b[31mred");
  EXPECT_EQ(sanitize(std::string("nul\0x", 5)), "nul\\x00x");
  EXPECT_EQ(sanitize("back\\slash"), "back\\\\slash");
  EXPECT_EQ(sanitize("del\x7f"), "del\\x7f");
  EXPECT_EQ(sanitize("bad\xff\xc3"), "bad\\xff\\xc3");
  EXPECT_EQ(sanitize("\xc0\xaf"), "\\xc0\\xaf");                          // overlong '/'
  EXPECT_EQ(sanitize("S\xc3\xb8ren \xc3\x86"), "S\xc3\xb8ren \xc3\x86");  // Søren Æ kept
  EXPECT_EQ(sanitize("a\xe2\x80\xae"
                     "b"),
            "a\\u202eb");                          // RIGHT-TO-LEFT OVERRIDE
  EXPECT_EQ(sanitize("c1\xc2\x9b"), "c1\\u009b");  // C1 CSI
  EXPECT_EQ(display_width("S\xc3\xb8ren"), 5u);
}

TEST(RenderEvents, TableIsAlignedWithHostilePrincipal) {
  const std::vector<StoredEvent> evs = {stored(2, "evil\n\x1b[2Jname", false),
                                        stored(1, "ann", true)};
  const std::string out = render_events(evs, Format::kTable);
  const auto ls = lines(out);
  ASSERT_EQ(ls.size(), 3u) << out;  // header + 2 rows: no raw newline got through
  EXPECT_EQ(out.find('\x1b'), std::string::npos);
  EXPECT_EQ(ls[0].rfind("TIME", 0), 0u);
  // Every column starts at the same offset in every row.
  const std::size_t principal_col = ls[0].find("PRINCIPAL");
  const std::size_t realm_col = ls[0].find("REALM");
  ASSERT_NE(principal_col, std::string::npos);
  EXPECT_EQ(ls[1].substr(principal_col, 17), "evil\\n\\x1b[2Jname");
  EXPECT_EQ(ls[2].substr(principal_col, 3), "ann");
  EXPECT_EQ(ls[1].substr(realm_col, 4), "CORP");
  EXPECT_EQ(ls[2].substr(realm_col, 4), "CORP");
  EXPECT_NE(ls[1].find("2024-05-01T12:00:00.123Z"), std::string::npos);
  EXPECT_NE(ls[1].find("10.0.0.2:389"), std::string::npos);
  EXPECT_EQ(ls[1].substr(ls[0].find("VERDICT")), "breach");
  EXPECT_EQ(ls[2].substr(ls[0].find("VERDICT")), "allowed");
  for (const auto& l : ls) EXPECT_NE(l.back(), ' ') << "trailing blanks: " << l;
}

TEST(RenderEvents, TableAlignsMultibyteNames) {
  const std::string out =
      render_events({stored(1, "S\xc3\xb8ren", true), stored(2, "ab", true)}, Format::kTable);
  const auto ls = lines(out);
  ASSERT_EQ(ls.size(), 3u);
  // REALM starts 2 columns (not bytes) after the widest principal.
  const std::size_t realm = ls[0].find("REALM");
  EXPECT_EQ(ls[2].substr(realm, 4), "CORP");
  EXPECT_EQ(ls[1].substr(realm + 1, 4), "CORP");  // one extra byte for 'ø'
}

TEST(RenderEvents, JsonLinesParseBack) {
  const std::vector<StoredEvent> evs = {stored(2, "evil\n\"quoted\"\xff", false),
                                        stored(1, "ann", true)};
  const auto ls = lines(render_events(evs, Format::kJson));
  ASSERT_EQ(ls.size(), 2u);
  const auto j = nlohmann::json::parse(ls[0]);
  EXPECT_EQ(j["id"], 2);
  EXPECT_EQ(j["ts"], "2024-05-01T12:00:00.123456789Z");
  EXPECT_EQ(j["agent"], "agent-1");
  EXPECT_EQ(j["seq"], 2);
  EXPECT_EQ(j["principal"], "evil\n\"quoted\"\xef\xbf\xbd");  // invalid byte -> U+FFFD
  EXPECT_EQ(j["dst"], "10.0.0.2:389");
  EXPECT_EQ(j["outcome"], "success");
  EXPECT_EQ(j["system"], "directory");
  EXPECT_EQ(j["verdict"], "breach");
  EXPECT_EQ(nlohmann::json::parse(ls[1])["verdict"], "allowed");
  EXPECT_EQ(render_events({}, Format::kJson), "");
}

TEST(RenderEvents, CsvQuotesAndDefusesFormulas) {
  const std::vector<StoredEvent> evs = {stored(1, "Smith, \"J\"", true),
                                        stored(2, "=HYPERLINK(\"x\")", true),
                                        stored(3, "line\nbreak", true)};
  const auto ls = lines(render_events(evs, Format::kCsv));
  ASSERT_EQ(ls.size(), 4u);
  EXPECT_EQ(ls[0],
            "time,agent,protocol,src,dst,principal,realm,action,outcome,code,system,verdict");
  EXPECT_NE(ls[1].find(",\"Smith, \"\"J\"\"\",CORP,"), std::string::npos) << ls[1];
  EXPECT_NE(ls[2].find(",\"'=HYPERLINK(\"\"x\"\")\",CORP,"), std::string::npos) << ls[2];
  EXPECT_NE(ls[3].find(",line\\nbreak,CORP,"), std::string::npos) << ls[3];
  EXPECT_EQ(ls[1].rfind("2024-05-01T12:00:00.123456789Z,agent-1,ldap,", 0), 0u);
}

TEST(RenderBreaches, AllFormats) {
  const std::vector<StoredBreach> bs = {
      breach(12, "mallory\x07", "The ldap bind by principal 'mallory' succeeded, no grant."),
      breach(3, "ann", "x")};
  const std::string table = render_breaches(bs, Format::kTable);
  const auto tl = lines(table);
  ASSERT_EQ(tl.size(), 3u);
  EXPECT_EQ(tl[0].rfind("ID  DETECTED", 0), 0u) << tl[0];
  EXPECT_EQ(table.find('\x07'), std::string::npos);
  const std::size_t expl = tl[0].find("EXPLANATION");
  EXPECT_EQ(tl[1].substr(expl), bs[0].explanation);
  EXPECT_EQ(tl[2].substr(tl[0].find("SEVERITY"), 4), "high");
  EXPECT_EQ(tl[2].rfind("3 ", 0), 0u);

  const auto jl = lines(render_breaches(bs, Format::kJson));
  ASSERT_EQ(jl.size(), 2u);
  const auto j = nlohmann::json::parse(jl[0]);
  EXPECT_EQ(j["id"], 12);
  EXPECT_EQ(j["rule"], "rbac.no_grant");
  EXPECT_EQ(j["severity"], "high");
  EXPECT_EQ(j["seq"], 7);
  EXPECT_EQ(j["detected"], "2024-05-01T12:00:01.000000000Z");
  EXPECT_EQ(j["principal"], "mallory\x07");

  const auto cl = lines(render_breaches(bs, Format::kCsv));
  ASSERT_EQ(cl.size(), 3u);
  EXPECT_EQ(cl[0], "id,detected,kind,rule,severity,status,agent,principal,system,explanation");
  EXPECT_NE(cl[1].find(",mallory\\x07,directory,"), std::string::npos) << cl[1];
  // The explanation holds a comma: quoted.
  EXPECT_NE(cl[1].find(",\"The ldap bind"), std::string::npos) << cl[1];
}

TEST(RenderBreaches, IntegrityFindingWithoutEvent) {
  StoredBreach b;
  b.id = 1;
  b.kind = "integrity";
  b.rule_id = "integrity.bad_signature";
  b.severity = Severity::kCritical;
  b.status = "open";
  b.detected_ns = 1'000'000'000;
  b.agent_id = "agent-9";
  b.explanation = "bad signature";
  const auto j = nlohmann::json::parse(render_breaches({b}, Format::kJson));
  EXPECT_TRUE(j["seq"].is_null());
  EXPECT_TRUE(j["principal"].is_null());
  EXPECT_TRUE(j["event_ts"].is_null());
  const auto tl = lines(render_breaches({b}, Format::kTable));
  ASSERT_EQ(tl.size(), 2u);
  EXPECT_NE(tl[1].find(" - "), std::string::npos);  // empty cells shown as '-'
}

TEST(ParseRfc3339, Forms) {
  EXPECT_EQ(*parse_rfc3339("1970-01-01T00:00:00Z"), 0u);
  EXPECT_EQ(*parse_rfc3339("2024-05-01T12:00:00Z"), 1'714'564'800'000'000'000ULL);
  EXPECT_EQ(*parse_rfc3339("2024-05-01T12:00:00.123456789Z"), 1'714'564'800'123'456'789ULL);
  EXPECT_EQ(*parse_rfc3339("2024-05-01T14:00:00.5+02:00"), 1'714'564'800'500'000'000ULL);
  EXPECT_EQ(*parse_rfc3339("2024-05-01 07:00:00-05:00"), 1'714'564'800'000'000'000ULL);
  EXPECT_EQ(*parse_rfc3339("2024-05-01"), 1'714'521'600'000'000'000ULL);
  EXPECT_EQ(*parse_rfc3339("2024-02-29T00:00:00Z"), 1'709'164'800'000'000'000ULL);
  for (const char* bad :
       {"", "2024-05-01T12:00:00", "2024-13-01", "2023-02-29", "2024-05-01T25:00:00Z",
        "2024-05-01T12:00Z", "yesterday", "2024-05-01T12:00:00.Z", "1969-12-31T23:59:59Z",
        "2024-05-01T12:00:00Zjunk"}) {
    EXPECT_FALSE(parse_rfc3339(bad)) << bad;
  }
}

}  // namespace
}  // namespace vagt::collector::ctl
