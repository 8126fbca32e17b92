#include "agent/uplink/forwarder.h"

#include <deque>
#include <optional>

#include "common/crypto.h"
#include "common/framing.h"
#include "common/net.h"
#include "common/tls.h"

namespace vagt::agent::uplink {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;
using TlsStream = asio::ssl::stream<tcp::socket>;

namespace {

constexpr auto kIdlePoll = std::chrono::milliseconds(20);

std::string describe(const Endpoint& ep) { return ep.host + ":" + std::to_string(ep.port); }

// The frame of an AgentMessage whose only field is `batch` = the spooled
// bytes, built without parsing them again: tag 2, length-delimited.
std::string batch_frame(const std::string& payload) {
  std::string body;
  body.reserve(payload.size() + 16);
  body.push_back(static_cast<char>(0x12));
  std::uint64_t n = payload.size();
  while (n >= 0x80) {
    body.push_back(static_cast<char>((n & 0x7F) | 0x80));
    n >>= 7;
  }
  body.push_back(static_cast<char>(n));
  body += payload;
  std::string frame;
  const auto len = static_cast<std::uint32_t>(body.size());
  for (int shift = 24; shift >= 0; shift -= 8)
    frame.push_back(static_cast<char>((len >> shift) & 0xFF));
  return frame + body;
}

}  // namespace

// One connection: handshake, Welcome, reconciliation, pipelined sending.
class Forwarder::Session {
 public:
  Session(Forwarder& f, std::shared_ptr<asio::ssl::context> tls)
      : f_(f), tls_(std::move(tls)), stream_(f.io_, *tls_) {}

  ~Session() {
    if (deadline_) deadline_->stop();
    boost::system::error_code ignored;
    stream_.lowest_layer().close(ignored);
  }

  asio::awaitable<Result<void>> connect(const Endpoint& ep) {
    auto* stream = &stream_;
    deadline_ = std::make_shared<net::Deadline>(f_.io_.get_executor(), [stream] {
      boost::system::error_code ignored;
      stream->lowest_layer().close(ignored);
    });
    deadline_->arm(f_.config_.link.connect_timeout);
    boost::system::error_code ec;
    tcp::resolver resolver(f_.io_);
    auto results = co_await resolver.async_resolve(ep.host, std::to_string(ep.port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail(ErrorCode::kIo, "resolve: " + ec.message());
    co_await asio::async_connect(stream_.lowest_layer(), results,
                                 asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return fail(ErrorCode::kIo,
                     deadline_->expired() ? "connect timed out" : "connect: " + ec.message());
    if (auto r = tls::set_expected_name(stream_.native_handle(), f_.config_.link.server_name); !r)
      co_return tl::unexpected(r.error());
    co_await stream_.async_handshake(asio::ssl::stream_base::client,
                                     asio::redirect_error(asio::use_awaitable, ec));
    if (ec)
      co_return fail(ErrorCode::kCrypto, deadline_->expired() ? "TLS handshake timed out"
                                                              : "TLS handshake: " + ec.message());
    co_return Result<void>{};
  }

  // Runs the session until an error, stop(), or done. `welcomed`: a Welcome
  // came (this endpoint works); progressed(): an ack came (backoff resets).
  bool progressed() const { return progressed_; }

  asio::awaitable<Result<void>> serve(const DonePredicate& done, const std::function<void()>& tick,
                                      const HeartbeatSource& heartbeat, bool& welcomed) {
    v1::AgentMessage hello;
    hello.mutable_hello()->set_protocol_version(kProtocolVersion);
    hello.mutable_hello()->set_agent_version(VAGT_VERSION);
    deadline_->arm(f_.config_.link.ack_timeout);
    if (auto r = co_await net::write_frame(stream_, hello); !r) co_return tl::unexpected(r.error());
    auto welcome = co_await receive();
    if (!welcome) co_return tl::unexpected(welcome.error());
    if (!welcome->has_welcome()) co_return fail(ErrorCode::kMalformed, "expected Welcome");
    welcomed = true;
    f_.counters_.connected++;
    if (auto r = reconcile(welcome->welcome()); !r) co_return r;
    max_frame_ = welcome->welcome().max_frame_bytes() ? welcome->welcome().max_frame_bytes()
                                                      : kDefaultMaxFrameBytes;

    auto next_heartbeat = std::chrono::steady_clock::now();
    for (;;) {
      if (f_.stopping_) co_return Result<void>{};
      if (tick) tick();
      const auto now = std::chrono::steady_clock::now();
      if (heartbeat && now >= next_heartbeat) {
        if (auto r = co_await send_heartbeat(heartbeat); !r) co_return r;
        next_heartbeat = now + f_.config_.heartbeat_interval;
      }
      // Fill the window.
      while (inflight_.size() < f_.config_.window) {
        auto sent = co_await send_next();
        if (!sent) co_return tl::unexpected(sent.error());
        if (!*sent) break;
      }
      if (inflight_.empty()) {
        if (done && done() && f_.spool_.empty()) {
          if (!heartbeat) co_return Result<void>{};
          co_return co_await send_heartbeat(heartbeat);  // the last word: final counters
        }
        deadline_->arm(f_.config_.link.ack_timeout);  // idle: keep it from firing
        co_await f_.pause(kIdlePoll);
        continue;
      }
      auto reply = co_await receive();
      if (!reply) co_return tl::unexpected(reply.error());
      if (!reply->has_ack()) co_return fail(ErrorCode::kMalformed, "expected Ack");
      const Inflight expected = inflight_.front();
      inflight_.pop_front();
      const std::uint64_t acked = reply->ack().next_sequence();
      if (acked < expected.next_sequence)
        co_return fail(ErrorCode::kIntegrity, "collector acked through " + std::to_string(acked) +
                                                  ", expected " +
                                                  std::to_string(expected.next_sequence));
      progressed_ = true;
      if (expected.loss_events) {
        f_.counters_.lost_events += expected.loss_events;
        f_.log_->warn("collector acknowledged the loss of {} event(s)", expected.loss_events);
      } else {
        f_.counters_.acked++;
      }
      if (auto r = f_.spool_.ack_through(acked); !r) co_return r;
    }
  }

 private:
  struct Inflight {
    std::uint64_t next_sequence = 0;
    std::uint64_t loss_events = 0;  // > 0 for a LossNotice
  };

  asio::awaitable<Result<void>> send_heartbeat(const HeartbeatSource& heartbeat) {
    v1::AgentMessage hb;
    *hb.mutable_heartbeat() = heartbeat();
    deadline_->arm(f_.config_.link.ack_timeout);
    co_return co_await net::write_frame(stream_, hb);
  }

  asio::awaitable<Result<v1::CollectorMessage>> receive() {
    deadline_->arm(f_.config_.link.ack_timeout);
    auto body = co_await net::read_frame(stream_, kDefaultMaxFrameBytes);
    if (!body)
      co_return fail(body.error().code, deadline_->expired()
                                            ? "no answer from the collector in time"
                                            : body.error().message);
    v1::CollectorMessage msg;
    if (auto r = decode_frame_body(*body, msg); !r) co_return tl::unexpected(r.error());
    if (msg.has_refusal()) {
      f_.counters_.refusals++;
      co_return fail(ErrorCode::kRefused,
                     "collector refused: " + msg.refusal().code() + ": " + msg.refusal().reason());
    }
    co_return msg;
  }

  // Where the collector's copy of our chain stands against the spool.
  Result<void> reconcile(const v1::Welcome& w) {
    auto& spool = f_.spool_;
    const std::uint64_t theirs = w.next_sequence();
    if (!spool.anchored()) {
      // Fresh state dir: continue whatever chain the collector holds.
      f_.log_->info("fresh spool: continuing the collector's chain at sequence {}", theirs);
      if (auto r = spool.anchor(theirs, w.last_header_sha256()); !r) return r;
      cursor_ = theirs;
      return {};
    }
    const std::uint64_t ours = spool.next_sequence();
    std::uint64_t low = ours;
    if (auto first = spool.first_unacked()) low = std::min(low, *first);
    const auto losses = spool.losses();
    if (!losses.empty()) low = std::min(low, losses.front().first_sequence);
    if (theirs > ours) {
      f_.log_->error(
          "the collector holds this agent's events up to sequence {} but the agent's chain ends "
          "at {}: the state dir was lost or restored from an old copy; new batches will be "
          "recorded as a fork",
          theirs, ours);
    } else if (theirs < low) {
      f_.log_->error(
          "the collector lacks sequences {}..{} and this agent no longer holds them (corrupt "
          "spool records without a recoverable header, or acks lost with the collector's "
          "store); the collector will record the gap",
          theirs, low - 1);
    } else {
      // Compare the collector's last link with our record of it.
      std::optional<std::string> ours_link;
      if (theirs == ours) {
        ours_link = spool.last_header_sha256();
      } else if (auto rec = spool.record_at(theirs)) {
        v1::BatchHeader h;
        if (h.ParseFromString(rec->header)) ours_link = h.prev_header_sha256();
      }
      const std::string& theirs_link =
          w.last_header_sha256().empty() ? genesis_link() : w.last_header_sha256();
      if (ours_link && !ours_link->empty() && *ours_link != theirs_link && theirs > 0)
        f_.log_->error(
            "chain fork at sequence {}: the collector's last header is not the one "
            "this agent signed; the collector will record it",
            theirs);
    }
    if (theirs > 0 && theirs <= ours)
      if (auto r = spool.ack_through(theirs); !r) return r;
    cursor_ = std::min(theirs, ours);
    if (theirs < low) cursor_ = low;  // send what we have; the collector sees the gap
    if (cursor_ < ours || !losses.empty())
      f_.log_->info("collector holds sequences below {}; sending from {}", theirs, cursor_);
    return {};
  }

  // Writes the next frame at cursor_: a LossNotice for a hole that starts
  // here, or the durable spooled batch. false when there is nothing to send.
  asio::awaitable<Result<bool>> send_next() {
    auto& spool = f_.spool_;
    const auto losses = spool.losses();
    auto it = std::find_if(losses.begin(), losses.end(),
                           [this](const spool::Loss& l) { return l.first_sequence >= cursor_; });
    if (it != losses.end() && it->first_sequence == cursor_) {
      v1::AgentMessage msg;
      auto* notice = msg.mutable_loss();
      notice->set_reason(it->reason);
      std::uint64_t events = 0;
      for (; it != losses.end() && it->first_sequence == cursor_ && notice->headers_size() < 1000;
           ++it) {
        if (it->reason != notice->reason()) break;
        notice->add_headers(it->header);
        notice->add_signatures(it->signature);
        cursor_ += it->count;
        events += it->count;
      }
      deadline_->arm(f_.config_.link.ack_timeout);
      if (auto r = co_await net::write_frame(stream_, msg, max_frame_); !r)
        co_return tl::unexpected(r.error());
      inflight_.push_back(Inflight{cursor_, events});
      co_return true;
    }
    auto rec = spool.record_at(cursor_);
    if (!rec) {
      // A hole the spool cannot explain: jump to what it has.
      const auto first = spool.first_unacked();
      std::uint64_t next = first && *first > cursor_ ? *first : cursor_;
      if (it != losses.end())
        next = std::min(next == cursor_ ? it->first_sequence : next, it->first_sequence);
      if (next > cursor_) {
        f_.log_->error("sequences {}..{} are in neither the spool nor a LossNotice", cursor_,
                       next - 1);
        cursor_ = next;
        co_return true;
      }
      co_return false;
    }
    if (!rec->durable) co_return false;
    auto payload = spool.read(*rec);
    if (!payload) co_return tl::unexpected(payload.error());
    const std::string frame = batch_frame(*payload);
    if (frame.size() - 4 > max_frame_)
      co_return fail(ErrorCode::kTooLarge, "a spooled batch exceeds the collector's frame limit");
    deadline_->arm(f_.config_.link.ack_timeout);
    boost::system::error_code ec;
    co_await asio::async_write(stream_, asio::buffer(frame),
                               asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail(ErrorCode::kIo, ec.message());
    cursor_ = rec->first_sequence + rec->count;
    inflight_.push_back(Inflight{cursor_, 0});
    f_.counters_.sent++;
    co_return true;
  }

  Forwarder& f_;
  std::shared_ptr<asio::ssl::context> tls_;
  TlsStream stream_;
  std::shared_ptr<net::Deadline> deadline_;
  std::uint64_t cursor_ = 0;
  bool progressed_ = false;
  std::uint32_t max_frame_ = kDefaultMaxFrameBytes;
  std::deque<Inflight> inflight_;
};

Forwarder::Forwarder(asio::io_context& io, TlsProvider tls, spool::Spool& spool,
                     ForwarderConfig config, LoggerPtr log)
    : io_(io),
      tls_(std::move(tls)),
      spool_(spool),
      config_(std::move(config)),
      log_(std::move(log)),
      rng_(std::random_device{}()) {}

void Forwarder::stop() { stopping_ = true; }

asio::awaitable<void> Forwarder::pause(std::chrono::milliseconds d) {
  asio::steady_timer timer(io_);
  timer.expires_after(d);
  boost::system::error_code ec;
  co_await timer.async_wait(asio::redirect_error(asio::use_awaitable, ec));
}

asio::awaitable<void> Forwarder::run(DonePredicate done, std::function<void()> tick,
                                     HeartbeatSource heartbeat) {
  auto backoff = config_.backoff_initial;
  bool first = true;
  while (!stopping_) {
    bool finished = false;
    bool welcomed_any = false;
    for (const auto& ep : config_.link.endpoints) {
      if (stopping_) break;
      if (!first) counters_.reconnects++;
      first = false;
      Session session(*this, tls_());
      auto connected = co_await session.connect(ep);
      if (!connected) {
        last_error_ = describe(ep) + ": " + connected.error().message;
        log_->warn("collector {}", last_error_);
        continue;
      }
      log_->info("connected to collector {}", describe(ep));
      bool welcomed = false;
      auto r = co_await session.serve(done, tick, heartbeat, welcomed);
      welcomed_any = welcomed_any || session.progressed();
      if (r) {
        finished = true;
        break;
      }
      last_error_ = describe(ep) + ": " + r.error().message;
      log_->warn("collector {}", last_error_);
      if (welcomed) break;  // a working endpoint failed: retry it first
    }
    if (finished || stopping_) break;
    if (welcomed_any) backoff = config_.backoff_initial;
    // Jitter: a uniform draw in [backoff/2, backoff].
    std::uniform_int_distribution<long long> jitter(backoff.count() / 2, backoff.count());
    const auto wait = std::chrono::milliseconds(jitter(rng_));
    log_->info("reconnecting in {} ms", wait.count());
    for (auto waited = std::chrono::milliseconds(0); waited < wait && !stopping_;
         waited += kIdlePoll) {
      if (tick) tick();
      if (done && done() && spool_.empty()) break;
      co_await pause(kIdlePoll);
    }
    if (done && done() && spool_.empty()) break;
    backoff = std::min(config_.backoff_max, backoff * 2);
  }
}

}  // namespace vagt::agent::uplink
