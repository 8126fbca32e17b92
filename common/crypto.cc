#include "common/crypto.h"

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/sha.h>  // SHA256() one-shot (not deprecated)

#include <fstream>
#include <sstream>

namespace vagt::crypto {

namespace {

struct BioDeleter {
  void operator()(BIO* b) const { BIO_free(b); }
};
using BioPtr = std::unique_ptr<BIO, BioDeleter>;

std::string spki_der(EVP_PKEY* key) {
  unsigned char* der = nullptr;
  const int len = i2d_PUBKEY(key, &der);
  if (len <= 0) return {};
  std::string out(reinterpret_cast<char*>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

}  // namespace

std::string openssl_error() {
  unsigned long code = 0, last = 0;
  while ((code = ERR_get_error()) != 0) last = code;
  if (last == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(last, buf, sizeof buf);
  return buf;
}

Sha256 sha256(ByteView data) {
  Sha256 out{};
  SHA256(data.data(), data.size(), out.data());
  return out;
}

Sha256 sha256(std::string_view data) { return sha256(as_bytes(data)); }

std::string to_hex(ByteView data) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  out.reserve(data.size() * 2);
  for (std::uint8_t b : data) {
    out.push_back(kDigits[b >> 4]);
    out.push_back(kDigits[b & 0x0f]);
  }
  return out;
}

Result<std::string> from_hex(std::string_view hex) {
  if (hex.size() % 2 != 0) return fail(ErrorCode::kInvalidArgument, "odd-length hex string");
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(hex.size() / 2);
  for (std::size_t i = 0; i < hex.size(); i += 2) {
    const int hi = nibble(hex[i]), lo = nibble(hex[i + 1]);
    if (hi < 0 || lo < 0) return fail(ErrorCode::kInvalidArgument, "not a hex string");
    out.push_back(static_cast<char>((hi << 4) | lo));
  }
  return out;
}

std::string Pseudonymizer::pseudonymize(std::string_view id) const {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(id.data()), id.size(), mac, &len);
  return "p1:" + to_hex(ByteView(mac, 16));
}

Result<std::string> read_file(const std::string& path, std::size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kIo, "cannot open " + path);
  std::string data;
  char buf[64 * 1024];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<std::size_t>(in.gcount()));
    if (data.size() > max_bytes)
      return fail(ErrorCode::kTooLarge, path + " is larger than allowed");
  }
  if (in.bad()) return fail(ErrorCode::kIo, "cannot read " + path);
  return data;
}

std::string key_id_of(EVP_PKEY* key) {
  const std::string der = spki_der(key);
  return to_hex(sha256(der));
}

Result<PrivateKey> PrivateKey::load_pem_file(const std::string& path) {
  auto pem = read_file(path, 1 << 20);
  if (!pem) return tl::unexpected(pem.error());
  BioPtr bio(BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())));
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return fail(ErrorCode::kCrypto, "no private key in " + path + ": " + openssl_error());
  if (EVP_PKEY_get_id(key.get()) != EVP_PKEY_ED25519)
    return fail(ErrorCode::kCrypto, path + " is not an Ed25519 key (vagt signs with Ed25519)");
  return PrivateKey(std::move(key));
}

Result<PrivateKey> PrivateKey::generate_ed25519() {
  PkeyPtr key(EVP_PKEY_Q_keygen(nullptr, nullptr, "ED25519"));
  if (!key) return fail(ErrorCode::kCrypto, "Ed25519 keygen: " + openssl_error());
  return PrivateKey(std::move(key));
}

Result<std::string> PrivateKey::sign(ByteView message) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1)
    return fail(ErrorCode::kCrypto, "sign init: " + openssl_error());
  std::string sig(64, '\0');
  std::size_t len = sig.size();
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, message.data(),
                     message.size()) != 1)
    return fail(ErrorCode::kCrypto, "sign: " + openssl_error());
  sig.resize(len);
  return sig;
}

std::string PrivateKey::key_id() const { return key_id_of(key_.get()); }

Result<PublicKey> PublicKey::from_certificate(X509* cert) {
  PkeyPtr key(X509_get_pubkey(cert));
  if (!key) return fail(ErrorCode::kCrypto, "certificate has no usable public key");
  return PublicKey(std::move(key));
}

bool PublicKey::verify(ByteView message, ByteView signature) const {
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key_.get()) != 1) {
    ERR_clear_error();
    return false;
  }
  const bool ok = EVP_DigestVerify(ctx.get(), signature.data(), signature.size(), message.data(),
                                   message.size()) == 1;
  ERR_clear_error();
  return ok;
}

std::string PublicKey::key_id() const { return key_id_of(key_.get()); }

bool PublicKey::is_ed25519() const { return EVP_PKEY_get_id(key_.get()) == EVP_PKEY_ED25519; }

Result<Certificate> Certificate::from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  X509Ptr cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
  if (!cert) return fail(ErrorCode::kCrypto, "not a PEM certificate: " + openssl_error());
  return Certificate(std::move(cert));
}

Result<Certificate> Certificate::load_pem_file(const std::string& path) {
  auto pem = read_file(path, 1 << 20);
  if (!pem) return tl::unexpected(pem.error());
  auto cert = from_pem(*pem);
  if (!cert) return fail(cert.error().code, path + ": " + cert.error().message);
  return cert;
}

Certificate Certificate::from_x509(X509* borrowed) {
  X509_up_ref(borrowed);
  return Certificate(X509Ptr(borrowed));
}

std::string Certificate::common_name() const {
  X509_NAME* name = X509_get_subject_name(cert_.get());
  const int idx = X509_NAME_get_index_by_NID(name, NID_commonName, -1);
  if (idx < 0) return {};
  ASN1_STRING* data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(name, idx));
  unsigned char* utf8 = nullptr;
  const int len = ASN1_STRING_to_UTF8(&utf8, data);
  if (len < 0) return {};
  std::string out(reinterpret_cast<char*>(utf8), static_cast<std::size_t>(len));
  OPENSSL_free(utf8);
  return out;
}

std::string Certificate::pem() const {
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert_.get());
  char* data = nullptr;
  const long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

std::string Certificate::fingerprint_sha256() const {
  unsigned char* der = nullptr;
  const int len = i2d_X509(cert_.get(), &der);
  if (len <= 0) return {};
  const std::string out = to_hex(sha256(ByteView(der, static_cast<std::size_t>(len))));
  OPENSSL_free(der);
  return out;
}

Result<PublicKey> Certificate::public_key() const {
  return PublicKey::from_certificate(cert_.get());
}

}  // namespace vagt::crypto
