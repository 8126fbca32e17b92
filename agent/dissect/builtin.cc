#include "agent/dissect/builtin.h"

#include <array>
#include <memory>

#include "agent/dissect/krb/krb_dissector.h"
#include "agent/dissect/ldap/ldap_dissector.h"
#include "agent/dissect/radius/radius_dissector.h"

namespace vagt::agent::dissect {

Result<void> register_builtin_dissectors(Registry& registry) {
  static constexpr std::array<std::uint16_t, 1> kLdapPorts = {389};
  if (auto r = register_builtin_datagram_dissectors(registry); !r) return r;
  return registry.add_stream(std::make_unique<LdapDissector>(), kLdapPorts);
}

Result<void> register_builtin_datagram_dissectors(Registry& registry) {
  static constexpr std::array<std::uint16_t, 1> kKrbPorts = {88};
  if (auto r = registry.add_stream(std::make_unique<KrbStreamDissector>(), kKrbPorts); !r) return r;
  if (auto r = registry.add_datagram(std::make_unique<KrbDatagramDissector>(), kKrbPorts); !r) {
    return r;
  }
  static constexpr std::array<std::uint16_t, 4> kRadiusPorts = {1812, 1813, 1645, 1646};
  return registry.add_datagram(std::make_unique<RadiusDissector>(), kRadiusPorts);
}

}  // namespace vagt::agent::dissect
