#include "agent/flow/flow_types.h"

#include <tuple>

namespace vagt::agent::flow {

FlowKey FlowKey::of(const Endpoint& x, const Endpoint& y) {
  const bool x_first =
      std::tie(x.address_length, x.address, x.port) < std::tie(y.address_length, y.address, y.port);
  return x_first ? FlowKey{x, y} : FlowKey{y, x};
}

std::size_t FlowKeyHash::operator()(const FlowKey& key) const noexcept {
  // FNV-1a over both endpoints.
  std::uint64_t h = 1469598103934665603ULL;
  auto mix = [&h](const Endpoint& e) {
    for (std::size_t i = 0; i < e.address_length; ++i) {
      h = (h ^ e.address[i]) * 1099511628211ULL;
    }
    h = (h ^ (e.port & 0xFF)) * 1099511628211ULL;
    h = (h ^ (e.port >> 8)) * 1099511628211ULL;
  };
  mix(key.a);
  mix(key.b);
  return static_cast<std::size_t>(h);
}

}  // namespace vagt::agent::flow
