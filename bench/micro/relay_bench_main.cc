// ferry-bench-relay: client -> relay -> sink on loopback, comparing how the relay moves bytes.
// Modes run interleaved in every repetition; the table reports medians and ratios to the direct
// path measured in the same run. A benchmark measures; nothing here asserts a number.
#include <sys/socket.h>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "agent/proxy/proxy.h"
#include "bench_sockets.h"
#include "splice_relay.h"
#ifdef FERRY_BENCH_SOCKMAP
#include "sockmap_relay.h"
#endif

namespace ferry::bench {
namespace {

class ForwardToSink : public proxy::ConnectionHandler {
 public:
  explicit ForwardToSink(Ipv4Endpoint sink) : sink_(sink) {}
  proxy::Decision OnAccept(const proxy::AcceptedConnection&) override {
    return proxy::ForwardPlan{UniqueFd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0)), sink_, nullptr};
  }

 private:
  Ipv4Endpoint sink_;
};

// A relay under test: where the client connects, and whatever keeps the relay alive.
struct Mode {
  std::string name;
  Ipv4Endpoint entry;
  std::shared_ptr<void> keepalive;
};

Mode EngineMode(const std::string& name, Ipv4Endpoint sink, size_t buffer_size) {
  auto handler = std::make_shared<ForwardToSink>(sink);
  proxy::ProxyOptions options;
  options.workers = 1;  // one connection at a time: one event loop, like the splice relay
  options.buffer_size = buffer_size;
  options.buffers_per_worker = 256;
  auto created = proxy::Proxy::Create(options, handler.get());
  if (!created) {
    std::fprintf(stderr, "%s: %s\n", name.c_str(), created.error().Message().c_str());
    std::exit(1);
  }
  std::shared_ptr<proxy::Proxy> relay = std::move(created).value();
  UniqueFd listener = ListenLoopback();
  Ipv4Endpoint entry = LocalAddress(listener.get());
  if (!relay->AddListener(std::move(listener)).ok()) std::exit(1);
  // The proxy is declared after the handler it points to, so it is destroyed first.
  auto both = std::make_shared<std::pair<std::shared_ptr<ForwardToSink>, std::shared_ptr<proxy::Proxy>>>(
      handler, relay);
  return Mode{name, entry, both};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[v.size() / 2];
}

double Percentile(std::vector<double> v, double p) {
  std::sort(v.begin(), v.end());
  return v.empty() ? 0 : v[std::min(v.size() - 1, static_cast<size_t>(p * static_cast<double>(v.size())))];
}

struct Samples {
  std::vector<double> gib_per_s, p50_us, p99_us;
};

}  // namespace
}  // namespace ferry::bench

int main(int argc, char** argv) {
  using namespace ferry::bench;
  uint64_t mib = 2048;
  int samples = 20000;
  int repeats = 5;
  CLI::App app{"Relay data-movement micro-benchmark (loopback): direct vs copy vs poll-then-splice vs sockmap"};
  app.add_option("--mib", mib, "MiB per throughput run")->capture_default_str();
  app.add_option("--rtt-samples", samples, "64 B round trips per latency run")->capture_default_str();
  app.add_option("--repeats", repeats, "interleaved repetitions (medians are reported)")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  BenchServer sink;
  std::vector<Mode> modes;
  modes.push_back(Mode{"direct", sink.address(), nullptr});
  modes.push_back(EngineMode("copy, 16 KiB buffers", sink.address(), 16384));
  modes.push_back(EngineMode("copy, 64 KiB buffers", sink.address(), 65536));
  {
    std::shared_ptr<PollSpliceRelay> splice = PollSpliceRelay::Start(sink.address(), 65536);
    modes.push_back(Mode{"poll+splice, 64 KiB pipe", splice->address(), splice});
  }
#ifdef FERRY_BENCH_SOCKMAP
  // The kernel fast path needs root (BPF); without it the table simply has no such row.
  std::shared_ptr<SockmapRelay> sockmap;
  if (auto started = SockmapRelay::Start(sink.address(), SockmapRelayOptions{}); started) {
    sockmap = std::move(started).value();
    modes.push_back(Mode{"sockmap redirect (egress)", sockmap->address(), sockmap});
  } else {
    std::fprintf(stderr, "skipping sockmap redirect: %s\n", started.error().Message().c_str());
  }
#endif

  std::map<std::string, Samples> results;
  for (int r = 0; r < repeats; ++r) {
    for (const Mode& mode : modes) {
      double seconds = MeasureThroughputSeconds(mode.entry, mib << 20);
      auto rtts = MeasureRoundTripsMicros(mode.entry, samples);
      Samples& s = results[mode.name];
      s.gib_per_s.push_back(static_cast<double>(mib) / 1024.0 / seconds);
      s.p50_us.push_back(Percentile(rtts, 0.50));
      s.p99_us.push_back(Percentile(rtts, 0.99));
      std::fprintf(stderr, "repeat %d %-26s %6.2f GiB/s  p50 %6.1f us  p99 %6.1f us\n", r + 1,
                   mode.name.c_str(), s.gib_per_s.back(), s.p50_us.back(), s.p99_us.back());
    }
  }

  const Samples& direct = results["direct"];
  double direct_tp = Median(direct.gib_per_s), direct_p50 = Median(direct.p50_us),
         direct_p99 = Median(direct.p99_us);
  std::printf("\n%llu MiB per throughput run, %d x 64 B round trips, %d interleaved repeats (medians)\n\n",
              static_cast<unsigned long long>(mib), samples, repeats);
  std::printf("| mode | throughput GiB/s | vs direct | RTT p50 us | vs direct | RTT p99 us | vs direct |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|\n");
  for (const Mode& mode : modes) {
    const Samples& s = results[mode.name];
    double tp = Median(s.gib_per_s), p50 = Median(s.p50_us), p99 = Median(s.p99_us);
    std::printf("| %s | %.2f | %.2f | %.1f | %.2f | %.1f | %.2f |\n", mode.name.c_str(), tp,
                tp / direct_tp, p50, p50 / direct_p50, p99, p99 / direct_p99);
  }
#ifdef FERRY_BENCH_SOCKMAP
  if (sockmap) {
    std::printf("\nsockmap relay: %s\n", Describe(sockmap->counters()).c_str());
  }
#endif
  modes.clear();  // relays stop before the sink
  return 0;
}
