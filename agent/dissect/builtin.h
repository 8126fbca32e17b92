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

// Adds every built-in dissector with its TCP ports: LDAP 389, HTTP/FHIR 80,
// 8080, 8000, 8008, HL7/MLLP 2575, 6661, DICOM 104, 11112, PostgreSQL 5432,
// MySQL 3306, FTP 21, SMB 445, 139, TDS 1433, TLS 443, 636, 8443, SSH 22.
// LDAP, HTTP, HL7, DICOM, PostgreSQL, TLS and SSH also sniff the client's
// first bytes, so e.g. LDAP on the global catalog port 3268 is found.
// Patient-aware dissectors (HTTP/FHIR, HL7, DICOM) get options.pseudonymizer.
[[nodiscard]] Result<void> register_builtin_dissectors(Registry& registry,
                                                       const DissectorOptions& options = {});

// Kerberos (UDP and TCP 88) and RADIUS (UDP 1812/1645, 1813/1646): the
// dissectors that need no options; register_builtin_dissectors() calls it.
[[nodiscard]] Result<void> register_builtin_datagram_dissectors(Registry& registry);

}  // namespace vagt::agent::dissect
