#include "agent/decode/live_capture.h"

#include <utility>

namespace vagt::agent::decode {
namespace {

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

std::uint64_t anomaly(const CaptureStats& s, const std::string& id) {
  auto it = s.anomalies.find(id);
  return it == s.anomalies.end() ? 0 : it->second;
}

// Hands events to the shared sink under its lock.
class LockedSink final : public EventSink {
 public:
  LockedSink(EventSink& sink, std::mutex& mutex) : sink_(sink), mutex_(mutex) {}
  void on_event(v1::AccessEvent&& event) override {
    std::lock_guard lock(mutex_);
    sink_.on_event(std::move(event));
  }

 private:
  EventSink& sink_;
  std::mutex& mutex_;
};

}  // namespace

v1::AccessEvent capture_health_event(const std::string& interface, const capture::LiveStats& live,
                                     const CaptureStats& pipeline, std::uint64_t time_ns) {
  v1::AccessEvent e;
  e.set_time_ns(time_ns);
  e.set_protocol("vagt");
  e.set_action("capture_health");
  e.set_resource(interface);
  e.set_outcome(live.dropped + live.if_dropped == 0 ? v1::OUTCOME_SUCCESS : v1::OUTCOME_FAILURE);
  auto& d = *e.mutable_detail();
  d["interface"] = interface;
  d["received"] = std::to_string(live.received);
  d["dropped"] = std::to_string(live.dropped);
  d["if_dropped"] = std::to_string(live.if_dropped);
  d["packets"] = std::to_string(pipeline.packets);
  d["malformed"] = std::to_string(pipeline.malformed);
  d["tcp_gaps"] = std::to_string(anomaly(pipeline, "tcp.gap"));
  d["tcp_buffer_overflow"] = std::to_string(anomaly(pipeline, "tcp.buffer_overflow") +
                                            anomaly(pipeline, "tcp.buffer_overflow_total"));
  d["flow_table_full"] = std::to_string(anomaly(pipeline, "flow.table_full") +
                                        anomaly(pipeline, "udp.flow_table_full"));
  d["fragments_dropped"] = std::to_string(
      anomaly(pipeline, "ip.fragment_timeout") + anomaly(pipeline, "ip.fragment_overlap") +
      anomaly(pipeline, "ip.fragment_too_many") + anomaly(pipeline, "ip.fragment_table_full"));
  std::uint64_t total = 0;
  for (const auto& [id, n] : pipeline.anomalies) total += n;
  d["anomalies"] = std::to_string(total);
  return e;
}

struct LiveCapture::Worker {
  std::unique_ptr<capture::PcapLiveSource> source;
  std::unique_ptr<LockedSink> sink;
  std::thread thread;
};

LiveCapture::LiveCapture(const dissect::Registry& registry, EventSink& sink,
                         capture::CaptureConfig config, PipelineOptions options)
    : registry_(registry), sink_(sink), config_(std::move(config)), options_(options) {}

LiveCapture::~LiveCapture() { stop(); }

Result<void> LiveCapture::start() {
  if (config_.interfaces.empty()) {
    return fail(ErrorCode::kInvalidArgument, "capture: no interface configured");
  }
  std::vector<std::unique_ptr<Worker>> opened;
  for (const auto& name : config_.interfaces) {
    capture::LiveOptions o;
    o.interface = name;
    o.filter = config_.filter;
    o.snaplen = config_.snaplen;
    o.buffer_bytes = config_.buffer_bytes;
    o.promiscuous = config_.promiscuous;
    auto source = capture::PcapLiveSource::open(o);
    if (!source) return tl::unexpected<Error>(source.error());
    auto w = std::make_unique<Worker>();
    w->source = std::move(*source);
    w->sink = std::make_unique<LockedSink>(sink_, sink_mutex_);
    opened.push_back(std::move(w));
  }
  stop_ = false;
  workers_ = std::move(opened);
  for (auto& w : workers_) w->thread = std::thread([this, &w = *w] { run(w); });
  return {};
}

void LiveCapture::run(Worker& w) {
  PacketPipeline pipeline(registry_, *w.sink, options_);
  using Clock = std::chrono::steady_clock;
  auto next_expiry = Clock::now() + std::chrono::seconds(1);
  const auto interval = std::chrono::seconds(config_.health_interval_s);
  auto next_health = Clock::now() + interval;
  auto report = [&] {
    auto live = w.source->stats();
    if (live) {
      w.sink->on_event(
          capture_health_event(w.source->interface(), *live, pipeline.stats(), wall_ns()));
    }
  };
  while (!stop_.load(std::memory_order_relaxed)) {
    auto next = w.source->next();
    if (!next) {
      std::lock_guard lock(error_mutex_);
      if (!error_) error_ = next.error();
      break;
    }
    if (next->has_value()) pipeline.on_packet(**next);
    const auto now = Clock::now();
    if (now >= next_expiry) {
      // Packet time and wall time agree on a live capture.
      pipeline.expire_idle(wall_ns());
      next_expiry = now + std::chrono::seconds(1);
    }
    if (config_.health_interval_s > 0 && now >= next_health) {
      report();
      next_health = now + interval;
    }
  }
  pipeline.finish();
  if (config_.health_interval_s > 0) report();
}

void LiveCapture::stop() {
  stop_ = true;
  for (auto& w : workers_) w->source->break_loop();
  for (auto& w : workers_) {
    if (w->thread.joinable()) w->thread.join();
  }
  workers_.clear();
}

std::optional<Error> LiveCapture::error() const {
  std::lock_guard lock(error_mutex_);
  return error_;
}

}  // namespace vagt::agent::decode
