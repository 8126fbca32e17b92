#pragma once

// Hashing, HMAC pseudonyms, Ed25519 keys and X.509 certificates (OpenSSL 3).
// Keys and certificates are owned RAII values; nothing here logs key material.

#include <openssl/evp.h>
#include <openssl/x509.h>

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "common/byte_reader.h"
#include "common/result.h"

namespace vagt::crypto {

using Sha256 = std::array<std::uint8_t, 32>;

Sha256 sha256(ByteView data);
Sha256 sha256(std::string_view data);
std::string to_hex(ByteView data);
inline std::string to_hex(const Sha256& d) { return to_hex(ByteView(d)); }
inline std::string to_string(const Sha256& d) { return {d.begin(), d.end()}; }
Result<std::string> from_hex(std::string_view hex);

// Keyed pseudonym of an identifier (patient id): "p1:" + hex of the first
// 16 bytes of HMAC-SHA256(key, id). Stable for one key; the key never leaves
// the host that holds it.
class Pseudonymizer {
 public:
  explicit Pseudonymizer(std::string key) : key_(std::move(key)) {}
  std::string pseudonymize(std::string_view id) const;

 private:
  std::string key_;
};

struct PkeyDeleter {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Deleter {
  void operator()(X509* p) const { X509_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyDeleter>;
using X509Ptr = std::unique_ptr<X509, X509Deleter>;

// The last OpenSSL error queue entry as text (and clears the queue).
std::string openssl_error();

class PrivateKey {
 public:
  static Result<PrivateKey> load_pem_file(const std::string& path);
  static Result<PrivateKey> generate_ed25519();
  Result<std::string> sign(ByteView message) const;  // Ed25519 (pure), 64 bytes
  // Hex SHA-256 of the DER SubjectPublicKeyInfo: the key id.
  std::string key_id() const;
  EVP_PKEY* get() const { return key_.get(); }

 private:
  explicit PrivateKey(PkeyPtr key) : key_(std::move(key)) {}
  PkeyPtr key_;
};

class PublicKey {
 public:
  static Result<PublicKey> from_certificate(X509* cert);
  bool verify(ByteView message, ByteView signature) const;
  std::string key_id() const;
  bool is_ed25519() const;

 private:
  explicit PublicKey(PkeyPtr key) : key_(std::move(key)) {}
  PkeyPtr key_;
};

std::string key_id_of(EVP_PKEY* key);

class Certificate {
 public:
  static Result<Certificate> from_pem(std::string_view pem);
  static Result<Certificate> load_pem_file(const std::string& path);
  static Certificate from_x509(X509* borrowed);  // takes its own reference

  std::string common_name() const;  // subject CN, "" when none
  std::string pem() const;
  std::string fingerprint_sha256() const;  // hex SHA-256 of the DER encoding
  Result<PublicKey> public_key() const;
  X509* get() const { return cert_.get(); }

 private:
  explicit Certificate(X509Ptr cert) : cert_(std::move(cert)) {}
  X509Ptr cert_;
};

Result<std::string> read_file(const std::string& path, std::size_t max_bytes = 16 << 20);

}  // namespace vagt::crypto
