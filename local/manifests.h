// Manifests as `ferryctl local` stores them: one YAML document per resource, kept verbatim
// (the controller parses them itself) in DIR/<Kind>_<namespace or _cluster>_<name>.yaml, the
// layout the controller watches.
#pragma once

#include <yaml-cpp/yaml.h>

#include <initializer_list>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/result.h"

namespace ferry::local {

struct Manifest {
  std::string api_version;
  std::string kind;
  std::string namespace_name;  // empty for cluster-scoped kinds
  std::string name;
  YAML::Node doc;      // metadata.namespace filled in for namespaced kinds
  std::string origin;  // "file.yaml:12", for messages

  std::string Key() const;  // "Kind/ns/name" or "Kind/name"
};

// Kinds the local cluster accepts: the core kinds it acts on and the SMI kinds it stores for the
// controller. Anything else is refused with a message naming the document.
bool IsSupportedKind(const std::string& kind);
bool IsClusterScoped(const std::string& kind);

struct ParsedManifests {
  std::vector<Manifest> manifests;
  std::vector<std::string> errors;  // one per refused document; the others still apply
};

// Multi-document YAML; `v1 List` items are expanded; empty documents are skipped.
ParsedManifests ParseManifests(const std::string& text, const std::string& source,
                               const std::string& default_namespace = "default");
// A file, or a directory's *.yaml / *.yml / *.json files (not recursive) in name order.
Result<ParsedManifests> ReadManifestPath(const std::string& path, const std::string& default_namespace = "default");

std::string RenderManifest(const Manifest& manifest);

class ManifestStore {
 public:
  explicit ManifestStore(std::string dir) : dir_(std::move(dir)) {}
  const std::string& dir() const { return dir_; }
  std::string PathOf(const std::string& kind, const std::string& namespace_name, const std::string& name) const;

  // Written to a temporary name and renamed into place: a watcher sees whole files only.
  Result<void> Put(const Manifest& manifest);
  Result<bool> Remove(const std::string& kind, const std::string& namespace_name, const std::string& name);
  std::optional<Manifest> Get(const std::string& kind, const std::string& namespace_name,
                              const std::string& name) const;
  Result<std::vector<Manifest>> LoadAll() const;

 private:
  std::string dir_;
};

// Read-only walk down nested mappings: Field(doc, "spec", "template") is an empty node when any
// step is missing or not a mapping (an undefined node: `!node` is true; yaml-cpp throws when
// indexing a missing node's child).
YAML::Node FieldPath(const YAML::Node& node, std::initializer_list<const char*> path);
template <typename... Keys>
YAML::Node Field(const YAML::Node& node, Keys... keys) {
  return FieldPath(node, {keys...});
}

// Scalars and string maps (absent or mistyped → fallback / empty).
std::string ScalarOr(const YAML::Node& node, const std::string& fallback = "");
std::map<std::string, std::string> StringMap(const YAML::Node& node);

}  // namespace ferry::local
