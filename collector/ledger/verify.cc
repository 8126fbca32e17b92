#include "collector/ledger/verify.h"

#include <algorithm>
#include <map>

#include "common/batch.h"
#include "common/merkle.h"

namespace vagt::collector::ledger {
namespace {

// Roots of every prefix of a growing leaf list in O(log n) each: the stack of
// perfect subtrees (RFC 6962 trees are their right-to-left fold).
class CompactRange {
 public:
  void push(const crypto::Sha256& leaf) {
    stack_.push_back({0, leaf});
    while (stack_.size() >= 2 && stack_[stack_.size() - 2].first == stack_.back().first) {
      auto right = stack_.back();
      stack_.pop_back();
      auto& left = stack_.back();
      left.second = merkle::node_hash(left.second, right.second);
      left.first++;
    }
  }
  crypto::Sha256 root() const {
    if (stack_.empty()) return crypto::sha256(ByteView{});
    crypto::Sha256 r = stack_.back().second;
    for (std::size_t i = stack_.size() - 1; i-- > 0;) r = merkle::node_hash(stack_[i].second, r);
    return r;
  }

 private:
  std::vector<std::pair<int, crypto::Sha256>> stack_;
};

class Verifier {
 public:
  Verifier(Store& store, const VerifyOptions& options, const Progress& progress)
      : store_(store), options_(options), progress_(progress) {}

  Result<VerifyReport> run() {
    auto size = store_.ledger_size();
    if (!size) return tl::unexpected(size.error());
    total_ = *size * 2;
    if (auto r = check_leaves(); !r) return tl::unexpected(r.error());
    for (const RecordKind& kind : kAllKinds)
      if (auto r = check_records(kind); !r) return tl::unexpected(r.error());
    if (auto r = check_batches(); !r) return tl::unexpected(r.error());
    if (auto r = check_heads(); !r) return tl::unexpected(r.error());
    report_.root_hex = crypto::to_hex(merkle::root_of_hashes(hashes_));
    tick(0, true);
    return std::move(report_);
  }

 private:
  void problem(std::string_view table, std::int64_t id, std::string what) {
    if (report_.problems.size() < options_.max_problems)
      report_.problems.push_back({std::string(table), id, std::move(what)});
  }

  void tick(std::uint64_t n, bool force = false) {
    done_ += n;
    if (progress_ && (force || done_ - last_report_ >= 4096)) {
      last_report_ = done_;
      progress_(done_, std::max(total_, done_));
    }
  }

  Result<void> check_leaves() {
    return store_.scan_ledger([this](const LedgerLeaf& leaf) -> Result<void> {
      const auto index = static_cast<std::int64_t>(leaf.index);
      if (leaf.index != hashes_.size()) {
        problem("ledger", index,
                "leaf index " + std::to_string(leaf.index) + " where " +
                    std::to_string(hashes_.size()) + " was expected (leaves removed)");
      }
      crypto::Sha256 h{};
      if (leaf.leaf_hash.size() != h.size()) {
        problem("ledger", index, "leaf hash is not 32 bytes");
      } else {
        std::copy(leaf.leaf_hash.begin(), leaf.leaf_hash.end(), h.begin());
      }
      hashes_.push_back(h);
      bool known = false;
      for (const RecordKind& k : kAllKinds) known = known || k.name == leaf.kind;
      if (!known) problem("ledger", index, "unknown record kind '" + leaf.kind + "'");
      by_kind_[leaf.kind].push_back({leaf.record_id, hashes_.size() - 1});
      report_.leaves++;
      tick(1);
      return {};
    });
  }

  // Merge the kind's records (by id) with its leaves (by record id).
  Result<void> check_records(const RecordKind& kind) {
    auto& leaves = by_kind_[std::string(kind.name)];
    std::sort(leaves.begin(), leaves.end());
    std::size_t next = 0;
    auto r = store_.scan_records(kind, [&](const Row& row) -> Result<void> {
      report_.records++;
      tick(1);
      const auto* id = row.empty() ? nullptr : std::get_if<std::int64_t>(&row[0]);
      if (id == nullptr) {
        problem(kind.table, 0, "a row without an integer id");
        return {};
      }
      while (next < leaves.size() && leaves[next].first < *id) {
        problem(kind.table, leaves[next].first,
                "row deleted: ledger leaf " + std::to_string(leaves[next].second) +
                    " covers it but it is gone");
        ++next;
      }
      if (next == leaves.size() || leaves[next].first != *id) {
        problem(kind.table, *id, "row inserted outside the collector: no ledger leaf covers it");
        return {};
      }
      const std::size_t index = leaves[next].second;
      ++next;
      if (leaf_hash(kind.name, row) != hashes_[index]) {
        problem(kind.table, *id,
                "row edited: it does not match its ledger leaf " + std::to_string(index));
      }
      return {};
    });
    if (!r) return r;
    for (; next < leaves.size(); ++next) {
      problem(kind.table, leaves[next].first,
              "row deleted: ledger leaf " + std::to_string(leaves[next].second) +
                  " covers it but it is gone");
    }
    return {};
  }

  Result<void> check_batches() {
    std::string agent;
    std::uint64_t next_sequence = 0;
    std::string last_header;
    return store_.scan_batches([&](const StoredBatch& b) -> Result<void> {
      report_.batches++;
      report_.events += b.event_raws.size();
      if (b.agent_id != agent) {
        agent = b.agent_id;
        next_sequence = 0;
        last_header = genesis_link();
      }
      check_batch(b, next_sequence, last_header);
      next_sequence = b.first_sequence + b.count;
      last_header = b.header_sha256;
      return {};
    });
  }

  void check_batch(const StoredBatch& b, std::uint64_t expected_first,
                   const std::string& expected_link) {
    v1::AgentMessage msg;
    if (!msg.ParseFromString(b.raw_batch) || !msg.has_batch()) {
      problem("batches", b.id, "raw_batch is not a Batch message");
      return;
    }
    const v1::Batch& batch = msg.batch();
    if (batch.header() != b.header || batch.signature() != b.signature) {
      problem("batches", b.id, "header or signature column differs from raw_batch");
      return;
    }
    auto cert = crypto::Certificate::from_pem(b.agent_cert_pem);
    if (!cert) {
      problem("batches", b.id, "the stored agent certificate does not parse");
      return;
    }
    BatchLimits limits;
    limits.max_events = std::numeric_limits<std::uint32_t>::max();
    limits.max_event_bytes = std::numeric_limits<std::size_t>::max();
    BatchCheck check = verify_batch(batch, *cert, b.agent_id, limits);
    if (check.rejection) {
      problem("batches", b.id, check.rejection->finding_id + ": " + check.rejection->explanation);
      return;
    }
    const v1::BatchHeader& h = check.batch->header;
    if (check.batch->header_sha256 != b.header_sha256 || h.first_sequence() != b.first_sequence ||
        h.count() != b.count) {
      problem("batches", b.id, "header_sha256, first_sequence or count differs from the header");
      return;
    }
    if (b.first_sequence != expected_first) {
      problem("batches", b.id,
              "chain of " + b.agent_id + ": batch starts at " + std::to_string(b.first_sequence) +
                  ", expected " + std::to_string(expected_first));
    } else if (h.prev_header_sha256() != expected_link) {
      problem("batches", b.id,
              "chain of " + b.agent_id + ": does not link to the previous stored batch");
    }
    // Every event row against the signed leaf of its batch.
    if (b.event_raws.size() != static_cast<std::size_t>(batch.events_size())) {
      problem("batches", b.id,
              "has " + std::to_string(b.event_raws.size()) + " event rows, the batch signs " +
                  std::to_string(batch.events_size()));
      return;
    }
    for (std::size_t i = 0; i < b.event_raws.size(); ++i) {
      if (b.event_sequences[i] != b.first_sequence + i) {
        problem("events", b.event_ids[i], "sequence does not match its place in the batch");
      } else if (b.event_raws[i] != batch.events(static_cast<int>(i))) {
        problem("events", b.event_ids[i],
                "raw bytes differ from Merkle leaf " + std::to_string(i) + " of batch " +
                    std::to_string(b.id));
      }
    }
  }

  Result<void> check_heads() {
    auto heads = store_.tree_heads();
    if (!heads) return tl::unexpected(heads.error());
    std::string trusted_fp;
    if (!options_.trusted_cert_pem.empty()) {
      auto c = crypto::Certificate::from_pem(options_.trusted_cert_pem);
      if (!c) return tl::unexpected(c.error());
      trusted_fp = c->fingerprint_sha256();
    }
    // Roots of every prefix the heads name, in one pass over the leaves.
    std::map<std::uint64_t, crypto::Sha256> roots;
    for (const auto& h : *heads)
      if (h.head.tree_size <= hashes_.size()) roots[h.head.tree_size] = {};
    CompactRange range;
    if (roots.count(0)) roots[0] = range.root();
    for (std::size_t i = 0; i < hashes_.size(); ++i) {
      range.push(hashes_[i]);
      if (auto it = roots.find(i + 1); it != roots.end()) it->second = range.root();
    }
    const ledger::SignedTreeHead* previous = nullptr;
    for (const auto& h : *heads) {
      report_.heads++;
      if (auto why = check_tree_head_signature(h); !why.empty()) {
        problem("tree_heads", h.id, why);
        continue;
      }
      if (!trusted_fp.empty()) {
        auto c = crypto::Certificate::from_pem(h.signer_cert_pem);
        if (!c || c->fingerprint_sha256() != trusted_fp) {
          problem("tree_heads", h.id, "signed by a certificate other than the trusted one");
          continue;
        }
      }
      if (h.head.tree_size > hashes_.size()) {
        problem("tree_heads", h.id,
                "signs " + std::to_string(h.head.tree_size) + " leaves but the ledger has " +
                    std::to_string(hashes_.size()) + " (leaves deleted)");
        continue;
      }
      if (roots[h.head.tree_size] != h.head.root) {
        problem("tree_heads", h.id,
                "the ledger's first " + std::to_string(h.head.tree_size) +
                    " leaves do not hash to the signed root");
        continue;
      }
      if (previous != nullptr) {
        const auto& p = previous->head;
        if (h.head.tree_size < p.tree_size || h.head.signed_ns < p.signed_ns) {
          problem("tree_heads", h.id, "smaller or older than the head before it");
        } else if (p.tree_size > 0) {
          const std::vector<crypto::Sha256> prefix(
              hashes_.begin(), hashes_.begin() + static_cast<std::ptrdiff_t>(h.head.tree_size));
          const auto proof = merkle::consistency_proof(prefix, p.tree_size);
          if (!merkle::verify_consistency(p.tree_size, h.head.tree_size, proof, p.root,
                                          h.head.root))
            problem("tree_heads", h.id, "not consistent with the head before it");
        }
      }
      previous = &h;
      report_.signed_size = std::max(report_.signed_size, h.head.tree_size);
    }
    return {};
  }

  Store& store_;
  const VerifyOptions& options_;
  const Progress& progress_;
  VerifyReport report_;
  std::vector<crypto::Sha256> hashes_;
  std::map<std::string, std::vector<std::pair<std::int64_t, std::size_t>>> by_kind_;
  std::uint64_t total_ = 0, done_ = 0, last_report_ = 0;
};

}  // namespace

Result<VerifyReport> verify_store(Store& store, const VerifyOptions& options,
                                  const Progress& progress) {
  Result<VerifyReport> report = fail(ErrorCode::kInternal, "verification did not run");
  auto r = store.read_snapshot([&]() -> Result<void> {
    report = Verifier(store, options, progress).run();
    return {};
  });
  if (!r) return tl::unexpected(r.error());
  return report;
}

}  // namespace vagt::collector::ledger
