// Policy engine throughput: 500 systems, 1000 grants, 100,000 directory
// principals, 200 roles. Run: build/.../tests/bench/vagt_policy_bench
// Figures go to docs/BENCHMARKS.md.

#include <benchmark/benchmark.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "collector/policy/detector.h"
#include "collector/policy/policy.h"

namespace {

namespace fs = std::filesystem;
using vagt::collector::DetectionState;
using vagt::collector::Policy;

constexpr int kSystems = 500, kGrants = 1000, kPrincipals = 100000, kRoles = 200;

std::string ip(int system) {
  return std::to_string(10) + ".20." + std::to_string(system / 200) + "." +
         std::to_string(system % 200 + 1);
}

std::string addr_bytes(int system) {
  return std::string{10, 20, static_cast<char>(system / 200), static_cast<char>(system % 200 + 1)};
}

struct Fixture {
  std::shared_ptr<const Policy> policy;
  std::vector<vagt::v1::AccessEvent> events;
};

Fixture& fixture() {
  static Fixture* f = [] {
    auto* fx = new Fixture;
    std::string tmpl = (fs::temp_directory_path() / "vagt-bench-XXXXXX").string();
    const fs::path dir = mkdtemp(tmpl.data());
    {
      std::ofstream csv(dir / "dir.csv");
      csv << "name,department,roles\n";
      for (int i = 0; i < kPrincipals; ++i) {
        csv << "REGION\\u" << i << ",D" << i % 50 << ",r" << i % kRoles << "\n";
      }
    }
    std::ostringstream y;
    y << "version: 1\nname: bench\ndomains:\n  - {name: region.example, aliases: [REGION]}\n"
      << "zones:\n  - {name: clinical, networks: [10.10.0.0/16]}\n"
      << "windows:\n  - {name: day, weekdays: [mon, tue, wed, thu, fri], from: \"07:00\", to: "
         "\"18:00\"}\nsystems:\n";
    for (int s = 0; s < kSystems; ++s) {
      y << "  - {name: s" << s << ", classification: " << (s % 3 ? "internal" : "health-data")
        << ", from_zones: [clinical], match: {addresses: [" << ip(s)
        << "/32], ports: [443], protocols: [http]}}\n";
    }
    y << "directory:\n  csv: dir.csv\nroles:\n";
    for (int r = 0; r < kRoles; ++r) y << "  - {name: r" << r << "}\n";
    y << "grants:\n";
    for (int g = 0; g < kGrants; ++g) {
      y << "  - {id: g" << g << ", roles: [r" << g % kRoles << "], systems: [s" << g % kSystems
        << ", s" << (g * 7 + 3) % kSystems << "], actions: [read]"
        << (g % 4 == 0 ? ", windows: [day]" : "") << "}\n";
    }
    y << "detections:\n  auth.failure_burst: {threshold: 10, window: 5m}\n"
      << "  auth.password_spray: {threshold: 20, window: 10m}\n"
      << "  access.off_hours: {hours: day}\n  identity.unknown_principal:\n"
      << "  zone.unexpected:\n  credentials.cleartext:\n"
      << "  patient.unexplained_access: {grace: 24h}\n";
    std::ofstream(dir / "policy.yaml") << y.str();
    auto p = vagt::collector::load_policy_file((dir / "policy.yaml").string());
    if (!p) {
      std::fprintf(stderr, "bench policy: %s\n", p.error().message.c_str());
      std::abort();
    }
    fx->policy = *p;
    fs::remove_all(dir);
    std::mt19937 rng(42);
    for (int i = 0; i < 4096; ++i) {
      vagt::v1::AccessEvent e;
      e.set_time_ns(1'781'078'400'000'000'000ULL +
                    static_cast<std::uint64_t>(i) * 1'000'000'000ULL);
      e.set_protocol("http");
      e.set_action("read");
      // 90 % of accesses are granted (a member of the grant's role on its
      // system), 10 % are not: roughly a hospital's mix.
      const int g = static_cast<int>(rng() % kGrants);
      const int member = g % kRoles + kRoles * static_cast<int>(rng() % (kPrincipals / kRoles));
      const bool granted = i % 10 != 3;
      e.set_principal("REGION\\u" +
                      std::to_string(granted ? member : static_cast<int>(rng() % kPrincipals)));
      e.set_outcome(i % 10 == 0 ? vagt::v1::OUTCOME_FAILURE : vagt::v1::OUTCOME_SUCCESS);
      e.mutable_src()->set_address(std::string{10, 10, 1, static_cast<char>(rng() % 250)});
      e.mutable_dst()->set_address(
          addr_bytes(granted ? g % kSystems : static_cast<int>(rng() % kSystems)));
      e.mutable_dst()->set_port(443);
      if (i % 5 == 0) e.set_patient("p1:patient" + std::to_string(rng() % 1000));
      fx->events.push_back(std::move(e));
    }
    return fx;
  }();
  return *f;
}

void BM_EvaluateStateless(benchmark::State& state) {
  Fixture& f = fixture();
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.policy->evaluate(f.events[i++ & 4095]));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_EvaluateStateless);

void BM_EvaluateWithState(benchmark::State& state) {
  Fixture& f = fixture();
  DetectionState detections;
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(f.policy->evaluate(f.events[i++ & 4095], detections));
  }
  state.SetItemsProcessed(static_cast<std::int64_t>(state.iterations()));
}
BENCHMARK(BM_EvaluateWithState);

}  // namespace

BENCHMARK_MAIN();
