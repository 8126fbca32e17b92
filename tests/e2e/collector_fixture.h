#pragma once

// An in-process collector on 127.0.0.1 (port 0) with a PKI made by
// tests/certs/gen.sh in a temp dir, the shipped example policy and a SQLite
// store; plus a raw TLS client for speaking the protocol directly (tampered
// batches, bad frames). Everything is torn down per test.

#include <gtest/gtest.h>

#include <filesystem>
#include <thread>

#include "collector/policy/policy.h"
#include "collector/server/ingest.h"
#include "collector/server/server.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/asio.h"
#include "common/framing.h"
#include "common/log.h"
#include "common/proto/vagt.pb.h"
#include "common/tls.h"

namespace vagt::testing {

namespace fs = std::filesystem;
namespace asio = boost::asio;

inline fs::path make_temp_dir() {
  std::string tmpl = (fs::temp_directory_path() / "vagt-e2e-XXXXXX").string();
  if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp");
  return tmpl;
}

class CollectorFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = make_temp_dir();
    const std::string gen = std::string(VAGT_SOURCE_DIR) + "/tests/certs/gen.sh " + dir_.string() +
                            "/pki agent-ward7-01 agent-icu-02 >/dev/null";
    ASSERT_EQ(std::system(gen.c_str()), 0) << gen;
    auto policy =
        collector::load_policy_file(std::string(VAGT_SOURCE_DIR) + "/policies/example.yaml");
    ASSERT_TRUE(policy) << policy.error().message;
    policy_ = *policy;
    auto store = collector::SqliteStore::open((dir_ / "collector.db").string());
    ASSERT_TRUE(store) << store.error().message;
    store_ = std::move(*store);
    // Enrolment is required by default: the fixture's agents are enrolled.
    for (const char* agent : {"agent-ward7-01", "agent-icu-02"}) enroll(agent);
    auto server_files = files("collector");
    if (use_crl_) server_files.crl_file = pki("crl.pem");
    auto ctx = tls::make_server_context(server_files);
    ASSERT_TRUE(ctx) << ctx.error().message;
    server_tls_ = std::move(*ctx);
    ingest_ = std::make_unique<collector::Ingest>(*store_, policy_, collector::IngestLimits{},
                                                  make_logger("test-ingest", "off"));
    collector::ServerConfig sc;
    sc.listen_port = 0;
    sc.handshake_timeout = std::chrono::milliseconds(2000);
    sc.idle_timeout = idle_timeout_;
    server_ = std::make_unique<collector::Server>(io_, *server_tls_, *ingest_, sc,
                                                  make_logger("test-server", "off"));
    auto port = server_->start();
    ASSERT_TRUE(port) << port.error().message;
    port_ = *port;
    guard_.emplace(asio::make_work_guard(io_));
    thread_ = std::thread([this] { io_.run(); });
  }

  void TearDown() override {
    if (server_) asio::post(io_, [this] { server_->stop(); });
    guard_.reset();
    io_.stop();
    if (thread_.joinable()) thread_.join();
    server_.reset();
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  tls::Files files(const std::string& who, const std::string& ca = "ca") const {
    const auto pki = dir_ / "pki";
    return tls::Files{(pki / (ca + ".pem")).string(), (pki / (who + ".pem")).string(),
                      (pki / (who + ".key")).string(), ""};
  }

  std::string pki(const std::string& name) const { return (dir_ / "pki" / name).string(); }

  // Enrols `agent` with the fingerprint of certificate `cert_name`.pem.
  void enroll(const std::string& agent, const std::string& cert_name = "") {
    auto cert =
        crypto::Certificate::load_pem_file(pki((cert_name.empty() ? agent : cert_name) + ".pem"));
    ASSERT_TRUE(cert) << cert.error().message;
    collector::EnrolmentChange c{agent, cert->fingerprint_sha256(), "enroll", 1, "test", ""};
    ASSERT_TRUE(store_->record_enrolment(c));
  }

  std::chrono::milliseconds idle_timeout_{5000};
  bool use_crl_ = false;  // the collector honours pki/crl.pem (revokes agent-revoked)
  fs::path dir_;
  std::shared_ptr<const collector::Policy> policy_;
  std::unique_ptr<collector::SqliteStore> store_;
  tls::ContextPtr server_tls_;
  std::unique_ptr<collector::Ingest> ingest_;
  asio::io_context io_;
  std::unique_ptr<collector::Server> server_;
  std::optional<asio::executor_work_guard<asio::io_context::executor_type>> guard_;
  std::thread thread_;
  std::uint16_t port_ = 0;
};

// A blocking TLS client that speaks frames, for driving the collector by hand.
class RawClient {
 public:
  RawClient(const tls::Files& files, std::uint16_t port) {
    auto ctx = tls::make_client_context(files);
    if (!ctx) throw std::runtime_error(ctx.error().message);
    ctx_ = std::move(*ctx);
    stream_ = std::make_unique<asio::ssl::stream<asio::ip::tcp::socket>>(io_, *ctx_);
    stream_->lowest_layer().connect({asio::ip::make_address("127.0.0.1"), port});
    if (!tls::set_expected_name(stream_->native_handle(), "vagt-collector"))
      throw std::runtime_error("expected name");
    stream_->handshake(asio::ssl::stream_base::client);
  }

  void send_raw(const std::string& bytes) { asio::write(*stream_, asio::buffer(bytes)); }
  void send(const v1::AgentMessage& m) { send_raw(*encode_frame(m)); }

  // The next message, or nullopt when the collector closed the connection.
  std::optional<v1::CollectorMessage> receive() {
    std::array<std::uint8_t, 4> prefix{};
    boost::system::error_code ec;
    asio::read(*stream_, asio::buffer(prefix), ec);
    if (ec) return std::nullopt;
    auto len = decode_frame_length(prefix, kDefaultMaxFrameBytes);
    if (!len) return std::nullopt;
    std::string body(*len, '\0');
    asio::read(*stream_, asio::buffer(body), ec);
    if (ec) return std::nullopt;
    v1::CollectorMessage m;
    if (!m.ParseFromString(body)) return std::nullopt;
    return m;
  }

  v1::Welcome hello() {
    v1::AgentMessage m;
    m.mutable_hello()->set_protocol_version(kProtocolVersion);
    send(m);
    auto w = receive();
    if (!w || !w->has_welcome()) throw std::runtime_error("no welcome");
    return w->welcome();
  }

 private:
  asio::io_context io_;
  tls::ContextPtr ctx_;
  std::unique_ptr<asio::ssl::stream<asio::ip::tcp::socket>> stream_;
};

}  // namespace vagt::testing
