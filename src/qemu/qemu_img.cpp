#include "qemu/qemu_img.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/error.h"

extern char** environ;

namespace pvesafe::qemu {

std::string run_qemu_img(const std::string& binary, const std::vector<std::string>& args) {
  std::vector<std::string> all = {binary};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2];
  if (::pipe2(out, O_CLOEXEC) != 0)
    throw Error(Errc::kIo, std::string("pipe: ") + std::strerror(errno));
  if (::pipe2(err, O_CLOEXEC) != 0) {
    ::close(out[0]);
    ::close(out[1]);
    throw Error(Errc::kIo, std::string("pipe: ") + std::strerror(errno));
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  posix_spawn_file_actions_adddup2(&fa, err[1], 2);
  pid_t pid = -1;
  int rc = ::posix_spawnp(&pid, argv[0], &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(out[1]);
  ::close(err[1]);
  std::string o, e;
  if (rc == 0) {
    // Both outputs are small; read stdout to its end, then stderr.
    char buf[4096];
    ssize_t n;
    while ((n = ::read(out[0], buf, sizeof(buf))) > 0) o.append(buf, static_cast<size_t>(n));
    while ((n = ::read(err[0], buf, sizeof(buf))) > 0) e.append(buf, static_cast<size_t>(n));
  }
  ::close(out[0]);
  ::close(err[0]);
  if (rc != 0) {
    throw Error(rc == ENOENT ? Errc::kNotFound : Errc::kIo,
                "cannot run " + binary + ": " + std::strerror(rc), "install qemu-utils");
  }
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    while (!e.empty() && (e.back() == '\n' || e.back() == '\r')) e.pop_back();
    for (auto& c : e) {
      if (c == '\n') c = ' ';
    }
    throw Error(Errc::kRemote, binary + " " + (args.empty() ? "" : args[0]) + " failed: " + e);
  }
  return o;
}

uint64_t image_size(const std::string& binary, const nlohmann::json& blockdev) {
  nlohmann::json opts = blockdev;
  opts.erase("node-name");
  const std::string out = run_qemu_img(binary, {"info", "--output=json", "json:" + opts.dump()});
  try {
    return nlohmann::json::parse(out).at("virtual-size").get<uint64_t>();
  } catch (const std::exception& e) {
    throw Error(Errc::kRemote, std::string("qemu-img info gave no size: ") + e.what());
  }
}

}  // namespace pvesafe::qemu
