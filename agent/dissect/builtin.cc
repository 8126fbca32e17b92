#include "agent/dissect/builtin.h"

#include <array>
#include <memory>

#include "agent/dissect/ldap/ldap_dissector.h"

namespace vagt::agent::dissect {

Result<void> register_builtin_dissectors(Registry& registry) {
  static constexpr std::array<std::uint16_t, 1> kLdapPorts = {389};
  return registry.add_stream(std::make_unique<LdapDissector>(), kLdapPorts);
}

}  // namespace vagt::agent::dissect
