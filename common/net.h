#pragma once

// Asio helpers shared by the agent uplink and the collector server:
// framed protobuf reads/writes as coroutines, and a per-connection deadline.

#include <array>
#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "common/asio.h"
#include "common/framing.h"
#include "common/result.h"

namespace vagt::net {

namespace asio = boost::asio;

// Read one frame. The body grows as bytes arrive (64 KiB steps), so a peer
// that announces a large frame and sends nothing holds no large buffer.
template <typename Stream>
asio::awaitable<Result<std::string>> read_frame(Stream& stream, std::uint32_t max_frame_bytes) {
  std::array<std::uint8_t, 4> prefix{};
  boost::system::error_code ec;
  co_await asio::async_read(stream, asio::buffer(prefix),
                            asio::redirect_error(asio::use_awaitable, ec));
  if (ec)
    co_return fail(ec == asio::error::eof ? ErrorCode::kNotFound : ErrorCode::kIo, ec.message());
  auto len = decode_frame_length(prefix, max_frame_bytes);
  if (!len) co_return tl::unexpected(len.error());
  std::string body;
  constexpr std::size_t kStep = 64 * 1024;
  while (body.size() < *len) {
    const std::size_t old = body.size();
    const std::size_t chunk = std::min<std::size_t>(kStep, *len - old);
    body.resize(old + chunk);
    co_await asio::async_read(stream, asio::buffer(body.data() + old, chunk),
                              asio::redirect_error(asio::use_awaitable, ec));
    if (ec) co_return fail(ErrorCode::kIo, "frame body: " + ec.message());
  }
  co_return body;
}

template <typename Stream>
asio::awaitable<Result<void>> write_frame(Stream& stream, const google::protobuf::MessageLite& m,
                                          std::uint32_t max_frame_bytes = kDefaultMaxFrameBytes) {
  auto frame = encode_frame(m, max_frame_bytes);
  if (!frame) co_return tl::unexpected(frame.error());
  boost::system::error_code ec;
  co_await asio::async_write(stream, asio::buffer(*frame),
                             asio::redirect_error(asio::use_awaitable, ec));
  if (ec) co_return fail(ErrorCode::kIo, ec.message());
  co_return Result<void>{};
}

// A deadline for whatever the connection does next. arm() restarts it; when it
// expires, on_expire runs (closing the socket cancels the pending operation).
// Create with make_shared on the connection's executor (strand).
class Deadline : public std::enable_shared_from_this<Deadline> {
 public:
  Deadline(asio::any_io_executor executor, std::function<void()> on_expire)
      : timer_(std::move(executor)), on_expire_(std::move(on_expire)) {}

  void arm(std::chrono::steady_clock::duration d) {
    timer_.expires_after(d);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (!ec && !self->stopped_) {
        self->expired_ = true;
        self->on_expire_();
      }
    });
  }
  void stop() {
    stopped_ = true;
    timer_.cancel();
  }
  bool expired() const { return expired_; }

 private:
  asio::steady_timer timer_;
  std::function<void()> on_expire_;
  bool stopped_ = false;
  bool expired_ = false;
};

}  // namespace vagt::net
