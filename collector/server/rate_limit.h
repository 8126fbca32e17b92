#pragma once

// A token bucket: `rate` tokens a second, at most `burst` saved up. take()
// always takes a token and says how long the caller must wait for it, so
// that an agent over its rate is slowed down (back-pressure), never dropped.

#include <algorithm>
#include <chrono>

namespace vagt::collector {

class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;

  TokenBucket(double rate_per_s, double burst, Clock::time_point now)
      : rate_(rate_per_s), burst_(std::max(1.0, burst)), tokens_(burst_), last_(now) {}

  std::chrono::nanoseconds take(Clock::time_point now) {
    if (now > last_) {
      const double elapsed = std::chrono::duration<double>(now - last_).count();
      tokens_ = std::min(burst_, tokens_ + elapsed * rate_);
      last_ = now;
    }
    tokens_ -= 1.0;
    if (tokens_ >= 0) return std::chrono::nanoseconds(0);
    return std::chrono::nanoseconds(static_cast<std::int64_t>(-tokens_ / rate_ * 1e9));
  }

 private:
  double rate_, burst_, tokens_;
  Clock::time_point last_;
};

}  // namespace vagt::collector
