#include "agent/spool/spool.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "agent/spool/crc32c.h"
#include "common/crypto.h"

namespace vagt::agent::spool {

namespace fs = std::filesystem;

namespace {

constexpr std::size_t kRecordHead = 8;
constexpr char kChainMagic[4] = {'V', 'C', 'H', '1'};

void put_u32(std::string& out, std::uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
void put_u64(std::string& out, std::uint64_t v) {
  for (int i = 0; i < 8; ++i) out.push_back(static_cast<char>((v >> (8 * i)) & 0xFF));
}
std::uint64_t get_le(const char* p, int n) {
  std::uint64_t v = 0;
  for (int i = n - 1; i >= 0; --i) v = (v << 8) | static_cast<std::uint8_t>(p[i]);
  return v;
}

std::string frame_record(const std::string& payload) {
  std::string out;
  out.reserve(kRecordHead + payload.size());
  put_u32(out, static_cast<std::uint32_t>(payload.size()));
  put_u32(out, crc32c(payload));
  out += payload;
  return out;
}

Result<void> write_all(int fd, const std::string& data, const std::string& what) {
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(ErrorCode::kIo, "write " + what + ": " + std::strerror(errno));
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

Result<void> fsync_dir(const std::string& dir) {
  const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::kIo, "open " + dir + ": " + std::strerror(errno));
  const int rc = ::fsync(fd);
  ::close(fd);
  if (rc != 0) return fail(ErrorCode::kIo, "fsync " + dir + ": " + std::strerror(errno));
  return {};
}

// Write to a temporary file, fsync, rename over `path`, fsync the directory.
Result<void> replace_file(const std::string& dir, const std::string& path,
                          const std::string& data) {
  const std::string tmp = path + ".tmp";
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return fail(ErrorCode::kIo, "open " + tmp + ": " + std::strerror(errno));
  auto w = write_all(fd, data, tmp);
  if (w && ::fsync(fd) != 0) w = fail(ErrorCode::kIo, "fsync " + tmp + ": " + std::strerror(errno));
  ::close(fd);
  if (!w) return w;
  if (::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(ErrorCode::kIo, "rename " + tmp + ": " + std::strerror(errno));
  return fsync_dir(dir);
}

Result<std::string> read_whole(const std::string& path, std::uint64_t max) {
  std::error_code ec;
  const auto size = fs::file_size(path, ec);
  if (ec) return fail(ErrorCode::kIo, "stat " + path + ": " + ec.message());
  if (size > max) return fail(ErrorCode::kTooLarge, path + " is larger than expected");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::kIo, "open " + path + ": " + std::strerror(errno));
  std::string data(size, '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::read(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  data.resize(done);
  return data;
}

// Header facts of a signed batch; nullopt when the header does not parse.
std::optional<RecordInfo> describe_batch(const v1::Batch& batch) {
  v1::BatchHeader h;
  if (!h.ParseFromString(batch.header()) || h.count() == 0) return std::nullopt;
  RecordInfo r;
  r.first_sequence = h.first_sequence();
  r.count = h.count();
  r.first_time_ns = h.first_time_ns();
  r.last_time_ns = h.last_time_ns();
  r.header = batch.header();
  r.signature = batch.signature();
  return r;
}

}  // namespace

Spool::Spool(SpoolConfig config, LoggerPtr log, HeaderVerifier verify)
    : config_(std::move(config)), log_(std::move(log)), verify_(std::move(verify)) {}

Spool::~Spool() {
  if (fd_ >= 0) {
    ::fsync(fd_);
    ::close(fd_);
  }
}

Result<std::unique_ptr<Spool>> Spool::open(SpoolConfig config, LoggerPtr log,
                                           HeaderVerifier verify) {
  if (config.segment_bytes == 0 || config.max_bytes < config.segment_bytes)
    return fail(ErrorCode::kInvalidArgument,
                "spool.max_bytes must be at least spool.segment_bytes (and both > 0)");
  std::error_code ec;
  fs::create_directories(config.dir, ec);
  if (ec)
    return fail(ErrorCode::kIo,
                "cannot create spool directory " + config.dir + ": " + ec.message());
  ::chmod(config.dir.c_str(), 0700);
  std::unique_ptr<Spool> spool(new Spool(std::move(config), std::move(log), std::move(verify)));
  if (auto r = spool->load(); !r) return tl::unexpected(r.error());
  return spool;
}

std::string Spool::segment_path(std::uint64_t number) const {
  char name[32];
  std::snprintf(name, sizeof name, "%020llu.seg", static_cast<unsigned long long>(number));
  return config_.dir + "/" + name;
}

Result<void> Spool::load() {
  // Chain state first: a spool whose segments are all acked still knows it.
  const std::string chain_path = config_.dir + "/chain";
  if (fs::exists(chain_path)) {
    auto data = read_whole(chain_path, 4096);
    if (!data) return tl::unexpected(data.error());
    const std::string& d = *data;
    if (d.size() < 4 + 1 + 8 + 1 + 4 || std::memcmp(d.data(), kChainMagic, 4) != 0 ||
        crc32c(std::string_view(d).substr(0, d.size() - 4)) != get_le(d.data() + d.size() - 4, 4))
      return fail(ErrorCode::kIntegrity, chain_path + " is damaged; move the state dir aside");
    anchored_ = d[4] != 0;
    next_sequence_ = get_le(d.data() + 5, 8);
    const auto len = static_cast<std::uint8_t>(d[13]);
    if (len > 32 || d.size() != 14u + len + 4u)
      return fail(ErrorCode::kIntegrity, chain_path + " is damaged; move the state dir aside");
    last_header_sha256_ = d.substr(14, len);
  }
  const std::string loss_path = config_.dir + "/losses";
  if (fs::exists(loss_path)) {
    auto data = read_whole(loss_path, 256ull << 20);
    if (!data) return tl::unexpected(data.error());
    std::string_view rest(*data);
    while (rest.size() >= kRecordHead) {
      const auto len = get_le(rest.data(), 4);
      const auto crc = get_le(rest.data() + 4, 4);
      if (rest.size() - kRecordHead < len) break;
      const std::string payload(rest.substr(kRecordHead, len));
      rest.remove_prefix(kRecordHead + len);
      v1::LossNotice n;
      if (crc32c(payload) != crc || !n.ParseFromString(payload) || n.headers_size() != 1 ||
          n.signatures_size() != 1) {
        log_->error("{}: a damaged loss entry was skipped", loss_path);
        continue;
      }
      v1::BatchHeader h;
      if (!h.ParseFromString(n.headers(0))) continue;
      losses_.push_back(
          Loss{h.first_sequence(), h.count(), n.headers(0), n.signatures(0), n.reason()});
    }
  }

  std::vector<std::uint64_t> numbers;
  for (const auto& entry : fs::directory_iterator(config_.dir)) {
    const std::string name = entry.path().filename().string();
    if (name.size() != 24 || name.substr(20) != ".seg") continue;
    if (!std::all_of(name.begin(), name.begin() + 20, [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    numbers.push_back(std::stoull(name.substr(0, 20)));
  }
  std::sort(numbers.begin(), numbers.end());
  const std::size_t losses_before = losses_.size();
  // With records, the chain ends after the last whole one (a torn tail is
  // not part of it); without, the chain file says where it stands.
  const std::uint64_t file_next = next_sequence_;
  const std::string file_link = last_header_sha256_;
  next_sequence_ = 0;
  last_header_sha256_.clear();
  for (const auto n : numbers) {
    Segment seg;
    seg.number = n;
    if (auto r = scan_segment(seg); !r) return r;
    segments_.push_back(seg);
  }
  if (records_.empty() && losses_.size() == losses_before) {
    next_sequence_ = file_next;
    last_header_sha256_ = file_link;
  }
  if (!records_.empty() || losses_.size() > losses_before) anchored_ = true;
  if (losses_.size() != losses_before) {
    std::sort(losses_.begin(), losses_.end(),
              [](const Loss& a, const Loss& b) { return a.first_sequence < b.first_sequence; });
    if (auto r = write_losses(); !r) return r;
  }
  if (counters_.torn_records || counters_.corrupt_records)
    log_->warn(
        "spool {}: dropped {} torn record(s), skipped {} corrupt record(s) ({} without a "
        "recoverable header)",
        config_.dir, counters_.torn_records, counters_.corrupt_records,
        counters_.unrecoverable_records);
  // Append to a fresh segment: the last one may end in a torn record.
  if (auto r = open_new_segment(); !r) return r;
  if (auto r = remove_acked_segments(); !r) return r;
  log_->info(
      "spool {}: {} unacked batch(es) in {} segment(s), {} pending loss(es), next sequence {}",
      config_.dir, records_.size(), segments_.size(), losses_.size(), next_sequence_);
  return {};
}

Result<void> Spool::scan_segment(Segment& seg) {
  const std::string path = segment_path(seg.number);
  auto data = read_whole(path, config_.segment_bytes + kMaxRecordBytes + kRecordHead);
  if (!data) return tl::unexpected(data.error());
  const std::string& d = *data;
  std::size_t pos = 0;
  while (pos < d.size()) {
    if (d.size() - pos < kRecordHead) {
      counters_.torn_records++;
      break;
    }
    const auto len = get_le(d.data() + pos, 4);
    const auto crc = get_le(d.data() + pos + 4, 4);
    if (len > kMaxRecordBytes || d.size() - pos - kRecordHead < len) {
      // Runs past the end (or a length no writer produces): the rest of the
      // segment cannot be framed. At the tail this is a torn write.
      counters_.torn_records++;
      log_->warn("{}: record at offset {} is torn; {} byte(s) dropped", path, pos, d.size() - pos);
      break;
    }
    const std::string payload = d.substr(pos + kRecordHead, len);
    const std::uint64_t offset = pos + kRecordHead;
    pos += kRecordHead + len;
    v1::Batch batch;
    const bool crc_ok = crc32c(payload) == crc;
    const bool parsed = batch.ParseFromString(payload);
    auto info = parsed ? describe_batch(batch) : std::nullopt;
    if (!crc_ok) {
      counters_.corrupt_records++;
      const bool recoverable = info && batch.signature().size() == 64 && verify_ &&
                               verify_(info->header, info->signature);
      if (recoverable) {
        log_->warn(
            "{}: corrupt record at offset {} (sequences {}..{}): its signed header goes "
            "into a LossNotice",
            path, offset - kRecordHead, info->first_sequence,
            info->first_sequence + info->count - 1);
        counters_.dropped_batches++;
        counters_.dropped_events += info->count;
        losses_.push_back(Loss{info->first_sequence, info->count, info->header, info->signature,
                               "corrupt_record"});
        if (info->first_sequence + info->count > next_sequence_) {
          next_sequence_ = info->first_sequence + info->count;
          last_header_sha256_ = crypto::to_string(crypto::sha256(info->header));
        }
      } else {
        counters_.unrecoverable_records++;
        log_->error(
            "{}: corrupt record at offset {} with no recoverable header; the collector "
            "will see an unexplained gap",
            path, offset - kRecordHead);
      }
      continue;
    }
    if (!info) {
      counters_.corrupt_records++;
      counters_.unrecoverable_records++;
      log_->error("{}: record at offset {} is not a signed batch; skipped", path, offset);
      continue;
    }
    info->segment = seg.number;
    info->offset = offset;
    info->length = static_cast<std::uint32_t>(len);
    info->durable = true;
    if (!records_.empty() &&
        info->first_sequence < records_.back().first_sequence + records_.back().count) {
      counters_.corrupt_records++;
      log_->error("{}: record at offset {} goes back in sequence; skipped", path, offset);
      continue;  // never written by this spool
    }
    if (info->first_sequence + info->count >= next_sequence_) {
      next_sequence_ = info->first_sequence + info->count;
      last_header_sha256_ = crypto::to_string(crypto::sha256(info->header));
    }
    seg.unacked++;
    records_.push_back(std::move(*info));
  }
  seg.bytes = d.size();
  return {};
}

Result<void> Spool::open_new_segment() {
  if (fd_ >= 0) {
    if (dirty_) {
      if (::fsync(fd_) != 0)
        return fail(ErrorCode::kIo, std::string("fsync: ") + std::strerror(errno));
      for (auto& r : records_) r.durable = true;
      dirty_ = false;
    }
    ::close(fd_);
    fd_ = -1;
  }
  const std::uint64_t number = segments_.empty() ? 1 : segments_.back().number + 1;
  const std::string path = segment_path(number);
  fd_ = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600);
  if (fd_ < 0) return fail(ErrorCode::kIo, "open " + path + ": " + std::strerror(errno));
  segments_.push_back(Segment{number, 0, 0});
  return fsync_dir(config_.dir);
}

bool Spool::anchored() const {
  std::lock_guard lock(mutex_);
  return anchored_;
}
std::uint64_t Spool::next_sequence() const {
  std::lock_guard lock(mutex_);
  return next_sequence_;
}
std::string Spool::last_header_sha256() const {
  std::lock_guard lock(mutex_);
  return last_header_sha256_;
}

Result<void> Spool::anchor(std::uint64_t next_sequence, std::string last_header_sha256) {
  std::lock_guard lock(mutex_);
  if (anchored_) return fail(ErrorCode::kInvalidArgument, "the spool is already anchored");
  anchored_ = true;
  next_sequence_ = next_sequence;
  last_header_sha256_ = std::move(last_header_sha256);
  acked_through_ = next_sequence;
  return write_chain();
}

Result<void> Spool::write_chain() {
  // Never record a chain position whose batches could still be lost.
  if (auto r = sync_locked(); !r) return r;
  std::string d(kChainMagic, 4);
  d.push_back(anchored_ ? 1 : 0);
  put_u64(d, next_sequence_);
  d.push_back(static_cast<char>(last_header_sha256_.size()));
  d += last_header_sha256_;
  put_u32(d, crc32c(d));
  return replace_file(config_.dir, config_.dir + "/chain", d);
}

Result<void> Spool::write_losses() {
  std::string d;
  for (const auto& l : losses_) {
    v1::LossNotice n;
    n.add_headers(l.header);
    n.add_signatures(l.signature);
    n.set_reason(l.reason);
    d += frame_record(n.SerializeAsString());
  }
  return replace_file(config_.dir, config_.dir + "/losses", d);
}

Result<void> Spool::append(const v1::Batch& batch) {
  auto info = describe_batch(batch);
  if (!info) return fail(ErrorCode::kInvalidArgument, "batch header does not parse");
  std::string payload;
  if (!batch.SerializeToString(&payload)) return fail(ErrorCode::kInternal, "batch serialization");
  if (payload.size() > kMaxRecordBytes)
    return fail(ErrorCode::kTooLarge, "batch of " + std::to_string(payload.size()) + " bytes");
  std::lock_guard lock(mutex_);
  if (info->first_sequence != next_sequence_)
    return fail(ErrorCode::kInvalidArgument, "batch at " + std::to_string(info->first_sequence) +
                                                 " does not continue the "
                                                 "spool's chain at " +
                                                 std::to_string(next_sequence_));
  const std::string record = frame_record(payload);
  if (segments_.back().bytes > 0 && segments_.back().bytes + record.size() > config_.segment_bytes)
    if (auto r = open_new_segment(); !r) return r;
  if (auto r = make_room(record.size()); !r) return r;
  if (auto r = write_all(fd_, record, segment_path(segments_.back().number)); !r) return r;
  Segment& seg = segments_.back();
  info->segment = seg.number;
  info->offset = seg.bytes + kRecordHead;
  info->length = static_cast<std::uint32_t>(payload.size());
  seg.bytes += record.size();
  seg.unacked++;
  next_sequence_ = info->first_sequence + info->count;
  last_header_sha256_ = crypto::to_string(crypto::sha256(info->header));
  anchored_ = true;
  records_.push_back(std::move(*info));
  counters_.appended_batches++;
  dirty_ = true;
  return {};
}

// Drops whole oldest segments (never the open one) until `need` more bytes fit.
Result<void> Spool::make_room(std::uint64_t need) {
  auto total = [this] {
    std::uint64_t t = 0;
    for (const auto& s : segments_) t += s.bytes;
    return t;
  };
  bool changed = false;
  while (total() + need > config_.max_bytes && segments_.size() > 1) {
    const Segment victim = segments_.front();
    std::uint64_t batches = 0, events = 0;
    while (!records_.empty() && records_.front().segment == victim.number) {
      const RecordInfo& r = records_.front();
      losses_.push_back(Loss{r.first_sequence, r.count, r.header, r.signature, "spool_full"});
      batches++;
      events += r.count;
      records_.pop_front();
    }
    counters_.dropped_batches += batches;
    counters_.dropped_events += events;
    if (batches)
      log_->warn(
          "spool full ({} bytes): dropped {} unsent batch(es), {} event(s); a LossNotice "
          "will tell the collector",
          config_.max_bytes, batches, events);
    ::unlink(segment_path(victim.number).c_str());
    segments_.pop_front();
    changed = true;
  }
  if (changed) {
    if (auto r = write_losses(); !r) return r;
    if (auto r = write_chain(); !r) return r;
  }
  if (total() + need > config_.max_bytes)
    log_->debug("spool: open segment alone exceeds max_bytes");
  return {};
}

Result<void> Spool::sync_locked() {
  if (fd_ >= 0 && dirty_) {
    if (::fsync(fd_) != 0)
      return fail(ErrorCode::kIo, std::string("fsync: ") + std::strerror(errno));
    dirty_ = false;
  }
  for (auto it = records_.rbegin(); it != records_.rend() && !it->durable; ++it) it->durable = true;
  last_sync_ = std::chrono::steady_clock::now();
  return {};
}

Result<void> Spool::sync() {
  std::lock_guard lock(mutex_);
  return sync_locked();
}

Result<void> Spool::maybe_sync(std::chrono::steady_clock::time_point now) {
  std::lock_guard lock(mutex_);
  if (!dirty_ || now - last_sync_ < config_.fsync_interval) return {};
  return sync_locked();
}

std::optional<RecordInfo> Spool::record_at(std::uint64_t sequence) const {
  std::lock_guard lock(mutex_);
  auto it =
      std::lower_bound(records_.begin(), records_.end(), sequence,
                       [](const RecordInfo& r, std::uint64_t s) { return r.first_sequence < s; });
  if (it == records_.end() || it->first_sequence != sequence) return std::nullopt;
  return *it;
}

std::optional<std::uint64_t> Spool::first_unacked() const {
  std::lock_guard lock(mutex_);
  if (records_.empty()) return std::nullopt;
  return records_.front().first_sequence;
}

Result<std::string> Spool::read(const RecordInfo& record) const {
  const std::string path = segment_path(record.segment);
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return fail(ErrorCode::kIo, "open " + path + ": " + std::strerror(errno));
  std::string data(record.length + kRecordHead, '\0');
  std::size_t done = 0;
  while (done < data.size()) {
    const ssize_t n = ::pread(fd, data.data() + done, data.size() - done,
                              static_cast<off_t>(record.offset - kRecordHead + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  ::close(fd);
  if (done != data.size()) return fail(ErrorCode::kIo, path + ": short read");
  if (get_le(data.data(), 4) != record.length ||
      crc32c(std::string_view(data).substr(kRecordHead)) != get_le(data.data() + 4, 4))
    return fail(ErrorCode::kIntegrity, path + ": record CRC mismatch on read");
  return data.substr(kRecordHead);
}

Result<void> Spool::ack_through(std::uint64_t next_sequence) {
  std::lock_guard lock(mutex_);
  if (next_sequence <= acked_through_) return {};
  acked_through_ = next_sequence;
  while (!records_.empty() &&
         records_.front().first_sequence + records_.front().count <= next_sequence) {
    const auto seg = records_.front().segment;
    for (auto& s : segments_)
      if (s.number == seg && s.unacked > 0) s.unacked--;
    records_.pop_front();
  }
  const auto before = losses_.size();
  std::erase_if(losses_, [next_sequence](const Loss& l) {
    return l.first_sequence + l.count <= next_sequence;
  });
  if (losses_.size() != before)
    if (auto r = write_losses(); !r) return r;
  return remove_acked_segments();
}

Result<void> Spool::remove_acked_segments() {
  bool removed = false;
  // Never the open (last) segment: it is still being written.
  while (segments_.size() > 1 && segments_.front().unacked == 0) {
    ::unlink(segment_path(segments_.front().number).c_str());
    segments_.pop_front();
    removed = true;
  }
  if (removed) return write_chain();
  return {};
}

std::vector<Loss> Spool::losses() const {
  std::lock_guard lock(mutex_);
  return losses_;
}

SpoolCounters Spool::counters() const {
  std::lock_guard lock(mutex_);
  return counters_;
}

std::uint64_t Spool::bytes() const {
  std::lock_guard lock(mutex_);
  std::uint64_t t = 0;
  for (const auto& s : segments_) t += s.bytes;
  return t;
}

std::uint64_t Spool::batches() const {
  std::lock_guard lock(mutex_);
  return records_.size();
}

bool Spool::empty() const {
  std::lock_guard lock(mutex_);
  return records_.empty() && losses_.empty();
}

Result<void> Spool::close() {
  std::lock_guard lock(mutex_);
  if (auto r = sync_locked(); !r) return r;
  return write_chain();
}

}  // namespace vagt::agent::spool
