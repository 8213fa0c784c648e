#include "common/atomic_file.h"

#include <fcntl.h>
#include <unistd.h>

#include "common/unique_fd.h"

namespace ferry {

Result<void> WriteFileAtomically(const std::filesystem::path& path, std::string_view content, mode_t mode) {
  const std::filesystem::path tmp = path.string() + ".tmp";
  UniqueFd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode));
  if (!fd) return ErrnoError("open " + tmp.string());
  for (size_t done = 0; done < content.size();) {
    ssize_t n = ::write(fd.get(), content.data() + done, content.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return ErrnoError("write " + tmp.string());
    done += static_cast<size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return ErrnoError("fsync " + tmp.string());
  fd.Reset();
  if (::rename(tmp.c_str(), path.c_str()) != 0) return ErrnoError("rename " + tmp.string() + " to " + path.string());
  std::filesystem::path dir = path.parent_path().empty() ? std::filesystem::path(".") : path.parent_path();
  UniqueFd dir_fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir_fd && ::fsync(dir_fd.get()) != 0) return ErrnoError("fsync " + dir.string());
  return Ok();
}

}  // namespace ferry
