#include "controlplane/smi/parse.h"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "controlplane/smi/parse_internal.h"

namespace ferry::smi {
namespace {

using internal::Field;
using internal::FieldError;

struct KindSpec {
  std::string_view kind;
  std::string_view group;  // empty for the core group ("v1")
  std::vector<std::string_view> versions;
  bool namespaced;
  internal::KindParser parse;
};

const std::vector<KindSpec>& KindTable() {
  static const std::vector<KindSpec> table = {
      {"TrafficTarget", "access.smi-spec.io", {"v1alpha2", "v1alpha3"}, true, internal::ParseTrafficTarget},
      {"HTTPRouteGroup", "specs.smi-spec.io", {"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"}, true,
       internal::ParseHttpRouteGroup},
      {"TCPRoute", "specs.smi-spec.io", {"v1alpha1", "v1alpha2", "v1alpha3", "v1alpha4"}, true,
       internal::ParseTcpRoute},
      {"TrafficSplit", "split.smi-spec.io", {"v1alpha2", "v1alpha3", "v1alpha4"}, true,
       internal::ParseTrafficSplit},
      {"Namespace", "", {"v1"}, false, internal::ParseNamespace},
      {"ServiceAccount", "", {"v1"}, true, internal::ParseServiceAccount},
      {"Service", "", {"v1"}, true, internal::ParseService},
      {"ConfigMap", "", {"v1"}, true, internal::ParseConfigMap},
      {"Pod", "", {"v1"}, true, internal::ParsePod},
      {"Deployment", "apps", {"v1"}, true, internal::ParseDeployment},
  };
  return table;
}

std::string GroupOf(const std::string& api_version) {
  size_t slash = api_version.rfind('/');
  return slash == std::string::npos ? std::string() : api_version.substr(0, slash);
}

// Best-effort identity of a document that may be malformed, so its rejection can name it.
ResourceMeta LenientMeta(const YAML::Node& doc, const SourceLocation& origin) {
  ResourceMeta meta;
  meta.origin = origin;
  auto scalar = [](const YAML::Node& n) { return n.IsDefined() && n.IsScalar() ? n.Scalar() : std::string(); };
  if (!doc.IsMap()) return meta;
  meta.api_version = scalar(doc["apiVersion"]);
  meta.kind = scalar(doc["kind"]);
  const YAML::Node metadata = doc["metadata"];
  if (metadata.IsDefined() && metadata.IsMap()) {
    meta.name = scalar(metadata["name"]);
    meta.ns = scalar(metadata["namespace"]);
  }
  return meta;
}

std::string SupportedList(const KindSpec& spec) {
  std::string out;
  for (std::string_view v : spec.versions) {
    if (!out.empty()) out += ", ";
    out += spec.group.empty() ? std::string(v) : std::string(spec.group) + "/" + std::string(v);
  }
  return out;
}

// Finds the parser for (apiVersion, kind), or fails with a reason that says what is supported.
const KindSpec& LookupKind(const std::string& api_version, const std::string& kind) {
  const std::string group = GroupOf(api_version);
  const std::string version = internal::VersionOf(api_version);
  for (const KindSpec& spec : KindTable()) {
    if (spec.kind != kind) continue;
    bool versioned = std::find(spec.versions.begin(), spec.versions.end(), version) != spec.versions.end();
    if (group == spec.group && versioned) return spec;
    if (kind == "TrafficSplit" && api_version == "split.smi-spec.io/v1alpha1") {
      internal::Fail("split.smi-spec.io/v1alpha1 is not supported: its weights are Kubernetes quantities; "
                     "use v1alpha2 or later (integer weights)");
    }
    internal::Fail("unsupported apiVersion \"" + api_version + "\" for kind " + kind + " (supported: " +
                   SupportedList(spec) + ")");
  }
  internal::Fail("unsupported kind \"" + kind + "\" (apiVersion \"" + api_version + "\")");
}

void ParseDocument(const YAML::Node& doc, const SourceLocation& origin, const ParseOptions& options,
                   ResourceSet& out);

void ParseList(const Field& root, const SourceLocation& origin, const ParseOptions& options,
               ResourceSet& out) {
  for (const Field& item : root.Child("items").Items()) ParseDocument(item.node(), origin, options, out);
}

void ParseDocumentOrThrow(const YAML::Node& doc, const SourceLocation& origin,
                          const ParseOptions& options, ResourceSet& out) {
  Field root(doc, "");
  if (!doc.IsMap()) internal::Fail("document is not a mapping");
  const std::string api_version = root.Child("apiVersion").RequireString();
  const std::string kind = root.Child("kind").RequireString();
  if (kind == "List" && api_version == "v1") return ParseList(root, origin, options, out);
  const KindSpec& spec = LookupKind(api_version, kind);

  ResourceMeta meta;
  meta.api_version = api_version;
  meta.kind = kind;
  meta.origin = origin;
  Field metadata = root.Child("metadata");
  if (!metadata.IsMap()) metadata.Fail("required field is missing");
  meta.name = metadata.Child("name").RequireString();
  if (spec.namespaced) meta.ns = metadata.Child("namespace").StringOr(options.default_namespace);
  if (spec.namespaced && meta.ns.empty()) meta.ns = options.default_namespace;
  meta.labels = metadata.Child("labels").StringMap();
  spec.parse(root, std::move(meta), options, out);
}

void ParseDocument(const YAML::Node& doc, const SourceLocation& origin, const ParseOptions& options,
                   ResourceSet& out) {
  // Parse into a scratch set so a resource that fails half-way leaves nothing behind.
  ResourceSet scratch;
  try {
    ParseDocumentOrThrow(doc, origin, options, scratch);
  } catch (const std::exception& e) {  // FieldError, or a yaml-cpp conversion error
    ResourceMeta meta = LenientMeta(doc, origin);
    if (meta.ns.empty() && !meta.name.empty() && meta.kind != "Namespace") meta.ns = options.default_namespace;
    scratch.rejections.push_back(RejectionFor(meta, rejection_code::kInvalidSpec, e.what()));
  }
  out.Merge(std::move(scratch));
}

struct DocumentText {
  std::string text;
  int first_line = 0;  // 1-based line of the first line of `text`
};

bool IsDocumentMarker(std::string_view line, std::string_view marker) {
  if (line.substr(0, 3) != marker) return false;
  return line.size() == 3 || line[3] == ' ' || line[3] == '\t' || line[3] == '\r';
}

// Splits at `---` / `...` lines so that one unparseable document cannot hide the others
// (yaml-cpp's LoadAll gives up on the whole stream at the first syntax error).
std::vector<DocumentText> SplitDocuments(std::string_view yaml) {
  std::vector<DocumentText> docs(1);
  docs.back().first_line = 1;
  int line_no = 0;
  size_t pos = 0;
  while (pos < yaml.size()) {
    size_t end = yaml.find('\n', pos);
    std::string_view line = yaml.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    pos = end == std::string_view::npos ? yaml.size() : end + 1;
    ++line_no;
    if (IsDocumentMarker(line, "---") || IsDocumentMarker(line, "...")) {
      docs.push_back(DocumentText{"", line_no});
      // Content may follow the marker on the same line ("--- {kind: ...}").
      if (line.substr(0, 3) == "---" && line.size() > 3) docs.back().text.append(line.substr(3)).append("\n");
      else docs.back().first_line = line_no + 1;
      continue;
    }
    docs.back().text.append(line).append("\n");
  }
  return docs;
}

// The line of the first non-blank, non-comment line, for messages that point at the resource.
int FirstContentLine(const DocumentText& doc) {
  std::istringstream in(doc.text);
  std::string line;
  for (int n = doc.first_line; std::getline(in, line); ++n) {
    size_t first = line.find_first_not_of(" \t\r");
    if (first != std::string::npos && line[first] != '#') return n;
  }
  return doc.first_line;
}

}  // namespace

ResourceSet ParseManifests(std::string_view yaml, const std::string& source_name,
                           const ParseOptions& options) {
  ResourceSet out;
  for (const DocumentText& doc : SplitDocuments(yaml)) {
    SourceLocation origin{source_name, FirstContentLine(doc)};
    YAML::Node node;
    try {
      node = YAML::Load(doc.text);
    } catch (const YAML::Exception& e) {
      origin.line = doc.first_line + (e.mark.is_null() ? 0 : e.mark.line);
      out.rejections.push_back(Rejection{origin, "", "", "", "invalid YAML: " + e.msg, rejection_code::kInvalidYaml});
      continue;
    }
    if (!node.IsDefined() || node.IsNull()) continue;  // empty document, or comments only
    ParseDocument(node, origin, options, out);
  }
  return out;
}

namespace {

Result<std::string> ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return ErrnoError("open " + path.string());
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) return ErrnoError("read " + path.string());
  return content.str();
}

bool IsManifestFile(const std::filesystem::directory_entry& entry) {
  std::error_code ec;
  if (!entry.is_regular_file(ec)) return false;
  const std::string ext = entry.path().extension().string();
  return ext == ".yaml" || ext == ".yml";
}

}  // namespace

Result<ResourceSet> LoadManifestPath(const std::filesystem::path& path, const ParseOptions& options) {
  std::error_code ec;
  if (!std::filesystem::is_directory(path, ec)) {
    Result<std::string> text = ReadFile(path);
    if (!text.ok()) return text.error();
    return ParseManifests(text.value(), path.string(), options);
  }
  std::vector<std::filesystem::path> files;
  std::filesystem::directory_iterator it(path, ec);
  if (ec) return MakeError("list directory " + path.string() + ": " + ec.message(), ec.value());
  for (const auto& entry : it) {
    if (IsManifestFile(entry)) files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());  // deterministic: first definition of a duplicate wins
  ResourceSet all;
  for (const auto& file : files) {
    Result<std::string> text = ReadFile(file);
    if (!text.ok()) {
      all.rejections.push_back(
          Rejection{{file.string(), 0}, "", "", "", text.error().Message(), rejection_code::kUnreadableFile});
      continue;
    }
    all.Merge(ParseManifests(text.value(), file.string(), options));
  }
  return all;
}

}  // namespace ferry::smi
