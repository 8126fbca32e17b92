// Throughput of the packet path over a capture file (VAGT_BENCH_PCAP, made by
// vagt_gen_mixed_pcap): the raw libpcap read loop, and the agent's whole
// offline pipeline (decode, flows, reassembly, dissectors; events counted,
// not printed). Run by tests/bench/capture_vs_tshark.sh; not part of ctest.

#include <benchmark/benchmark.h>
#include <pcap/pcap.h>

#include <cstdlib>
#include <string>

#include "agent/decode/pipeline.h"
#include "agent/dissect/builtin.h"

namespace {

std::string capture_path() {
  const char* p = std::getenv("VAGT_BENCH_PCAP");
  return p != nullptr ? p : "";
}

class CountingSink final : public vagt::agent::decode::EventSink {
 public:
  void on_event(vagt::v1::AccessEvent&& /*event*/) override { ++events; }
  std::uint64_t events = 0;
};

void BM_LibpcapReadLoop(benchmark::State& state) {
  const std::string path = capture_path();
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  for (auto _ : state) {
    char errbuf[PCAP_ERRBUF_SIZE];
    pcap_t* p = pcap_open_offline(path.c_str(), errbuf);
    if (p == nullptr) {
      state.SkipWithError(errbuf);
      return;
    }
    pcap_pkthdr* h = nullptr;
    const u_char* data = nullptr;
    packets = bytes = 0;
    while (pcap_next_ex(p, &h, &data) == 1) {
      ++packets;
      bytes += h->caplen;
      benchmark::DoNotOptimize(data);
    }
    pcap_close(p);
  }
  state.counters["packets"] = static_cast<double>(packets);
  state.counters["pkts_per_s"] =
      benchmark::Counter(static_cast<double>(packets) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

void BM_AgentPipeline(benchmark::State& state) {
  const std::string path = capture_path();
  vagt::agent::dissect::Registry registry;
  if (!vagt::agent::dissect::register_builtin_dissectors(registry)) {
    state.SkipWithError("registry");
    return;
  }
  std::uint64_t packets = 0;
  std::uint64_t bytes = 0;
  std::uint64_t events = 0;
  for (auto _ : state) {
    CountingSink sink;
    auto stats = vagt::agent::decode::process_capture_file(path, registry, sink);
    if (!stats) {
      state.SkipWithError(stats.error().message.c_str());
      return;
    }
    packets = stats->packets;
    bytes = stats->bytes;
    events = sink.events;
  }
  state.counters["packets"] = static_cast<double>(packets);
  state.counters["events"] = static_cast<double>(events);
  state.counters["pkts_per_s"] =
      benchmark::Counter(static_cast<double>(packets) * static_cast<double>(state.iterations()),
                         benchmark::Counter::kIsRate);
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes * state.iterations()));
}

BENCHMARK(BM_LibpcapReadLoop)->Unit(benchmark::kMillisecond)->Iterations(3);
BENCHMARK(BM_AgentPipeline)->Unit(benchmark::kMillisecond)->Iterations(3);

}  // namespace

BENCHMARK_MAIN();
