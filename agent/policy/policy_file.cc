#include "agent/policy/policy_file.h"

#include "controlplane/smi/parse.h"

namespace ferry::policy {

Result<smi::CompileResult> LoadPolicyFile(const std::filesystem::path& path, const smi::MeshOptions& mesh) {
  Result<smi::ResourceSet> resources = smi::LoadManifestPath(path);
  if (!resources.ok()) return resources.error();
  return smi::Compile(resources.value(), mesh);
}

}  // namespace ferry::policy
