#include "agent/flow/tcp_reassembler.h"

#include <algorithm>
#include <iterator>

#include "agent/flow/packet_decoder.h"

namespace vagt::agent::flow {

void TcpHalfStream::release(std::size_t n, const BufferBudget& budget) {
  buffered_bytes_ -= n;
  *budget.flow_used -= n;
  *budget.total_used -= n;
}

void TcpHalfStream::on_segment(std::uint32_t seq, std::uint8_t flags, ByteView payload,
                               std::uint64_t time_ns, HalfStreamSink& sink,
                               const BufferBudget& budget, AnomalyCounter& anomalies) {
  const bool syn = (flags & tcp_flags::kSyn) != 0;
  const bool fin = (flags & tcp_flags::kFin) != 0;
  if (syn) {
    if (!started_) {
      started_ = true;
      next_seq_ = seq + 1;  // the SYN takes one sequence number
      next_offset_ = 0;
    }
    seq += 1;  // data on a SYN (TCP Fast Open) starts after it
  }
  if (!started_) {
    if (payload.empty()) {
      // A FIN with no data before any data: nothing to deliver, but the
      // direction is done.
      if (fin) {
        started_ = true;
        next_seq_ = seq + 1;
        fin_seen_ = true;
        fin_offset_ = 0;
      }
      return;
    }
    // Mid-stream start: the first data seen defines offset 0.
    started_ = true;
    next_seq_ = seq;
    next_offset_ = 0;
  }

  const auto diff = static_cast<std::int32_t>(seq - next_seq_);
  if (diff > 0 && static_cast<std::uint32_t>(diff) > kMaxSequenceJump) {
    anomalies.add("tcp.seq_out_of_window");
    return;
  }
  if (diff < 0 && static_cast<std::uint32_t>(-static_cast<std::int64_t>(diff)) > kMaxSequenceJump) {
    anomalies.add("tcp.seq_out_of_window");
    return;
  }
  const std::int64_t start = static_cast<std::int64_t>(next_offset_) + diff;
  const std::int64_t end = start + static_cast<std::int64_t>(payload.size());

  if (fin && !fin_seen_ && end >= 0) {
    fin_seen_ = true;
    fin_offset_ = static_cast<std::uint64_t>(end);
  }
  if (payload.empty()) return;

  const auto next = static_cast<std::int64_t>(next_offset_);
  if (end <= next) {
    anomalies.add("tcp.retransmission");
    return;
  }
  if (start < next) {
    anomalies.add("tcp.overlap");
    payload = payload.subspan(static_cast<std::size_t>(next - start));
  }
  if (start <= next) {
    sink.deliver(payload, time_ns);
    next_offset_ += payload.size();
    next_seq_ += static_cast<std::uint32_t>(payload.size());
    deliver_in_order(time_ns, sink, budget, anomalies);
    return;
  }

  // Out of order: keep a copy of the bytes not already buffered (the first
  // copy of any byte wins, as for bytes already delivered).
  const auto seg_start = static_cast<std::uint64_t>(start);
  const auto seg_end = static_cast<std::uint64_t>(end);
  std::uint64_t cur = seg_start;
  auto it = pending_.upper_bound(cur);
  if (it != pending_.begin()) {
    const auto prev = std::prev(it);
    cur = std::max(cur, prev->first + prev->second.size());
  }
  std::size_t stored = 0;
  while (cur < seg_end) {
    it = pending_.lower_bound(cur);
    const std::uint64_t piece_end =
        (it != pending_.end() && it->first < seg_end) ? it->first : seg_end;
    if (piece_end > cur) {
      const ByteView piece = payload.subspan(static_cast<std::size_t>(cur - seg_start),
                                             static_cast<std::size_t>(piece_end - cur));
      pending_.emplace(cur, std::vector<std::uint8_t>(piece.begin(), piece.end()));
      stored += piece.size();
    }
    if (it == pending_.end() || it->first >= seg_end) break;
    cur = std::max(cur, it->first + it->second.size());
  }
  if (stored == 0) {
    anomalies.add("tcp.retransmission");
    return;
  }
  if (stored < payload.size()) anomalies.add("tcp.overlap");
  buffered_bytes_ += stored;
  *budget.flow_used += stored;
  *budget.total_used += stored;

  bool counted_flow = false;
  bool counted_total = false;
  while (!pending_.empty()) {
    const bool flow_over = *budget.flow_used > budget.flow_limit;
    const bool total_over = *budget.total_used > budget.total_limit;
    if (!flow_over && !total_over) break;
    if (flow_over && !counted_flow) {
      anomalies.add("tcp.buffer_overflow");
      counted_flow = true;
    } else if (!flow_over && total_over && !counted_total) {
      anomalies.add("tcp.buffer_overflow_total");
      counted_total = true;
    }
    // Give up waiting for the hole: report it and carry on after it.
    skip_to_first_buffered(time_ns, sink, budget, anomalies);
  }
}

void TcpHalfStream::deliver_in_order(std::uint64_t time_ns, HalfStreamSink& sink,
                                     const BufferBudget& budget, AnomalyCounter& anomalies) {
  while (!pending_.empty()) {
    auto it = pending_.begin();
    if (it->first > next_offset_) break;
    const std::uint64_t end = it->first + it->second.size();
    if (end > next_offset_) {
      const std::size_t skip = static_cast<std::size_t>(next_offset_ - it->first);
      if (skip > 0) anomalies.add("tcp.overlap");
      const ByteView fresh = ByteView(it->second).subspan(skip);
      sink.deliver(fresh, time_ns);
      next_offset_ += fresh.size();
      next_seq_ += static_cast<std::uint32_t>(fresh.size());
    } else {
      anomalies.add("tcp.retransmission");
    }
    release(it->second.size(), budget);
    pending_.erase(it);
  }
}

void TcpHalfStream::skip_to_first_buffered(std::uint64_t time_ns, HalfStreamSink& sink,
                                           const BufferBudget& budget, AnomalyCounter& anomalies) {
  if (pending_.empty()) return;
  const std::uint64_t first = pending_.begin()->first;
  if (first > next_offset_) {
    const std::uint64_t missing = first - next_offset_;
    anomalies.add("tcp.gap");
    sink.gap(missing, time_ns);
    next_offset_ = first;
    next_seq_ += static_cast<std::uint32_t>(missing);
  }
  deliver_in_order(time_ns, sink, budget, anomalies);
}

void TcpHalfStream::flush(std::uint64_t time_ns, HalfStreamSink& sink, const BufferBudget& budget,
                          AnomalyCounter& anomalies) {
  while (!pending_.empty()) skip_to_first_buffered(time_ns, sink, budget, anomalies);
  if (fin_seen_ && started_ && fin_offset_ > next_offset_) {
    anomalies.add("tcp.gap");
    sink.gap(fin_offset_ - next_offset_, time_ns);
    next_seq_ += static_cast<std::uint32_t>(fin_offset_ - next_offset_);
    next_offset_ = fin_offset_;
  }
}

void TcpHalfStream::discard(const BufferBudget& budget) {
  release(buffered_bytes_, budget);
  pending_.clear();
}

}  // namespace vagt::agent::flow
