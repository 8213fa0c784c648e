#include "controlplane/smi/yaml_fields.h"

#include <charconv>

namespace ferry::smi::internal {

void Fail(const std::string& reason) { throw FieldError(reason); }

bool Field::Exists() const { return node_.IsDefined() && !node_.IsNull(); }

void Field::Fail(const std::string& what) const { internal::Fail(path_ + ": " + what); }

void Field::RequireMapOrAbsent() const {
  if (Exists() && !node_.IsMap()) Fail("must be a mapping");
}

Field Field::Child(std::string_view key) const {
  RequireMapOrAbsent();
  std::string child_path = path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  if (!Exists()) return Field(YAML::Node(YAML::NodeType::Undefined), std::move(child_path));
  const YAML::Node& self = node_;
  return Field(self[std::string(key)], std::move(child_path));
}

std::optional<std::string> Field::OptionalString() const {
  if (!Exists()) return std::nullopt;
  if (!node_.IsScalar()) Fail("must be a string");
  return node_.Scalar();
}

std::string Field::RequireString() const {
  std::optional<std::string> value = OptionalString();
  if (!value) Fail("required field is missing");
  if (value->empty()) Fail("must not be empty");
  return *value;
}

std::string Field::StringOr(std::string fallback) const {
  std::optional<std::string> value = OptionalString();
  return value ? *value : fallback;
}

std::optional<int64_t> Field::OptionalInt() const {
  if (!Exists()) return std::nullopt;
  if (!node_.IsScalar()) Fail("must be an integer");
  const std::string& text = node_.Scalar();
  int64_t value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc() || ptr != end || text.empty()) Fail("must be an integer, got \"" + text + "\"");
  return value;
}

int64_t Field::RequireInt() const {
  std::optional<int64_t> value = OptionalInt();
  if (!value) Fail("required field is missing");
  return *value;
}

uint32_t Field::RequirePort() const {
  int64_t value = RequireInt();
  if (value < 1 || value > 65535) Fail("port " + std::to_string(value) + " is out of range 1-65535");
  return static_cast<uint32_t>(value);
}

bool Field::BoolOr(bool fallback) const {
  if (!Exists()) return fallback;
  if (!node_.IsScalar()) Fail("must be a boolean");
  const std::string& text = node_.Scalar();
  if (text == "true" || text == "True" || text == "TRUE") return true;
  if (text == "false" || text == "False" || text == "FALSE") return false;
  Fail("must be a boolean, got \"" + text + "\"");
}

std::vector<Field> Field::Items() const {
  std::vector<Field> items;
  if (!Exists()) return items;
  if (!node_.IsSequence()) Fail("must be a list");
  items.reserve(node_.size());
  for (size_t i = 0; i < node_.size(); ++i) {
    const YAML::Node& self = node_;
    items.emplace_back(self[i], path_ + "[" + std::to_string(i) + "]");
  }
  return items;
}

std::vector<std::string> Field::StringList() const {
  std::vector<std::string> out;
  for (const Field& item : Items()) out.push_back(item.RequireString());
  return out;
}

Labels Field::StringMap() const {
  Labels out;
  if (!Exists()) return out;
  if (!node_.IsMap()) Fail("must be a mapping");
  for (const auto& entry : node_) {
    if (!entry.first.IsScalar()) Fail("keys must be strings");
    const std::string key = entry.first.Scalar();
    Field value(entry.second, path_ + "." + key);
    out[key] = value.StringOr("");
  }
  return out;
}

}  // namespace ferry::smi::internal
