// Watches the manifest directory with inotify and calls back once per burst of changes.
// Events that matter: *.yaml / *.yml created, written, renamed into or out of the directory,
// or deleted; Kubernetes ConfigMap volumes' "..data" symlink swap; and the workload inventory
// file (written by the local cluster tool), whose directory may appear later.
// Bursts are debounced (`debounce` of quiet, at most `max_delay` after the first event) so an
// editor's write-rename dance or a `cp *.yaml` causes one reload. When nothing changes the
// thread sleeps in poll() without a timeout: there is no periodic timer.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <thread>

#include "common/result.h"
#include "common/unique_fd.h"

namespace ferry::controlplane {

struct WatchOptions {
  std::filesystem::path manifest_dir;
  std::filesystem::path inventory_file;  // optional; watched through its directory
  std::chrono::milliseconds debounce{100};
  std::chrono::milliseconds max_delay{1000};
};

class ManifestWatcher {
 public:
  // The watches are in place when this returns, so no change made afterwards is missed.
  // `on_change` runs on the watcher's thread.
  static Result<std::unique_ptr<ManifestWatcher>> Start(WatchOptions options, std::function<void()> on_change);
  ~ManifestWatcher();
  ManifestWatcher(const ManifestWatcher&) = delete;
  ManifestWatcher& operator=(const ManifestWatcher&) = delete;

  // Prompt: wakes the thread through an eventfd and joins it. A callback in progress finishes.
  void Stop();

 private:
  ManifestWatcher(WatchOptions options, std::function<void()> on_change, UniqueFd inotify, UniqueFd wake);
  void Run();
  // Reads queued events; true when one of them is relevant.
  bool DrainEvents();
  void WatchInventoryDir();

  WatchOptions options_;
  std::function<void()> on_change_;
  UniqueFd inotify_;
  UniqueFd wake_;
  int manifest_wd_ = -1;
  int inventory_wd_ = -1;
  std::thread thread_;
};

}  // namespace ferry::controlplane
