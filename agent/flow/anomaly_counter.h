#pragma once

// Counts anomalies by stable id ("tcp.truncated_header"). Anomalies are
// counted, never thrown and never logged per packet.

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

namespace vagt::agent::flow {

class AnomalyCounter {
 public:
  void add(std::string_view id, std::uint64_t n = 1) {
    auto it = counts_.find(id);
    if (it == counts_.end()) {
      counts_.emplace(std::string(id), n);
    } else {
      it->second += n;
    }
  }
  std::uint64_t count(std::string_view id) const {
    auto it = counts_.find(id);
    return it == counts_.end() ? 0 : it->second;
  }
  std::uint64_t total() const {
    std::uint64_t sum = 0;
    for (const auto& [id, n] : counts_) sum += n;
    return sum;
  }
  const std::map<std::string, std::uint64_t, std::less<>>& counts() const { return counts_; }

 private:
  std::map<std::string, std::uint64_t, std::less<>> counts_;
};

}  // namespace vagt::agent::flow
