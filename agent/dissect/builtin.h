#pragma once

// The one place that decides which dissectors exist and on which ports.

#include "agent/dissect/registry.h"
#include "common/result.h"

namespace vagt::agent::dissect {

// Adds every built-in dissector: LDAP on TCP 389 (plus sniffing, so LDAP on
// e.g. the global catalog port 3268 is found by its first bytes).
[[nodiscard]] Result<void> register_builtin_dissectors(Registry& registry);

}  // namespace vagt::agent::dissect
