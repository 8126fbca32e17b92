#include "collector/policy/detector.h"

#include <limits>

namespace vagt::collector {

namespace {

std::string relation_key(const std::string& patient, const std::string& department) {
  std::string k = patient;
  k += '\0';
  k += department;
  return k;
}

bool within(std::uint64_t then, std::uint64_t now, std::uint64_t window) {
  return then + window > now;
}

// One alert per key per window, once the count reaches the threshold.
bool alert_due(std::size_t count, std::size_t threshold, bool& alerted, std::uint64_t& last_alert,
               std::uint64_t t, std::uint64_t window) {
  if (count < threshold || (alerted && within(last_alert, t, window))) return false;
  alerted = true;
  last_alert = t;
  return true;
}

}  // namespace

template <typename Map, typename Expired>
void DetectionState::make_room(Map& map, Expired expired) {
  if (map.size() < max_entries_) return;
  for (auto it = map.begin(); it != map.end();) {
    it = expired(it->second) ? map.erase(it) : std::next(it);
  }
  while (map.size() >= max_entries_) {
    map.erase(map.begin());
    ++evictions_;
  }
}

DetectionState::Count DetectionState::record_failure(const std::string& key, std::uint64_t t,
                                                     std::uint64_t window, std::size_t threshold) {
  std::lock_guard lock(mutex_);
  if (failures_.find(key) == failures_.end()) {
    make_room(failures_, [&](const Failures& f) {
      return f.times.empty() || !within(f.times.back(), t, window);
    });
  }
  Failures& f = failures_[key];
  f.times.push_back(t);
  while (!f.times.empty() && !within(f.times.front(), t, window)) f.times.pop_front();
  while (f.times.size() > kMaxFailuresPerKey) f.times.pop_front();
  const std::size_t n = f.times.size();
  return Count{n, alert_due(n, threshold, f.alerted, f.last_alert, t, window)};
}

DetectionState::Count DetectionState::record_spray(const std::string& source,
                                                   const std::string& principal, std::uint64_t t,
                                                   std::uint64_t window, std::size_t threshold) {
  std::lock_guard lock(mutex_);
  if (spray_.find(source) == spray_.end()) {
    make_room(spray_, [&](const Spray& s) {
      for (const auto& [p, seen] : s.last_seen)
        if (within(seen, t, window)) return false;
      return true;
    });
  }
  Spray& s = spray_[source];
  for (auto it = s.last_seen.begin(); it != s.last_seen.end();) {
    it = within(it->second, t, window) ? std::next(it) : s.last_seen.erase(it);
  }
  if (s.last_seen.size() < kMaxPrincipalsPerSource || s.last_seen.count(principal)) {
    s.last_seen[principal] = t;
  }
  const std::size_t n = s.last_seen.size();
  return Count{n, alert_due(n, threshold, s.alerted, s.last_alert, t, window)};
}

void DetectionState::open_relation(const std::string& patient, const std::string& department,
                                   std::uint64_t t, const std::string& trigger) {
  std::lock_guard lock(mutex_);
  const std::string key = relation_key(patient, department);
  auto it = relations_.find(key);
  if (it == relations_.end()) {
    make_room(relations_, [&](const Relation& r) { return r.until_ns <= t; });
    it = relations_.emplace(key, Relation{t, 0, trigger}).first;
  } else if (it->second.until_ns <= t) {
    it->second.since_ns = t;  // a new stay after an ended one
  }
  it->second.until_ns = std::numeric_limits<std::uint64_t>::max();
  it->second.trigger = trigger;
}

void DetectionState::close_relation(const std::string& patient, const std::string& department,
                                    std::uint64_t t, std::uint64_t grace,
                                    const std::string& trigger) {
  std::lock_guard lock(mutex_);
  const auto it = relations_.find(relation_key(patient, department));
  if (it == relations_.end()) return;
  const std::uint64_t until = t > std::numeric_limits<std::uint64_t>::max() - grace
                                  ? std::numeric_limits<std::uint64_t>::max()
                                  : t + grace;
  if (until < it->second.until_ns) it->second.until_ns = until;
  it->second.trigger = trigger;
}

std::optional<DetectionState::Relation> DetectionState::relation(const std::string& patient,
                                                                 const std::string& department,
                                                                 std::uint64_t t) const {
  std::lock_guard lock(mutex_);
  const auto it = relations_.find(relation_key(patient, department));
  if (it == relations_.end() || it->second.until_ns <= t || it->second.since_ns > t) {
    return std::nullopt;
  }
  return it->second;
}

DetectionState::Stats DetectionState::stats() const {
  std::lock_guard lock(mutex_);
  return Stats{failures_.size(), spray_.size(), relations_.size(), evictions_};
}

}  // namespace vagt::collector
