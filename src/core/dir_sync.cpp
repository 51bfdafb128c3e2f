#include "core/dir_sync.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace pvesafe {

namespace {
std::function<int(const std::string&)>& hook() {
  static std::function<int(const std::string&)> h;
  return h;
}
}  // namespace

void set_sync_directory_hook(std::function<int(const std::string& dir)> h) {
  hook() = std::move(h);
}

std::string parent_directory(const std::string& path) {
  size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

int sync_directory(const std::string& dir) {
  if (const auto& h = hook()) {
    if (int e = h(dir)) return e;
  }
  int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return errno;
  int e = 0;
  while (::fsync(fd) != 0) {
    if (errno == EINTR) continue;
    if (errno != EINVAL) e = errno;
    break;
  }
  ::close(fd);
  return e;
}

}  // namespace pvesafe
