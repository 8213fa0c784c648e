// The agent's own resource use, from a fake procfs tree and from the real one.
#include "agent/metrics/process_stats.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

namespace ferry::metrics {
namespace {

class FakeProc : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() / ("h5-proc-" + std::to_string(::getpid()));
    std::filesystem::create_directories(dir_ / "fd");
    for (int i = 0; i < 3; ++i) std::ofstream(dir_ / "fd" / std::to_string(i)) << "";
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  void Write(const char* name, const std::string& text) { std::ofstream(dir_ / name) << text; }

  std::filesystem::path dir_;
};

TEST_F(FakeProc, ReadsCpuMemoryAndDescriptors) {
  // A command name with spaces and parentheses must not shift the fields.
  Write("stat", "4242 (ferry (agent) x) S 1 4242 4242 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 10 0 0\n");
  Write("statm", "5000 200 100 10 0 300 0\n");
  auto stats = ReadProcessStats(dir_);
  ASSERT_TRUE(stats.ok()) << stats.error().Message();
  EXPECT_DOUBLE_EQ(stats->cpu_seconds, 300.0 / static_cast<double>(::sysconf(_SC_CLK_TCK)));
  EXPECT_EQ(stats->resident_bytes, 200u * static_cast<uint64_t>(::sysconf(_SC_PAGESIZE)));
  EXPECT_EQ(stats->open_fds, 3u);
}

TEST_F(FakeProc, MalformedStatIsAnError) {
  Write("stat", "4242 (agent) S 1 2\n");
  Write("statm", "5000 200\n");
  EXPECT_FALSE(ReadProcessStats(dir_).ok());
  Write("stat", "4242 (agent) S 1 4242 4242 0 -1 4194560 100 0 0 0 x 50 0\n");
  EXPECT_FALSE(ReadProcessStats(dir_).ok());
}

TEST(ProcessStats, ReadsThisProcess) {
  auto stats = ReadProcessStats();
  ASSERT_TRUE(stats.ok()) << stats.error().Message();
  EXPECT_GT(stats->resident_bytes, 0u);
  EXPECT_GE(stats->open_fds, 3u);  // stdin, stdout, stderr at least
}

}  // namespace
}  // namespace ferry::metrics
