#pragma once

// Memory of the stateful detections (failure bursts, password spraying,
// treatment relations learnt from HL7 ADT). It is owned by whoever calls
// Policy::evaluate(event, state) -- the collector's Ingest -- and is not part
// of a Policy, so it survives a policy reload; each detection reads it with
// the thresholds of the policy in force.
//
// Memory ceiling: at most `max_entries` keys in each of the three maps (per
// principal failures, per source spraying, relations). A failure key keeps at
// most 1000 timestamps, a spraying key at most 4096 principals. When a map is
// full, expired entries are swept first; if it is still full an arbitrary
// entry is evicted and counted in stats().evictions. Thread-safe (one mutex).

#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace vagt::collector {

class DetectionState {
 public:
  static constexpr std::size_t kDefaultMaxEntries = 100000;
  static constexpr std::size_t kMaxFailuresPerKey = 1000;
  static constexpr std::size_t kMaxPrincipalsPerSource = 4096;

  explicit DetectionState(std::size_t max_entries = kDefaultMaxEntries)
      : max_entries_(max_entries ? max_entries : 1) {}

  // Records a failure of `key` at `t_ns`; returns how many failures of `key`
  // fall in (t_ns - window_ns, t_ns] and whether an alert is due (the count
  // reached `threshold` and no alert for this key in the last window).
  struct Count {
    std::size_t count = 0;
    bool alert = false;
  };
  Count record_failure(const std::string& key, std::uint64_t t_ns, std::uint64_t window_ns,
                       std::size_t threshold);
  // Records a failure for `principal` from `source`; counts distinct principals.
  Count record_spray(const std::string& source, const std::string& principal, std::uint64_t t_ns,
                     std::uint64_t window_ns, std::size_t threshold);

  // Treatment relations (patient pseudonym, department).
  void open_relation(const std::string& patient, const std::string& department, std::uint64_t t_ns,
                     const std::string& trigger);
  // Ends a relation `grace_ns` after t_ns (0: at once).
  void close_relation(const std::string& patient, const std::string& department, std::uint64_t t_ns,
                      std::uint64_t grace_ns, const std::string& trigger);
  struct Relation {
    std::uint64_t since_ns = 0;
    std::uint64_t until_ns = 0;  // UINT64_MAX while open
    std::string trigger;         // ADT trigger that opened or last changed it
  };
  std::optional<Relation> relation(const std::string& patient, const std::string& department,
                                   std::uint64_t t_ns) const;

  struct Stats {
    std::size_t failure_keys = 0, spray_keys = 0, relations = 0;
    std::uint64_t evictions = 0;
  };
  Stats stats() const;

 private:
  struct Failures {
    std::deque<std::uint64_t> times;
    std::uint64_t last_alert = 0;
    bool alerted = false;
  };
  struct Spray {
    std::unordered_map<std::string, std::uint64_t> last_seen;
    std::uint64_t last_alert = 0;
    bool alerted = false;
  };
  template <typename Map, typename Expired>
  void make_room(Map& map, Expired expired);

  mutable std::mutex mutex_;
  std::size_t max_entries_;
  std::uint64_t evictions_ = 0;
  std::unordered_map<std::string, Failures> failures_;
  std::unordered_map<std::string, Spray> spray_;
  std::unordered_map<std::string, Relation> relations_;  // patient '\0' department
};

}  // namespace vagt::collector
