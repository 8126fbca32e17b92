#pragma once

// The one place that decides which dissectors exist and on which ports.

#include <memory>

#include "agent/dissect/registry.h"
#include "common/crypto.h"
#include "common/result.h"

namespace vagt::agent::dissect {

// What dissectors are given when they are built (through their constructors).
struct DissectorOptions {
  // Keyed pseudonyms of patient identifiers. When null, dissectors leave
  // `patient` empty (a clear identifier is never put in an event instead).
  std::shared_ptr<const crypto::Pseudonymizer> pseudonymizer;
};

// Adds every built-in dissector: LDAP on TCP 389 (plus sniffing, so LDAP on
// e.g. the global catalog port 3268 is found by its first bytes).
[[nodiscard]] Result<void> register_builtin_dissectors(Registry& registry,
                                                       const DissectorOptions& options = {});

}  // namespace vagt::agent::dissect
