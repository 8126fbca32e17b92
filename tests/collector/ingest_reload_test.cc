// Hot reload: a policy that does not load is refused, the old one stays in
// force, the refusal is recorded; a good one is swapped in.

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "collector/server/ingest.h"
#include "collector/store/sqlite/sqlite_store.h"
#include "common/log.h"

namespace vagt::collector {
namespace {

namespace fs = std::filesystem;

TEST(IngestReload, RefusedReloadKeepsTheOldPolicyAndIsRecorded) {
  std::string tmpl = (fs::temp_directory_path() / "vagt-reload-XXXXXX").string();
  const fs::path dir = mkdtemp(tmpl.data());
  const std::string policy_path = (dir / "policy.yaml").string();
  std::ofstream(policy_path) << "version: 1\nname: first\n";
  auto first = load_policy_file(policy_path);
  ASSERT_TRUE(first) << first.error().message;
  auto store = SqliteStore::open((dir / "c.db").string());
  ASSERT_TRUE(store) << store.error().message;
  Ingest ingest(**store, *first, IngestLimits{}, make_logger("ingest-test", "off"));
  const std::string old_digest = ingest.policy()->digest();

  std::ofstream(policy_path) << "version: 1\nname: broken\nwindows:\n  - name: w\n    from: "
                                "\"7:00\"\n    to: \"18:00\"\n";
  EXPECT_FALSE(ingest.reload_policy(policy_path));
  EXPECT_EQ(ingest.policy()->digest(), old_digest);
  BreachFilter f;
  f.kind = "integrity";
  auto rows = (*store)->breaches(f);
  ASSERT_TRUE(rows) << rows.error().message;
  ASSERT_EQ(rows->size(), 1u);
  EXPECT_EQ((*rows)[0].rule_id, "policy.reload_refused");
  EXPECT_NE((*rows)[0].explanation.find("policy.yaml:5:11: 'from' of window 'w'"),
            std::string::npos)
      << (*rows)[0].explanation;
  EXPECT_NE((*rows)[0].explanation.find(old_digest), std::string::npos);

  std::ofstream(policy_path) << "version: 1\nname: second\n";
  EXPECT_TRUE(ingest.reload_policy(policy_path));
  EXPECT_NE(ingest.policy()->digest(), old_digest);
  fs::remove_all(dir);
}

}  // namespace
}  // namespace vagt::collector
