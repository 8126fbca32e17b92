#pragma once

// Live capture: one thread per interface runs the libpcap loop into its own
// PacketPipeline; events from every interface go to one EventSink (called
// under a lock, from the capture threads). Idle flows are expired once a
// second; every health interval each interface reports a capture_health
// event (protocol "vagt"; detail: interface, received, dropped, if_dropped
// from pcap_stats, and the pipeline's packets, malformed, tcp_gaps,
// tcp_buffer_overflow, fragment drops, anomalies).

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "agent/capture/capture_config.h"
#include "agent/capture/pcap_live_source.h"
#include "agent/decode/pipeline.h"
#include "common/result.h"

namespace vagt::agent::decode {

// The capture_health event for one interface.
v1::AccessEvent capture_health_event(const std::string& interface, const capture::LiveStats& live,
                                     const CaptureStats& pipeline, std::uint64_t time_ns);

class LiveCapture {
 public:
  // `registry` and `sink` must outlive the capture.
  LiveCapture(const dissect::Registry& registry, EventSink& sink, capture::CaptureConfig config,
              PipelineOptions options = {});
  ~LiveCapture();
  LiveCapture(const LiveCapture&) = delete;
  LiveCapture& operator=(const LiveCapture&) = delete;

  // Opens every interface (all or nothing: the first failure is returned,
  // naming the interface and why) and starts the threads.
  [[nodiscard]] Result<void> start();
  // Stops the threads; open flows are closed (their events reach the sink)
  // and a last capture_health event is sent per interface. Idempotent.
  void stop();
  // The first capture error of any thread (the thread then ends), if any.
  std::optional<Error> error() const;

 private:
  struct Worker;
  void run(Worker& worker);

  const dissect::Registry& registry_;
  EventSink& sink_;
  capture::CaptureConfig config_;
  PipelineOptions options_;
  std::mutex sink_mutex_;
  mutable std::mutex error_mutex_;
  std::optional<Error> error_;
  std::atomic<bool> stop_{false};
  std::vector<std::unique_ptr<Worker>> workers_;
};

}  // namespace vagt::agent::decode
