#include "local/manifests.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

namespace ferry::local {

namespace fs = std::filesystem;

namespace {

const std::set<std::string>& SupportedKinds() {
  static const std::set<std::string> kinds = {
      "Namespace",   "ServiceAccount", "ConfigMap",     "Service", "Deployment", "Pod",
      "TrafficTarget", "HTTPRouteGroup", "TCPRoute", "UDPRoute", "TrafficSplit"};
  return kinds;
}

// Kubernetes object names: lower-case alphanumerics and '-' / '.', which also keeps them safe as
// file and network namespace names.
bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 63) return false;
  if (name.front() == '-' || name.front() == '.') return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.';
  });
}

void AddDocument(const YAML::Node& doc, const std::string& origin, const std::string& default_namespace,
                 ParsedManifests& out) {
  if (!doc || doc.IsNull()) return;
  if (!doc.IsMap()) {
    out.errors.push_back(origin + ": not a YAML mapping");
    return;
  }
  std::string kind = ScalarOr(Field(doc, "kind"));
  if (kind == "List") {
    for (const auto& item : Field(doc, "items")) AddDocument(item, origin, default_namespace, out);
    return;
  }
  std::string name = ScalarOr(Field(doc, "metadata", "name"));
  std::string label = origin + ": " + (kind.empty() ? "<no kind>" : kind) + " " + (name.empty() ? "<no name>" : name);
  if (!IsSupportedKind(kind)) {
    out.errors.push_back(label + ": kind not supported by the local cluster");
    return;
  }
  if (!ValidName(name)) {
    out.errors.push_back(label + ": metadata.name must be 1-63 lower-case letters, digits, '-' or '.'");
    return;
  }
  Manifest m;
  m.api_version = ScalarOr(Field(doc, "apiVersion"));
  m.kind = kind;
  m.name = name;
  m.origin = origin;
  m.doc = YAML::Clone(doc);
  if (!IsClusterScoped(kind)) {
    m.namespace_name = ScalarOr(Field(doc, "metadata", "namespace"), default_namespace);
    if (!ValidName(m.namespace_name)) {
      out.errors.push_back(label + ": bad namespace \"" + m.namespace_name + "\"");
      return;
    }
    m.doc["metadata"]["namespace"] = m.namespace_name;
  }
  out.manifests.push_back(std::move(m));
}

}  // namespace

std::string Manifest::Key() const {
  return namespace_name.empty() ? kind + "/" + name : kind + "/" + namespace_name + "/" + name;
}

bool IsSupportedKind(const std::string& kind) { return SupportedKinds().count(kind) > 0; }
bool IsClusterScoped(const std::string& kind) { return kind == "Namespace"; }

YAML::Node FieldPath(const YAML::Node& node, std::initializer_list<const char*> path) {
  YAML::Node current(node);  // a handle; reset() rebinds it (operator= would overwrite the node)
  for (const char* key : path) {
    if (!current || !current.IsMap()) return YAML::Node(YAML::NodeType::Undefined);
    const YAML::Node& parent = current;
    const YAML::Node child = parent[key];
    if (!child) return YAML::Node(YAML::NodeType::Undefined);
    current.reset(child);
  }
  return current;
}

std::string ScalarOr(const YAML::Node& node, const std::string& fallback) {
  if (!node || !node.IsScalar()) return fallback;
  return node.Scalar();
}

std::map<std::string, std::string> StringMap(const YAML::Node& node) {
  std::map<std::string, std::string> out;
  if (!node || !node.IsMap()) return out;
  for (const auto& kv : node) {
    if (kv.first.IsScalar() && kv.second.IsScalar()) out[kv.first.Scalar()] = kv.second.Scalar();
  }
  return out;
}

ParsedManifests ParseManifests(const std::string& text, const std::string& source,
                               const std::string& default_namespace) {
  ParsedManifests out;
  try {
    for (const auto& doc : YAML::LoadAll(text)) {
      std::string origin = source + ":" + std::to_string(doc.Mark().line + 1);
      AddDocument(doc, origin, default_namespace, out);
    }
  } catch (const YAML::Exception& e) {
    out.errors.push_back(source + ": " + e.what());
  }
  return out;
}

Result<ParsedManifests> ReadManifestPath(const std::string& path, const std::string& default_namespace) {
  std::error_code ec;
  std::vector<fs::path> files;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      auto ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) files.push_back(entry.path());
    }
    std::sort(files.begin(), files.end());
  } else if (fs::exists(path, ec)) {
    files.push_back(path);
  } else {
    return MakeError(path + ": no such file or directory", ENOENT);
  }
  ParsedManifests all;
  for (const auto& file : files) {
    std::ifstream in(file);
    if (!in) return MakeError("cannot read " + file.string());
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = ParseManifests(text.str(), file.string(), default_namespace);
    for (auto& m : parsed.manifests) all.manifests.push_back(std::move(m));
    for (auto& e : parsed.errors) all.errors.push_back(std::move(e));
  }
  return all;
}

std::string RenderManifest(const Manifest& manifest) {
  YAML::Emitter out;
  out << manifest.doc;
  return std::string(out.c_str()) + "\n";
}

std::string ManifestStore::PathOf(const std::string& kind, const std::string& namespace_name,
                                  const std::string& name) const {
  // Flat, because the controller watches one directory (inotify is not recursive). Kubernetes
  // names never contain '_', so "<Kind>_<namespace>_<name>" cannot collide.
  return dir_ + "/" + kind + "_" + (namespace_name.empty() ? "_cluster" : namespace_name) + "_" + name + ".yaml";
}

Result<void> ManifestStore::Put(const Manifest& m) {
  fs::path path = PathOf(m.kind, m.namespace_name, m.name);
  std::error_code ec;
  fs::create_directories(path.parent_path(), ec);
  if (ec) return MakeError("create " + path.parent_path().string() + ": " + ec.message());
  fs::path tmp = path;
  tmp += ".tmp";  // not *.yaml: the controller ignores it until the rename
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << RenderManifest(m);
    if (!out.flush()) return MakeError("write " + tmp.string());
  }
  fs::rename(tmp, path, ec);
  if (ec) return MakeError("rename " + tmp.string() + ": " + ec.message());
  return Ok();
}

Result<bool> ManifestStore::Remove(const std::string& kind, const std::string& namespace_name,
                                   const std::string& name) {
  std::error_code ec;
  bool removed = fs::remove(PathOf(kind, namespace_name, name), ec);
  if (ec) return MakeError("remove " + PathOf(kind, namespace_name, name) + ": " + ec.message());
  return removed;
}

std::optional<Manifest> ManifestStore::Get(const std::string& kind, const std::string& namespace_name,
                                           const std::string& name) const {
  std::ifstream in(PathOf(kind, namespace_name, name));
  if (!in) return std::nullopt;
  std::stringstream text;
  text << in.rdbuf();
  auto parsed = ParseManifests(text.str(), PathOf(kind, namespace_name, name));
  if (parsed.manifests.size() != 1) return std::nullopt;
  return parsed.manifests.front();
}

Result<std::vector<Manifest>> ManifestStore::LoadAll() const {
  std::vector<Manifest> out;
  std::error_code ec;
  if (!fs::exists(dir_, ec)) return out;
  std::vector<fs::path> files;
  for (const auto& entry : fs::recursive_directory_iterator(dir_, ec)) {
    if (entry.is_regular_file() && entry.path().extension() == ".yaml") files.push_back(entry.path());
  }
  if (ec) return MakeError("read " + dir_ + ": " + ec.message());
  std::sort(files.begin(), files.end());
  for (const auto& file : files) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    auto parsed = ParseManifests(text.str(), file.string());
    if (!parsed.errors.empty()) return MakeError("stored manifest is damaged: " + parsed.errors.front());
    for (auto& m : parsed.manifests) out.push_back(std::move(m));
  }
  return out;
}

}  // namespace ferry::local
