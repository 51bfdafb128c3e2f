#include "proc.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <stdexcept>

extern char** environ;

namespace pvesim {

namespace {

std::string errno_text(const std::string& what) { return what + ": " + std::strerror(errno); }

}  // namespace

Child::Child(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd) : argv_(argv) {
  int in_pipe[2] = {-1, -1}, out_pipe[2] = {-1, -1};
  if (stdin_fd == kPipe && pipe2(in_pipe, O_CLOEXEC) != 0)
    throw std::runtime_error(errno_text("pipe"));
  if (stdout_fd == kPipe && pipe2(out_pipe, O_CLOEXEC) != 0) {
    int e = errno;
    if (in_pipe[0] >= 0) close(in_pipe[0]), close(in_pipe[1]);
    errno = e;
    throw std::runtime_error(errno_text("pipe"));
  }
  err_ = memfd_create("pvesim-stderr", MFD_CLOEXEC);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int child_in = stdin_fd == kPipe ? in_pipe[0] : stdin_fd;
  int child_out = stdout_fd == kPipe ? out_pipe[1] : stdout_fd;
  if (child_in >= 0) posix_spawn_file_actions_adddup2(&fa, child_in, 0);
  if (child_out >= 0) posix_spawn_file_actions_adddup2(&fa, child_out, 1);
  if (err_ >= 0) posix_spawn_file_actions_adddup2(&fa, err_, 2);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, all_default;
  sigemptyset(&none);
  sigemptyset(&all_default);
  sigaddset(&all_default, SIGPIPE);
  sigaddset(&all_default, SIGTERM);
  sigaddset(&all_default, SIGINT);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all_default);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  std::vector<char*> args;
  for (const auto& a : argv_) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  int rc = posix_spawnp(&pid_, args[0], &fa, &attr, args.data(), environ);
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (in_pipe[0] >= 0) close(in_pipe[0]);
  if (out_pipe[1] >= 0) close(out_pipe[1]);
  in_ = in_pipe[1];
  out_ = out_pipe[0];
  if (rc != 0) {
    pid_ = -1;
    close_in();
    close_out();
    throw std::runtime_error("cannot run " + argv_[0] + ": " + std::strerror(rc));
  }
}

Child::~Child() {
  close_in();
  close_out();
  if (pid_ > 0) {
    ::kill(pid_, SIGKILL);
    wait();
  }
  if (err_ >= 0) close(err_);
}

void Child::close_in() {
  if (in_ >= 0) close(in_);
  in_ = -1;
}

void Child::close_out() {
  if (out_ >= 0) close(out_);
  out_ = -1;
}

int Child::wait() {
  if (pid_ > 0) {
    int st = 0;
    while (waitpid(pid_, &st, 0) < 0 && errno == EINTR) {
    }
    status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
    pid_ = -1;
  }
  return status_;
}

void Child::kill_now() {
  if (pid_ > 0) ::kill(pid_, SIGKILL);
}

std::string Child::stderr_text() const {
  if (err_ < 0) return "";
  std::string out;
  char buf[4096];
  off_t off = 0;
  for (ssize_t n; (n = pread(err_, buf, sizeof buf, off)) > 0; off += n)
    out.append(buf, static_cast<size_t>(n));
  while (!out.empty() && out.back() == '\n') out.pop_back();
  return out;
}

std::string Child::command() const {
  std::string s;
  for (const auto& a : argv_) s += (s.empty() ? "" : " ") + shell_quote(a);
  return s;
}

void write_all(int fd, const void* data, size_t n) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(errno_text("write error"));
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
}

size_t read_full(int fd, void* data, size_t n) {
  char* p = static_cast<char*>(data);
  size_t got = 0;
  while (got < n) {
    ssize_t r = ::read(fd, p + got, n - got);
    if (r < 0) {
      if (errno == EINTR) continue;
      throw std::runtime_error(errno_text("read failed"));
    }
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

std::string shell_quote(const std::string& s) {
  if (!s.empty() && s.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                        "0123456789-_./=:,+@%") == std::string::npos)
    return s;
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

}  // namespace pvesim
