#include "common/tls.h"

#include <openssl/pem.h>
#include <openssl/x509v3.h>

namespace vagt::tls {

namespace ssl = boost::asio::ssl;

namespace {

Result<void> load_common(ssl::context& ctx, const Files& f) {
  SSL_CTX* native = ctx.native_handle();
  if (SSL_CTX_set_min_proto_version(native, TLS1_3_VERSION) != 1 ||
      SSL_CTX_set_max_proto_version(native, TLS1_3_VERSION) != 1)
    return fail(ErrorCode::kCrypto, "cannot restrict TLS to 1.3: " + crypto::openssl_error());
  SSL_CTX_set_options(native, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_TICKET);
  SSL_CTX_set_session_cache_mode(native, SSL_SESS_CACHE_OFF);
  if (SSL_CTX_load_verify_locations(native, f.ca_file.c_str(), nullptr) != 1)
    return fail(ErrorCode::kCrypto, "CA file " + f.ca_file + ": " + crypto::openssl_error());
  if (SSL_CTX_use_certificate_chain_file(native, f.cert_file.c_str()) != 1)
    return fail(ErrorCode::kCrypto,
                "certificate file " + f.cert_file + ": " + crypto::openssl_error());
  if (SSL_CTX_use_PrivateKey_file(native, f.key_file.c_str(), SSL_FILETYPE_PEM) != 1)
    return fail(ErrorCode::kCrypto, "key file " + f.key_file + ": " + crypto::openssl_error());
  if (SSL_CTX_check_private_key(native) != 1)
    return fail(ErrorCode::kCrypto, "key " + f.key_file + " does not match " + f.cert_file);
  if (!f.crl_file.empty()) {
    auto pem = crypto::read_file(f.crl_file, 16 << 20);
    if (!pem) return tl::unexpected(pem.error());
    std::unique_ptr<BIO, decltype(&BIO_free)> bio(
        BIO_new_mem_buf(pem->data(), static_cast<int>(pem->size())), BIO_free);
    X509_STORE* store = SSL_CTX_get_cert_store(native);
    int loaded = 0;
    while (X509_CRL* crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr)) {
      X509_STORE_add_crl(store, crl);
      X509_CRL_free(crl);
      ++loaded;
    }
    ERR_clear_error();
    if (loaded == 0) return fail(ErrorCode::kCrypto, "no CRL in " + f.crl_file);
    X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  }
  return {};
}

}  // namespace

Result<ContextPtr> make_server_context(const Files& files) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  if (auto r = load_common(*ctx, files); !r) return tl::unexpected(r.error());
  ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  return ctx;
}

Result<ContextPtr> make_client_context(const Files& files) {
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
  if (auto r = load_common(*ctx, files); !r) return tl::unexpected(r.error());
  ctx->set_verify_mode(ssl::verify_peer);
  return ctx;
}

Result<void> set_expected_name(SSL* ssl, const std::string& name) {
  if (name.empty()) return fail(ErrorCode::kInvalidArgument, "expected server name is empty");
  X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
  X509_VERIFY_PARAM_set_hostflags(param, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
  // An IP literal is checked against IP SANs, anything else against DNS SANs.
  if (X509_VERIFY_PARAM_set1_ip_asc(param, name.c_str()) != 1) {
    ERR_clear_error();
    if (X509_VERIFY_PARAM_set1_host(param, name.c_str(), name.size()) != 1)
      return fail(ErrorCode::kInvalidArgument, "bad expected server name " + name);
    if (SSL_set_tlsext_host_name(ssl, name.c_str()) != 1)
      return fail(ErrorCode::kInvalidArgument, "cannot set SNI " + name);
  }
  return {};
}

Result<crypto::Certificate> peer_certificate(SSL* ssl) {
  X509* peer = SSL_get0_peer_certificate(ssl);
  if (peer == nullptr) return fail(ErrorCode::kRefused, "peer presented no certificate");
  if (SSL_get_verify_result(ssl) != X509_V_OK)
    return fail(ErrorCode::kRefused, "peer certificate did not verify");
  return crypto::Certificate::from_x509(peer);
}

}  // namespace vagt::tls
