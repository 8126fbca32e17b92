#include "common/crypto.h"

#include <gtest/gtest.h>

namespace vagt::crypto {
namespace {

TEST(Crypto, Sha256AndHex) {
  EXPECT_EQ(to_hex(sha256(std::string_view("abc"))),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto raw = from_hex("00ff10");
  ASSERT_TRUE(raw);
  EXPECT_EQ(*raw, std::string("\x00\xff\x10", 3));
  EXPECT_FALSE(from_hex("0"));
  EXPECT_FALSE(from_hex("zz"));
}

TEST(Crypto, PseudonymIsKeyedStableAndHidesTheId) {
  Pseudonymizer a("key-one"), b("key-two");
  const std::string id = "0101701234";
  EXPECT_EQ(a.pseudonymize(id), a.pseudonymize(id));
  EXPECT_NE(a.pseudonymize(id), b.pseudonymize(id));
  EXPECT_NE(a.pseudonymize(id), a.pseudonymize("2512489996"));
  EXPECT_EQ(a.pseudonymize(id).find(id), std::string::npos);
  EXPECT_EQ(a.pseudonymize(id).rfind("p1:", 0), 0u);
}

TEST(Crypto, Ed25519SignVerify) {
  auto key = PrivateKey::generate_ed25519();
  ASSERT_TRUE(key);
  auto sig = key->sign(as_bytes("message"));
  ASSERT_TRUE(sig);
  EXPECT_EQ(sig->size(), 64u);
  EXPECT_EQ(key->key_id().size(), 64u);
}

TEST(Crypto, MissingFilesGiveClearErrors) {
  auto key = PrivateKey::load_pem_file("/nonexistent/key.pem");
  ASSERT_FALSE(key);
  EXPECT_NE(key.error().message.find("/nonexistent/key.pem"), std::string::npos);
  auto cert = Certificate::from_pem("not a certificate");
  EXPECT_FALSE(cert);
}

}  // namespace
}  // namespace vagt::crypto
