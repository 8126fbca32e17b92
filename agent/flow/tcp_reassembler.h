#pragma once

// One direction of a TCP connection, put back in order. Data is delivered
// in sequence order exactly once: retransmissions and overlapping bytes are
// dropped (first copy wins), out-of-order segments wait in a bounded buffer,
// and when the buffer limit is reached or the stream ends with holes, the
// hole is reported as a gap and delivery continues after it.

#include <cstddef>
#include <cstdint>
#include <map>
#include <vector>

#include "agent/flow/anomaly_counter.h"
#include "common/byte_reader.h"

namespace vagt::agent::flow {

// Where reassembled bytes of one direction go.
class HalfStreamSink {
 public:
  virtual ~HalfStreamSink() = default;
  virtual void deliver(ByteView data, std::uint64_t time_ns) = 0;
  virtual void gap(std::uint64_t length, std::uint64_t time_ns) = 0;
};

// Bytes held out of order, per flow and across all flows.
struct BufferBudget {
  std::size_t flow_limit = 0;
  std::size_t total_limit = 0;
  std::size_t* flow_used = nullptr;   // this flow, both directions
  std::size_t* total_used = nullptr;  // every flow
};

class TcpHalfStream {
 public:
  // A segment whose sequence number is further than this from the next
  // expected byte is not believed ("tcp.seq_out_of_window").
  static constexpr std::uint32_t kMaxSequenceJump = 1U << 30;

  // A segment of this direction. `payload` may be empty (pure ACK, SYN, FIN).
  void on_segment(std::uint32_t seq, std::uint8_t flags, ByteView payload, std::uint64_t time_ns,
                  HalfStreamSink& sink, const BufferBudget& budget, AnomalyCounter& anomalies);

  // End of stream: everything still buffered is delivered, holes reported as
  // gaps (also a hole before a FIN that was seen).
  void flush(std::uint64_t time_ns, HalfStreamSink& sink, const BufferBudget& budget,
             AnomalyCounter& anomalies);

  // Frees the out-of-order buffer without delivering it.
  void discard(const BufferBudget& budget);

  bool started() const { return started_; }
  bool fin_seen() const { return fin_seen_; }
  // FIN seen and every byte before it delivered.
  bool finished() const { return fin_seen_ && started_ && next_offset_ >= fin_offset_; }
  std::size_t buffered_bytes() const { return buffered_bytes_; }
  std::uint64_t delivered_offset() const { return next_offset_; }

 private:
  void deliver_in_order(std::uint64_t time_ns, HalfStreamSink& sink, const BufferBudget& budget,
                        AnomalyCounter& anomalies);
  void skip_to_first_buffered(std::uint64_t time_ns, HalfStreamSink& sink,
                              const BufferBudget& budget, AnomalyCounter& anomalies);
  void release(std::size_t n, const BufferBudget& budget);

  bool started_ = false;
  std::uint32_t next_seq_ = 0;     // sequence number of the next expected byte
  std::uint64_t next_offset_ = 0;  // stream offset of the next expected byte
  bool fin_seen_ = false;
  std::uint64_t fin_offset_ = 0;
  std::map<std::uint64_t, std::vector<std::uint8_t>> pending_;  // offset -> bytes
  std::size_t buffered_bytes_ = 0;
};

}  // namespace vagt::agent::flow
