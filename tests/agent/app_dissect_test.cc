// Application dissectors of issue 3 (HTTP/FHIR, HL7, DICOM, PostgreSQL,
// MySQL, FTP): the real captures of tests/data/pcap/ (expected results from
// /work/shared/corpus/MANIFEST.tsv) and hand-made edge cases fed straight to
// the sessions.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "agent/config.h"
#include "agent/decode/json_lines.h"
#include "agent/decode/pipeline.h"
#include "agent/dissect/builtin.h"
#include "agent/dissect/db/mysql_dissector.h"
#include "agent/dissect/db/postgres_dissector.h"
#include "agent/dissect/db/tds_dissector.h"
#include "agent/dissect/dicom/dicom_dissector.h"
#include "agent/dissect/ftp/ftp_dissector.h"
#include "agent/dissect/hl7/hl7_dissector.h"
#include "agent/dissect/http/fhir.h"
#include "agent/dissect/http/http_dissector.h"
#include "agent/dissect/patient.h"
#include "agent/dissect/smb/smb_dissector.h"
#include "agent/dissect/ssh/ssh_dissector.h"
#include "agent/dissect/text.h"
#include "agent/dissect/tls/tls_dissector.h"
#include "common/crypto.h"

namespace vagt::agent::dissect {
namespace {

constexpr Direction kC2S = Direction::kClientToServer;
constexpr Direction kS2C = Direction::kServerToClient;
constexpr std::string_view kCpr = "0101701234";
const std::string kData = std::string(VAGT_TEST_DATA) + "/pcap/";

std::shared_ptr<const crypto::Pseudonymizer> test_key() {
  return std::make_shared<const crypto::Pseudonymizer>("test-pseudonym-key-0123456789");
}
std::string pseudonym(std::string_view id) { return test_key()->pseudonymize(id); }

std::string detail(const v1::AccessEvent& e, const std::string& key) {
  auto it = e.detail().find(key);
  return it == e.detail().end() ? "<none>" : it->second;
}

// Every event, serialized and as JSON, must be free of these strings.
void expect_absent(const std::vector<v1::AccessEvent>& events,
                   std::initializer_list<std::string_view> secrets) {
  for (const auto& e : events) {
    const std::string wire = e.SerializeAsString();
    const std::string json = decode::event_to_json_line(e);
    for (std::string_view s : secrets) {
      EXPECT_EQ(wire.find(s), std::string::npos) << s << " in " << json;
      EXPECT_EQ(json.find(s), std::string::npos) << s << " in " << json;
    }
  }
}

struct CaptureRun {
  decode::EventCollector sink;
  decode::CaptureStats stats;
  std::vector<v1::AccessEvent> of(std::string_view protocol) const {
    std::vector<v1::AccessEvent> out;
    for (const auto& e : sink.events)
      if (e.protocol() == protocol) out.push_back(e);
    return out;
  }
};

CaptureRun run_capture(const std::string& relative) {
  CaptureRun run;
  Registry registry;
  EXPECT_TRUE(register_builtin_dissectors(registry, DissectorOptions{test_key()}));
  auto stats = decode::process_capture_file(kData + relative, registry, run.sink);
  EXPECT_TRUE(stats) << (stats ? "" : stats.error().describe());
  if (stats) run.stats = *stats;
  return run;
}

// A session fed by hand.
class Feed final : public SessionOutput {
 public:
  explicit Feed(const StreamDissector& d) : session_(d.new_session(flow::FlowInfo{}, *this)) {}
  void emit(v1::AccessEvent&& event) override { events.push_back(std::move(event)); }
  void anomaly(std::string_view id) override { anomalies[std::string(id)]++; }

  Feed& send(Direction d, std::string_view bytes, std::uint64_t t = 1) {
    session_->on_data(d, as_bytes(bytes), t);
    return *this;
  }
  // One byte at a time: segmentation must not matter.
  Feed& trickle(Direction d, std::string_view bytes) {
    for (char c : bytes) session_->on_data(d, as_bytes(std::string_view(&c, 1)), 1);
    return *this;
  }
  Feed& gap(Direction d) {
    session_->on_gap(d, 100, 1);
    return *this;
  }
  Feed& close() {
    session_->on_close(2);
    return *this;
  }
  bool wants_data() const { return session_->wants_data(); }

  std::vector<v1::AccessEvent> events;
  std::map<std::string, int> anomalies;

 private:
  std::unique_ptr<StreamSession> session_;
};

// ---- Plumbing --------------------------------------------------------------

TEST(PseudonymKey, MustExistAndHoldAtLeastSixteenBytes) {
  const std::string dir = ::testing::TempDir();
  const std::string short_key = dir + "/vagt_short.key";
  const std::string good_key = dir + "/vagt_good.key";
  std::ofstream(short_key) << "0123456789";
  std::ofstream(good_key) << "0123456789abcdef";
  auto missing = load_pseudonym_key(dir + "/vagt_missing.key");
  ASSERT_FALSE(missing);
  EXPECT_NE(missing.error().message.find("vagt_missing.key"), std::string::npos);
  auto too_short = load_pseudonym_key(short_key);
  ASSERT_FALSE(too_short);
  EXPECT_NE(too_short.error().message.find("at least 16"), std::string::npos);
  auto good = load_pseudonym_key(good_key);
  ASSERT_TRUE(good);
  EXPECT_EQ(*good, "0123456789abcdef");
  std::remove(short_key.c_str());
  std::remove(good_key.c_str());
}

TEST(DissectorOptions, WithoutPseudonymizerNoPatientIsSet) {
  const CaptureRun run = [] {
    CaptureRun r;
    Registry registry;
    EXPECT_TRUE(register_builtin_dissectors(registry));
    auto stats =
        decode::process_capture_file(kData + "hl7/gen_adt_a01_admit.pcap", registry, r.sink);
    EXPECT_TRUE(stats);
    return r;
  }();
  ASSERT_EQ(run.sink.events.size(), 1u);
  EXPECT_EQ(run.sink.events[0].patient(), "");
  EXPECT_EQ(run.sink.events[0].principal(), "nurse.hansen");
  expect_absent(run.sink.events, {kCpr});
}

TEST(PatientIds, PseudonymsAndCprShapedNumbers) {
  const PatientIds ids(test_key());
  EXPECT_EQ(ids.pseudonym(" 0101701234 "), pseudonym(kCpr));
  EXPECT_EQ(ids.pseudonym(""), "");
  EXPECT_EQ(ids.redact_cpr_like("/x/0101701234/y?n=010170-1234&z=12345678901"),
            "/x/" + pseudonym(kCpr) + "/y?n=" + pseudonym(kCpr) + "&z=12345678901");
  EXPECT_EQ(ids.redact_cpr_like("9999999999 page 3"), "9999999999 page 3");  // not a date
  const PatientIds none(nullptr);
  EXPECT_EQ(none.pseudonym(kCpr), "");
  EXPECT_EQ(none.redact_cpr_like("id 0101701234"), "id [patient]");
}

TEST(Text, Base64AndPercentDecoding) {
  EXPECT_EQ(base64_decode("dGVzdDoxOjM0", false), "test:1:34");
  EXPECT_EQ(base64_decode("eyJhIjoiYiJ9", true), "{\"a\":\"b\"}");
  EXPECT_EQ(base64_decode("_-8", true), "\xFF\xEF");
  EXPECT_FALSE(base64_decode("ab$c", false));
  EXPECT_FALSE(base64_decode("a", false));
  EXPECT_FALSE(base64_decode(std::string(100, 'A'), false, 10));
  EXPECT_EQ(percent_decode("a%7Cb%2"), "a|b%2");
}

TEST(Registry, BuiltinPortsAndSniffing) {
  Registry registry;
  ASSERT_TRUE(register_builtin_dissectors(registry, DissectorOptions{test_key()}));
  for (std::uint16_t port : {80, 8080, 8000, 8008}) {
    ASSERT_NE(registry.stream_for_port(port), nullptr) << port;
    EXPECT_EQ(registry.stream_for_port(port)->name(), "http");
  }
  const StreamDissector* sniffed = registry.sniff_stream(as_bytes("GET / HTTP/1.1\r\nHost: x\r\n"));
  ASSERT_NE(sniffed, nullptr);
  EXPECT_EQ(sniffed->name(), "http");
  EXPECT_EQ(registry.sniff_stream(as_bytes("GET / FOO/1.1\r\n")), nullptr);
  EXPECT_EQ(registry.sniff_stream(as_bytes("HELLO world\r\n")), nullptr);
}

// ---- HTTP / FHIR: captures -------------------------------------------------

TEST(HttpCaptures, BasicAuthPasswordWithColon) {
  const CaptureRun run = run_capture("http/zeek_basic-auth-with-colon.pcap");
  const auto events = run.of("http");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].principal(), "test");
  EXPECT_EQ(events[0].action(), "get");
  EXPECT_EQ(events[0].resource(), "/");
  EXPECT_EQ(events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(events[0].code(), "200");
  EXPECT_EQ(events[0].dst().port(), 8000u);
  EXPECT_EQ(detail(events[0], "auth_scheme"), "basic");
  expect_absent(events, {"1:34", "dGVzdDox"});
}

TEST(HttpCaptures, BasicAuthOnUnregisteredPortIsSniffed) {
  const CaptureRun run = run_capture("http/arkime_http-basicauth.pcap");
  const auto events = run.of("http");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].dst().port(), 2082u);
  EXPECT_EQ(events[0].principal(), "userrrrr");
  EXPECT_EQ(events[0].code(), "304");
  EXPECT_EQ(events[0].outcome(), v1::OUTCOME_SUCCESS);
  expect_absent(events, {"passworddddd"});
}

TEST(HttpCaptures, BasicAuthRefusedWith401) {
  const CaptureRun run = run_capture("http/ndpi_http_auth.pcap");
  const auto events = run.of("http");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].principal(), "test");
  EXPECT_EQ(events[0].resource(), "/password-ok.php");
  EXPECT_EQ(detail(events[0], "host"), "browserspy.dk");
  EXPECT_EQ(events[0].outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(events[0].code(), "401");
  expect_absent(events, {"fail2"});
}

TEST(FhirCaptures, PatientReadWithBearerJwt) {
  const CaptureRun run = run_capture("fhir/gen_patient_read_bearer_dr_jensen.pcap");
  const auto events = run.of("fhir");
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];
  EXPECT_EQ(e.principal(), "dr.jensen");
  EXPECT_EQ(e.realm(), "https://idp.regionh.example");
  EXPECT_EQ(e.action(), "read");
  EXPECT_EQ(e.resource(), "Patient");
  EXPECT_EQ(e.patient(), pseudonym(kCpr));
  EXPECT_EQ(e.outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(e.code(), "200");
  EXPECT_EQ(detail(e, "aud"), "fhir-api");
  EXPECT_EQ(detail(e, "fhir_resource_type"), "Patient");
  EXPECT_EQ(detail(e, "fhir_id"), pseudonym(kCpr));
  EXPECT_EQ(detail(e, "interaction"), "read");
  EXPECT_EQ(detail(e, "token_format"), "jwt");
  EXPECT_EQ(detail(e, "path"), "/fhir/Patient/" + pseudonym(kCpr));
  expect_absent(run.sink.events, {kCpr, "eyJ", "regionh-test-1"});
}

TEST(FhirCaptures, PatientSearchByIdentifierForbidden) {
  const CaptureRun run = run_capture("fhir/gen_patient_search_basic_403.pcap");
  const auto events = run.of("fhir");
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];
  EXPECT_EQ(e.principal(), "svc.integration");
  EXPECT_EQ(e.action(), "search");
  EXPECT_EQ(e.patient(), pseudonym(kCpr));
  EXPECT_EQ(e.outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(e.code(), "403");
  EXPECT_EQ(detail(e, "query"), "identifier=urn:oid:1.2.208.176.1.2|" + pseudonym(kCpr));
  expect_absent(run.sink.events, {kCpr, "Test-Only-Svc-2026"});
}

// ---- HTTP / FHIR: edge cases -----------------------------------------------

std::string basic(std::string_view user_pass) {
  static constexpr char kAlphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  std::size_t i = 0;
  for (; i + 2 < user_pass.size(); i += 3) {
    const std::uint32_t v = (std::uint8_t(user_pass[i]) << 16) |
                            (std::uint8_t(user_pass[i + 1]) << 8) | std::uint8_t(user_pass[i + 2]);
    for (int s = 18; s >= 0; s -= 6) out.push_back(kAlphabet[(v >> s) & 63]);
  }
  const std::size_t left = user_pass.size() - i;
  if (left > 0) {
    std::uint32_t v = std::uint8_t(user_pass[i]) << 16;
    if (left == 2) v |= std::uint8_t(user_pass[i + 1]) << 8;
    out.push_back(kAlphabet[(v >> 18) & 63]);
    out.push_back(kAlphabet[(v >> 12) & 63]);
    out += left == 2 ? std::string(1, kAlphabet[(v >> 6) & 63]) + "=" : std::string("==");
  }
  return out;
}

std::string base64url(std::string_view s) {
  std::string b = basic(s);
  while (!b.empty() && b.back() == '=') b.pop_back();
  for (char& c : b) c = c == '+' ? '-' : c == '/' ? '_' : c;
  return b;
}

TEST(Http, PipelinedRequestsPairInOrderAcrossChunkedAndLengthBodies) {
  const HttpDissector http(test_key());
  Feed f(http);
  f.trickle(kC2S, "GET /a HTTP/1.1\r\nHost: h\r\nAuthorization: Basic " + basic("alice:pa:ss") +
                      "\r\n\r\n"
                      "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nHELLO"
                      "GET /c?access_token=SECRETTOKEN&q=1 HTTP/1.1\r\nHost: h\r\n\r\n");
  EXPECT_TRUE(f.events.empty());
  f.trickle(kS2C,
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
            "5;ext=1\r\nHTTP/\r\n0\r\nTrailer: x\r\n\r\n"
            "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\nabc"
            "HTTP/1.1 503 Busy\r\nContent-Length: 0\r\n\r\n");
  ASSERT_EQ(f.events.size(), 3u);
  EXPECT_EQ(f.events[0].resource(), "/a");
  EXPECT_EQ(f.events[0].principal(), "alice");
  EXPECT_EQ(f.events[0].code(), "200");
  EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(f.events[1].action(), "post");
  EXPECT_EQ(f.events[1].code(), "404");
  EXPECT_EQ(f.events[1].outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(f.events[2].code(), "503");
  EXPECT_EQ(f.events[2].outcome(), v1::OUTCOME_UNKNOWN);
  EXPECT_EQ(detail(f.events[2], "query"), "access_token=[redacted]&q=1");
  EXPECT_TRUE(f.anomalies.empty());
  expect_absent(f.events, {"pa:ss", "SECRETTOKEN"});
}

TEST(Http, ContinueThenFinalStatusAndCloseDelimitedBody) {
  const HttpDissector http(test_key());
  Feed f(http);
  f.send(kC2S, "PUT /up HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 4\r\n\r\n");
  f.send(kS2C, "HTTP/1.1 100 Continue\r\n\r\n");
  f.send(kC2S, "DATA");
  f.send(kS2C, "HTTP/1.0 201 Created\r\n\r\nbody until close HTTP/1.1 500 x\r\n\r\n");
  f.close();
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].code(), "201");
  EXPECT_EQ(detail(f.events[0], "http_version"), "1.0");
  EXPECT_TRUE(f.anomalies.empty());
}

TEST(Http, UnansweredRequestIsUnknownAtClose) {
  const HttpDissector http(test_key());
  Feed f(http);
  f.send(kC2S, "DELETE /x HTTP/1.1\r\n\r\n").close();
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_UNKNOWN);
  EXPECT_FALSE(f.events[0].has_code());
}

TEST(Http, DigestAndBearerJwtClaims) {
  const HttpDissector http(test_key());
  Feed f(http);
  const std::string jwt =
      base64url(R"({"alg":"none"})") + "." +
      base64url(
          R"({"sub":"s-123","iss":"https://idp","aud":["fhir","x"],"purpose_of_use":"TREAT"})") +
      ".c2ln";
  f.send(kC2S,
         "GET /d HTTP/1.1\r\nAuthorization: Digest username=\"bob\", realm=\"ward \\\"7\\\"\", "
         "nonce=\"n\", response=\"deadbeef\"\r\n\r\n"
         "GET /fhir/Observation?subject=Patient/0101701234&code=1234 HTTP/1.1\r\n"
         "Authorization: Bearer " +
             jwt + "\r\n\r\n");
  f.send(kS2C, "HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\n\r\n");
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].principal(), "bob");
  EXPECT_EQ(f.events[0].realm(), "ward \"7\"");
  EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(detail(f.events[0], "auth_scheme"), "digest");
  const auto& e = f.events[1];
  EXPECT_EQ(e.principal(), "s-123");  // no preferred_username
  EXPECT_EQ(e.realm(), "https://idp");
  EXPECT_EQ(detail(e, "aud"), "fhir,x");
  EXPECT_EQ(detail(e, "purpose_of_use"), "TREAT");
  EXPECT_EQ(e.protocol(), "fhir");
  EXPECT_EQ(e.action(), "search");
  EXPECT_EQ(e.resource(), "Observation");
  EXPECT_EQ(e.patient(), pseudonym(kCpr));
  // "code" is a token search parameter in FHIR, but also OAuth's secret: dropped.
  EXPECT_EQ(detail(e, "query"), "subject=Patient/" + pseudonym(kCpr) + "&code=[redacted]");
  expect_absent(f.events, {kCpr, "deadbeef", jwt});
}

TEST(Http, HeaderBlockTooLargeStopsTheSession) {
  const HttpDissector http(test_key());
  Feed f(http);
  f.send(kC2S, "GET / HTTP/1.1\r\nX: " + std::string(HttpDissector::kMaxHeaderBytes, 'a'));
  EXPECT_FALSE(f.wants_data());
  EXPECT_EQ(f.anomalies["http.header_too_large"], 1);
  f.close();
  EXPECT_TRUE(f.events.empty());
}

TEST(Http, MalformedInputIsCountedNotFatal) {
  const HttpDissector http(test_key());
  {
    Feed f(http);
    f.send(kC2S, "GET / HTTP/1.1\r\nContent-Length: 12x\r\n\r\n");
    EXPECT_EQ(f.anomalies["http.bad_content_length"], 1);
    f.close();
    ASSERT_EQ(f.events.size(), 1u);
  }
  {
    Feed f(http);
    f.send(kC2S, "GET / HTTP/1.1\r\n\r\n")
        .send(kS2C, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n");
    EXPECT_EQ(f.anomalies["http.malformed_chunk"], 1);
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(http);
    f.send(kC2S, "GET / HTTP/1.1\r\nAuthorization: Basic !!!\r\n\r\n");
    f.send(kC2S, "GET / HTTP/1.1\r\nAuthorization: Bearer e30.%%%.x\r\n\r\n");
    f.send(kS2C, "SSH-2.0-x\r\n\r\n");
    EXPECT_EQ(f.anomalies["http.malformed_basic"], 1);
    EXPECT_EQ(f.anomalies["http.malformed_jwt"], 1);
    EXPECT_EQ(f.anomalies["http.malformed_response"], 1);
    f.close();
    EXPECT_EQ(f.events.size(), 2u);
  }
}

TEST(Http, GapResyncsOnTheNextRequest) {
  const HttpDissector http(test_key());
  Feed f(http);
  f.send(kC2S, "GET /one HTTP/1.1\r\n\r\n").gap(kC2S);
  EXPECT_EQ(f.events.size(), 1u);  // its pairing is lost: unknown
  f.send(kC2S, "tail of something\r\n\r\n");
  f.send(kC2S, "GET /two HTTP/1.1\r\n\r\n");
  f.send(kS2C, "HTTP/1.1 204 No Content\r\n\r\n");
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_UNKNOWN);
  EXPECT_EQ(f.events[1].resource(), "/two");
  EXPECT_EQ(f.events[1].code(), "204");
  EXPECT_EQ(f.anomalies["http.gap"], 1);
}

TEST(Http, UpgradeStopsParsing) {
  const HttpDissector http(test_key());
  Feed f(http);
  f.send(kC2S, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n");
  f.send(kS2C, "HTTP/1.1 101 Switching Protocols\r\n\r\n\x81\x05hello");
  ASSERT_EQ(f.events.size(), 1u);
  EXPECT_EQ(f.events[0].code(), "101");
  EXPECT_FALSE(f.wants_data());
}

TEST(Fhir, PathsAndInteractions) {
  struct Case {
    const char* method;
    const char* path;
    const char* type;
    const char* id;
    const char* interaction;
  };
  const Case cases[] = {
      {"GET", "/fhir/Patient/123", "Patient", "123", "read"},
      {"GET", "/r4/fhir/Patient/123/_history/2", "Patient", "123", "vread"},
      {"GET", "/fhir/Patient/123/_history", "Patient", "123", "history"},
      {"GET", "/fhir/Observation", "Observation", "", "search"},
      {"POST", "/fhir/Observation/_search", "Observation", "", "search"},
      {"POST", "/fhir/Observation", "Observation", "", "create"},
      {"PUT", "/fhir/Observation/o1", "Observation", "o1", "update"},
      {"DELETE", "/fhir/Observation/o1", "Observation", "o1", "delete"},
      {"GET", "/fhir/metadata", "", "", "capabilities"},
      {"POST", "/fhir", "", "", "batch"},
      {"GET", "/api/Patient/9", "Patient", "9", "read"},
      {"GET", "/fhir/Patient/9/Observation", "Observation", "9", "search"},
  };
  for (const auto& c : cases) {
    const auto r = http::parse_fhir_path(c.method, c.path);
    ASSERT_TRUE(r) << c.path;
    EXPECT_EQ(r->resource_type, c.type) << c.path;
    EXPECT_EQ(r->id, c.id) << c.path;
    EXPECT_EQ(r->interaction, c.interaction) << c.path;
  }
  EXPECT_FALSE(http::parse_fhir_path("GET", "/index.html"));
  EXPECT_FALSE(http::parse_fhir_path("GET", "/static/css/Patient/a/b/c/d"));
}

TEST(Fhir, PatientCompartmentAndIdSearch) {
  const HttpDissector http(test_key());
  Feed f(http);
  f.send(kC2S,
         "GET /fhir/Patient/0101701234/Observation HTTP/1.1\r\n\r\n"
         "GET /fhir/Patient?_id=2512489996 HTTP/1.1\r\n\r\n"
         "GET /other/0101701234?cpr=010170-1234 HTTP/1.1\r\n\r\n");
  f.close();
  ASSERT_EQ(f.events.size(), 3u);
  EXPECT_EQ(f.events[0].patient(), pseudonym(kCpr));
  EXPECT_EQ(detail(f.events[0], "fhir_compartment"), "Patient");
  EXPECT_EQ(f.events[1].patient(), pseudonym("2512489996"));
  EXPECT_EQ(f.events[2].protocol(), "http");
  EXPECT_EQ(f.events[2].resource(), "/other/" + pseudonym(kCpr));
  expect_absent(f.events, {kCpr, "2512489996", "010170-1234"});
}

// ---- HL7 v2 over MLLP ------------------------------------------------------

TEST(Hl7Captures, AdtA01AdmitWithOperatorPatientAndLocation) {
  const CaptureRun run = run_capture("hl7/gen_adt_a01_admit.pcap");
  const auto events = run.of("hl7");
  ASSERT_EQ(events.size(), 1u);
  const auto& e = events[0];
  EXPECT_EQ(e.action(), "adt");
  EXPECT_EQ(e.principal(), "nurse.hansen");
  EXPECT_EQ(e.patient(), pseudonym(kCpr));
  EXPECT_EQ(e.resource(), "CARD^7^1");  // the last segment, without its CR
  EXPECT_EQ(e.outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(e.code(), "AA");
  EXPECT_EQ(e.dst().port(), 2575u);
  EXPECT_EQ(detail(e, "message_type"), "ADT^A01");
  EXPECT_EQ(detail(e, "trigger"), "A01");
  EXPECT_EQ(detail(e, "control_id"), "MSG0001");
  EXPECT_EQ(detail(e, "sending_application"), "EPJ");
  EXPECT_EQ(detail(e, "sending_facility"), "RH");
  EXPECT_EQ(detail(e, "receiving_application"), "LIS");
  EXPECT_EQ(detail(e, "receiving_facility"), "RH");
  EXPECT_EQ(detail(e, "department"), "CARD");
  EXPECT_EQ(detail(e, "ack_code"), "AA");
  EXPECT_TRUE(run.stats.anomalies.empty());
  expect_absent(run.sink.events, {kCpr, "Test^Patient", "Patient"});
}

TEST(Hl7Captures, NdpiAdtAcceptedOnPort6661) {
  const CaptureRun run = run_capture("hl7/ndpi_hl7.pcap");
  const auto events = run.of("hl7");
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].dst().port(), 6661u);
  EXPECT_EQ(events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(detail(events[0], "control_id"), "934576120110613083617");
  EXPECT_EQ(detail(events[0], "sending_application"), "SENDING_APPLICATION");
  EXPECT_EQ(events[0].patient(), pseudonym("135769"));
  expect_absent(run.sink.events, {"135769", "MOUSE"});
}

std::string mllp(std::string_view message) { return "\x0b" + std::string(message) + "\x1c\r"; }

TEST(Hl7, SegmentedFramesOtherSeparatorsAndNegativeAcks) {
  const Hl7Dissector hl7(test_key());
  Feed f(hl7);
  // LF segment ends and '#'/'$' separators; then an ORM answered AE.
  f.trickle(kC2S, mllp("MSH#$~\\&#APP#FAC#RAPP#RFAC#20240101##ADT$A08#C1#P#2.5\n"
                       "EVN#A08####op.one$One\n"
                       "PID#1##0101701234$$$CPR~X9$$$MR##Name\n"
                       "PV1#1#I#ICU$2$3\n") +
                      mllp("MSH|^~\\&|A|F|B|G|t||ORM^O01|C2|P|2.5\r\nPID|1||2512489996\r\n"));
  f.send(kS2C, mllp("MSH|^~\\&|B|G|A|F|t||ACK|K2|P|2.5\rMSA|AE|C2\r") +
                   mllp("MSH|^~\\&|B|G|A|F|t||ACK|K1|P|2.5\rMSA|CA|C1\r") +
                   mllp("MSH|^~\\&|B|G|A|F|t||ACK|K9|P|2.5\rMSA|AA|NOPE\r"));
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].action(), "message");
  EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_FAILURE);
  EXPECT_EQ(f.events[0].code(), "AE");
  EXPECT_EQ(f.events[0].patient(), pseudonym("2512489996"));
  EXPECT_EQ(f.events[1].action(), "adt");
  EXPECT_EQ(f.events[1].principal(), "op.one");
  EXPECT_EQ(f.events[1].patient(), pseudonym(kCpr));
  EXPECT_EQ(f.events[1].resource(), "ICU$2$3");
  EXPECT_EQ(detail(f.events[1], "department"), "ICU");
  EXPECT_EQ(detail(f.events[1], "message_type"), "ADT^A08");
  EXPECT_EQ(f.events[1].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(f.anomalies["hl7.ack_without_message"], 1);
  expect_absent(f.events, {kCpr, "2512489996"});
}

TEST(Hl7, UnansweredJunkMalformedAndOversized) {
  const Hl7Dissector hl7(test_key());
  {
    Feed f(hl7);
    f.send(kC2S, "noise" + mllp("XYZ|not hl7") + mllp("MSH|^~\\&|A|F|B|G|t||ADT^A03|C7|P|2.5"));
    f.close();
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_UNKNOWN);
    EXPECT_EQ(detail(f.events[0], "control_id"), "C7");
    EXPECT_EQ(f.anomalies["hl7.bytes_outside_frame"], 1);
    EXPECT_EQ(f.anomalies["hl7.malformed_message"], 1);
  }
  {
    Feed f(hl7);
    f.send(kC2S, "\x0bMSH|^~\\&|" + std::string(Hl7Dissector::kMaxMessageBytes, 'x'));
    EXPECT_EQ(f.anomalies["hl7.message_too_large"], 1);
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(hl7);
    f.send(kC2S, "\x0bMSH|^~\\&|A|F|B|G|t||ADT^A01|C1|P|2.5\rPID|1||0101");
    f.gap(kC2S);
    f.send(kC2S, "701234\r\x1c\r" + mllp("MSH|^~\\&|A|F|B|G|t||ADT^A02|C2|P|2.5"));
    f.close();
    ASSERT_EQ(f.events.size(), 1u);  // the damaged message is gone, the next one stands
    EXPECT_EQ(detail(f.events[0], "trigger"), "A02");
    EXPECT_EQ(f.anomalies["hl7.gap"], 1);
  }
}

// ---- DICOM upper layer -----------------------------------------------------

TEST(DicomCaptures, EchoAssociation) {
  const CaptureRun run = run_capture("dicom/gen_echo_ward7_pacs_main.pcap");
  const auto events = run.of("dicom");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].action(), "associate");
  EXPECT_EQ(events[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(events[0].resource(), "PACS_MAIN");
  EXPECT_EQ(detail(events[0], "calling_ae"), "WARD7_WS");
  EXPECT_EQ(detail(events[0], "called_ae"), "PACS_MAIN");
  EXPECT_EQ(events[0].principal(), "");
  EXPECT_EQ(events[1].action(), "c-echo");
  EXPECT_EQ(events[1].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(detail(events[1], "sop_class"), "1.2.840.10008.1.1");
  EXPECT_EQ(detail(events[1], "status"), "0x0000");
  EXPECT_TRUE(run.stats.anomalies.empty());
}

TEST(DicomCaptures, StoreWithUserIdentityAndPatientId) {
  const CaptureRun run = run_capture("dicom/gen_store_user_nurse_hansen.pcap");
  const auto events = run.of("dicom");
  ASSERT_EQ(events.size(), 2u);
  EXPECT_EQ(events[0].action(), "associate");
  EXPECT_EQ(events[0].principal(), "nurse.hansen");
  EXPECT_EQ(detail(events[0], "user_identity_type"), "1");
  const auto& e = events[1];
  EXPECT_EQ(e.action(), "c-store");
  EXPECT_EQ(e.principal(), "nurse.hansen");
  EXPECT_EQ(e.resource(), "PACS_MAIN");
  EXPECT_EQ(e.patient(), pseudonym(kCpr));
  EXPECT_EQ(e.outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(detail(e, "sop_class"), "1.2.840.10008.5.1.4.1.1.7");
  EXPECT_TRUE(run.stats.anomalies.empty());
  expect_absent(run.sink.events, {kCpr, "Test^Patient", "19700101"});
}

// Little builders for PS3.8 PDUs and PS3.5 elements.
std::string be16(std::uint16_t v) { return {char(v >> 8), char(v & 0xFF)}; }
std::string be32(std::uint32_t v) { return be16(std::uint16_t(v >> 16)) + be16(std::uint16_t(v)); }
std::string le16(std::uint16_t v) { return {char(v & 0xFF), char(v >> 8)}; }
std::string le32(std::uint32_t v) { return le16(std::uint16_t(v)) + le16(std::uint16_t(v >> 16)); }
std::string pdu(std::uint8_t type, const std::string& body) {
  return std::string(1, char(type)) + '\0' + be32(std::uint32_t(body.size())) + body;
}
std::string item(std::uint8_t type, const std::string& body) {
  return std::string(1, char(type)) + '\0' + be16(std::uint16_t(body.size())) + body;
}
std::string ae(std::string_view t) { return std::string(t) + std::string(16 - t.size(), ' '); }
std::string associate_rq(std::string_view user_identity) {
  return pdu(
      1, be16(1) + be16(0) + ae("PACS") + ae("SCU") + std::string(32, '\0') +
             item(0x10, "1.2.840.10008.3.1.1.1") +
             item(0x20, std::string("\x01\0\0\0", 4) + item(0x30, "1.2.840.10008.5.1.4.1.2.1.1") +
                            item(0x40, "1.2.840.10008.1.2")) +
             item(0x50, item(0x51, be32(16384)) + item(0x58, std::string(user_identity))));
}
std::string associate_ac() {
  return pdu(2, be16(1) + be16(0) + ae("PACS") + ae("SCU") + std::string(32, '\0') +
                    item(0x21, std::string("\x01\0\0\0", 4) + item(0x40, "1.2.840.10008.1.2")));
}
std::string implicit_element(std::uint16_t g, std::uint16_t e, const std::string& v) {
  return le16(g) + le16(e) + le32(std::uint32_t(v.size())) + v;
}
std::string command(std::uint16_t field, std::uint16_t id, std::optional<std::uint16_t> status,
                    bool dataset) {
  std::string body = implicit_element(0, 0x0002, std::string("1.2.840.10008.5.1.4.1.2.1.1\0", 28)) +
                     implicit_element(0, 0x0100, le16(field));
  body += implicit_element(0, status ? 0x0120 : 0x0110, le16(id));
  body += implicit_element(0, 0x0800, le16(dataset ? 0x0000 : 0x0101));
  if (status) body += implicit_element(0, 0x0900, le16(*status));
  return implicit_element(0, 0x0000, le32(std::uint32_t(body.size()))) + body;
}
std::string pdata(bool is_command, const std::string& fragment) {
  const std::string pdv = std::string(1, '\x01') + char(is_command ? 3 : 2) + fragment;
  return pdu(4, be32(std::uint32_t(pdv.size())) + pdv);
}

TEST(Dicom, FindWithPasscodeIdentityImplicitVrAndPendingResponses) {
  const DicomDissector dicom(test_key());
  Feed f(dicom);
  // User identity type 2: user name and passcode.
  const std::string identity =
      std::string("\x02\x00", 2) + be16(10) + "dr.nielsen" + be16(11) + "PASSCODE-99";
  // Identifier: an undefined-length sequence before PatientID, then (0010,0020).
  const std::string identifier =
      implicit_element(0x0008, 0x0052, "PATIENT ") + le16(0x0008) + le16(0x1110) +
      le32(0xFFFFFFFF) + le16(0xFFFE) + le16(0xE000) + le32(0xFFFFFFFF) +
      implicit_element(0x0008, 0x1150, "1.2.3") + le16(0xFFFE) + le16(0xE00D) + le32(0) +
      le16(0xFFFE) + le16(0xE0DD) + le32(0) + implicit_element(0x0010, 0x0010, "Test^P ") +
      implicit_element(0x0010, 0x0020, "0101701234");
  f.trickle(kC2S, associate_rq(identity));
  f.send(kS2C, associate_ac());
  f.trickle(kC2S, pdata(true, command(0x0020, 7, std::nullopt, true)) + pdata(false, identifier));
  f.send(kS2C, pdata(true, command(0x8020, 7, 0xFF00, true)) + pdata(false, "x") +
                   pdata(true, command(0x8020, 7, 0x0000, false)));
  f.send(kC2S, pdu(5, std::string(4, '\0')));
  f.close();
  ASSERT_EQ(f.events.size(), 2u);
  EXPECT_EQ(f.events[0].action(), "associate");
  EXPECT_EQ(f.events[0].principal(), "dr.nielsen");
  EXPECT_EQ(detail(f.events[0], "user_identity_type"), "2");
  EXPECT_EQ(f.events[1].action(), "c-find");
  EXPECT_EQ(f.events[1].patient(), pseudonym(kCpr));
  EXPECT_EQ(f.events[1].code(), "0x0000");
  EXPECT_EQ(f.events[1].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_TRUE(f.anomalies.empty());
  expect_absent(f.events, {kCpr, "PASSCODE-99", "Test^P"});
}

TEST(Dicom, RejectAbortKerberosIdentityAndFailures) {
  const DicomDissector dicom(test_key());
  {
    Feed f(dicom);
    const std::string kerberos = std::string("\x03\x01", 2) + be16(6) + "TICKET" + be16(0);
    f.send(kC2S, associate_rq(kerberos));
    f.send(kS2C,
           pdu(3, std::string("\0\x01\x01\x07", 4)));  // rejected-permanent, called AE unknown
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_FAILURE);
    EXPECT_EQ(f.events[0].code(), "7");
    EXPECT_EQ(detail(f.events[0], "reject_source"), "1");
    EXPECT_EQ(detail(f.events[0], "user_identity_type"), "3");
    EXPECT_EQ(f.events[0].principal(), "");
    expect_absent(f.events, {"TICKET"});
  }
  {
    Feed f(dicom);
    f.send(kC2S, associate_rq(std::string("\x01\x00", 2) + be16(1) + "u" + be16(0)));
    f.send(kS2C, associate_ac());
    f.send(kC2S, pdata(true, command(0x0030, 1, std::nullopt, false)) +
                     pdata(true, command(0x0030, 2, std::nullopt, false)));
    f.send(kS2C,
           pdata(true, command(0x8030, 1, 0xC000, false)) + pdu(7, std::string("\0\0\x02\x00", 4)));
    f.close();
    ASSERT_EQ(f.events.size(), 3u);
    EXPECT_EQ(f.events[1].action(), "c-echo");
    EXPECT_EQ(f.events[1].outcome(), v1::OUTCOME_FAILURE);
    EXPECT_EQ(f.events[1].code(), "0xC000");
    EXPECT_EQ(f.events[2].outcome(), v1::OUTCOME_UNKNOWN);  // aborted before its answer
  }
  {
    Feed f(dicom);
    f.send(kC2S, std::string("\x09\0\0\0\0\0", 6));
    EXPECT_EQ(f.anomalies["dicom.unknown_pdu"], 1);
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(dicom);
    f.send(kC2S, std::string("\x01\0", 2) + be32(DicomDissector::kMaxPduBytes + 1));
    EXPECT_EQ(f.anomalies["dicom.pdu_too_large"], 1);
  }
  {
    Feed f(dicom);
    f.send(kC2S, associate_rq("")).send(kS2C, associate_ac());
    f.send(kC2S, std::string("\x04\0", 2) + be32(DicomDissector::kMaxPduBytes + 10) + "abc");
    f.send(kC2S, std::string(DicomDissector::kMaxPduBytes + 7, 'z'));  // the rest of it
    f.send(kC2S, pdata(true, command(0x0030, 3, std::nullopt, false)));
    f.send(kS2C, pdata(true, command(0x8030, 3, 0x0000, false)));
    EXPECT_EQ(f.anomalies["dicom.pdu_skipped"], 1);
    ASSERT_EQ(f.events.size(), 2u);
    EXPECT_EQ(f.events[1].outcome(), v1::OUTCOME_SUCCESS);
  }
}

TEST(Dicom, PatientIdInExplicitVrAndTruncatedDataSets) {
  const std::string explicit_ds =
      std::string("\x08\x00\x16\x00UI", 6) + le16(4) + std::string("1.2\0", 4) +
      std::string("\x08\x00\x15\x11SQ\0\0", 8) + le32(0xFFFFFFFF) + le16(0xFFFE) + le16(0xE000) +
      le32(0) + le16(0xFFFE) + le16(0xE0DD) + le32(0) + std::string("\x10\x00\x20\x00LO", 6) +
      le16(10) + "2512489996";
  EXPECT_EQ(find_patient_id(as_bytes(explicit_ds), true), "2512489996");
  EXPECT_EQ(find_patient_id(as_bytes(explicit_ds.substr(0, explicit_ds.size() - 3)), true), "");
  EXPECT_EQ(find_patient_id(as_bytes(std::string("\x10\x00\x30\x00"
                                                 "DA",
                                                 6) +
                                     le16(0)),
                            true),
            "");
  EXPECT_EQ(find_patient_id(as_bytes(std::string(3, '\xff')), false), "");
}

// ---- PostgreSQL ------------------------------------------------------------

std::vector<std::pair<std::string, std::string>> outcomes(const std::vector<v1::AccessEvent>& ev) {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : ev) {
    const char* o = e.outcome() == v1::OUTCOME_SUCCESS   ? "success"
                    : e.outcome() == v1::OUTCOME_FAILURE ? "failure"
                                                         : "unknown";
    out.emplace_back(e.action() + ":" + e.principal(), std::string(o) + ":" + e.code());
  }
  return out;
}

TEST(PostgresCaptures, LoginsFromTheCorpus) {
  {
    const auto ev = run_capture("postgresql/zeek_psql-login-fail.pcap").of("postgresql");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].principal(), "postgres");
    EXPECT_EQ(ev[0].resource(), "postgres");
    EXPECT_EQ(ev[0].outcome(), v1::OUTCOME_FAILURE);
    EXPECT_EQ(ev[0].code(), "28P01");
    EXPECT_EQ(detail(ev[0], "auth_method"), "sasl");
    EXPECT_EQ(detail(ev[0], "sasl_mechanism"), "SCRAM-SHA-256");
  }
  {
    const auto ev = run_capture("postgresql/zeek_psql-aws-ssl-disable.pcap").of("postgresql");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].principal(), "zeek");
    EXPECT_EQ(ev[0].resource(), "zeek");
    EXPECT_EQ(ev[0].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(detail(ev[0], "auth_method"), "md5");
  }
  {
    const auto ev = run_capture("postgresql/zeek_psql-select-now.pcap").of("postgresql");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(detail(ev[0], "ssl_requested"), "refused");
    EXPECT_EQ(detail(ev[0], "application_name"), "psql");
  }
  {
    const auto ev = run_capture("postgresql/arkime_postgres-good.pcap").of("postgresql");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].principal(), "cooluser");
    EXPECT_EQ(ev[0].resource(), "dbdbdbdb");
    EXPECT_EQ(detail(ev[0], "application_name"), "pgAdmin III - Browser");
    EXPECT_EQ(ev[0].outcome(), v1::OUTCOME_SUCCESS);
  }
}

std::string pg_startup(std::string_view params) {
  const std::string body = be32(196608) + std::string(params) + std::string(1, '\0');
  return be32(std::uint32_t(body.size() + 4)) + body;
}
std::string pg_msg(char type, const std::string& body) {
  return std::string(1, type) + be32(std::uint32_t(body.size() + 4)) + body;
}

TEST(Postgres, SslAcceptedStopsAndErrorsCarrySqlstate) {
  const PostgresDissector pg;
  {
    Feed f(pg);
    f.send(kC2S, be32(8) + be32(80877103)).send(kS2C, "S");
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].action(), "starttls");
    EXPECT_EQ(detail(f.events[0], "encryption"), "tls");
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(pg);
    f.send(kC2S, be32(8) + be32(80877104)).send(kS2C, "G");
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(detail(f.events[0], "encryption"), "gss");
  }
  {
    Feed f(pg);
    using namespace std::string_literals;
    f.trickle(kC2S, pg_startup("user\0nurse\0database\0ehr\0"s));
    f.send(kS2C, pg_msg('R', be32(3)));
    f.send(kC2S, pg_msg('p', "CLEARTEXT-PW\0"s));
    f.send(kS2C, pg_msg('E', "SFATAL\0C28000\0Mno pg_hba.conf entry\0\0"s));
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].principal(), "nurse");
    EXPECT_EQ(f.events[0].resource(), "ehr");
    EXPECT_EQ(f.events[0].code(), "28000");
    EXPECT_EQ(detail(f.events[0], "auth_method"), "cleartext");
    EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_FAILURE);
    expect_absent(f.events, {"CLEARTEXT-PW"});
  }
  {
    Feed f(pg);
    using namespace std::string_literals;
    f.send(kC2S, pg_startup("user\0u\0"s)).send(kS2C, pg_msg('R', be32(0)));
    f.close();  // Ok seen, ReadyForQuery not: still a success
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(f.events[0].resource(), "u");
    EXPECT_EQ(detail(f.events[0], "auth_method"), "trust");
  }
  {
    Feed f(pg);
    f.send(kC2S, be32(100000) + be32(196608));
    EXPECT_EQ(f.anomalies["postgresql.message_too_large"], 1);
    EXPECT_FALSE(f.wants_data());
  }
}

// ---- MySQL -----------------------------------------------------------------

TEST(MysqlCaptures, LoginsFromTheCorpus) {
  {
    const auto ev = run_capture("mysql/zeek_auth.pcap").of("mysql");
    std::vector<std::pair<std::string, std::string>> logins;
    for (const auto& o : outcomes(ev))
      if (o.first.rfind("login:", 0) == 0) logins.push_back(o);
    const std::vector<std::pair<std::string, std::string>> expected = {
        {"login:root_nope", "failure:1045"}, {"login:root_nope", "failure:1045"},
        {"login:root_nope", "failure:1045"}, {"login:root_nope", "failure:1045"},
        {"login:root_nope", "failure:1045"}, {"login:root", "failure:1045"},
        {"login:root", "failure:1045"},      {"login:root", "failure:1045"},
        {"login:root", "failure:1045"},      {"login:root", "success:"}};
    EXPECT_EQ(logins, expected);
    // Three more connections were refused before any greeting (host not allowed).
    EXPECT_EQ(ev.size(), 13u);
  }
  {
    const auto ev = run_capture("mysql/zeek_caching_sha2_password.pcap").of("mysql");
    ASSERT_EQ(ev.size(), 3u);
    EXPECT_EQ(ev[0].outcome(), v1::OUTCOME_FAILURE);
    EXPECT_EQ(ev[1].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(ev[2].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(ev[2].principal(), "root");
    EXPECT_EQ(detail(ev[2], "auth_plugin"), "caching_sha2_password");
  }
  {
    const auto ev = run_capture("mysql/zeek_change-user-error.pcap").of("mysql");
    EXPECT_EQ(outcomes(ev),
              (std::vector<std::pair<std::string, std::string>>{
                  {"login:root", "success:"}, {"change_user:root2", "failure:1045"}}));
  }
  {
    const auto ev = run_capture("mysql/arkime_mysql-allow.pcap").of("mysql");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].principal(), "user10");
    EXPECT_EQ(ev[0].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(detail(ev[0], "server_version"), "5.5.35-0ubuntu0.12.04.2");
  }
}

std::string my_packet(std::uint8_t seq, const std::string& body) {
  const auto n = std::uint32_t(body.size());
  return std::string{char(n & 0xFF), char((n >> 8) & 0xFF), char(n >> 16), char(seq)} + body;
}
std::string my_greeting() {
  using namespace std::string_literals;
  return my_packet(0, "\x0a"s + "8.0.1\0"s + le32(7) + "abcdefgh" + "\0"s + le16(0xF7FF) + "\x21"s +
                          le16(2) + le16(0x81FF) + "\x15"s + std::string(10, '\0') +
                          "ijklmnopqrst\0"s + "caching_sha2_password\0"s);
}

TEST(Mysql, HandshakeResponseAuthSwitchAndSslRequest) {
  using namespace std::string_literals;
  const MysqlDissector my;
  {
    Feed f(my);
    f.send(kS2C, my_greeting());
    const std::uint32_t caps = 0x0200 | 0x8000 | 0x0008 | 0x80000;
    f.trickle(kC2S, my_packet(1, le32(caps) + le32(1 << 24) + "\x21"s + std::string(23, '\0') +
                                     "clinician\0"s + "\x04SCRM"s + "ehr\0"s +
                                     "caching_sha2_password\0"s));
    f.send(kS2C, my_packet(2, "\xfe"s + "mysql_native_password\0"s + "0123456789abcdefghij\0"s));
    f.send(kC2S, my_packet(3, "SECRETSCRAMBLE12345"));
    f.send(kS2C, my_packet(4, "\xff"s + le16(1045) + "#28000Access denied"));
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].principal(), "clinician");
    EXPECT_EQ(f.events[0].resource(), "ehr");
    EXPECT_EQ(f.events[0].code(), "1045");
    EXPECT_EQ(detail(f.events[0], "auth_plugin"), "mysql_native_password");
    EXPECT_EQ(detail(f.events[0], "server_version"), "8.0.1");
    expect_absent(f.events, {"SCRM", "SECRETSCRAMBLE"});
  }
  {
    Feed f(my);
    f.send(kS2C, my_greeting());
    f.send(kC2S,
           my_packet(1, le32(0x0200 | 0x0800) + le32(1 << 24) + "\x21"s + std::string(23, '\0')));
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].action(), "starttls");
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(my);
    f.send(kS2C, my_greeting());
    // A huge packet is skipped without buffering; the session goes on.
    f.send(kS2C, "\xff\xff\x01\x01" + std::string(1000, 'x'));
    f.send(kS2C, std::string(0x1ffff - 1000, 'y'));
    f.send(kC2S, my_packet(1, le32(0x0200 | 0x8000) + le32(1 << 24) + "\x21"s +
                                  std::string(23, '\0') + "u\0"s + "\0"s));
    f.send(kS2C, my_packet(2, "\x00\x00\x00\x02\x00\x00\x00"s));
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(f.anomalies["mysql.packet_too_large"], 1);
  }
}

// ---- FTP -------------------------------------------------------------------

TEST(FtpCaptures, LoginsFromTheCorpus) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  EXPECT_EQ(outcomes(run_capture("ftp/zeek_ftp-password-pass-command.pcap").of("ftp")),
            (Pairs{{"login:Admin", "failure:530"}}));
  EXPECT_EQ(outcomes(run_capture("ftp/zeek_ipv4.pcap").of("ftp")),
            (Pairs{{"login:anonymous", "success:230"}}));
  const CaptureRun arkime = run_capture("ftp/arkime_ftp.pcap");
  EXPECT_EQ(outcomes(arkime.of("ftp")), (Pairs{{"login:anonymous", "success:230"}}));
  expect_absent(arkime.sink.events, {"ftp@example.com"});
  expect_absent(run_capture("ftp/zeek_ftp-password-pass-command.pcap").sink.events, {"qwerty"});
}

TEST(Ftp, MultilineRepliesRetriesAndAuthTls) {
  const FtpDissector ftp;
  {
    Feed f(ftp);
    f.send(kS2C, "220-Welcome\r\n220 ready\r\n");
    f.trickle(kC2S, "USER alice\r\nPASS s3cret!\r\n");
    f.send(kS2C, "331 Password required\r\n530-Login\r\n not accepted\r\n530 incorrect\r\n");
    f.send(kC2S, "USER bob\r\n").send(kS2C, "230 No password needed\r\n");
    f.send(kC2S, "USER carol\r\nPASS x\r\n");
    f.close();
    EXPECT_EQ(outcomes(f.events),
              (std::vector<std::pair<std::string, std::string>>{{"login:alice", "failure:530"},
                                                                {"login:bob", "success:230"},
                                                                {"login:carol", "unknown:"}}));
    expect_absent(f.events, {"s3cret"});
  }
  {
    Feed f(ftp);
    f.send(kC2S, "AUTH TLS\r\n").send(kS2C, "234 Go ahead\r\n");
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].action(), "starttls");
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(ftp);
    f.send(kC2S, std::string(FtpDissector::kMaxLineBytes + 1, 'A'));
    f.send(kC2S, "AAA\r\nUSER dave\r\n").send(kS2C, "garbage\r\n230 ok\r\n");
    EXPECT_EQ(f.anomalies["ftp.line_too_long"], 1);
    EXPECT_EQ(f.anomalies["ftp.malformed_reply"], 1);
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].principal(), "dave");
  }
}

// ---- SMB session setup -----------------------------------------------------

TEST(SmbCaptures, NtlmSessionSetupsFromTheCorpus) {
  using Pairs = std::vector<std::pair<std::string, std::string>>;
  const auto win10 = run_capture("smb/arkime_wireshark-smb-on-windows10.pcap").of("smb");
  EXPECT_EQ(outcomes(win10), (Pairs{{"session_setup:", "success:0x00000000"},
                                    {"session_setup:user", "failure:0xC000006D"},
                                    {"session_setup:user", "failure:0xC000006D"},
                                    {"session_setup:user", "failure:0xC000006D"},
                                    {"session_setup:user", "failure:0xC000006D"},
                                    {"session_setup:Tim Tester", "failure:0xC000006D"},
                                    {"session_setup:Willi Wireshark", "success:0x00000000"}}));
  ASSERT_EQ(win10.size(), 7u);
  EXPECT_EQ(detail(win10[0], "ntlm_anonymous"), "true");
  EXPECT_EQ(detail(win10[0], "dialect"), "smb1");
  EXPECT_EQ(win10[6].realm(), "DESKTOP-2AEFM7G");
  EXPECT_EQ(detail(win10[6], "dialect"), "smb2");

  const auto smb3 = run_capture("smb/zeek_smb3.pcap").of("smb");
  EXPECT_EQ(outcomes(smb3), (Pairs{{"session_setup:administrator", "success:0x00000000"}}));
  EXPECT_EQ(smb3[0].realm(), "SUSE");

  const auto torture = run_capture("smb/arkime_smbtorture-ntlmssp.pcap").of("smb");
  EXPECT_EQ(outcomes(torture), (Pairs{{"session_setup:administrator", "success:0x00000000"}}));
  EXPECT_EQ(torture[0].realm(), "VNET3");
  EXPECT_EQ(detail(torture[0], "ntlm_workstation"), "BLU");
}

TEST(Smb, FramingErrorsAndOversizedMessages) {
  const SmbDissector smb;
  {
    Feed f(smb);
    f.send(kC2S, "\x42garbage");
    EXPECT_EQ(f.anomalies["smb.malformed_framing"], 1);
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(smb);
    // A 100 kB message (file data) is passed over; a keepalive is ignored.
    f.send(kC2S, std::string("\x00\x01\x86\xa0", 4) + std::string(50000, 'd'));
    f.send(kC2S, std::string(50000, 'd'));
    f.send(kC2S, std::string("\x85\x00\x00\x00", 4));
    EXPECT_TRUE(f.wants_data());
    EXPECT_TRUE(f.anomalies.empty());
    f.gap(kC2S);
    EXPECT_EQ(f.anomalies["smb.gap"], 1);
  }
}

// ---- TDS (MS SQL) ----------------------------------------------------------

TEST(TdsCaptures, Login7WithLoginAck) {
  const CaptureRun run = run_capture("tds/arkime_tds7.pcap");
  const auto ev = run.of("tds");
  ASSERT_EQ(ev.size(), 1u);
  EXPECT_EQ(ev[0].principal(), "testuser");
  EXPECT_EQ(ev[0].outcome(), v1::OUTCOME_SUCCESS);
  EXPECT_EQ(detail(ev[0], "auth"), "sql");
  EXPECT_EQ(ev[0].dst().port(), 1433u);
}

std::string utf16(std::string_view s) {
  std::string out;
  for (char c : s) out += std::string{c, '\0'};
  return out;
}
std::string tds_packet(std::uint8_t type, const std::string& payload) {
  return std::string{char(type), '\x01'} + be16(std::uint16_t(payload.size() + 8)) +
         std::string(4, '\0') + payload;
}
std::string login7(std::string_view user, std::string_view password, std::string_view db) {
  std::string fixed(94, '\0');
  std::string data;
  auto put = [&](std::size_t at, std::string_view text) {
    const std::size_t offset = 94 + data.size();
    fixed[at] = char(offset & 0xFF);
    fixed[at + 1] = char(offset >> 8);
    fixed[at + 2] = char(text.size());
    data += utf16(text);
  };
  put(36, "WS1");
  put(40, user);
  put(44, password);  // real clients obfuscate it; never read either way
  put(48, "app");
  put(68, db);
  const std::string body = fixed + data;
  std::string out = body;
  const auto n = std::uint32_t(body.size());
  out.replace(0, 4, le32(n));
  return out;
}

TEST(Tds, LoginErrorAndEncryptedLogin) {
  const TdsDissector tds;
  {
    Feed f(tds);
    f.trickle(kC2S, tds_packet(0x10, login7("sa", "TOPSECRET", "ehr")));
    f.send(kS2C, tds_packet(0x04, std::string("\xaa", 1) + le16(8) + le32(18456) +
                                      std::string("\x01\x0e", 2) + "\xfd" + std::string(12, '\0')));
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].principal(), "sa");
    EXPECT_EQ(f.events[0].resource(), "ehr");
    EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_FAILURE);
    EXPECT_EQ(f.events[0].code(), "18456");
    EXPECT_EQ(detail(f.events[0], "client_host"), "WS1");
    expect_absent(f.events, {utf16("TOPSECRET"), "TOPSECRET"});
  }
  {
    Feed f(tds);
    f.send(kC2S, std::string("\x16\x03\x01\x00\x05hello", 10));
    EXPECT_EQ(f.anomalies["tds.encrypted_login"], 1);
    EXPECT_FALSE(f.wants_data());
    f.close();
    EXPECT_TRUE(f.events.empty());
  }
}

// ---- TLS -------------------------------------------------------------------

TEST(TlsCaptures, SniCertificatesAndClientCertificatePrincipal) {
  {
    const auto ev = run_capture("tls/zeek_client-certificate.pcap").of("tls");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].resource(), "certauth.idrix.fr");
    EXPECT_EQ(ev[0].principal(), "johanna@corelight.com");
    EXPECT_EQ(ev[0].outcome(), v1::OUTCOME_SUCCESS);
    EXPECT_EQ(detail(ev[0], "version"), "TLSv1.2");
    EXPECT_NE(detail(ev[0], "client_cert_issuer").find("Actalis Client Authentication CA G3"),
              std::string::npos);
    EXPECT_EQ(detail(ev[0], "server_cert_issuer"), "/C=US/O=Let's Encrypt/CN=R3");
  }
  {
    const auto ev = run_capture("tls/zeek_tls1.2.pcap").of("tls");
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].resource(), "");
    EXPECT_EQ(ev[0].principal(), "");
    EXPECT_EQ(detail(ev[0], "cipher_suite"), "0x0004");  // TLS_RSA_WITH_RC4_128_MD5
    EXPECT_NE(detail(ev[0], "server_cert_subject").find("CN=*.taleo.net"), std::string::npos);
  }
  {
    const auto ev = run_capture("tls/arkime_ssl-selfsign.pcap").of("tls");  // port 4443: sniffed
    ASSERT_EQ(ev.size(), 1u);
    EXPECT_EQ(ev[0].principal(), "MO");
    EXPECT_EQ(detail(ev[0], "version"), "SSLv3");
    EXPECT_EQ(detail(ev[0], "server_cert_subject"), "/CN=molochftw");
  }
}

TEST(Tls, FatalAlertAndMalformedRecords) {
  const TlsDissector tls;
  // ClientHello: TLS 1.2, no extensions.
  const std::string hello_body = be16(0x0303) + std::string(32, 'r') + std::string(1, '\0') +
                                 be16(2) + be16(0x002F) + std::string("\x01\x00", 2);
  const std::string hello = std::string(1, '\x01') + std::string(1, '\0') +
                            be16(std::uint16_t(hello_body.size())) + hello_body;
  const std::string record =
      std::string("\x16\x03\x01", 3) + be16(std::uint16_t(hello.size())) + hello;
  ASSERT_TRUE(tls.sniff(as_bytes(record)));
  {
    Feed f(tls);
    f.trickle(kC2S, record);
    f.send(kS2C, std::string("\x15\x03\x03\x00\x02\x02\x28", 7));  // fatal handshake_failure
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_FAILURE);
    EXPECT_EQ(f.events[0].code(), "40");
    EXPECT_EQ(detail(f.events[0], "client_version"), "TLSv1.2");
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(tls);
    f.send(kC2S, record).send(kS2C, "HTTP/1.1 400 Bad Request\r\n");
    EXPECT_EQ(f.anomalies["tls.malformed_record"], 1);
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(f.events[0].outcome(), v1::OUTCOME_UNKNOWN);
  }
}

// ---- SSH -------------------------------------------------------------------

TEST(SshCaptures, VersionStrings) {
  const auto one = run_capture("ssh/arkime_ssh2.pcap").of("ssh");
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(detail(one[0], "client_version"), "SSH-2.0-OpenSSH_5.3");
  EXPECT_EQ(detail(one[0], "server_version"), "SSH-1.99-OpenSSH_3.9p1");
  EXPECT_EQ(one[0].outcome(), v1::OUTCOME_UNKNOWN);
  const auto kex = run_capture("ssh/zeek_ssh_kex_curve25519.pcap").of("ssh");
  ASSERT_EQ(kex.size(), 1u);
  EXPECT_EQ(detail(kex[0], "client_version"), "SSH-2.0-OpenSSH_7.4");
  EXPECT_EQ(detail(kex[0], "server_version"), "SSH-2.0-OpenSSH_7.5");
  EXPECT_EQ(run_capture("ssh/zeek_sshguess.pcap").of("ssh").size(), 11u);
}

TEST(Ssh, PreambleSplitLinesAndGarbage) {
  const SshDissector ssh;
  {
    Feed f(ssh);
    f.send(kS2C, "Welcome\r\nSSH-2.0-srv");
    f.trickle(kC2S, "SSH-2.0-cli\r\n");
    EXPECT_TRUE(f.events.empty());
    f.send(kS2C, "\r\n\x00\x00\x01");
    ASSERT_EQ(f.events.size(), 1u);
    EXPECT_EQ(detail(f.events[0], "server_version"), "SSH-2.0-srv");
    EXPECT_EQ(detail(f.events[0], "client_version"), "SSH-2.0-cli");
    EXPECT_FALSE(f.wants_data());
  }
  {
    Feed f(ssh);
    f.send(kC2S, std::string(300, 'x'));
    EXPECT_EQ(f.anomalies["ssh.malformed_identification"], 1);
    EXPECT_TRUE(f.events.empty());
  }
}

}  // namespace
}  // namespace vagt::agent::dissect
