#include "collector/server/server.h"

#include "common/net.h"
#include "common/tls.h"

namespace vagt::collector {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {

// One agent connection. Owned by a shared_ptr held by its coroutine and its
// deadline; nothing refers to it by raw pointer from a handler.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket socket, asio::ssl::context& tls, Ingest& ingest, const ServerConfig& config,
          ServerCounters& counters, LoggerPtr log)
      : stream_(std::move(socket), tls),
        ingest_(ingest),
        config_(config),
        counters_(counters),
        log_(std::move(log)) {
    boost::system::error_code ec;
    auto ep = stream_.lowest_layer().remote_endpoint(ec);
    peer_ = ec ? std::string("?") : ep.address().to_string() + ":" + std::to_string(ep.port());
  }

  asio::awaitable<void> run() {
    // The deadline must not own the session (that would be a cycle: the
    // session owns its deadline), so it holds a weak reference.
    std::weak_ptr<Session> weak = shared_from_this();
    deadline_ = std::make_shared<net::Deadline>(stream_.get_executor(), [weak] {
      if (auto self = weak.lock()) {
        boost::system::error_code ignored;
        self->stream_.lowest_layer().close(ignored);
      }
    });
    co_await serve();
    deadline_->stop();
    if (!agent_id_.empty() && claimed_) ingest_.release(agent_id_);
    boost::system::error_code ec;
    stream_.lowest_layer().close(ec);
  }

 private:
  asio::awaitable<void> serve() {
    boost::system::error_code ec;
    deadline_->arm(config_.handshake_timeout);
    co_await stream_.async_handshake(asio::ssl::stream_base::server,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      counters_.handshake_failures++;
      if (deadline_->expired()) counters_.timeouts++;
      // No identity is known: the peer's address is all there is to record.
      log_->warn("TLS handshake with {} failed: {}", peer_, ec.message());
      co_return;
    }
    auto cert = tls::peer_certificate(stream_.native_handle());
    if (!cert) {
      counters_.handshake_failures++;
      log_->warn("{}: {}", peer_, cert.error().describe());
      co_return;
    }
    agent_id_ = cert->common_name();
    if (agent_id_.empty()) {
      log_->warn("{}: client certificate has no CN; refused", peer_);
      co_return;
    }
    if (auto refusal = ingest_.admit(agent_id_, *cert, peer_)) {
      counters_.refused_connections++;
      co_await send_refusal(refusal->code(), refusal->reason());
      co_return;
    }
    if (!ingest_.claim(agent_id_)) {
      counters_.refused_connections++;
      log_->warn("agent {} from {}: already connected elsewhere; refused", agent_id_, peer_);
      co_await send_refusal("session.duplicate", "this agent id already has an open session");
      co_return;
    }
    claimed_ = true;
    log_->info("agent {} connected from {}", agent_id_, peer_);

    v1::AgentMessage msg;
    if (!co_await read_message(msg)) co_return;
    if (!msg.has_hello() || msg.hello().protocol_version() != kProtocolVersion) {
      co_await send_refusal("protocol.bad_hello", "expected Hello with protocol version 1");
      co_return;
    }
    auto welcome = ingest_.welcome(agent_id_);
    if (!welcome) {
      log_->error("welcome for {}: {}", agent_id_, welcome.error().describe());
      co_await send_refusal("collector.store_unavailable", "the collector cannot read its store");
      co_return;
    }
    v1::CollectorMessage out;
    *out.mutable_welcome() = *welcome;
    if (!co_await send(out)) co_return;

    for (;;) {
      std::string raw;
      v1::AgentMessage in;
      if (!co_await read_message(in, &raw)) co_return;
      if (in.has_heartbeat()) {
        ingest_.on_heartbeat(agent_id_, in.heartbeat());
        continue;
      }
      if (!in.has_batch() && !in.has_loss()) {
        co_await send_refusal("protocol.unexpected_message",
                              "only Batch, LossNotice and Heartbeat may follow Hello");
        co_return;
      }
      // Over its rate, the agent waits for its ack: back-pressure, no drop.
      if (const auto wait = ingest_.throttle(agent_id_); wait.count() > 0) {
        asio::steady_timer timer(stream_.get_executor());
        timer.expires_after(wait);
        boost::system::error_code ignored;
        co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ignored));
      }
      // The frame body exactly as received is the evidence that is kept.
      BatchOutcome outcome = in.has_batch()
                                 ? ingest_.on_batch(agent_id_, *cert, in.batch(), raw)
                                 : ingest_.on_loss(agent_id_, *cert, in.loss(), raw);
      v1::CollectorMessage reply;
      if (outcome.refusal) {
        *reply.mutable_refusal() = std::move(*outcome.refusal);
        co_await send(reply);
        co_return;
      }
      *reply.mutable_ack() = std::move(*outcome.ack);
      if (!co_await send(reply)) co_return;
    }
  }

  // Reads and parses one frame under the idle deadline. False ends the session.
  asio::awaitable<bool> read_message(v1::AgentMessage& msg, std::string* raw = nullptr) {
    deadline_->arm(config_.idle_timeout);
    auto body = co_await net::read_frame(stream_, ingest_.limits().max_frame_bytes);
    if (!body) {
      if (deadline_->expired()) {
        counters_.timeouts++;
        log_->info("agent {} ({}): idle timeout", agent_id_, peer_);
      } else if (body.error().code == ErrorCode::kNotFound) {
        log_->info("agent {} ({}) closed the connection", agent_id_, peer_);
      } else if (body.error().code == ErrorCode::kTooLarge ||
                 body.error().code == ErrorCode::kMalformed) {
        counters_.bad_frames++;
        log_->warn("agent {} ({}): {}; closing", agent_id_, peer_, body.error().describe());
        co_await send_refusal("protocol.bad_frame", body.error().message);
      } else {
        log_->info("agent {} ({}): {}", agent_id_, peer_, body.error().describe());
      }
      co_return false;
    }
    if (auto r = decode_frame_body(*body, msg); !r) {
      counters_.bad_frames++;
      log_->warn("agent {} ({}): {}; closing", agent_id_, peer_, r.error().describe());
      co_await send_refusal("protocol.bad_frame", r.error().message);
      co_return false;
    }
    if (raw != nullptr) *raw = std::move(*body);
    co_return true;
  }

  asio::awaitable<bool> send(const v1::CollectorMessage& msg) {
    deadline_->arm(config_.idle_timeout);
    auto r = co_await net::write_frame(stream_, msg);
    if (!r) log_->info("agent {} ({}): write failed: {}", agent_id_, peer_, r.error().describe());
    co_return r.has_value();
  }

  asio::awaitable<void> send_refusal(const std::string& code, const std::string& reason) {
    v1::CollectorMessage msg;
    msg.mutable_refusal()->set_code(code);
    msg.mutable_refusal()->set_reason(reason);
    co_await send(msg);
  }

  TlsStream stream_;
  Ingest& ingest_;
  const ServerConfig& config_;
  ServerCounters& counters_;
  LoggerPtr log_;
  std::shared_ptr<net::Deadline> deadline_;
  std::string peer_;
  std::string agent_id_;
  bool claimed_ = false;
};

}  // namespace

Server::Server(asio::io_context& io, asio::ssl::context& tls, Ingest& ingest, ServerConfig config,
               LoggerPtr log)
    : io_(io),
      tls_(tls),
      ingest_(ingest),
      config_(std::move(config)),
      log_(std::move(log)),
      acceptor_(io) {}

Result<std::uint16_t> Server::start() {
  boost::system::error_code ec;
  const auto address = asio::ip::make_address(config_.listen_address, ec);
  if (ec) return fail(ErrorCode::kInvalidArgument, "listen address " + config_.listen_address);
  tcp::endpoint ep(address, config_.listen_port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return fail(ErrorCode::kIo, "cannot listen on " + config_.listen_address + ":" +
                                    std::to_string(config_.listen_port) + ": " + ec.message());
  const std::uint16_t port = acceptor_.local_endpoint().port();
  asio::co_spawn(acceptor_.get_executor(), accept_loop(), [log = log_](std::exception_ptr e) {
    if (!e) return;
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& ex) {
      log->critical("accept loop failed: {}", ex.what());
    }
  });
  log_->info("listening on {}:{} (TLS 1.3, client certificates required)", config_.listen_address,
             port);
  return port;
}

void Server::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

asio::awaitable<void> Server::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket(asio::make_strand(io_));
    co_await acceptor_.async_accept(socket, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      log_->warn("accept: {}", ec.message());
      continue;
    }
    counters_.accepted++;
    if (counters_.active.load() >= config_.max_connections) {
      counters_.refused_connections++;
      socket.close(ec);
      continue;
    }
    counters_.active++;
    auto executor = socket.get_executor();
    auto session =
        std::make_shared<Session>(std::move(socket), tls_, ingest_, config_, counters_, log_);
    asio::co_spawn(
        executor, [session]() -> asio::awaitable<void> { co_await session->run(); },
        [counters = &counters_, log = log_](std::exception_ptr e) {
          counters->active--;
          if (!e) return;
          try {
            std::rethrow_exception(e);
          } catch (const std::exception& ex) {
            log->error("session ended by exception: {}", ex.what());
          }
        });
  }
}

}  // namespace vagt::collector
