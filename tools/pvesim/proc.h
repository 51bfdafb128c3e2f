// Runs the real tools vzdump and qmrestore run (zstd, gzip, lzop, tar) as child processes,
// with pipes for their input or output. Every descriptor the simulator opens is close-on-exec,
// so a child started by one task thread never holds another task's pipe open; children start
// with default signal dispositions and an empty signal mask.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

namespace pvesim {

class Child {
 public:
  // Starts argv[0] (looked up in PATH). stdin_fd / stdout_fd: a descriptor to use, or kPipe for
  // a pipe the caller writes to / reads from (in_fd() / out_fd()). stderr is collected.
  static constexpr int kPipe = -2;
  Child(const std::vector<std::string>& argv, int stdin_fd, int stdout_fd);
  ~Child();
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  int in_fd() const { return in_; }
  int out_fd() const { return out_; }
  void close_in();
  void close_out();
  // Waits for the exit; returns the exit status (128 + signal when killed by a signal).
  int wait();
  void kill_now();
  // What the child wrote on stderr (after wait()).
  std::string stderr_text() const;
  std::string command() const;  // the command line, shell-quoted as PVE logs it

 private:
  pid_t pid_ = -1;
  int in_ = -1, out_ = -1, err_ = -1;
  int status_ = -1;
  std::vector<std::string> argv_;
};

// Writes all of [data, data+n) to fd; throws on error (EPIPE included).
void write_all(int fd, const void* data, size_t n);
// Reads up to n bytes, retrying short reads until EOF; returns the count read.
size_t read_full(int fd, void* data, size_t n);
// One shell word as PVE's log lines quote it.
std::string shell_quote(const std::string& s);

}  // namespace pvesim
