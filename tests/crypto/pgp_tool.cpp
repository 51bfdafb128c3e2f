// Test and benchmark driver for pvesafe's OpenPGP layer.
//
//   pgp_tool encrypt [--strong] [--name NAME] [--partial EXP] IN OUT
//   pgp_tool decrypt IN OUT
//   pgp_tool pty COMMAND [ARGS...]
//       runs COMMAND on a new pseudo-terminal and answers each password prompt on it with the
//       passphrase (sq 0.27 reads passwords only from its terminal); the passphrase is masked in
//       the relayed terminal output; exits with the command's status.
//
// The passphrase is read from the file named by PVESAFE_PGP_PASSFILE (one trailing newline is
// dropped, like the first line gpg --passphrase-file reads). Errors print one line on stderr and
// exit with pvesafe's exit code for the error category.
#include <fcntl.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <algorithm>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"
#include "crypto/s2k.h"

namespace {

// Whole-file I/O with plain read(2)/write(2): one buffer, no stream copies, so file-to-file
// benchmarks measure the OpenPGP code rather than iostreams.
std::vector<uint8_t> read_file(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw pvesafe::Error(pvesafe::Errc::kIo, "cannot open " + path);
  struct stat st {};
  std::vector<uint8_t> data;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode)) data.reserve(static_cast<size_t>(st.st_size));
  size_t used = 0;
  for (;;) {
    if (data.size() == used) data.resize(std::max<size_t>(used * 2, used + (1 << 20)));
    ssize_t n = ::read(fd, data.data() + used, data.size() - used);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      ::close(fd);
      throw pvesafe::Error(pvesafe::Errc::kIo, "cannot read " + path);
    }
    if (n == 0) break;
    used += static_cast<size_t>(n);
  }
  ::close(fd);
  data.resize(used);
  return data;
}

// A regular file mapped read-only (no copy into fresh anonymous memory), else read into a buffer.
class InputFile {
 public:
  explicit InputFile(const std::string& path) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw pvesafe::Error(pvesafe::Errc::kIo, "cannot open " + path);
    struct stat st {};
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size > 0) {
      size_ = static_cast<size_t>(st.st_size);
      void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
      if (p != MAP_FAILED) map_ = static_cast<uint8_t*>(p);
    }
    ::close(fd);
    if (map_ == nullptr) {
      buf_ = read_file(path);
      size_ = buf_.size();
    }
  }
  ~InputFile() {
    if (map_ != nullptr) munmap(map_, size_);
  }
  InputFile(const InputFile&) = delete;
  InputFile& operator=(const InputFile&) = delete;
  std::span<const uint8_t> bytes() const {
    return map_ != nullptr ? std::span<const uint8_t>(map_, size_) : std::span<const uint8_t>(buf_);
  }

 private:
  uint8_t* map_ = nullptr;
  size_t size_ = 0;
  std::vector<uint8_t> buf_;
};

void write_file(const std::string& path, const std::vector<uint8_t>& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) throw pvesafe::Error(pvesafe::Errc::kIo, "cannot create " + path);
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      ::close(fd);
      throw pvesafe::Error(pvesafe::Errc::kIo, "cannot write " + path);
    }
    done += static_cast<size_t>(n);
  }
  if (::close(fd) != 0) throw pvesafe::Error(pvesafe::Errc::kIo, "cannot write " + path);
}

std::string passphrase() {
  const char* f = std::getenv("PVESAFE_PGP_PASSFILE");
  if (f == nullptr) throw pvesafe::Error(pvesafe::Errc::kUsage, "PVESAFE_PGP_PASSFILE is not set");
  auto bytes = read_file(f);
  std::string p(bytes.begin(), bytes.end());
  if (!p.empty() && p.back() == '\n') p.pop_back();
  return p;
}

int usage() {
  std::cerr << "usage: pgp_tool encrypt [--strong] [--name NAME] [--partial EXP] IN OUT\n"
               "       pgp_tool decrypt IN OUT\n"
               "       pgp_tool pty COMMAND [ARGS...]\n";
  return 2;
}

// Runs argv on a pseudo-terminal, typing the passphrase at every "...password...: " prompt.
int run_on_pty(const std::vector<std::string>& cmd, const std::string& pass) {
  int master = -1;
  pid_t pid = forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) throw pvesafe::Error(pvesafe::Errc::kIo, "forkpty failed");
  if (pid == 0) {
    std::vector<char*> av;
    for (const auto& a : cmd) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    execvp(av[0], av.data());
    _exit(127);
  }
  std::string window;  // terminal output since the last answer
  char buf[4096];
  for (;;) {
    pollfd pfd{master, POLLIN, 0};
    int pr = poll(&pfd, 1, 60000);
    if (pr == 0) {
      kill(pid, SIGKILL);
      std::cerr << "pgp_tool: " << cmd[0] << " did not finish within 60 s\n";
      break;
    }
    if (pr < 0 && errno == EINTR) continue;
    ssize_t n = read(master, buf, sizeof buf);
    if (n <= 0) break;  // EIO once the child closed the terminal
    window.append(buf, static_cast<size_t>(n));
    std::string shown(buf, static_cast<size_t>(n));
    for (size_t at; !pass.empty() && (at = shown.find(pass)) != std::string::npos;) {
      shown.replace(at, pass.size(), "***");
    }
    std::cerr << shown;
    auto p = window.find("assword");
    if (p != std::string::npos && window.find(": ", p) != std::string::npos) {
      std::string line = pass + "\n";
      if (write(master, line.data(), line.size()) != static_cast<ssize_t>(line.size())) break;
      window.clear();
    }
  }
  close(master);
  int status = 0;
  waitpid(pid, &status, 0);
  std::cerr << "\n";
  if (WIFEXITED(status)) return WEXITSTATUS(status);
  return 128 + (WIFSIGNALED(status) ? WTERMSIG(status) : 0);
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty()) return usage();
  try {
    const std::string cmd = args[0];
    if (cmd == "encrypt") {
      bool strong = false;
      std::string name;
      int partial = 0;
      size_t i = 1;
      for (; i < args.size() && args[i].rfind("--", 0) == 0; ++i) {
        if (args[i] == "--strong") {
          strong = true;
        } else if (args[i] == "--name" && i + 1 < args.size()) {
          name = args[++i];
        } else if (args[i] == "--partial" && i + 1 < args.size()) {
          partial = std::stoi(args[++i]);
        } else {
          return usage();
        }
      }
      if (args.size() - i != 2) return usage();
      InputFile plain(args[i]);
      pvesafe::crypto::detail::WriterOptions o;
      o.s2k_count = strong ? pvesafe::crypto::detail::kS2kCountStrong
                           : pvesafe::crypto::detail::kS2kCountFast;
      o.literal_filename = name;
      o.partial_exponent = partial;
      write_file(args[i + 1],
                 pvesafe::crypto::detail::encrypt_message_with(plain.bytes(), passphrase(), o));
    } else if (cmd == "decrypt") {
      if (args.size() != 3) return usage();
      InputFile message(args[1]);
      write_file(args[2], pvesafe::crypto::decrypt_message(message.bytes(), passphrase()));
    } else if (cmd == "pty") {
      if (args.size() < 2) return usage();
      return run_on_pty(std::vector<std::string>(args.begin() + 1, args.end()), passphrase());
    } else {
      return usage();
    }
  } catch (const pvesafe::Error& e) {
    std::cerr << "pgp_tool: " << pvesafe::errc_name(e.code()) << ": " << e.what() << "\n";
    return pvesafe::exit_code(e.code());
  } catch (const std::exception& e) {
    std::cerr << "pgp_tool: unexpected exception: " << e.what() << "\n";
    return 70;
  }
  return 0;
}
