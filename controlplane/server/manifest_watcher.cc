#include "controlplane/server/manifest_watcher.h"

#include <poll.h>
#include <spdlog/spdlog.h>
#include <sys/eventfd.h>
#include <sys/inotify.h>

#include <algorithm>
#include <cstring>
#include <optional>

namespace ferry::controlplane {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint32_t kDirMask = IN_CREATE | IN_CLOSE_WRITE | IN_MODIFY | IN_MOVED_TO | IN_MOVED_FROM | IN_DELETE |
                              IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR;

bool IsManifestName(std::string_view name) {
  auto ends_with = [&](std::string_view suffix) {
    return name.size() > suffix.size() && name.substr(name.size() - suffix.size()) == suffix;
  };
  // "..data" is the symlink a Kubernetes ConfigMap volume swaps atomically on update.
  return ends_with(".yaml") || ends_with(".yml") || name == "..data";
}

}  // namespace

Result<std::unique_ptr<ManifestWatcher>> ManifestWatcher::Start(WatchOptions options, std::function<void()> on_change) {
  UniqueFd inotify(inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
  if (!inotify) return ErrnoError("inotify_init1");
  UniqueFd wake(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!wake) return ErrnoError("eventfd");
  std::unique_ptr<ManifestWatcher> watcher(
      new ManifestWatcher(std::move(options), std::move(on_change), std::move(inotify), std::move(wake)));
  watcher->manifest_wd_ = inotify_add_watch(watcher->inotify_.get(), watcher->options_.manifest_dir.c_str(), kDirMask);
  if (watcher->manifest_wd_ < 0) return ErrnoError("inotify_add_watch " + watcher->options_.manifest_dir.string());
  watcher->WatchInventoryDir();
  watcher->thread_ = std::thread([w = watcher.get()] { w->Run(); });
  return watcher;
}

ManifestWatcher::ManifestWatcher(WatchOptions options, std::function<void()> on_change, UniqueFd inotify, UniqueFd wake)
    : options_(std::move(options)), on_change_(std::move(on_change)), inotify_(std::move(inotify)), wake_(std::move(wake)) {}

ManifestWatcher::~ManifestWatcher() { Stop(); }

void ManifestWatcher::Stop() {
  if (!thread_.joinable()) return;
  uint64_t one = 1;
  if (write(wake_.get(), &one, sizeof(one)) != sizeof(one)) spdlog::error("manifest watcher: eventfd write failed");
  thread_.join();
}

void ManifestWatcher::WatchInventoryDir() {
  if (options_.inventory_file.empty() || inventory_wd_ >= 0) return;
  const std::filesystem::path dir = options_.inventory_file.parent_path();
  inventory_wd_ = inotify_add_watch(inotify_.get(), dir.c_str(), kDirMask);
  // A missing directory is fine when it would be created inside the manifest directory: its
  // creation shows up there and the watch is added then.
  if (inventory_wd_ < 0 && errno == ENOENT && dir.parent_path() != options_.manifest_dir) {
    spdlog::warn("{} does not exist; changes to {} will not be noticed", dir.string(), options_.inventory_file.string());
  }
}

bool ManifestWatcher::DrainEvents() {
  bool relevant = false;
  alignas(inotify_event) char buffer[16384];
  for (;;) {
    ssize_t n = read(inotify_.get(), buffer, sizeof(buffer));
    if (n <= 0) break;  // EAGAIN: drained
    for (ssize_t off = 0; off < n;) {
      const auto* event = reinterpret_cast<const inotify_event*>(buffer + off);
      off += static_cast<ssize_t>(sizeof(inotify_event) + event->len);
      const std::string_view name = event->len > 0 ? std::string_view(event->name) : std::string_view();
      if (event->mask & IN_Q_OVERFLOW) {
        relevant = true;  // events were lost: reload to be sure
      } else if (event->wd == manifest_wd_) {
        if (event->mask & (IN_DELETE_SELF | IN_MOVE_SELF)) {
          spdlog::error("manifest directory {} was removed or moved; keeping the last policy",
                        options_.manifest_dir.string());
        }
        const bool inventory_dir_appeared = (event->mask & IN_ISDIR) && (event->mask & (IN_CREATE | IN_MOVED_TO)) &&
                                            !options_.inventory_file.empty() &&
                                            name == options_.inventory_file.parent_path().filename().string();
        if (inventory_dir_appeared) {
          WatchInventoryDir();
          relevant = true;  // the file may have been written before the watch was in place
        }
        relevant = relevant || IsManifestName(name);
      } else if (event->wd == inventory_wd_) {
        if (event->mask & IN_IGNORED) inventory_wd_ = -1;  // directory removed
        relevant = relevant || (event->mask & IN_IGNORED) || name == options_.inventory_file.filename().string();
      }
    }
  }
  return relevant;
}

void ManifestWatcher::Run() {
  std::optional<Clock::time_point> first_event;
  Clock::time_point last_event;
  for (;;) {
    int timeout_ms = -1;  // idle: sleep until something happens, no periodic wake-up
    if (first_event) {
      const auto due = std::min(last_event + options_.debounce, *first_event + options_.max_delay);
      timeout_ms = static_cast<int>(std::max<int64_t>(
          0, std::chrono::duration_cast<std::chrono::milliseconds>(due - Clock::now()).count() + 1));
    }
    pollfd fds[2] = {{inotify_.get(), POLLIN, 0}, {wake_.get(), POLLIN, 0}};
    int ready = poll(fds, 2, timeout_ms);
    if (ready < 0 && errno != EINTR) {
      spdlog::error("manifest watcher: poll: {}", std::strerror(errno));
      return;
    }
    if (fds[1].revents & POLLIN) return;
    if ((fds[0].revents & POLLIN) && DrainEvents()) {
      last_event = Clock::now();
      if (!first_event) first_event = last_event;
      continue;
    }
    if (first_event) {
      const auto now = Clock::now();
      if (now >= last_event + options_.debounce || now >= *first_event + options_.max_delay) {
        first_event.reset();
        on_change_();
      }
    }
  }
}

}  // namespace ferry::controlplane
