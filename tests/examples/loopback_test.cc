// ferry-example-app end to end on loopback, as the walkthrough uses it: api serves values,
// frontend fetches them over one keep-alive connection, client summarises N requests.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "common/unique_fd.h"
#include "examples/apps/http_server.h"
#include "examples/apps/http_wire.h"
#include "examples/apps/keepalive_client.h"
#include "examples/apps/net.h"
#include "test_result.h"

extern char** environ;

namespace ferry::example {
namespace {

using nlohmann::json;

struct Exited {
  int code = -1;
  std::string out;
};

// The environment of this test plus `extra` ("NAME=value").
std::vector<std::string> EnvWith(const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv(*e);
    bool overridden = false;
    for (const auto& x : extra) overridden |= kv.substr(0, kv.find('=')) == x.substr(0, x.find('='));
    if (!overridden) env.push_back(kv);
  }
  env.insert(env.end(), extra.begin(), extra.end());
  return env;
}

// ferry-example-app as a child process with its stdout on a pipe; killed when destroyed.
class App {
 public:
  App(std::vector<std::string> args, const std::vector<std::string>& extra_env = {}) {
    int fds[2];
    FERRY_ASSERT(::pipe2(fds, O_CLOEXEC) == 0);
    out_.Reset(fds[0]);
    UniqueFd write_end(fds[1]);
    args.insert(args.begin(), FERRY_EXAMPLE_APP_BIN);
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    std::vector<std::string> env = EnvWith(extra_env);
    std::vector<char*> envp;
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, write_end.get(), 1);
    FERRY_ASSERT(::posix_spawn(&pid_, FERRY_EXAMPLE_APP_BIN, &actions, nullptr, argv.data(), envp.data()) == 0);
    posix_spawn_file_actions_destroy(&actions);
  }
  ~App() { Stop(); }

  // The port from the "... listening on HOST:PORT" line a server prints when it is ready.
  uint16_t WaitForPort() {
    std::string line = ReadLine(std::chrono::seconds(20));
    auto colon = line.rfind(':');
    EXPECT_NE(line.find("listening on"), std::string::npos) << line;
    return colon == std::string::npos ? 0 : static_cast<uint16_t>(std::stoi(line.substr(colon + 1)));
  }

  // Waits for a one-shot command (client) and returns its exit code and output.
  Exited Wait() {
    Exited e;
    e.out = ReadAll();
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    e.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    return e;
  }

  void Stop() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);
    ::waitpid(pid_, nullptr, 0);
    pid_ = -1;
  }

 private:
  std::string ReadLine(std::chrono::seconds limit) {
    std::string line;
    char c;
    pollfd p{out_.get(), POLLIN, 0};
    while (::poll(&p, 1, static_cast<int>(limit.count() * 1000)) == 1 && ::read(out_.get(), &c, 1) == 1) {
      if (c == '\n') break;
      line += c;
    }
    return line;
  }
  std::string ReadAll() {
    std::string all;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out_.get(), buf, sizeof buf)) > 0) all.append(buf, static_cast<size_t>(n));
    return all;
  }

  pid_t pid_ = -1;
  UniqueFd out_;
};

json RunClient(const std::vector<std::string>& args, int* exit_code) {
  std::vector<std::string> full = {"client"};
  full.insert(full.end(), args.begin(), args.end());
  Exited e = App(full).Wait();
  *exit_code = e.code;
  json j = json::parse(e.out, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << "client printed: " << e.out;
  return j;
}

std::string Url(uint16_t port, const std::string& path) { return "http://127.0.0.1:" + std::to_string(port) + path; }

TEST(ExampleAppLoopback, ClientCountsFiveAnswersOnOneConnection) {
  App api({"api", "--listen", "127.0.0.1:0", "--values", R"([ "Value 1", "Value 2", "Value 3" ])"},
          {"HOSTNAME=api-test-0"});
  uint16_t port = api.WaitForPort();
  ASSERT_NE(port, 0);
  int code = -1;
  json report = RunClient({"--url", Url(port, "/api/values"), "--count", "5"}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(report["requests"], 5);
  EXPECT_EQ(report["connections"], 1) << "keep-alive: one connection for all requests";
  EXPECT_EQ(report["status"], json({{"200", 5}}));
  EXPECT_EQ(report["bodies"], json({{R"(["Value 1","Value 2","Value 3"])", 5}}));
  EXPECT_EQ(report["errors"], 0);

  json admin = RunClient({"--url", Url(port, "/admin"), "--count", "2", "--method", "POST"}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(admin["bodies"], json({{"admin area of api-test-0", 2}}));
}

TEST(ExampleAppLoopback, ValuesComeFromTheEnvironmentToo) {
  App api({"api", "--listen", "127.0.0.1:0"}, {R"(VALUES=["Value 4","Value 5","Value 6"])"});
  uint16_t port = api.WaitForPort();
  int code = -1;
  json report = RunClient({"--url", Url(port, "/api/values"), "--count", "1"}, &code);
  EXPECT_EQ(report["bodies"], json({{R"(["Value 4","Value 5","Value 6"])", 1}}));
}

TEST(ExampleAppLoopback, FrontendShowsApiValuesOverOneKeepAliveConnection) {
  App api({"api", "--listen", "127.0.0.1:0", "--values", R"(["Value 1","Value 2","Value 3"])"}, {"HOSTNAME=api-0"});
  uint16_t api_port = api.WaitForPort();
  App frontend({"frontend", "--listen", "127.0.0.1:0", "--api", "http://localhost:" + std::to_string(api_port) + "/api/values"},
               {"HOSTNAME=frontend-0", "POD_NAMESPACE=simple-app"});
  uint16_t port = frontend.WaitForPort();

  int code = -1;
  json proxied = RunClient({"--url", Url(port, "/api/values"), "--count", "3"}, &code);
  EXPECT_EQ(code, 0);
  EXPECT_EQ(proxied["bodies"], json({{R"(["Value 1","Value 2","Value 3"])", 3}}));

  KeepAliveClient browser(HttpTarget{"127.0.0.1", port, "/"}, ConnectTimeouts{});
  std::string page;
  for (int load = 0; load < 3; ++load) {
    auto r = browser.Send("GET");
    ASSERT_OK(r);
    EXPECT_EQ(r->status, 200);
    EXPECT_EQ(r->Header("content-type"), "text/html; charset=utf-8");
    page = r->body;
  }
  EXPECT_NE(page.find("<title>simple-app/frontend-0</title>"), std::string::npos) << page;
  EXPECT_NE(page.find("<li>Value 1</li><li>Value 2</li><li>Value 3</li>"), std::string::npos) << page;
  EXPECT_NE(page.find("served by <b id=\"served-by\">api-0</b>"), std::string::npos) << page;
  EXPECT_NE(page.find("Connections opened to api: 1 "), std::string::npos) << "6 fetches reuse one connection\n" << page;

  api.Stop();
  json after = RunClient({"--url", Url(port, "/api/values"), "--count", "2"}, &code);
  EXPECT_EQ(code, 0) << "the frontend itself still answers";
  EXPECT_EQ(after["status"], json({{"502", 2}}));
  auto r = browser.Send("GET");
  ASSERT_OK(r);
  EXPECT_NE(r->body.find("api unreachable: "), std::string::npos) << r->body;
}

TEST(ExampleAppLoopback, ClientFailsWhenNothingAnswers) {
  // A port that was free a moment ago: bind, read it, close.
  auto fd = ListenTcp(ListenAddress{"127.0.0.1", 0});
  ASSERT_OK(fd);
  auto port = LocalPort(fd->get());
  ASSERT_OK(port);
  fd->Reset();
  int code = -1;
  json report = RunClient({"--url", Url(*port, "/api/values"), "--count", "3"}, &code);
  EXPECT_EQ(code, 1);
  EXPECT_EQ(report["requests"], 3);
  EXPECT_EQ(report["errors"], 3);
  EXPECT_EQ(report["connections"], 0);
  EXPECT_NE(report["last_error"].get<std::string>().find("refused"), std::string::npos) << report.dump();
}

// A server that answers one request per connection and then closes it, with or without saying so.
class OneShotServer {
 public:
  OneShotServer(int connections, bool announce_close) {
    auto fd = ListenTcp(ListenAddress{"127.0.0.1", 0});
    FERRY_ASSERT(fd.ok());
    listener_ = std::move(*fd);
    port_ = LocalPort(listener_.get()).value();
    thread_ = std::thread([this, connections, announce_close] {
      for (int i = 0; i < connections; ++i) {
        UniqueFd conn(::accept(listener_.get(), nullptr, nullptr));
        if (!conn) return;
        HttpReader reader(MessageKind::kRequest);
        auto request = reader.Read(conn.get());
        if (!request.ok() || !request->has_value()) continue;
        Reply reply{200, "text/plain", "answer " + std::to_string(i), {}};
        (void)SendAll(conn.get(), RenderReply(**request, reply, /*keep_alive=*/!announce_close));
      }
    });
  }
  ~OneShotServer() {
    ::shutdown(listener_.get(), SHUT_RDWR);
    thread_.join();
  }
  uint16_t port() const { return port_; }

 private:
  UniqueFd listener_;
  uint16_t port_ = 0;
  std::thread thread_;
};

TEST(ExampleAppLoopback, ClientReconnectsOnlyWhenTheServerCloses) {
  for (bool announce_close : {true, false}) {
    OneShotServer server(3, announce_close);
    KeepAliveClient client(HttpTarget{"127.0.0.1", server.port(), "/api/values"}, ConnectTimeouts{});
    for (int i = 0; i < 3; ++i) {
      auto r = client.Send("GET");
      ASSERT_OK(r);
      EXPECT_EQ(r->body, "answer " + std::to_string(i)) << "announce_close=" << announce_close;
    }
    EXPECT_EQ(client.connections_opened(), 3) << "announce_close=" << announce_close;
  }
}

}  // namespace
}  // namespace ferry::example
