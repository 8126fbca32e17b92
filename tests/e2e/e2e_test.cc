// The whole path in one process: capture -> dissect -> sign -> mutual TLS ->
// verify -> policy -> store, plus the hostile cases the collector must survive.

#include <gtest/gtest.h>

#include "agent/decode/pipeline.h"
#include "agent/dissect/builtin.h"
#include "agent/uplink/uplink.h"
#include "common/batch.h"
#include "tests/e2e/collector_fixture.h"

namespace vagt::testing {
namespace {

std::vector<v1::AccessEvent> decode(const std::string& capture) {
  agent::dissect::Registry registry;
  EXPECT_TRUE(agent::dissect::register_builtin_dissectors(registry));
  agent::decode::EventCollector sink;
  auto stats = agent::decode::process_capture_file(
      std::string(VAGT_TEST_DATA) + "/pcap/ldap/" + capture, registry, sink);
  EXPECT_TRUE(stats) << (stats ? "" : stats.error().message);
  return std::move(sink.events);
}

class EndToEnd : public CollectorFixture {
 protected:
  ChainSigner signer(const std::string& agent, const std::string& key_name = "") {
    auto key =
        crypto::PrivateKey::load_pem_file(pki((key_name.empty() ? agent : key_name) + ".key"));
    EXPECT_TRUE(key);
    return ChainSigner(agent, std::move(*key), std::string(16, '\x01'));
  }

  Result<agent::uplink::DeliveryStats> deliver(const std::string& agent,
                                               std::vector<v1::AccessEvent> events,
                                               const std::string& ca = "ca") {
    auto ctx = tls::make_client_context(files(agent, ca));
    if (!ctx) return tl::unexpected(ctx.error());
    agent::uplink::UplinkConfig config;
    config.endpoints.push_back({"127.0.0.1", port_});
    config.server_name = "vagt-collector";
    config.connect_timeout = std::chrono::milliseconds(3000);
    config.ack_timeout = std::chrono::milliseconds(5000);
    config.max_events_per_batch = 2;  // several batches, so the chain is exercised
    asio::io_context io;
    agent::uplink::Uplink uplink(io, **ctx, config, make_logger("test-uplink", "off"));
    const std::string cn = agent == "rogue-agent" ? "agent-ward7-01" : agent;
    auto s = signer(cn, agent);
    return uplink.deliver(std::move(events), s);
  }

  // A signer for agent-ward7-01 that continues where the collector says.
  ChainSigner resumed(const v1::Welcome& welcome, const std::string& key_name = "") {
    auto s = signer("agent-ward7-01", key_name);
    s.resume(welcome.next_sequence(), welcome.last_header_sha256());
    return s;
  }

  // The simpleauth events as one signed Batch message.
  v1::AgentMessage batch_message(ChainSigner& s) {
    auto events = decode("ldap-simpleauth.pcap");
    auto batch = s.sign(events, collector::now_ns());
    EXPECT_TRUE(batch);
    v1::AgentMessage m;
    *m.mutable_batch() = std::move(*batch);
    return m;
  }

  std::vector<collector::StoredEvent> stored_events() {
    auto e = store_->events({});
    EXPECT_TRUE(e);
    return e ? *e : std::vector<collector::StoredEvent>{};
  }
  std::vector<collector::StoredBreach> stored_breaches(const std::string& kind) {
    collector::BreachFilter f;
    f.kind = kind;
    auto b = store_->breaches(f);
    EXPECT_TRUE(b);
    return b ? *b : std::vector<collector::StoredBreach>{};
  }
};

TEST_F(EndToEnd, CaptureBecomesStoredEventsAndPossibleBreach) {
  auto events = decode("ldap-simpleauth.pcap");
  ASSERT_EQ(events.size(), 2u);
  auto r = deliver("agent-ward7-01", events);
  ASSERT_TRUE(r) << r.error().message;
  EXPECT_EQ(r->events, 2u);
  EXPECT_EQ(r->next_sequence, 2u);

  auto stored = stored_events();
  ASSERT_EQ(stored.size(), 2u);
  for (const auto& e : stored) {
    EXPECT_EQ(e.event.agent_id(), "agent-ward7-01");  // from the certificate
    EXPECT_EQ(e.event.protocol(), "ldap");
    EXPECT_EQ(e.system, "directory");
    EXPECT_FALSE(e.allowed);
  }
  auto breaches = stored_breaches("policy");
  ASSERT_EQ(breaches.size(), 2u);
  std::set<std::string> principals;
  for (const auto& b : breaches) {
    principals.insert(b.principal);
    EXPECT_EQ(b.rule_id, "rbac.no_grant");
    EXPECT_EQ(b.system, "directory");
    EXPECT_EQ(b.agent_id, "agent-ward7-01");
    EXPECT_EQ(b.policy_digest, policy_->digest());
    EXPECT_EQ(b.policy_digest.size(), 64u);
  }
  EXPECT_TRUE(principals.contains("xxxxxxxxxxx@xx.xxx.xxxxx.net"));
  EXPECT_TRUE(principals.contains("CN=xxxxxxxx,OU=Users,OU=Accounts,DC=xx,DC=xxx,DC=xxxxx,DC=net"));
  EXPECT_TRUE(stored_breaches("integrity").empty());
}

TEST_F(EndToEnd, GrantedBindIsStoredWithoutBreach) {
  auto events = decode("ldap-aduser1-ntlm.pcap");
  ASSERT_FALSE(events.empty());
  ASSERT_TRUE(deliver("agent-ward7-01", events));
  auto stored = stored_events();
  ASSERT_EQ(stored.size(), events.size());
  bool saw_user1 = false;
  for (const auto& e : stored)
    if (e.event.principal() == "User1" && e.event.action() == "bind") {
      saw_user1 = true;
      EXPECT_TRUE(e.allowed);
    }
  EXPECT_TRUE(saw_user1);
  EXPECT_TRUE(stored_breaches("policy").empty());
}

TEST_F(EndToEnd, SecondRunContinuesTheChain) {
  auto events = decode("ldap-simpleauth.pcap");
  ASSERT_TRUE(deliver("agent-ward7-01", events));
  auto again = deliver("agent-ward7-01", events);  // a new run: new sequences, linked chain
  ASSERT_TRUE(again) << again.error().message;
  EXPECT_EQ(again->first_sequence, 2u);
  EXPECT_EQ(again->next_sequence, 4u);
  EXPECT_EQ(stored_events().size(), 4u);
  EXPECT_TRUE(stored_breaches("integrity").empty());
}

TEST_F(EndToEnd, AgentsAreKeptApart) {
  auto events = decode("ldap-simpleauth.pcap");
  ASSERT_TRUE(deliver("agent-ward7-01", events));
  auto other = deliver("agent-icu-02", events);
  ASSERT_TRUE(other) << other.error().message;
  EXPECT_EQ(other->first_sequence, 0u);  // its own chain
  EXPECT_EQ(stored_events().size(), 4u);
}

TEST_F(EndToEnd, ClientFromAnotherCaIsRefusedAndNothingIsStored) {
  auto events = decode("ldap-simpleauth.pcap");
  auto r = deliver("rogue-agent", events);
  ASSERT_FALSE(r);
  EXPECT_TRUE(stored_events().empty());
  // The client can see the alert before the server's session counts it.
  for (int i = 0; i < 100 && server_->counters().handshake_failures.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->counters().handshake_failures.load(), 1u);
  // The collector still serves everyone else.
  ASSERT_TRUE(deliver("agent-ward7-01", events));
  EXPECT_EQ(stored_events().size(), 2u);
}

TEST_F(EndToEnd, AgentRefusesCollectorWithUnexpectedName) {
  auto ctx = tls::make_client_context(files("agent-ward7-01"));
  ASSERT_TRUE(ctx);
  agent::uplink::UplinkConfig config;
  config.endpoints.push_back({"127.0.0.1", port_});
  config.server_name = "some-other-collector";
  asio::io_context io;
  agent::uplink::Uplink uplink(io, **ctx, config, make_logger("test-uplink", "off"));
  auto s = signer("agent-ward7-01");
  auto r = uplink.deliver(decode("ldap-simpleauth.pcap"), s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("handshake"), std::string::npos) << r.error().message;
  EXPECT_TRUE(stored_events().empty());
}

TEST_F(EndToEnd, UnreachableCollectorIsAClearError) {
  const std::uint16_t port = port_;
  asio::post(io_, [this] { server_->stop(); });
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  auto ctx = tls::make_client_context(files("agent-ward7-01"));
  agent::uplink::UplinkConfig config;
  config.endpoints.push_back({"127.0.0.1", port});
  config.connect_timeout = std::chrono::milliseconds(1000);
  asio::io_context io;
  agent::uplink::Uplink uplink(io, **ctx, config, make_logger("test-uplink", "off"));
  auto s = signer("agent-ward7-01");
  auto r = uplink.deliver(decode("ldap-simpleauth.pcap"), s);
  ASSERT_FALSE(r);
  EXPECT_NE(r.error().message.find("no collector could be reached"), std::string::npos);
}

TEST_F(EndToEnd, TamperedBatchIsRefusedAndRecorded) {
  RawClient client(files("agent-ward7-01"), port_);
  auto s = resumed(client.hello());
  auto m = batch_message(s);
  (*m.mutable_batch()->mutable_events(1))[5] ^= 0x20;  // one bit of one signed event
  client.send(m);
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "integrity.merkle_mismatch");
  EXPECT_FALSE(client.receive());  // connection closed
  EXPECT_TRUE(stored_events().empty());
  auto findings = stored_breaches("integrity");
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].rule_id, "integrity.merkle_mismatch");
  EXPECT_EQ(findings[0].agent_id, "agent-ward7-01");
}

TEST_F(EndToEnd, BatchSignedByAnotherKeyIsRefusedAndRecorded) {
  RawClient client(files("agent-ward7-01"), port_);
  // agent-icu-02's key, but presented over agent-ward7-01's certificate.
  auto s = resumed(client.hello(), "agent-icu-02");
  client.send(batch_message(s));
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "integrity.bad_signature");
  EXPECT_EQ(stored_breaches("integrity").size(), 1u);
  EXPECT_TRUE(stored_events().empty());
}

TEST_F(EndToEnd, BrokenChainIsRefusedAndRecorded) {
  ASSERT_TRUE(deliver("agent-ward7-01", decode("ldap-simpleauth.pcap")));
  RawClient client(files("agent-ward7-01"), port_);
  auto welcome = client.hello();
  auto s = signer("agent-ward7-01");
  s.resume(welcome.next_sequence(), std::string(32, '\x55'));  // a link to nothing we hold
  client.send(batch_message(s));
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "integrity.chain_break");
  EXPECT_EQ(stored_events().size(), 2u);
  ASSERT_EQ(stored_breaches("integrity").size(), 1u);
}

TEST_F(EndToEnd, SequenceGapIsRefusedAndRecorded) {
  RawClient client(files("agent-ward7-01"), port_);
  auto welcome = client.hello();
  auto s = signer("agent-ward7-01");
  s.resume(welcome.next_sequence() + 10, welcome.last_header_sha256());
  client.send(batch_message(s));
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "integrity.sequence_gap");
}

TEST_F(EndToEnd, ResentBatchIsAckedButStoredOnce) {
  RawClient client(files("agent-ward7-01"), port_);
  auto s = resumed(client.hello());
  const auto m = batch_message(s);
  for (int i = 0; i < 2; ++i) {
    client.send(m);
    auto reply = client.receive();
    ASSERT_TRUE(reply && reply->has_ack()) << i;
    EXPECT_EQ(reply->ack().next_sequence(), 2u);
  }
  EXPECT_EQ(stored_events().size(), 2u);
  EXPECT_EQ(ingest_->counters().batches_duplicate.load(), 1u);
  EXPECT_TRUE(stored_breaches("integrity").empty());
}

TEST_F(EndToEnd, OversizedFrameClosesOnlyThatConnection) {
  RawClient client(files("agent-ward7-01"), port_);
  client.hello();
  client.send_raw(std::string("\xff\xff\xff\xf0", 4) + "junk");
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "protocol.bad_frame");
  EXPECT_FALSE(client.receive());
  EXPECT_EQ(server_->counters().bad_frames.load(), 1u);
  ASSERT_TRUE(deliver("agent-ward7-01", decode("ldap-simpleauth.pcap")));
}

TEST_F(EndToEnd, GarbageFrameBodyClosesOnlyThatConnection) {
  RawClient client(files("agent-ward7-01"), port_);
  client.hello();
  const std::string garbage("\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x02", 12);
  client.send_raw(std::string("\x00\x00\x00\x0c", 4) + garbage);
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "protocol.bad_frame");
  ASSERT_TRUE(deliver("agent-ward7-01", decode("ldap-simpleauth.pcap")));
}

TEST_F(EndToEnd, UnknownFieldsAreCarriedNotFatal) {
  RawClient client(files("agent-ward7-01"), port_);
  auto s = resumed(client.hello());
  const auto m = batch_message(s);
  // Field 99 (varint 7) appended: a newer agent's addition.
  std::string body = m.SerializeAsString() + std::string("\x98\x06\x07", 3);
  const std::uint32_t n = static_cast<std::uint32_t>(body.size());
  std::string frame{static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                    static_cast<char>(n >> 8), static_cast<char>(n)};
  client.send_raw(frame + body);
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_ack());
  EXPECT_EQ(stored_events().size(), 2u);
}

TEST_F(EndToEnd, PlaintextGarbageOnTheTlsPortDoesNoHarm) {
  {
    asio::io_context io;
    asio::ip::tcp::socket sock(io);
    sock.connect({asio::ip::make_address("127.0.0.1"), port_});
    std::string junk = "GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    junk += std::string(4096, '\x16');
    boost::system::error_code ec;
    asio::write(sock, asio::buffer(junk), ec);
    char buf[64];
    sock.read_some(asio::buffer(buf), ec);  // the collector hangs up
    EXPECT_TRUE(ec);
  }
  ASSERT_TRUE(deliver("agent-ward7-01", decode("ldap-simpleauth.pcap")));
  EXPECT_GE(server_->counters().handshake_failures.load(), 1u);
}

TEST_F(EndToEnd, MessageOtherThanHelloFirstIsRefused) {
  RawClient client(files("agent-ward7-01"), port_);
  v1::AgentMessage m;
  m.mutable_batch();
  client.send(m);
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "protocol.bad_hello");
}

TEST_F(EndToEnd, SecondConcurrentSessionForOneAgentIsRefused) {
  RawClient first(files("agent-ward7-01"), port_);
  first.hello();
  RawClient second(files("agent-ward7-01"), port_);
  v1::AgentMessage m;
  m.mutable_hello()->set_protocol_version(kProtocolVersion);
  second.send(m);
  auto reply = second.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "session.duplicate");
}

TEST_F(EndToEnd, UnenrolledAgentIsRefusedAndRecorded) {
  // agent-revoked is certified by the CA but not enrolled (and no CRL here).
  RawClient client(files("agent-revoked"), port_);
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "enrolment.unknown_agent");
  EXPECT_FALSE(client.receive());
  auto findings = stored_breaches("integrity");
  ASSERT_EQ(findings.size(), 1u);
  EXPECT_EQ(findings[0].rule_id, "enrolment.unknown_agent");
  EXPECT_EQ(findings[0].agent_id, "agent-revoked");
  auto cert = crypto::Certificate::load_pem_file(pki("agent-revoked.pem"));
  ASSERT_TRUE(cert);
  EXPECT_NE(findings[0].explanation.find("127.0.0.1:"), std::string::npos);
  EXPECT_NE(findings[0].explanation.find(cert->fingerprint_sha256()), std::string::npos);
  EXPECT_EQ(ingest_->counters().refused_agents.load(), 1u);
  EXPECT_FALSE(deliver("agent-revoked", decode("ldap-simpleauth.pcap")));
  EXPECT_TRUE(stored_events().empty());
}

TEST_F(EndToEnd, RevokedEnrolmentIsRefused) {
  ASSERT_TRUE(deliver("agent-icu-02", decode("ldap-simpleauth.pcap")));
  collector::EnrolmentChange c{"agent-icu-02", "", "revoke", 2, "test", "stolen laptop"};
  ASSERT_TRUE(store_->record_enrolment(c));
  RawClient client(files("agent-icu-02"), port_);
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "enrolment.revoked");
  EXPECT_EQ(stored_breaches("integrity").at(0).rule_id, "enrolment.revoked");
  EXPECT_EQ(stored_events().size(), 2u);
}

TEST_F(EndToEnd, CertificateOtherThanTheEnrolledOneIsRefused) {
  // agent-icu-02 is re-enrolled with agent-ward7-01's certificate.
  enroll("agent-icu-02", "agent-ward7-01");
  RawClient client(files("agent-icu-02"), port_);
  auto reply = client.receive();
  ASSERT_TRUE(reply && reply->has_refusal());
  EXPECT_EQ(reply->refusal().code(), "enrolment.fingerprint_mismatch");
  EXPECT_EQ(stored_breaches("integrity").at(0).rule_id, "enrolment.fingerprint_mismatch");
}

TEST_F(EndToEnd, OpenEnrolmentAdmitsAnyCertifiedAgentButNotARevokedOne) {
  ingest_->set_enrolment_mode(collector::EnrolmentMode::kOpen);
  auto events = decode("ldap-simpleauth.pcap");
  ASSERT_TRUE(deliver("agent-revoked", events));
  collector::EnrolmentChange c{"agent-icu-02", "", "revoke", 2, "test", ""};
  ASSERT_TRUE(store_->record_enrolment(c));
  EXPECT_FALSE(deliver("agent-icu-02", events));
  EXPECT_EQ(stored_events().size(), 2u);
}

class WithCrl : public EndToEnd {
 protected:
  void SetUp() override {
    use_crl_ = true;
    EndToEnd::SetUp();
  }
};

TEST_F(WithCrl, AgentOnTheCrlFailsTheHandshakeOthersAreServed) {
  enroll("agent-revoked");  // enrolled, but its certificate is revoked by the CA
  auto events = decode("ldap-simpleauth.pcap");
  EXPECT_FALSE(deliver("agent-revoked", events));
  // The client can see the alert before the server's session counts it.
  for (int i = 0; i < 100 && server_->counters().handshake_failures.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->counters().handshake_failures.load(), 1u);
  EXPECT_TRUE(stored_events().empty());
  ASSERT_TRUE(deliver("agent-ward7-01", events));
  EXPECT_EQ(stored_events().size(), 2u);
}

class IdleTimeout : public EndToEnd {
 protected:
  void SetUp() override {
    idle_timeout_ = std::chrono::milliseconds(300);
    EndToEnd::SetUp();
  }
};

TEST_F(IdleTimeout, SilentPeerIsDisconnected) {
  RawClient client(files("agent-ward7-01"), port_);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(client.receive());  // closed by the collector, not by us
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_LT(waited, std::chrono::seconds(5));
  // The session counts the timeout just after it closes the socket.
  for (int i = 0; i < 100 && server_->counters().timeouts.load() == 0; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(server_->counters().timeouts.load(), 1u);
}

}  // namespace
}  // namespace vagt::testing
