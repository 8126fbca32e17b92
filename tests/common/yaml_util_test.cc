#include "common/yaml_util.h"

#include <gtest/gtest.h>

namespace vagt::yaml {
namespace {

TEST(YamlText, AcceptsTextIncludingDanishLetters) {
  EXPECT_TRUE(check_yaml_text("name: Søren Ærø\r\n\tmembers: [å]\n", "p.yaml"));
  EXPECT_TRUE(check_yaml_text("emoji: \xf0\x9f\x94\x92\n", "p.yaml"));
}

TEST(YamlText, RefusesBinaryWithPosition) {
  auto r = check_yaml_text(std::string("a: 1\nb: x\0y\n", 12), "p.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().message, "p.yaml:2:5: control character");
  EXPECT_FALSE(check_yaml_text("a: \x1b[31m\n", "p.yaml"));
}

TEST(YamlText, RefusesInvalidUtf8) {
  for (const char* bad :
       {"\xff", "\xc3", "\xc0\xaf" /* overlong '/' */, "\xed\xa0\x80" /* surrogate */,
        "\xf4\x90\x80\x80" /* > U+10FFFF */, "\xe2\x28\xa1"}) {
    auto r = check_yaml_text(std::string("k: ") + bad, "p.yaml");
    ASSERT_FALSE(r) << bad;
    EXPECT_EQ(r.error().message, "p.yaml:1:4: invalid UTF-8");
  }
}

TEST(YamlText, RefusesOversizedText) {
  auto r = check_yaml_text(std::string(kMaxYamlBytes + 1, 'a'), "p.yaml");
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, ErrorCode::kTooLarge);
}

}  // namespace
}  // namespace vagt::yaml
