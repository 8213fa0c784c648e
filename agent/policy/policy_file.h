// Standalone mode (`ferry-agent --policy-file`): SMI resources from a local YAML file compiled
// straight into a snapshot, without a controller.
#pragma once

#include <filesystem>

#include "common/result.h"
#include "controlplane/smi/compile.h"

namespace ferry::policy {

// Fails only when the file cannot be read. Resources that do not parse or compile are left out
// and listed in CompileResult::rejections (log them); the rest is in CompileResult::snapshot,
// with version 0 so PolicyStore::Apply numbers it.
Result<smi::CompileResult> LoadPolicyFile(const std::filesystem::path& path, const smi::MeshOptions& mesh);

}  // namespace ferry::policy
