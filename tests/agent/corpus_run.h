#pragma once

// Runs a capture file through the built-in dissectors (tests only).

#include <gtest/gtest.h>

#include <string>

#include "agent/decode/pipeline.h"
#include "agent/dissect/builtin.h"

namespace vagt::agent::testing {

struct CorpusRun {
  decode::EventCollector sink;
  decode::CaptureStats stats;
};

inline CorpusRun run_capture(const std::string& path) {
  CorpusRun run;
  dissect::Registry registry;
  EXPECT_TRUE(dissect::register_builtin_dissectors(registry));
  auto stats = decode::process_capture_file(path, registry, run.sink);
  EXPECT_TRUE(stats) << (stats ? "" : stats.error().describe());
  if (stats) run.stats = *stats;
  return run;
}

inline std::string detail_of(const v1::AccessEvent& e, const std::string& key) {
  auto it = e.detail().find(key);
  return it == e.detail().end() ? "<none>" : it->second;
}

}  // namespace vagt::agent::testing
