#include "agent/dissect/builtin.h"

#include <array>
#include <memory>

#include "agent/dissect/ldap/ldap_dissector.h"

namespace vagt::agent::dissect {

Result<void> register_builtin_dissectors(Registry& registry, const DissectorOptions& options) {
  static constexpr std::array<std::uint16_t, 1> kLdapPorts = {389};
  if (auto r = registry.add_stream(std::make_unique<LdapDissector>(), kLdapPorts); !r) return r;
  (void)options;
  return {};
}

}  // namespace vagt::agent::dissect
