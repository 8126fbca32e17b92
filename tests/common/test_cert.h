#pragma once

// A self-signed Ed25519 certificate made in memory, for tests that need a
// signer certificate but no TLS (TLS tests use tests/certs/gen.sh).

#include <openssl/x509.h>

#include <string>

#include "common/crypto.h"

namespace vagt::testing {

inline crypto::Certificate self_signed(const crypto::PrivateKey& key, const std::string& cn) {
  X509* x = X509_new();
  X509_set_version(x, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(x), 1);
  X509_gmtime_adj(X509_getm_notBefore(x), 0);
  X509_gmtime_adj(X509_getm_notAfter(x), 3600);
  X509_set_pubkey(x, key.get());
  X509_NAME* name = X509_get_subject_name(x);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(x, name);
  X509_sign(x, key.get(), nullptr);
  crypto::Certificate cert = crypto::Certificate::from_x509(x);
  X509_free(x);
  return cert;
}

}  // namespace vagt::testing
