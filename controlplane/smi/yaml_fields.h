// Internal to ferry_smi: path-aware accessors over yaml-cpp nodes.
// A malformed field throws FieldError, which the per-document parser catches and turns into one
// Rejection; exceptions never leave the library (yaml-cpp throws anyway, so we contain both here).
#pragma once

#include <yaml-cpp/yaml.h>

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "controlplane/smi/resources.h"

namespace ferry::smi::internal {

class FieldError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

[[noreturn]] void Fail(const std::string& reason);

// A YAML node plus the path that reached it, so errors read "spec.backends[1].weight: ...".
class Field {
 public:
  Field(YAML::Node node, std::string path) : node_(std::move(node)), path_(std::move(path)) {}

  const std::string& path() const { return path_; }
  const YAML::Node& node() const { return node_; }
  // Present and not null.
  bool Exists() const;
  bool IsMap() const { return Exists() && node_.IsMap(); }
  bool IsSequence() const { return Exists() && node_.IsSequence(); }

  // Child of a map; a missing key gives a Field whose Exists() is false.
  Field Child(std::string_view key) const;

  std::string RequireString() const;                  // present, scalar, non-empty
  std::optional<std::string> OptionalString() const;  // absent -> nullopt
  std::string StringOr(std::string fallback) const;
  int64_t RequireInt() const;
  std::optional<int64_t> OptionalInt() const;
  uint32_t RequirePort() const;  // an integer 1..65535
  bool BoolOr(bool fallback) const;

  std::vector<Field> Items() const;  // sequence elements; absent -> empty
  std::vector<std::string> StringList() const;
  Labels StringMap() const;  // map of scalars; absent -> empty

  [[noreturn]] void Fail(const std::string& what) const;

 private:
  void RequireMapOrAbsent() const;
  YAML::Node node_;
  std::string path_;
};

}  // namespace ferry::smi::internal
