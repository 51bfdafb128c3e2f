#include "qemu/launch.h"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <thread>

#include "core/error.h"

extern char** environ;

namespace pvesafe::qemu {

std::vector<std::string> base_args(const Machine& m, const std::string& qmp_socket,
                                   const std::string& serial_socket) {
  std::vector<std::string> a = {"-nodefaults",
                                "-display",
                                "none",
                                "-accel",
                                m.accel,
                                "-m",
                                std::to_string(m.memory_mib),
                                "-smp",
                                std::to_string(m.cpus)};
  if (!m.kernel.empty()) {
    a.insert(a.end(), {"-kernel", m.kernel});
    if (!m.initrd.empty()) a.insert(a.end(), {"-initrd", m.initrd});
    if (!m.append.empty()) a.insert(a.end(), {"-append", m.append});
  }
  a.insert(
      a.end(),
      {"-chardev", "socket,id=pvesafe-serial0,path=" + serial_socket + ",server=on,wait=off",
       "-serial", "chardev:pvesafe-serial0", "-qmp", "unix:" + qmp_socket + ",server=on,wait=off"});
  a.insert(a.end(), m.extra_args.begin(), m.extra_args.end());
  return a;
}

pid_t start_daemonized(const std::string& binary, std::vector<std::string> args,
                       const std::string& pidfile, std::chrono::seconds timeout) {
  args.insert(args.begin(), binary);
  args.insert(args.end(), {"-daemonize", "-pidfile", pidfile});
  std::vector<char*> argv;
  for (auto& s : args) argv.push_back(s.data());
  argv.push_back(nullptr);

  int err_pipe[2];
  if (::pipe2(err_pipe, O_CLOEXEC) != 0)
    throw Error(Errc::kIo, std::string("pipe: ") + std::strerror(errno));
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, err_pipe[1], 2);
  pid_t child = -1;
  int rc = ::posix_spawnp(&child, binary.c_str(), &fa, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  ::close(err_pipe[1]);
  if (rc != 0) {
    ::close(err_pipe[0]);
    throw Error(rc == ENOENT ? Errc::kNotFound : Errc::kIo,
                "cannot run " + binary + ": " + std::strerror(rc), "install qemu-system-x86");
  }
  // The parent process exits once the daemon is ready (or QEMU failed); collect its stderr.
  ::fcntl(err_pipe[0], F_SETFL, O_NONBLOCK);
  std::string err_text;
  auto drain = [&] {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(err_pipe[0], buf, sizeof(buf))) > 0)
      err_text.append(buf, static_cast<size_t>(n));
  };
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  int status = 0;
  for (;;) {
    drain();
    pid_t w = ::waitpid(child, &status, WNOHANG);
    if (w == child) break;
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(child, SIGKILL);
      ::waitpid(child, &status, 0);
      ::close(err_pipe[0]);
      throw Error(Errc::kRemote,
                  "QEMU did not start within " + std::to_string(timeout.count()) + " s");
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  drain();
  ::close(err_pipe[0]);
  while (!err_text.empty() && (err_text.back() == '\n' || err_text.back() == '\r'))
    err_text.pop_back();
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    for (auto& c : err_text) {
      if (c == '\n') c = ' ';
    }
    throw Error(Errc::kRemote,
                "QEMU failed to start: " + (err_text.empty() ? "no message" : err_text),
                "check the QEMU arguments and that the images are readable");
  }
  std::ifstream pf(pidfile);
  pid_t pid = 0;
  if (!(pf >> pid) || pid <= 0)
    throw Error(Errc::kRemote, "QEMU started but wrote no pid to " + pidfile);
  return pid;
}

bool process_alive(pid_t pid) {
  if (pid <= 0 || (::kill(pid, 0) != 0 && errno != EPERM)) return false;
  // A daemon is not our child: once it exits it may linger as a zombie until its parent (init)
  // reaps it. A zombie runs no guest.
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(stat, line)) return true;
  auto close = line.rfind(')');
  return close == std::string::npos || close + 2 >= line.size() || line[close + 2] != 'Z';
}

bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (process_alive(pid)) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return true;
}

}  // namespace pvesafe::qemu
