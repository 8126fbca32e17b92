#pragma once

// The agent's durable queue of signed batches (docs/operations.md, "Spool").
//
// Layout under `dir`:
//   NNNNNNNNNNNNNNNNNNNN.seg  append-only segments, numbered in order; each
//                             record = u32 length (LE) + u32 CRC-32C (LE) of
//                             the payload + payload (a serialized v1::Batch,
//                             the bytes produced once at signing time)
//   chain                     the agent's own chain state (next sequence, last
//                             header SHA-256), rewritten atomically whenever
//                             segments are removed and on close
//   losses                    signed headers of batches dropped unsent (spool
//                             full, corrupt record), until the collector acks
//                             the LossNotice that carries them
//
// A segment is removed once every record in it is acked. When appending
// would exceed max_bytes, whole oldest segments are dropped; their unacked
// batches become losses. On open: a record running past the end of its
// segment is a torn tail (dropped, counted); a record whose CRC fails is
// skipped (counted); when its payload still parses as a batch whose header
// signature verifies, that header goes into the losses, otherwise the hole
// is unexplained (counted as unrecoverable; docs/operations.md).
//
// Thread-safe: the signing side appends while the uplink reads and acks.

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "common/log.h"
#include "common/proto/vagt.pb.h"
#include "common/result.h"

namespace vagt::agent::spool {

struct SpoolConfig {
  std::string dir = "/var/lib/vagt/spool";
  std::uint64_t max_bytes = 1ull << 30;       // all segments together
  std::uint64_t segment_bytes = 64ull << 20;  // a segment is closed past this size
  std::chrono::milliseconds fsync_interval{200};
};

inline constexpr std::uint32_t kMaxRecordBytes = 64u << 20;

// One batch in the spool: what the uplink and a LossNotice need without
// reading the payload again.
struct RecordInfo {
  std::uint64_t first_sequence = 0;
  std::uint32_t count = 0;
  std::uint64_t first_time_ns = 0, last_time_ns = 0;
  std::string header;     // exact signed header bytes
  std::string signature;  // Ed25519 over header
  std::uint64_t segment = 0;
  std::uint64_t offset = 0;  // of the payload in the segment file
  std::uint32_t length = 0;  // payload bytes
  bool durable = false;      // covered by an fsync
};

// A dropped batch awaiting its LossNotice.
struct Loss {
  std::uint64_t first_sequence = 0;
  std::uint32_t count = 0;
  std::string header, signature, reason;
};

struct SpoolCounters {
  std::uint64_t torn_records = 0;           // torn tails dropped at open
  std::uint64_t corrupt_records = 0;        // CRC failures skipped at open
  std::uint64_t unrecoverable_records = 0;  // of those, header not recoverable
  std::uint64_t dropped_batches = 0;        // lost to a full spool or corruption
  std::uint64_t dropped_events = 0;
  std::uint64_t appended_batches = 0;
};

// Returns true when `signature` is the agent's over `header`.
using HeaderVerifier = std::function<bool(const std::string& header, const std::string& sig)>;

class Spool {
 public:
  static Result<std::unique_ptr<Spool>> open(SpoolConfig config, LoggerPtr log,
                                             HeaderVerifier verify = {});
  ~Spool();
  Spool(const Spool&) = delete;
  Spool& operator=(const Spool&) = delete;

  // The chain continues from here. Not anchored: a fresh state dir that has
  // never seen a Welcome nor signed a batch.
  bool anchored() const;
  std::uint64_t next_sequence() const;
  std::string last_header_sha256() const;
  // Anchor a fresh spool (from the collector's Welcome, or genesis).
  Result<void> anchor(std::uint64_t next_sequence, std::string last_header_sha256);

  // Appends one signed batch (its sequence must continue the chain).
  Result<void> append(const v1::Batch& batch);
  // fsync the open segment; marks everything appended so far durable.
  Result<void> sync();
  // sync() when the configured interval has passed since the last one.
  Result<void> maybe_sync(std::chrono::steady_clock::time_point now);

  // The unacked record starting at `sequence`, when there is one.
  std::optional<RecordInfo> record_at(std::uint64_t sequence) const;
  // First sequence of the oldest unacked record (nullopt when empty).
  std::optional<std::uint64_t> first_unacked() const;
  // Reads a record's payload (the serialized Batch), CRC-checked.
  Result<std::string> read(const RecordInfo& record) const;
  // Everything below `next_sequence` is stored at the collector: drops those
  // records (removing fully acked segments) and the losses below it.
  Result<void> ack_through(std::uint64_t next_sequence);

  // Pending losses, in sequence order.
  std::vector<Loss> losses() const;

  SpoolCounters counters() const;
  std::uint64_t bytes() const;
  std::uint64_t batches() const;
  bool empty() const;  // no unacked record and no pending loss

  // sync() and persist chain state.
  Result<void> close();

 private:
  struct Segment {
    std::uint64_t number = 0;
    std::uint64_t bytes = 0;
    std::uint64_t unacked = 0;  // records not yet acked
  };
  Spool(SpoolConfig config, LoggerPtr log, HeaderVerifier verify);
  Result<void> load();
  Result<void> scan_segment(Segment& seg);
  Result<void> open_new_segment();
  Result<void> make_room(std::uint64_t need);
  Result<void> write_chain();
  Result<void> write_losses();
  Result<void> sync_locked();
  Result<void> remove_acked_segments();
  std::string segment_path(std::uint64_t number) const;

  SpoolConfig config_;
  LoggerPtr log_;
  HeaderVerifier verify_;
  mutable std::mutex mutex_;
  std::deque<Segment> segments_;
  std::deque<RecordInfo> records_;  // unacked, in sequence order
  std::vector<Loss> losses_;
  bool anchored_ = false;
  std::uint64_t next_sequence_ = 0;
  std::string last_header_sha256_;
  std::uint64_t acked_through_ = 0;
  int fd_ = -1;  // open (last) segment
  bool dirty_ = false;
  std::chrono::steady_clock::time_point last_sync_{};
  SpoolCounters counters_;
};

}  // namespace vagt::agent::spool
