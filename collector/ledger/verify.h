#pragma once

// Offline verification of a collector store (vagtctl verify,
// docs/evidence.md): batch signatures and Merkle roots from the exact stored
// bytes, chain links per agent, event rows against their batch, every record
// against its ledger leaf, the ledger against every signed tree head, head
// signatures and consistency between successive heads.

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "collector/store/store.h"

namespace vagt::collector::ledger {

// A record that does not match: the table, its id, what is wrong.
struct Problem {
  std::string table;
  std::int64_t id = 0;
  std::string what;
};

struct VerifyOptions {
  // When set, every tree head must be signed by this certificate (PEM);
  // otherwise the certificate stored with each head is used as it is.
  std::string trusted_cert_pem;
  std::size_t max_problems = 100;  // stop collecting after this many
};

struct VerifyReport {
  std::vector<Problem> problems;  // in the order found; empty: all verified
  std::uint64_t leaves = 0, records = 0, batches = 0, events = 0, heads = 0;
  std::uint64_t signed_size = 0;  // leaves covered by the newest valid head
  std::string root_hex;           // root over all leaves
  bool ok() const { return problems.empty(); }
};

// Called now and then with work done and total (both in records).
using Progress = std::function<void(std::uint64_t done, std::uint64_t total)>;

// An error only when the store cannot be read; mismatches are problems.
Result<VerifyReport> verify_store(Store& store, const VerifyOptions& options = {},
                                  const Progress& progress = {});

}  // namespace vagt::collector::ledger
