#include "agent/dissect/builtin.h"

#include <array>
#include <memory>

#include "agent/dissect/db/mysql_dissector.h"
#include "agent/dissect/db/postgres_dissector.h"
#include "agent/dissect/db/tds_dissector.h"
#include "agent/dissect/dicom/dicom_dissector.h"
#include "agent/dissect/ftp/ftp_dissector.h"
#include "agent/dissect/hl7/hl7_dissector.h"
#include "agent/dissect/http/http_dissector.h"
#include "agent/dissect/krb/krb_dissector.h"
#include "agent/dissect/ldap/ldap_dissector.h"
#include "agent/dissect/radius/radius_dissector.h"
#include "agent/dissect/smb/smb_dissector.h"
#include "agent/dissect/ssh/ssh_dissector.h"
#include "agent/dissect/tls/tls_dissector.h"

namespace vagt::agent::dissect {
namespace {

// The application dissectors of issue 3 (HTTP/FHIR, HL7, DICOM, databases,
// FTP, SMB, TLS, SSH), in sniffing order.
Result<void> add_clinical_dissectors(Registry& registry, const DissectorOptions& options) {
  static constexpr std::array<std::uint16_t, 4> kHttpPorts = {80, 8080, 8000, 8008};
  if (auto r =
          registry.add_stream(std::make_unique<HttpDissector>(options.pseudonymizer), kHttpPorts);
      !r)
    return r;
  static constexpr std::array<std::uint16_t, 2> kHl7Ports = {2575, 6661};
  if (auto r =
          registry.add_stream(std::make_unique<Hl7Dissector>(options.pseudonymizer), kHl7Ports);
      !r)
    return r;
  static constexpr std::array<std::uint16_t, 2> kDicomPorts = {104, 11112};
  if (auto r =
          registry.add_stream(std::make_unique<DicomDissector>(options.pseudonymizer), kDicomPorts);
      !r)
    return r;
  static constexpr std::array<std::uint16_t, 1> kPostgresPorts = {5432};
  if (auto r = registry.add_stream(std::make_unique<PostgresDissector>(), kPostgresPorts); !r)
    return r;
  static constexpr std::array<std::uint16_t, 1> kMysqlPorts = {3306};
  if (auto r = registry.add_stream(std::make_unique<MysqlDissector>(), kMysqlPorts); !r) return r;
  static constexpr std::array<std::uint16_t, 1> kFtpPorts = {21};
  if (auto r = registry.add_stream(std::make_unique<FtpDissector>(), kFtpPorts); !r) return r;
  static constexpr std::array<std::uint16_t, 2> kSmbPorts = {445, 139};
  if (auto r = registry.add_stream(std::make_unique<SmbDissector>(), kSmbPorts); !r) return r;
  static constexpr std::array<std::uint16_t, 1> kTdsPorts = {1433};
  if (auto r = registry.add_stream(std::make_unique<TdsDissector>(), kTdsPorts); !r) return r;
  static constexpr std::array<std::uint16_t, 3> kTlsPorts = {443, 636, 8443};
  if (auto r = registry.add_stream(std::make_unique<TlsDissector>(), kTlsPorts); !r) return r;
  static constexpr std::array<std::uint16_t, 1> kSshPorts = {22};
  if (auto r = registry.add_stream(std::make_unique<SshDissector>(), kSshPorts); !r) return r;
  return {};
}

}  // namespace

Result<void> register_builtin_dissectors(Registry& registry, const DissectorOptions& options) {
  static constexpr std::array<std::uint16_t, 1> kLdapPorts = {389};
  if (auto r = register_builtin_datagram_dissectors(registry); !r) return r;
  if (auto r = registry.add_stream(std::make_unique<LdapDissector>(), kLdapPorts); !r) return r;
  return add_clinical_dissectors(registry, options);
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
