#include "agent/uplink/uplink.h"

#include <optional>

#include "common/net.h"
#include "common/tls.h"

namespace vagt::agent::uplink {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::string describe(const Endpoint& ep) { return ep.host + ":" + std::to_string(ep.port); }

}  // namespace

Result<Endpoint> parse_endpoint(const std::string& text) {
  Endpoint ep;
  std::string port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos)
      return fail(ErrorCode::kInvalidArgument, "bad endpoint " + text);
    ep.host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':') return fail(ErrorCode::kInvalidArgument, "bad endpoint " + text);
      port = text.substr(close + 2);
    }
  } else {
    const auto colon = text.rfind(':');
    ep.host = text.substr(0, colon);
    if (colon != std::string::npos) port = text.substr(colon + 1);
  }
  if (ep.host.empty()) return fail(ErrorCode::kInvalidArgument, "endpoint without host: " + text);
  if (!port.empty()) {
    char* end = nullptr;
    const unsigned long p = std::strtoul(port.c_str(), &end, 10);
    if (*end != '\0' || p == 0 || p > 65535)
      return fail(ErrorCode::kInvalidArgument, "bad port in endpoint " + text);
    ep.port = static_cast<std::uint16_t>(p);
  }
  return ep;
}

Uplink::Uplink(asio::io_context& io, asio::ssl::context& tls, UplinkConfig config, LoggerPtr log)
    : io_(io), tls_(tls), config_(std::move(config)), log_(std::move(log)) {}

namespace {

// One delivery attempt over one connection.
class Delivery {
 public:
  Delivery(asio::io_context& io, asio::ssl::context& tls, const UplinkConfig& config, LoggerPtr log)
      : io_(io), tls_(tls), config_(config), log_(std::move(log)) {}

  asio::awaitable<Result<DeliveryStats>> run(std::vector<v1::AccessEvent> events,
                                             ChainSigner& signer) {
    std::string errors;
    for (const auto& ep : config_.endpoints) {
      auto connected = co_await connect(ep);
      if (connected) {
        stats_.endpoint = describe(ep);
        auto r = co_await exchange(std::move(events), signer);
        deadline_->stop();
        boost::system::error_code ignored;
        stream_->lowest_layer().close(ignored);
        if (!r) co_return tl::unexpected(r.error());
        co_return stats_;
      }
      deadline_->stop();
      log_->warn("collector {}: {}", describe(ep), connected.error().message);
      errors += (errors.empty() ? "" : "; ") + describe(ep) + ": " + connected.error().message;
    }
    co_return fail(ErrorCode::kIo, "no collector could be reached (" + errors + ")");
  }

 private:
  asio::awaitable<Result<void>> connect(const Endpoint& ep) {
    stream_.emplace(io_, tls_);
    deadline_ = std::make_shared<net::Deadline>(io_.get_executor(), [this] {
      boost::system::error_code ignored;
      stream_->lowest_layer().close(ignored);
    });
    deadline_->arm(config_.connect_timeout);
    boost::system::error_code ec;
    tcp::resolver resolver(io_);
    auto results = co_await resolver.async_resolve(ep.host, std::to_string(ep.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail(ErrorCode::kIo, "resolve: " + ec.message());
    co_await asio::async_connect(stream_->lowest_layer(), results,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return fail(ErrorCode::kIo,
                     deadline_->expired() ? "connect timed out" : "connect: " + ec.message());
    if (auto r = tls::set_expected_name(stream_->native_handle(), config_.server_name); !r)
      co_return tl::unexpected(r.error());
    co_await stream_->async_handshake(asio::ssl::stream_base::client,
                                      asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return fail(ErrorCode::kCrypto, deadline_->expired() ? "TLS handshake timed out"
                                                              : "TLS handshake: " + ec.message());
    co_return Result<void>{};
  }

  asio::awaitable<Result<v1::CollectorMessage>> receive(std::uint32_t max_frame) {
    deadline_->arm(config_.ack_timeout);
    auto body = co_await net::read_frame(*stream_, max_frame);
    if (!body)
      co_return fail(body.error().code, deadline_->expired()
                                            ? "no answer from the collector in time"
                                            : body.error().message);
    v1::CollectorMessage msg;
    if (auto r = decode_frame_body(*body, msg); !r) co_return tl::unexpected(r.error());
    if (msg.has_refusal())
      co_return fail(ErrorCode::kRefused,
                     "collector refused: " + msg.refusal().code() + ": " + msg.refusal().reason());
    co_return msg;
  }

  asio::awaitable<Result<void>> exchange(std::vector<v1::AccessEvent> events, ChainSigner& signer) {
    v1::AgentMessage hello;
    hello.mutable_hello()->set_protocol_version(kProtocolVersion);
    hello.mutable_hello()->set_agent_version(VAGT_VERSION);
    deadline_->arm(config_.ack_timeout);
    if (auto r = co_await net::write_frame(*stream_, hello); !r)
      co_return tl::unexpected(r.error());
    auto welcome = co_await receive(kDefaultMaxFrameBytes);
    if (!welcome) co_return tl::unexpected(welcome.error());
    if (!welcome->has_welcome()) co_return fail(ErrorCode::kMalformed, "expected Welcome");
    const v1::Welcome& w = welcome->welcome();
    signer.resume(w.next_sequence(), w.last_header_sha256());
    stats_.first_sequence = w.next_sequence();
    stats_.next_sequence = w.next_sequence();
    const std::uint32_t max_frame =
        w.max_frame_bytes() ? w.max_frame_bytes() : kDefaultMaxFrameBytes;
    std::size_t per_batch = config_.max_events_per_batch;
    if (w.max_events_per_batch() != 0)
      per_batch = std::min<std::size_t>(per_batch, w.max_events_per_batch());
    per_batch = std::max<std::size_t>(per_batch, 1);

    for (std::size_t i = 0; i < events.size(); i += per_batch) {
      std::vector<v1::AccessEvent> chunk(
          std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(i)),
          std::make_move_iterator(events.begin() + static_cast<std::ptrdiff_t>(
                                                       std::min(events.size(), i + per_batch))));
      const std::size_t count = chunk.size();
      v1::AgentMessage msg;
      auto batch = signer.sign(chunk, wall_ns());
      if (!batch) co_return tl::unexpected(batch.error());
      *msg.mutable_batch() = std::move(*batch);
      deadline_->arm(config_.ack_timeout);
      if (auto r = co_await net::write_frame(*stream_, msg, max_frame); !r)
        co_return tl::unexpected(r.error());
      auto reply = co_await receive(kDefaultMaxFrameBytes);
      if (!reply) co_return tl::unexpected(reply.error());
      if (!reply->has_ack()) co_return fail(ErrorCode::kMalformed, "expected Ack");
      if (reply->ack().next_sequence() != signer.next_sequence())
        co_return fail(ErrorCode::kIntegrity,
                       "collector acked through " + std::to_string(reply->ack().next_sequence()) +
                           ", expected " + std::to_string(signer.next_sequence()));
      stats_.batches++;
      stats_.events += count;
      stats_.next_sequence = reply->ack().next_sequence();
    }
    co_return Result<void>{};
  }

  asio::io_context& io_;
  asio::ssl::context& tls_;
  const UplinkConfig& config_;
  LoggerPtr log_;
  std::optional<TlsStream> stream_;
  std::shared_ptr<net::Deadline> deadline_;
  DeliveryStats stats_;
};

}  // namespace

Result<DeliveryStats> Uplink::deliver(std::vector<v1::AccessEvent> events, ChainSigner& signer) {
  if (config_.endpoints.empty())
    return fail(ErrorCode::kInvalidArgument, "no collector endpoint configured");
  Delivery delivery(io_, tls_, config_, log_);
  std::optional<Result<DeliveryStats>> result;
  asio::co_spawn(io_, delivery.run(std::move(events), signer),
                 [&result](std::exception_ptr e, Result<DeliveryStats> r) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& ex) {
                       result = fail(ErrorCode::kInternal, ex.what());
                     }
                     return;
                   }
                   result = std::move(r);
                 });
  io_.restart();
  io_.run();
  if (!result) return fail(ErrorCode::kInternal, "delivery did not complete");
  return std::move(*result);
}

}  // namespace vagt::agent::uplink
