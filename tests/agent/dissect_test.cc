#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "agent/dissect/ber/ber_reader.h"
#include "agent/dissect/builtin.h"
#include "agent/dissect/ldap/ldap_dissector.h"
#include "agent/dissect/ntlmssp/ntlmssp.h"
#include "agent/dissect/registry.h"
#include "agent/dissect/text.h"
#include "tests/agent/ldap_builder.h"

namespace vagt::agent::dissect {
namespace {

using testing::Bytes;
namespace tb = vagt::agent::testing;

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;

// ---- BER --------------------------------------------------------------------

TEST(Ber, ShortAndLongFormLengths) {
  ber::Header h;
  const Bytes short_form = {0x30, 0x05};
  ASSERT_EQ(ber::parse_header(short_form, h, 100), ber::BerStatus::kOk);
  EXPECT_EQ(h.tag_class, ber::TagClass::kUniversal);
  EXPECT_TRUE(h.constructed);
  EXPECT_EQ(h.tag, 16u);
  EXPECT_EQ(h.header_length, 2u);
  EXPECT_EQ(h.length, 5u);

  const Bytes long_form = {0x04, 0x82, 0x01, 0x00};
  ASSERT_EQ(ber::parse_header(long_form, h, 1000), ber::BerStatus::kOk);
  EXPECT_EQ(h.header_length, 4u);
  EXPECT_EQ(h.length, 256u);

  const Bytes high_tag = {0x9F, 0x81, 0x00, 0x00};  // [128] context, primitive
  ASSERT_EQ(ber::parse_header(high_tag, h, 10), ber::BerStatus::kOk);
  EXPECT_EQ(h.tag_class, ber::TagClass::kContextSpecific);
  EXPECT_EQ(h.tag, 128u);
}

TEST(Ber, RejectsIndefiniteReservedOversizedAndIncomplete) {
  ber::Header h;
  EXPECT_EQ(ber::parse_header(Bytes{0x30, 0x80}, h, 100), ber::BerStatus::kIndefinite);
  EXPECT_EQ(ber::parse_header(Bytes{0x30, 0xFF}, h, 100), ber::BerStatus::kMalformed);
  EXPECT_EQ(ber::parse_header(Bytes{0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF}, h, 1 << 20),
            ber::BerStatus::kTooLarge);
  EXPECT_EQ(ber::parse_header(Bytes{0x30, 0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9}, h, 1 << 20),
            ber::BerStatus::kTooLarge);
  EXPECT_EQ(ber::parse_header(Bytes{0x30, 0x84, 0x00}, h, 100), ber::BerStatus::kNeedMore);
  EXPECT_EQ(ber::parse_header(Bytes{0x30}, h, 100), ber::BerStatus::kNeedMore);
  EXPECT_EQ(ber::parse_header(Bytes{}, h, 100), ber::BerStatus::kNeedMore);
  EXPECT_EQ(ber::parse_header(Bytes{0x1F, 0x80, 0x01, 0x00}, h, 100), ber::BerStatus::kMalformed);
}

TEST(Ber, ReaderWalksElementsAndChecksBounds) {
  const Bytes seq = tb::tlv(0x30, tb::concat({tb::ber_int(-129), tb::tlv(0x04, "abc")}));
  ber::Reader top(seq);
  ber::Tlv t;
  ASSERT_TRUE(top.expect(ber::TagClass::kUniversal, ber::tag::kSequence, t));
  ber::Reader inner = top.enter(t);
  ber::Tlv i;
  ASSERT_TRUE(inner.expect(ber::TagClass::kUniversal, ber::tag::kInteger, i));
  std::int64_t v = 0;
  ASSERT_TRUE(ber::decode_integer(i.value, v));
  EXPECT_EQ(v, -129);
  ASSERT_TRUE(inner.next(t));
  EXPECT_EQ(as_chars(t.value), "abc");
  EXPECT_FALSE(inner.next(t));
  EXPECT_EQ(inner.status(), ber::BerStatus::kEnd);

  // A value that claims more than is there.
  const Bytes cut_bytes = {0x04, 0x05, 'a', 'b'};
  ber::Reader cut(cut_bytes);
  EXPECT_FALSE(cut.next(t));
  EXPECT_EQ(cut.status(), ber::BerStatus::kMalformed);
  // Entering a primitive element.
  const Bytes prim_bytes = {0x04, 0x01, 'a'};
  ber::Reader prim(prim_bytes);
  ASSERT_TRUE(prim.next(t));
  EXPECT_FALSE(prim.enter(t).ok());
}

TEST(Ber, DepthAndSizeLimits) {
  Bytes nested = tb::tlv(0x04, "x");
  for (int i = 0; i < 20; ++i) nested = tb::tlv(0x30, nested);
  ber::Reader r(nested, ber::Limits{.max_depth = 8, .max_length = 1 << 20});
  ber::Tlv t;
  ber::Reader cur = r;
  int depth = 0;
  while (cur.next(t) && t.header.constructed) {
    cur = cur.enter(t);
    ++depth;
    if (!cur.ok()) break;
  }
  EXPECT_EQ(cur.status(), ber::BerStatus::kTooDeep);
  EXPECT_EQ(depth, 9);

  const Bytes big_bytes = tb::tlv(0x04, Bytes(300, 'a'));
  ber::Reader big(big_bytes, ber::Limits{.max_depth = 4, .max_length = 100});
  EXPECT_FALSE(big.next(t));
  EXPECT_EQ(big.status(), ber::BerStatus::kTooLarge);
}

TEST(Ber, IntegersAndOids) {
  std::int64_t v = 0;
  EXPECT_FALSE(ber::decode_integer(Bytes{}, v));
  EXPECT_FALSE(ber::decode_integer(Bytes(9, 1), v));
  ASSERT_TRUE(ber::decode_integer(Bytes{0x00, 0xFF}, v));
  EXPECT_EQ(v, 255);
  ASSERT_TRUE(ber::decode_integer(Bytes{0xFF}, v));
  EXPECT_EQ(v, -1);
  std::string oid;
  // 1.2.840.113554.1.2.2 (Kerberos v5 GSS mechanism)
  ASSERT_TRUE(ber::decode_oid(Bytes{0x2A, 0x86, 0x48, 0x86, 0xF7, 0x12, 0x01, 0x02, 0x02}, oid));
  EXPECT_EQ(oid, "1.2.840.113554.1.2.2");
  EXPECT_FALSE(ber::decode_oid(Bytes{0x2A, 0x86}, oid));
}

// ---- Text and NTLMSSP ---------------------------------------------------------

TEST(Text, ConvertsAndSanitizes) {
  EXPECT_EQ(utf16le_to_utf8(Bytes{'A', 0, 0xE6, 0x00, 0x3D, 0xD8, 0x00, 0xDE}),
            "A\xC3\xA6\xF0\x9F\x98\x80");
  EXPECT_EQ(utf16le_to_utf8(Bytes{0x00, 0xD8, 'a', 0}),
            "\xEF\xBF\xBD"
            "a");  // lone surrogate
  EXPECT_EQ(sanitize_utf8(Bytes{'o', 'k', 0xC3, 0xA6, 0xFF, 0xC3}),
            "ok\xC3\xA6\xEF\xBF\xBD\xEF\xBF\xBD");
  EXPECT_EQ(latin1_to_utf8(Bytes{'S', 0xF8}), "S\xC3\xB8");
  EXPECT_EQ(sanitize_utf8(Bytes(2000, 'a')).size(), kMaxFieldBytes);
}

TEST(Ntlmssp, ParsesUnicodeAndOemAuthenticate) {
  const Bytes unicode = tb::ntlm_authenticate("alice", "CORP", "WS01");
  EXPECT_EQ(ntlmssp::message_type(unicode), ntlmssp::MessageType::kAuthenticate);
  auto a = ntlmssp::parse_authenticate(unicode);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user, "alice");
  EXPECT_EQ(a->domain, "CORP");
  EXPECT_EQ(a->workstation, "WS01");
  EXPECT_FALSE(a->anonymous);

  auto oem = ntlmssp::parse_authenticate(tb::ntlm_authenticate("bob", "LAB", "PC", false));
  ASSERT_TRUE(oem);
  EXPECT_EQ(oem->user, "bob");
  EXPECT_EQ(oem->domain, "LAB");
}

TEST(Ntlmssp, FindsMessageInsideSpnegoAndRejectsBadOffsets) {
  const Bytes token = tb::spnego_response(tb::ntlm_authenticate("carol", "D", "W"));
  const ByteView found = ntlmssp::find_message(token);
  ASSERT_FALSE(found.empty());
  auto a = ntlmssp::parse_authenticate(found);
  ASSERT_TRUE(a);
  EXPECT_EQ(a->user, "carol");

  EXPECT_TRUE(ntlmssp::find_message(tb::bytes_of("no signature here")).empty());
  EXPECT_FALSE(ntlmssp::parse_authenticate(tb::ntlm_negotiate()));

  Bytes bad = tb::ntlm_authenticate("dave", "D", "W");
  bad[12 + 8 * 3 + 4] = 0xF0;  // user offset far outside the message
  EXPECT_FALSE(ntlmssp::parse_authenticate(bad));
  // Every truncation parses safely (ASan watches).
  const Bytes good = tb::ntlm_authenticate("erin", "D", "W");
  for (std::size_t n = 0; n < good.size(); ++n) {
    (void)ntlmssp::parse_authenticate(ByteView(good).first(n));
  }
}

// ---- LDAP -------------------------------------------------------------------

class Collect final : public SessionOutput {
 public:
  void emit(v1::AccessEvent&& event) override { events.push_back(std::move(event)); }
  void anomaly(std::string_view id) override { anomalies.emplace_back(id); }
  std::size_t count(std::string_view id) const {
    std::size_t n = 0;
    for (const auto& a : anomalies) n += a == id ? 1 : 0;
    return n;
  }
  std::vector<v1::AccessEvent> events;
  std::vector<std::string> anomalies;
};

class LdapTest : public ::testing::Test {
 protected:
  void SetUp() override { session = dissector.new_session(flow::FlowInfo{}, out); }
  void client(ByteView b, std::uint64_t t = 100) { session->on_data(kC2S, b, t); }
  void server(ByteView b, std::uint64_t t = 200) { session->on_data(kS2C, b, t); }
  std::string detail(std::size_t i, const std::string& key) const {
    const auto& d = out.events.at(i).detail();
    auto it = d.find(key);
    return it == d.end() ? "<none>" : it->second;
  }

  LdapDissector dissector;
  Collect out;
  std::unique_ptr<StreamSession> session;
};

TEST_F(LdapTest, SimpleBindSuccess) {
  client(tb::simple_bind(1, "cn=alice,dc=example,dc=org", "s3cret-pw"), 111);
  server(tb::bind_response(1, 0));
  ASSERT_EQ(out.events.size(), 1u);
  const auto& e = out.events[0];
  EXPECT_EQ(e.protocol(), "ldap");
  EXPECT_EQ(e.action(), "bind");
  EXPECT_EQ(e.principal(), "cn=alice,dc=example,dc=org");
  EXPECT_EQ(e.outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(e.code(), "0");
  EXPECT_EQ(e.time_ns(), 111u);
  EXPECT_TRUE(e.agent_id().empty());
  EXPECT_EQ(e.sequence(), 0u);
  EXPECT_EQ(detail(0, "auth"), "simple");
  EXPECT_EQ(detail(0, "ldap_version"), "3");
  EXPECT_EQ(detail(0, "result_name"), "success");
  EXPECT_EQ(detail(0, "password_empty"), "<none>");
  EXPECT_EQ(e.SerializeAsString().find("s3cret-pw"), std::string::npos);
  EXPECT_TRUE(out.anomalies.empty());
}

TEST_F(LdapTest, BindFailureCarriesCodeAndNameButOnlyDiagnosticLength) {
  client(tb::simple_bind(7, "alice@example.org", "wrong"));
  server(tb::bind_response(7, 49, "80090308: LdapErr: data 52e"));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(out.events[0].code(), "49");
  EXPECT_EQ(detail(0, "result_name"), "invalidCredentials");
  EXPECT_EQ(detail(0, "diagnostic_length"), "27");
  EXPECT_EQ(out.events[0].SerializeAsString().find("52e"), std::string::npos);
}

TEST_F(LdapTest, BindSplitAtEveryByteBoundary) {
  const Bytes req = tb::simple_bind(2, "uid=bob,ou=people,dc=example,dc=org", "pw");
  const Bytes resp = tb::bind_response(2, 0);
  for (std::size_t cut = 1; cut < req.size(); ++cut) {
    Collect o;
    auto s = dissector.new_session(flow::FlowInfo{}, o);
    s->on_data(kC2S, ByteView(req).first(cut), 1);
    s->on_data(kC2S, ByteView(req).subspan(cut), 2);
    s->on_data(kS2C, ByteView(resp).first(resp.size() / 2), 3);
    s->on_data(kS2C, ByteView(resp).subspan(resp.size() / 2), 4);
    ASSERT_EQ(o.events.size(), 1u) << "cut at " << cut;
    EXPECT_EQ(o.events[0].principal(), "uid=bob,ou=people,dc=example,dc=org");
    EXPECT_EQ(o.events[0].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_TRUE(o.anomalies.empty());
  }
}

TEST_F(LdapTest, SeveralMessagesInOneChunkAndLongFormLength) {
  const std::string long_name(300, 'n');  // forces a two-octet length
  client(tb::concat({tb::simple_bind(1, "a", "x"), tb::simple_bind(2, long_name, "y")}));
  server(tb::concat({tb::bind_response(1, 0), tb::bind_response(2, 49)}));
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].principal(), "a");
  EXPECT_EQ(out.events[1].principal(), long_name);
  EXPECT_EQ(out.events[1].code(), "49");
}

TEST_F(LdapTest, BindWithoutResponseIsUnknownAtClose) {
  client(tb::simple_bind(5, "cn=nobody", "pw"), 555);
  EXPECT_TRUE(out.events.empty());
  session->on_close(999);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].outcome(), v1::OUTCOME_UNKNOWN);
  EXPECT_FALSE(out.events[0].has_code());
  EXPECT_EQ(out.events[0].time_ns(), 555u);
  EXPECT_EQ(out.events[0].principal(), "cn=nobody");
}

TEST_F(LdapTest, UnauthenticatedSimpleBindIsMarked) {
  client(tb::simple_bind(1, "cn=admin", ""));
  server(tb::bind_response(1, 0));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(detail(0, "password_empty"), "true");
}

TEST_F(LdapTest, SaslNtlmTwoStepsGiveOneEvent) {
  client(tb::sasl_bind(1, "NTLM", tb::ntlm_negotiate()), 10);
  server(tb::bind_response(1, 14));
  EXPECT_TRUE(out.events.empty());
  client(tb::sasl_bind(2, "NTLM", tb::ntlm_authenticate("sasladmin", "LOCALHOST", "")), 20);
  server(tb::bind_response(2, 0));
  ASSERT_EQ(out.events.size(), 1u);
  const auto& e = out.events[0];
  EXPECT_EQ(e.principal(), "sasladmin");
  EXPECT_EQ(e.realm(), "LOCALHOST");
  EXPECT_EQ(e.outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(e.time_ns(), 20u);
  EXPECT_EQ(detail(0, "auth"), "sasl");
  EXPECT_EQ(detail(0, "mechanism"), "NTLM");
  // Credential bytes never leave.
  EXPECT_EQ(e.SerializeAsString().find(std::string(24, '\xAB')), std::string::npos);
}

TEST_F(LdapTest, GssSpnegoNtlmFailure) {
  client(tb::sasl_bind(1, "GSS-SPNEGO", tb::spnego_response(tb::ntlm_negotiate())));
  server(tb::bind_response(1, 14));
  client(tb::sasl_bind(2, "GSS-SPNEGO",
                       tb::spnego_response(tb::ntlm_authenticate("agent.smith", "", "EVIL"))));
  server(tb::bind_response(2, 49));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].principal(), "agent.smith");
  EXPECT_EQ(out.events[0].outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(detail(0, "mechanism"), "GSS-SPNEGO");
  EXPECT_EQ(detail(0, "ntlm_workstation"), "EVIL");
}

TEST_F(LdapTest, SaslExchangeThatNeverFinishesIsUnknown) {
  client(tb::sasl_bind(1, "NTLM", tb::ntlm_negotiate()));
  server(tb::bind_response(1, 14));
  session->on_close(1);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].outcome(), v1::OUTCOME_UNKNOWN);
}

TEST_F(LdapTest, SicilyNtlmBind) {
  client(tb::sicily_bind(1, 0x89, "", {}));  // package discovery
  server(tb::bind_response(1, 0, "NTLM"));
  client(tb::sicily_bind(2, 0x8A, "User1", tb::ntlm_negotiate()));
  server(tb::bind_response(2, 0));
  EXPECT_TRUE(out.events.empty());
  client(tb::sicily_bind(3, 0x8B, "User1", tb::ntlm_authenticate("User1", "ADHACKING.LOCAL", "")));
  server(tb::bind_response(3, 0));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].principal(), "User1");
  EXPECT_EQ(out.events[0].realm(), "ADHACKING.LOCAL");
  EXPECT_EQ(detail(0, "auth"), "sicily");
  EXPECT_EQ(detail(0, "bind_name"), "User1");
}

TEST_F(LdapTest, UnbindNamesTheBoundPrincipal) {
  client(tb::simple_bind(1, "cn=alice", "pw"));
  server(tb::bind_response(1, 0));
  client(tb::unbind(2), 300);
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[1].action(), "unbind");
  EXPECT_EQ(out.events[1].principal(), "cn=alice");
  EXPECT_EQ(out.events[1].outcome(), v1::OUTCOME_UNKNOWN);
  EXPECT_EQ(out.events[1].time_ns(), 300u);
}

TEST_F(LdapTest, StartTlsStopsParsing) {
  client(tb::extended_request(1, LdapDissector::kStartTlsOid));
  server(tb::extended_response(1, 0));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].action(), "starttls");
  EXPECT_EQ(out.events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_FALSE(session->wants_data());
  client(Bytes{0x16, 0x03, 0x01, 0x02, 0x00, 0x01});  // a TLS ClientHello
  session->on_close(1);
  EXPECT_EQ(out.events.size(), 1u);
  EXPECT_TRUE(out.anomalies.empty());
}

TEST_F(LdapTest, StartTlsRefusedKeepsParsing) {
  client(tb::extended_request(1, LdapDissector::kStartTlsOid));
  server(tb::extended_response(1, 52));
  EXPECT_TRUE(session->wants_data());
  client(tb::simple_bind(2, "cn=x", "y"));
  server(tb::bind_response(2, 13));
  ASSERT_EQ(out.events.size(), 2u);
  EXPECT_EQ(out.events[0].outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(out.events[1].code(), "13");
}

TEST_F(LdapTest, GarbageStopsTheSessionWithAnAnomaly) {
  client(tb::bytes_of("GET / HTTP/1.1\r\nHost: x\r\n\r\n"));
  EXPECT_EQ(out.count("ldap.malformed_framing"), 1u);
  EXPECT_FALSE(session->wants_data());
  client(tb::simple_bind(1, "a", "b"));
  session->on_close(1);
  EXPECT_TRUE(out.events.empty());
}

TEST_F(LdapTest, SaslSecurityLayerStopsQuietly) {
  client(tb::sasl_bind(1, "GSSAPI", tb::bytes_of("kerberos-token")));
  server(tb::bind_response(1, 0));
  ASSERT_EQ(out.events.size(), 1u);
  // From here on the client wraps every message: 4-octet length + token.
  client(Bytes{0x00, 0x00, 0x00, 0x05, 0x05, 0x04, 0xFF, 0x00, 0x0C});
  EXPECT_EQ(out.count("ldap.sasl_security_layer"), 1u);
  EXPECT_EQ(out.count("ldap.malformed_framing"), 0u);
  EXPECT_FALSE(session->wants_data());
  EXPECT_EQ(detail(0, "mechanism"), "GSSAPI");
}

TEST_F(LdapTest, OversizedAndIndefiniteLengthsAreAnomalies) {
  client(Bytes{0x30, 0x84, 0x7F, 0xFF, 0xFF, 0xFF, 0x02, 0x01, 0x01});
  EXPECT_EQ(out.count("ldap.message_too_large"), 1u);
  EXPECT_FALSE(session->wants_data());

  Collect o;
  auto s = dissector.new_session(flow::FlowInfo{}, o);
  s->on_data(kC2S, Bytes{0x30, 0x80, 0x02, 0x01, 0x01, 0x00, 0x00}, 1);
  EXPECT_EQ(o.count("ldap.indefinite_length"), 1u);

  // Exactly at the limit is still accepted framing (it waits for the bytes).
  Collect o2;
  auto s2 = dissector.new_session(flow::FlowInfo{}, o2);
  s2->on_data(kC2S, Bytes{0x30, 0x83, 0x10, 0x00, 0x00, 0x02}, 1);
  EXPECT_TRUE(o2.anomalies.empty());
  EXPECT_TRUE(s2->wants_data());
}

TEST_F(LdapTest, MalformedMessageInsideGoodFramingIsSkipped) {
  client(tb::tlv(0x30, tb::concat({tb::ber_int(1), tb::tlv(0x60, tb::bytes_of("junk"))})));
  EXPECT_EQ(out.count("ldap.malformed_bind"), 1u);
  client(tb::simple_bind(2, "cn=ok", "pw"));
  server(tb::bind_response(2, 0));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].principal(), "cn=ok");
}

TEST_F(LdapTest, RemainingAnomalyIds) {
  // A protocolOp that is not [APPLICATION n].
  client(tb::tlv(0x30, tb::concat({tb::ber_int(1), tb::tlv(0x04, "x")})));
  EXPECT_EQ(out.count("ldap.malformed_message"), 1u);
  // An AuthenticationChoice nobody defines.
  client(tb::ldap_message(
      2, tb::tlv(0x60, tb::concat({tb::ber_int(3), tb::tlv(0x04, "n"), tb::tlv(0x85, "?")}))));
  EXPECT_EQ(out.count("ldap.unknown_auth_choice"), 1u);
  // A BindResponse without its LDAPResult fields.
  server(tb::ldap_message(2, tb::tlv(0x61, tb::ber_enum(0))));
  EXPECT_EQ(out.count("ldap.malformed_bind_response"), 1u);
  // An ExtendedRequest without requestName.
  client(tb::ldap_message(3, tb::tlv(0x77, tb::tlv(0x81, "v"))));
  EXPECT_EQ(out.count("ldap.malformed_extended"), 1u);
  // A sicily response whose NTLMSSP message points outside itself.
  Bytes bad = tb::ntlm_authenticate("u", "d", "w");
  bad[12 + 8 * 3 + 4] = 0xF0;
  client(tb::sicily_bind(4, 0x8B, "u", bad));
  EXPECT_EQ(out.count("ntlmssp.malformed_authenticate"), 1u);
  EXPECT_TRUE(session->wants_data());
}

TEST_F(LdapTest, GapResynchronisesOnTheNextMessage) {
  const Bytes req = tb::simple_bind(1, "cn=lost", "pw");
  client(ByteView(req).first(5));
  session->on_gap(kC2S, 100, 2);
  EXPECT_EQ(out.count("ldap.gap"), 1u);
  client(tb::bytes_of("tail of something"));  // not a message start: skipped
  client(tb::simple_bind(2, "cn=found", "pw"));
  server(tb::bind_response(2, 0));
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].principal(), "cn=found");
  EXPECT_TRUE(session->wants_data());
}

TEST_F(LdapTest, ResponseWithoutRequestAndPendingLimit) {
  server(tb::bind_response(9, 0));
  EXPECT_EQ(out.count("ldap.response_without_request"), 1u);
  for (int i = 0; i < 300; ++i) client(tb::simple_bind(100 + i, "cn=x", "pw"));
  EXPECT_EQ(out.count("ldap.too_many_pending"), 300u - LdapDissector::kMaxPendingRequests);
  session->on_close(1);
  EXPECT_EQ(out.events.size(), LdapDissector::kMaxPendingRequests);
}

TEST_F(LdapTest, TruncatedMessageAtCloseIsCounted) {
  const Bytes req = tb::simple_bind(1, "cn=cut", "pw");
  client(ByteView(req).first(req.size() - 1));
  session->on_close(1);
  EXPECT_EQ(out.count("ldap.truncated_message"), 1u);
  EXPECT_TRUE(out.events.empty());
}

TEST(LdapSniff, RecognisesRequestsOnly) {
  LdapDissector d;
  EXPECT_TRUE(d.sniff(tb::simple_bind(1, "a", "b")));
  EXPECT_TRUE(d.sniff(tb::search_request(2, "dc=x")));
  EXPECT_TRUE(d.sniff(tb::unbind(3)));
  EXPECT_FALSE(d.sniff(tb::bind_response(1, 0)));
  EXPECT_FALSE(d.sniff(tb::bytes_of("GET / HTTP/1.1\r\n")));
  EXPECT_FALSE(d.sniff(Bytes{0x16, 0x03, 0x01, 0x00, 0xA5, 0x01}));
  EXPECT_FALSE(d.sniff(Bytes{0x30}));
  EXPECT_FALSE(d.sniff(Bytes{}));
}

TEST(LdapSession, SurvivesEveryPrefixAndMutation) {
  const Bytes stream = tb::concat(
      {tb::sasl_bind(1, "GSS-SPNEGO", tb::spnego_response(tb::ntlm_authenticate("u", "d", "w"))),
       tb::sicily_bind(2, 0x8B, "x", tb::ntlm_authenticate("v", "e", "")),
       tb::extended_request(3, "1.2.3"), tb::unbind(4)});
  LdapDissector d;
  for (std::size_t i = 0; i < stream.size(); ++i) {
    for (std::uint8_t flip : {0x01, 0x80, 0xFF}) {
      Bytes m = stream;
      m[i] ^= flip;
      Collect o;
      auto s = d.new_session(flow::FlowInfo{}, o);
      s->on_data(kC2S, m, 1);
      s->on_data(kS2C, m, 2);
      s->on_close(3);
    }
  }
}

// ---- Registry -----------------------------------------------------------------

TEST(Registry, BuiltinsArePortMappedAndSniffable) {
  Registry registry;
  ASSERT_TRUE(register_builtin_dissectors(registry));
  const StreamDissector* ldap = registry.stream_for_port(389);
  ASSERT_NE(ldap, nullptr);
  EXPECT_EQ(ldap->name(), "ldap");
  EXPECT_EQ(registry.stream_for_port(3268), nullptr);
  EXPECT_TRUE(registry.is_service_port(389));
  EXPECT_EQ(registry.sniff_stream(tb::simple_bind(1, "a", "b")), ldap);
  // Bytes no dissector knows (SSH has a dissector of its own now).
  EXPECT_EQ(registry.sniff_stream(tb::bytes_of("xyzzy plugh\r\n")), nullptr);

  auto again =
      registry.add_stream(std::make_unique<LdapDissector>(), std::array<std::uint16_t, 1>{389});
  ASSERT_FALSE(again);
  EXPECT_EQ(again.error().code, ErrorCode::kInvalidArgument);
}

}  // namespace
}  // namespace vagt::agent::dissect
