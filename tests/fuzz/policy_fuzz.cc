// The policy compiler: any bytes as a policy file must give a policy or a
// clear error; a policy that compiles must judge events without crashing.

#include <cstdint>
#include <string_view>

#include "collector/policy/policy.h"

using namespace vagt;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size > 64 * 1024) return 0;
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  auto policy = collector::load_policy_text(text, "fuzz.yaml");
  if (!policy) return 0;
  v1::AccessEvent e;
  e.set_protocol("ldap");
  e.set_action("bind");
  e.set_principal("User1");
  e.set_realm("ADHACKING.LOCAL");
  e.set_outcome(v1::OUTCOME_SUCCESS);
  e.mutable_dst()->set_address(std::string("\x0a\x00\x00\x02", 4));
  e.mutable_dst()->set_port(389);
  (void)(*policy)->evaluate(e);
  e.set_principal("");
  e.mutable_dst()->set_address(std::string(16, '\x01'));
  (void)(*policy)->evaluate(e);
  return 0;
}
