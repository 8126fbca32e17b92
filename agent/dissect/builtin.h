#pragma once

// The one place that decides which dissectors exist and on which ports.

#include "agent/dissect/registry.h"
#include "common/result.h"

namespace vagt::agent::dissect {

// Adds every built-in dissector: LDAP on TCP 389 (plus sniffing, so LDAP on
// e.g. the global catalog port 3268 is found by its first bytes).
[[nodiscard]] Result<void> register_builtin_dissectors(Registry& registry);

// Kerberos (UDP and TCP 88) and RADIUS (UDP 1812/1645, 1813/1646): the
// dissectors that need no options; register_builtin_dissectors() calls it.
[[nodiscard]] Result<void> register_builtin_datagram_dissectors(Registry& registry);

}  // namespace vagt::agent::dissect
