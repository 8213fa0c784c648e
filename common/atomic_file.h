// Replacing a file so that a reader (or a restart after a crash) sees the old content or the new,
// never a torn mix: write a temporary file, fsync it, rename it over the target, fsync the
// directory so the rename itself is durable.
#pragma once

#include <sys/types.h>

#include <filesystem>
#include <string_view>

#include "common/result.h"

namespace ferry {

Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content, mode_t mode = 0644);

}  // namespace ferry
