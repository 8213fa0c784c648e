#include "agent/tunnel/connect_preface.h"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "test_result.h"

namespace ferry::tunnel {
namespace {

constexpr uint32_t kPodIp = (198u << 24) | (18u << 16) | (1u << 8) | 5u;  // 198.18.1.5
const Ipv4Endpoint kTarget{kPodIp, 8080};
const std::string kValid = "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nHost: 198.18.1.5:8080\r\n\r\n";

Result<std::optional<ConnectRequest>> ParseAll(const std::string& bytes) {
  ConnectRequestParser parser;
  return parser.Feed(bytes);
}

TEST(ConnectRequest, BuilderOutputParsesBackToTheTarget) {
  std::string request = BuildConnectRequest(kTarget);
  EXPECT_EQ(request, kValid);
  auto parsed = ParseAll(request);
  ASSERT_OK(parsed);
  ASSERT_TRUE(parsed->has_value());
  EXPECT_EQ((*parsed)->target, kTarget);
}

TEST(ConnectRequest, ValidVariantsAreAccepted) {
  for (const std::string& request : {
           std::string("CONNECT 198.18.1.5:8080 HTTP/1.1\r\n\r\n"),  // Host is optional
           std::string("CONNECT 198.18.1.5:8080 HTTP/1.1\r\nhOsT:198.18.1.5:8080 \r\n\r\n"),
           std::string("CONNECT 198.18.1.5:8080 HTTP/1.1\r\nHost: 198.18.1.5:8080\r\nUser-Agent: x\r\n\r\n"),
       }) {
    auto parsed = ParseAll(request);
    ASSERT_OK(parsed);
    ASSERT_TRUE(parsed->has_value()) << request;
    EXPECT_EQ((*parsed)->target, kTarget) << request;
  }
}

TEST(ConnectRequest, TruncatedAtEveryByteNeedsMore) {
  for (size_t cut = 0; cut < kValid.size(); ++cut) {
    auto parsed = ParseAll(kValid.substr(0, cut));
    ASSERT_OK(parsed);
    EXPECT_FALSE(parsed->has_value()) << "cut at " << cut;
  }
}

TEST(ConnectRequest, ByteByByteFeedingFindsTargetAndPayload) {
  std::string stream = kValid + "early payload";
  ConnectRequestParser parser;
  for (size_t i = 0; i < stream.size(); ++i) {
    auto parsed = parser.Feed(std::string_view(stream).substr(i, 1));
    ASSERT_OK(parsed);
    if (parsed->has_value()) {
      EXPECT_EQ(i + 1, kValid.size());
      EXPECT_EQ((*parsed)->target, kTarget);
      return;
    }
  }
  FAIL() << "never completed";
}

TEST(ConnectRequest, PayloadAfterHeaderIsLeftToTheCaller) {
  ConnectRequestParser parser;
  std::string stream = kValid + "GET / HTTP/1.1\r\n";
  auto parsed = parser.Feed(stream);
  ASSERT_OK(parsed);
  ASSERT_TRUE(parsed->has_value());
  EXPECT_EQ(stream.substr(parser.payload_offset()), "GET / HTTP/1.1\r\n");
}

TEST(ConnectRequest, OversizedHeaderIsRefused) {
  std::string request = "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nX-Pad: " + std::string(5000, 'a') + "\r\n\r\n";
  auto parsed = ParseAll(request);
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, EMSGSIZE);
  EXPECT_NE(parsed.error().context.find("4096"), std::string::npos);
}

TEST(ConnectRequest, TooManyHeaderLinesAreRefused) {
  std::string request = "CONNECT 198.18.1.5:8080 HTTP/1.1\r\n";
  for (int i = 0; i < 40; ++i) request += "X-A: b\r\n";
  auto parsed = ParseAll(request + "\r\n");
  ASSERT_FALSE(parsed.ok());
  EXPECT_EQ(parsed.error().code, EMSGSIZE);
}

constexpr char kNulRequest[] = "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nHost: 198.18.1.5\0:8080\r\n\r\n";

struct BadRequest {
  const char* name;
  std::string bytes;
  const char* reason;  // substring of the error
};

class ConnectRequestRejects : public ::testing::TestWithParam<BadRequest> {};

TEST_P(ConnectRequestRejects, WithAReason) {
  auto parsed = ParseAll(GetParam().bytes);
  ASSERT_FALSE(parsed.ok()) << GetParam().name;
  EXPECT_EQ(parsed.error().code, EBADMSG);
  EXPECT_NE(parsed.error().context.find(GetParam().reason), std::string::npos) << parsed.error().context;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConnectRequestRejects,
    ::testing::Values(
        BadRequest{"tls_record", "\x16\x03\x01\x02\x01", "control character"},
        BadRequest{"ssh_banner", "SSH-2.0-OpenSSH_9.2\r\n", "method must be CONNECT"},
        BadRequest{"get_early", "GET / HT", "method must be CONNECT"},
        BadRequest{"lowercase_method", "connect 198.18.1.5:8080 HTTP/1.1\r\n\r\n", "method must be CONNECT"},
        BadRequest{"bare_lf", "CONNECT 198.18.1.5:8080 HTTP/1.1\nHost: 198.18.1.5:8080\n\n", "bare LF"},
        BadRequest{"bare_lf_end", "CONNECT 198.18.1.5:8080 HTTP/1.1\r\n\n", "bare LF"},
        BadRequest{"bare_cr", "CONNECT 198.18.1.5:8080 HTTP/1.1\rX", "bare CR"},
        BadRequest{"nul", std::string(kNulRequest, sizeof(kNulRequest) - 1), "NUL"},
        BadRequest{"obs_fold", "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nX-A: b\r\n c\r\n\r\n", "obs-fold"},
        BadRequest{"absolute_form", "CONNECT http://198.18.1.5:8080/ HTTP/1.1\r\n\r\n", "authority-form"},
        BadRequest{"ipv6", "CONNECT [fd00::1]:8080 HTTP/1.1\r\n\r\n", "IPv6"},
        BadRequest{"hostname", "CONNECT api.default:8080 HTTP/1.1\r\n\r\n", "IPv4"},
        BadRequest{"no_port", "CONNECT 198.18.1.5 HTTP/1.1\r\n\r\n", "IPv4"},
        BadRequest{"port_zero", "CONNECT 198.18.1.5:0 HTTP/1.1\r\n\r\n", "IPv4"},
        BadRequest{"port_too_big", "CONNECT 198.18.1.5:65536 HTTP/1.1\r\n\r\n", "IPv4"},
        BadRequest{"leading_zero_port", "CONNECT 198.18.1.5:08080 HTTP/1.1\r\n\r\n", "IPv4"},
        BadRequest{"http10", "CONNECT 198.18.1.5:8080 HTTP/1.0\r\n\r\n", "HTTP/1.1"},
        BadRequest{"http2", "CONNECT 198.18.1.5:8080 HTTP/2\r\n\r\n", "HTTP/1.1"},
        BadRequest{"double_space", "CONNECT  198.18.1.5:8080 HTTP/1.1\r\n\r\n", "IPv4"},
        BadRequest{"no_version", "CONNECT 198.18.1.5:8080\r\n\r\n", "malformed request line"},
        BadRequest{"host_mismatch", "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nHost: 198.18.1.6:8080\r\n\r\n",
                   "Host header does not match"},
        BadRequest{"duplicate_host",
                   "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nHost: 198.18.1.5:8080\r\nHost: 198.18.1.5:8080\r\n\r\n",
                   "duplicate Host"},
        BadRequest{"space_before_colon", "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nHost : 198.18.1.5:8080\r\n\r\n",
                   "invalid character in header name"},
        BadRequest{"body", "CONNECT 198.18.1.5:8080 HTTP/1.1\r\nContent-Length: 5\r\n\r\n", "body"},
        BadRequest{"empty_start_line", "\r\nCONNECT 198.18.1.5:8080 HTTP/1.1\r\n\r\n", "empty start line"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ConnectRequest, ErrorsAreFinal) {
  ConnectRequestParser parser;
  EXPECT_ERR(parser.Feed("GET "));
  EXPECT_ERR(parser.Feed(kValid));
}

struct TargetCase {
  const char* name;
  Ipv4Endpoint target;
  const char* reason;  // nullptr: allowed
};

class ConnectTargetValidation : public ::testing::TestWithParam<TargetCase> {};

TEST_P(ConnectTargetValidation, AllowsOnlyTheListenersPod) {
  auto verdict = ValidateConnectTarget(GetParam().target, kPodIp);
  if (GetParam().reason == nullptr) {
    EXPECT_OK(verdict);
    return;
  }
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.error().code, EACCES);
  EXPECT_NE(verdict.error().context.find(GetParam().reason), std::string::npos) << verdict.error().context;
}

INSTANTIATE_TEST_SUITE_P(
    Table, ConnectTargetValidation,
    ::testing::Values(TargetCase{"own_pod", {kPodIp, 8080}, nullptr},
                      TargetCase{"own_pod_port_14999", {kPodIp, 14999}, nullptr},
                      TargetCase{"own_pod_port_15100", {kPodIp, 15100}, nullptr},
                      TargetCase{"loopback", {0x7f000001, 8080}, "loopback"},
                      TargetCase{"loopback_other", {0x7f000102, 8080}, "loopback"},
                      TargetCase{"any", {0, 8080}, "0.0.0.0"},
                      TargetCase{"port_15000", {kPodIp, 15000}, "mesh port"},
                      TargetCase{"port_15008", {kPodIp, 15008}, "mesh port"},
                      TargetCase{"port_15099", {kPodIp, 15099}, "mesh port"},
                      TargetCase{"port_zero", {kPodIp, 0}, "port 0"},
                      TargetCase{"other_pod", {kPodIp + 1, 8080}, "is not this pod"}),
    [](const auto& info) { return std::string(info.param.name); });

TEST(ConnectTargetValidation, ParsedForbiddenTargetsGetCleanErrors) {
  auto parsed = ParseAll("CONNECT 127.0.0.1:8080 HTTP/1.1\r\n\r\n");
  ASSERT_OK(parsed);
  ASSERT_TRUE(parsed->has_value());
  auto verdict = ValidateConnectTarget((*parsed)->target, kPodIp);
  ASSERT_FALSE(verdict.ok());
  EXPECT_EQ(verdict.error().context, "CONNECT target is a loopback address");
}

TEST(ConnectResponse, OkIsTheMinimalResponse) {
  EXPECT_EQ(BuildConnectResponse(ConnectStatus::kOk), "HTTP/1.1 200 OK\r\n\r\n");
  ConnectResponseParser parser;
  auto parsed = parser.Feed("HTTP/1.1 200 OK\r\n\r\nhello");
  ASSERT_OK(parsed);
  ASSERT_TRUE(parsed->has_value());
  EXPECT_TRUE((*parsed)->ok());
  EXPECT_EQ(parser.payload_offset(), 19u);
}

TEST(ConnectResponse, RefusalsCarryTheirReason) {
  for (auto status : {ConnectStatus::kForbidden, ConnectStatus::kServiceUnavailable, ConnectStatus::kBadRequest}) {
    std::string response = BuildConnectResponse(status, "denied by policy\r\ninjected: x");
    ConnectResponseParser parser;
    auto parsed = parser.Feed(response);
    ASSERT_OK(parsed);
    ASSERT_TRUE(parsed->has_value()) << response;
    EXPECT_EQ((*parsed)->status, static_cast<int>(status));
    EXPECT_FALSE((*parsed)->ok());
    // CR/LF in a reason cannot smuggle a header line.
    EXPECT_EQ((*parsed)->reason, "denied by policy??injected: x");
  }
  EXPECT_EQ(BuildConnectResponse(ConnectStatus::kForbidden, "no"),
            "HTTP/1.1 403 Forbidden\r\nx-ferry-reason: no\r\ncontent-length: 0\r\n\r\n");
}

TEST(ConnectResponse, TruncatedAtEveryByteNeedsMore) {
  std::string response = BuildConnectResponse(ConnectStatus::kServiceUnavailable, "upstream refused");
  for (size_t cut = 0; cut < response.size(); ++cut) {
    ConnectResponseParser parser;
    auto parsed = parser.Feed(response.substr(0, cut));
    ASSERT_OK(parsed);
    EXPECT_FALSE(parsed->has_value()) << cut;
  }
}

TEST(ConnectResponse, MalformedResponsesAreRefused) {
  for (const std::string& response : {
           std::string("HTTP/1.0 200 OK\r\n\r\n"),
           std::string("HTTP/1.1 20 OK\r\n\r\n"),
           std::string("HTTP/1.1 2000 OK\r\n\r\n"),
           std::string("HTTP/1.1 100 Continue\r\n\r\n"),
           std::string("HTTP/1.1 200 OK\n\n"),
           std::string("HTTP/1.1 200 OK\r\nx-a: b\r\n folded\r\n\r\n"),
           std::string("SSH-2.0-OpenSSH\r\n\r\n"),
       }) {
    ConnectResponseParser parser;
    EXPECT_ERR(parser.Feed(response)) << response;
  }
  ConnectResponseParser parser;
  auto oversized = parser.Feed("HTTP/1.1 200 OK\r\nx: " + std::string(5000, 'a'));
  ASSERT_FALSE(oversized.ok());
  EXPECT_EQ(oversized.error().code, EMSGSIZE);
}

}  // namespace
}  // namespace ferry::tunnel
