#include "cli/prometheus_text.h"

#include <cctype>
#include <cstdlib>

namespace ferry::cli {

namespace {

bool IsNameStart(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':'; }
bool IsNameChar(char c) { return IsNameStart(c) || std::isdigit(static_cast<unsigned char>(c)); }

// Reads one line of the format; `pos` walks through it.
class LineReader {
 public:
  explicit LineReader(std::string_view line) : line_(line) {}

  Result<PrometheusSample> Sample() {
    PrometheusSample s;
    s.name = Name();
    if (s.name.empty()) return MakeError("expected a metric name");
    if (Peek() == '{') {
      ++pos_;
      FERRY_TRY(Labels(s.labels));
    }
    SkipSpaces();
    std::string number = Token();
    if (number.empty()) return MakeError("expected a value after " + s.name);
    FERRY_TRY(Number(number, s.value));
    SkipSpaces();
    Token();  // an optional timestamp (ms): ignored, the dashboard keeps its own clock
    SkipSpaces();
    if (pos_ != line_.size()) return MakeError("unexpected text after the value");
    return s;
  }

 private:
  char Peek() const { return pos_ < line_.size() ? line_[pos_] : '\0'; }
  void SkipSpaces() {
    while (pos_ < line_.size() && (line_[pos_] == ' ' || line_[pos_] == '\t')) ++pos_;
  }
  std::string Name() {
    size_t start = pos_;
    if (!IsNameStart(Peek())) return "";
    while (pos_ < line_.size() && IsNameChar(line_[pos_])) ++pos_;
    return std::string(line_.substr(start, pos_ - start));
  }
  std::string Token() {
    size_t start = pos_;
    while (pos_ < line_.size() && line_[pos_] != ' ' && line_[pos_] != '\t') ++pos_;
    return std::string(line_.substr(start, pos_ - start));
  }

  Result<void> Labels(std::map<std::string, std::string>& out) {
    for (;;) {
      SkipSpaces();
      if (Peek() == '}') {
        ++pos_;
        return {};
      }
      std::string key = Name();
      if (key.empty()) return MakeError("expected a label name");
      SkipSpaces();
      if (Peek() != '=') return MakeError("expected = after label " + key);
      ++pos_;
      SkipSpaces();
      if (Peek() != '"') return MakeError("expected \" to open the value of label " + key);
      ++pos_;
      auto value = QuotedRest();
      if (!value.ok()) return MakeError("label " + key + ": " + value.error().Message());
      out[key] = std::move(*value);
      SkipSpaces();
      if (Peek() == ',') ++pos_;
      else if (Peek() != '}') return MakeError("expected , or } after label " + key);
    }
  }

  // The rest of a "..." value after its opening quote, unescaped.
  Result<std::string> QuotedRest() {
    std::string value;
    while (pos_ < line_.size()) {
      char c = line_[pos_++];
      if (c == '"') return value;
      if (c != '\\') {
        value += c;
        continue;
      }
      if (pos_ >= line_.size()) break;
      char e = line_[pos_++];
      if (e == 'n') value += '\n';
      else if (e == '\\' || e == '"') value += e;
      else return MakeError(std::string("unknown escape \\") + e);
    }
    return MakeError("unterminated value");
  }

  static Result<void> Number(const std::string& text, double& out) {
    // strtod reads +Inf/-Inf/NaN (case-insensitively) as well as decimals and exponents.
    char* end = nullptr;
    out = std::strtod(text.c_str(), &end);
    if (end != text.c_str() + text.size()) return MakeError("not a number: " + text);
    return {};
  }

  std::string_view line_;
  size_t pos_ = 0;
};

}  // namespace

const std::string& PrometheusSample::Label(const std::string& key, const std::string& fallback) const {
  auto it = labels.find(key);
  return it == labels.end() ? fallback : it->second;
}

Result<std::vector<PrometheusSample>> ParsePrometheusText(std::string_view text) {
  std::vector<PrometheusSample> samples;
  size_t line_no = 0;
  while (!text.empty()) {
    ++line_no;
    size_t eol = text.find('\n');
    std::string_view line = text.substr(0, eol);
    text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    size_t first = line.find_first_not_of(" \t");
    if (first == std::string_view::npos || line[first] == '#') continue;
    auto sample = LineReader(line.substr(first)).Sample();
    if (!sample.ok()) return MakeError("line " + std::to_string(line_no) + ": " + sample.error().Message());
    samples.push_back(std::move(*sample));
  }
  return samples;
}

}  // namespace ferry::cli
