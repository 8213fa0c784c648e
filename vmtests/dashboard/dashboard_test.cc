// `ferryctl dashboard` end to end: the canary example on a two-node local cluster, requests
// through its TrafficSplit, then the dashboard page read by headless Chromium (Debian's
// `chromium`) the way an operator's browser would — its DOM after the scripts ran, and a
// screenshot kept as a test artefact (FERRY_DASHBOARD_SCREENSHOT).
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "ferryctl_fixture.h"
#include "common/unique_fd.h"

namespace ferry::vmtest {
namespace {

const std::string kExamples = std::string(FERRY_SOURCE_DIR) + "/examples/";
const std::string kV2Body = R"(["Value 4","Value 5","Value 6"])";

using Attributes = std::map<std::string, std::string>;

// The attributes of every start tag of a serialised DOM (values are plain: ids, numbers).
std::vector<Attributes> Tags(const std::string& dom) {
  std::vector<Attributes> tags;
  static const std::regex tag_re(R"(<([a-zA-Z][\w:-]*)(\s[^>]*)?>)");
  static const std::regex attr_re(R"(([\w:-]+)="([^"]*)\")");
  for (std::sregex_iterator t(dom.begin(), dom.end(), tag_re), end; t != end; ++t) {
    Attributes attrs{{"<tag>", (*t)[1]}};
    std::string body = (*t)[2];
    for (std::sregex_iterator a(body.begin(), body.end(), attr_re); a != end; ++a) attrs[(*a)[1]] = (*a)[2];
    tags.push_back(std::move(attrs));
  }
  return tags;
}

// The first tag whose attributes include all of `want`.
const Attributes* FindTag(const std::vector<Attributes>& tags, const Attributes& want) {
  for (const auto& t : tags) {
    bool all = true;
    for (const auto& [k, v] : want) all = all && t.count(k) && t.at(k) == v;
    if (all) return &t;
  }
  return nullptr;
}

double Number(const Attributes* tag, const std::string& key) {
  if (!tag || !tag->count(key) || tag->at(key).empty()) return -1;
  return std::stod(tag->at(key));
}

// GET over loopback, the body ("" when it failed).
std::string HttpGet(uint16_t port, const std::string& path) {
  UniqueFd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&sa), sizeof(sa)) != 0) return "";
  timeval tv{10, 0};
  ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  std::string request = "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
  if (::send(fd.get(), request.data(), request.size(), MSG_NOSIGNAL) != static_cast<ssize_t>(request.size())) return "";
  std::string response;
  char buf[8192];
  for (ssize_t n; (n = ::recv(fd.get(), buf, sizeof(buf), 0)) > 0;) response.append(buf, static_cast<size_t>(n));
  auto body = response.find("\r\n\r\n");
  return body == std::string::npos ? "" : response.substr(body + 4);
}

class DashboardTest : public FerryctlFixture {
 protected:
  DashboardTest() { deploy_shop_ = false; }

  void SetUp() override {
    // The manifests run `ferry-example-app` by name, as an operator's PATH would find it.
    std::string dir = std::filesystem::path(FERRY_EXAMPLE_APP_BIN).parent_path();
    const char* path = std::getenv("PATH");
    setenv("PATH", (dir + ":" + (path ? path : "/usr/bin:/bin")).c_str(), 1);
    FerryctlFixture::SetUp();
  }

  void TearDown() override {
    if (dashboard_pid_ > 0) {
      ::kill(dashboard_pid_, SIGKILL);  // only when a failed assertion left it running
      local::WaitExit(dashboard_pid_, std::chrono::seconds(5));
    }
    std::error_code ec;
    std::filesystem::remove_all(profile_, ec);
    std::filesystem::remove(DashboardLog(), ec);
    FerryctlFixture::TearDown();
  }

  std::string DashboardLog() const { return state_ + "-dashboard.log"; }

  void Apply(const std::string& file) {
    auto r = Ctl({"local", "apply", "-f", kExamples + file});
    ASSERT_EQ(r.exit_code, 0) << file << ": " << r.output << r.errors;
  }

  nlohmann::json Client(int count) {
    return ExecJson("canary-app", "deploy/frontend", FERRY_EXAMPLE_APP_BIN,
                    {"client", "--url", "http://api.canary-app/api/values", "--count", std::to_string(count)},
                    std::chrono::seconds(120));
  }

  // Starts `ferryctl dashboard --port 0` and returns the port it printed (0 if none).
  uint16_t StartDashboard() {
    local::SpawnOptions o;
    o.argv = {FERRYCTL_BIN, "dashboard", "--port", "0", "--interval", "1s", "--state", state_};
    o.stdout_path = DashboardLog();
    auto pid = local::Spawn(o);
    if (!pid.ok()) return 0;
    dashboard_pid_ = *pid;
    static const std::regex url_re(R"(Dashboard: http://127\.0\.0\.1:(\d+)/)");
    uint16_t port = 0;
    WaitFor([&] {
      std::ifstream in(DashboardLog());
      std::stringstream text;
      text << in.rdbuf();
      std::smatch m;
      std::string s = text.str();
      if (std::regex_search(s, m, url_re)) port = static_cast<uint16_t>(std::stoi(m[1]));
      return port != 0;
    }, std::chrono::seconds(20));
    return port;
  }

  // Headless Chromium as root: no sandbox, a throwaway profile.
  local::CommandResult Chromium(std::vector<std::string> args) {
    profile_ = state_ + "-chromium";
    local::SpawnOptions o;
    o.argv = {"chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--user-data-dir=" + profile_,
              "--virtual-time-budget=8000"};
    o.argv.insert(o.argv.end(), args.begin(), args.end());
    auto r = local::RunCommand(o, std::chrono::seconds(90));
    return r.ok() ? *r : local::CommandResult{-1, "", r.error().Message()};
  }

  pid_t dashboard_pid_ = -1;
  std::string profile_;
};

TEST_F(DashboardTest, ChromiumShowsTheCanaryGraphWithLiveCountsAndSplitShares) {
  for (const char* file : {"canary-app/00-namespace.yaml", "canary-app/10-apps.yaml", "canary-app/20-access.yaml",
                           "canary-app/30-split.yaml"})
    Apply(file);
  // Both backends answer (api-v2 is across the tunnel: the source needs its certificate first).
  ASSERT_TRUE(WaitFor([&] {
    auto r = Client(20);
    return r.contains("bodies") && r["bodies"].value(kV2Body, 0) > 0;
  }, std::chrono::seconds(40))) << Client(20).dump();
  auto traffic = Client(100);
  ASSERT_EQ(traffic.contains("status") ? traffic["status"].value("200", 0) : 0, 100) << traffic.dump();

  uint16_t port = StartDashboard();
  ASSERT_NE(port, 0) << "no URL printed";
  const std::string url = "http://127.0.0.1:" + std::to_string(port) + "/";
  // The server's own view first (a clearer failure than a page without numbers).
  ASSERT_TRUE(WaitFor([&] {
    auto g = nlohmann::json::parse(HttpGet(port, "/api/graph"), nullptr, false);
    if (!g.is_object()) return false;
    for (const auto& e : g.value("edges", nlohmann::json::array()))
      if (e.value("target", "") == "canary-app/api-v2" && e.value("requests", 0.0) > 0) return true;
    return false;
  }, std::chrono::seconds(20))) << HttpGet(port, "/api/graph");

  auto dom = Chromium({"--dump-dom", url});
  ASSERT_EQ(dom.exit_code, 0) << dom.errors.substr(0, 2000);
  auto tags = Tags(dom.output);
  for (const char* service : {"canary-app/frontend", "canary-app/api-v1", "canary-app/api-v2"})
    EXPECT_TRUE(FindTag(tags, {{"data-service", service}})) << service << " missing from the graph";
  const Attributes* to_v1 = FindTag(tags, {{"class", "edge"}, {"data-source", "canary-app/frontend"},
                                           {"data-target", "canary-app/api-v1"}});
  const Attributes* to_v2 = FindTag(tags, {{"class", "edge"}, {"data-source", "canary-app/frontend"},
                                           {"data-target", "canary-app/api-v2"}});
  ASSERT_TRUE(to_v1 && to_v2) << dom.output.substr(0, 4000);
  double v1 = Number(to_v1, "data-requests"), v2 = Number(to_v2, "data-requests");
  EXPECT_GT(v2, 0);
  EXPECT_GT(v1, v2) << "a 90/10 split over 100+ requests";
  EXPECT_GE(v1 + v2, 100);
  EXPECT_EQ(Number(to_v1, "data-success-rate"), 1.0);
  // The split: each backend's share next to its weight, on the edges and in the splits panel.
  EXPECT_EQ(Number(to_v1, "data-split-weight"), 90);
  EXPECT_NEAR(Number(to_v1, "data-split-share"), v1 / (v1 + v2), 1e-3);
  const Attributes* row_v2 = FindTag(tags, {{"data-backend", "api-v2"}, {"data-weight", "10"}});
  ASSERT_TRUE(row_v2) << "split panel";
  EXPECT_GT(Number(row_v2, "data-share"), 0);
  EXPECT_NE(dom.output.find("split api: "), std::string::npos);
  // The page fetched /api/graph itself (the pill says so only after a successful fetch).
  EXPECT_NE(dom.output.find("live \u00b7 updated"), std::string::npos);

  // More requests: the page shows them without the dashboard being restarted.
  auto more = Client(50);
  ASSERT_EQ(more.contains("status") ? more["status"].value("200", 0) : 0, 50) << more.dump();
  std::this_thread::sleep_for(std::chrono::milliseconds(2500));  // two refresh intervals
  auto later = Chromium({"--dump-dom", url});
  auto later_tags = Tags(later.output);
  double v1_later = Number(FindTag(later_tags, {{"class", "edge"}, {"data-target", "canary-app/api-v1"}}), "data-requests");
  double v2_later = Number(FindTag(later_tags, {{"class", "edge"}, {"data-target", "canary-app/api-v2"}}), "data-requests");
  EXPECT_EQ(v1_later + v2_later, v1 + v2 + 50);

  // The screenshot, for the operator reading the test's artefacts.
  std::filesystem::create_directories(std::filesystem::path(FERRY_DASHBOARD_SCREENSHOT).parent_path());
  std::filesystem::remove(FERRY_DASHBOARD_SCREENSHOT);
  auto shot = Chromium({"--hide-scrollbars", "--window-size=1280,900",
                        std::string("--screenshot=") + FERRY_DASHBOARD_SCREENSHOT, url});
  EXPECT_EQ(shot.exit_code, 0) << shot.errors.substr(0, 2000);
  ASSERT_TRUE(std::filesystem::exists(FERRY_DASHBOARD_SCREENSHOT));
  EXPECT_GT(std::filesystem::file_size(FERRY_DASHBOARD_SCREENSHOT), 20000u) << "an empty page";
  std::cerr << "dashboard screenshot: " << FERRY_DASHBOARD_SCREENSHOT << "\n";

  // Ctrl-C (here SIGTERM) ends it cleanly.
  ASSERT_EQ(::kill(dashboard_pid_, SIGTERM), 0);
  auto status = local::WaitExit(dashboard_pid_, std::chrono::seconds(10));
  dashboard_pid_ = -1;
  ASSERT_TRUE(status.has_value());
  EXPECT_EQ(*status, 0);
}

}  // namespace
}  // namespace ferry::vmtest
