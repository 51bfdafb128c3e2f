#include "crypto/subprocess.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string_view>

#include "core/error.h"
#include "core/sigpipe_guard.h"

extern char** environ;

namespace pvesafe::crypto::detail {

namespace {

struct Fd {
  int fd = -1;
  ~Fd() { close_now(); }
  void close_now() {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }
};

void make_pipe(Fd& r, Fd& w) {
  int p[2];
  if (pipe2(p, O_CLOEXEC) != 0) {
    throw Error(Errc::kIo, std::string("cannot create a pipe: ") + std::strerror(errno));
  }
  r.fd = p[0];
  w.fd = p[1];
}

using pvesafe::SigpipeGuard;

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, std::span<const uint8_t> input,
                          const ProcessOptions& options) {
  if (argv.empty()) throw Error(Errc::kInternal, "run_process without a program");
  Fd in_r, in_w, out_r, out_w, err_r, err_w;
  make_pipe(in_r, in_w);
  make_pipe(out_r, out_w);
  if (options.capture_stderr) make_pipe(err_r, err_w);

  // Environment: ours, with the extra entries replacing same-named ones.
  std::vector<std::string> env_store;
  for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
    std::string_view entry(*e);
    bool replaced = false;
    for (const auto& x : options.extra_env) {
      auto eq = x.find('=');
      if (eq != std::string::npos &&
          entry.substr(0, eq + 1) == std::string_view(x).substr(0, eq + 1)) {
        replaced = true;
      }
    }
    if (!replaced) env_store.emplace_back(entry);
  }
  for (const auto& x : options.extra_env) env_store.push_back(x);
  std::vector<char*> envp;
  for (auto& e : env_store) envp.push_back(e.data());
  envp.push_back(nullptr);
  std::vector<std::string> args = argv;
  std::vector<char*> av;
  for (auto& a : args) av.push_back(a.data());
  av.push_back(nullptr);

  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, in_r.fd, 0);
  posix_spawn_file_actions_adddup2(&fa, out_w.fd, 1);
  if (options.capture_stderr) posix_spawn_file_actions_adddup2(&fa, err_w.fd, 2);
  pid_t pid = -1;
  int rc = posix_spawnp(&pid, av[0], &fa, nullptr, av.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    throw Error(Errc::kConfig, "cannot run " + argv[0] + ": " + std::strerror(rc),
                "install it or check PATH");
  }
  in_r.close_now();
  out_w.close_now();
  err_w.close_now();
  // Never block writing stdin while the child waits for us to read its output.
  fcntl(in_w.fd, F_SETFL, fcntl(in_w.fd, F_GETFL) | O_NONBLOCK);

  ProcessResult result;
  WipedBytes out(4096);
  size_t used = 0;
  bool too_much = false;
  size_t written = 0;
  if (input.empty()) in_w.close_now();
  {
    SigpipeGuard guard;
    char buf[4096];
    while (out_r.fd >= 0 || err_r.fd >= 0) {
      pollfd fds[3];
      int n = 0;
      int i_in = -1, i_out = -1, i_err = -1;
      if (in_w.fd >= 0) fds[i_in = n++] = {in_w.fd, POLLOUT, 0};
      if (out_r.fd >= 0) fds[i_out = n++] = {out_r.fd, POLLIN, 0};
      if (err_r.fd >= 0) fds[i_err = n++] = {err_r.fd, POLLIN, 0};
      if (poll(fds, static_cast<nfds_t>(n), -1) < 0) {
        if (errno == EINTR) continue;
        break;
      }
      if (i_in >= 0 && fds[i_in].revents != 0) {
        ssize_t w = ::write(in_w.fd, input.data() + written, input.size() - written);
        if (w > 0) written += static_cast<size_t>(w);
        if ((w < 0 && errno != EINTR && errno != EAGAIN) || written == input.size()) {
          in_w.close_now();  // done, or the child stopped reading (EPIPE)
        }
      }
      if (i_out >= 0 && fds[i_out].revents != 0) {
        if (used == out.size()) {
          if (out.size() >= options.max_stdout) {
            too_much = true;
            out_r.close_now();
            continue;
          }
          WipedBytes bigger(std::min(out.size() * 2, options.max_stdout));
          std::copy(out.data(), out.data() + used, bigger.data());
          out = std::move(bigger);
        }
        ssize_t r = ::read(out_r.fd, out.data() + used, out.size() - used);
        if (r > 0) {
          used += static_cast<size_t>(r);
        } else if (r == 0 || errno != EINTR) {
          out_r.close_now();
        }
      }
      if (i_err >= 0 && fds[i_err].revents != 0) {
        ssize_t r = ::read(err_r.fd, buf, sizeof buf);
        if (r > 0) {
          if (result.err.size() < 65536) result.err.append(buf, static_cast<size_t>(r));
        } else if (r == 0 || errno != EINTR) {
          err_r.close_now();
        }
      }
    }
    OPENSSL_cleanse(buf, sizeof buf);
    in_w.close_now();
  }
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  result.status =
      WIFEXITED(status) ? WEXITSTATUS(status) : 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
  if (too_much) {
    throw Error(Errc::kUsage, argv[0] + " wrote more than " + std::to_string(options.max_stdout) +
                                  " bytes on its standard output");
  }
  out.shrink(used);
  result.out = std::move(out);
  return result;
}

}  // namespace pvesafe::crypto::detail
