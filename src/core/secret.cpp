#include "core/secret.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include "core/error.h"

namespace pvesafe {

void wipe(void* p, size_t n) {
  if (p && n) OPENSSL_cleanse(p, n);
}

void wipe(std::string& s) {
  wipe(s.data(), s.capacity());
  s.clear();
}

Secret::Secret(std::string_view value) { assign(value.data(), value.size()); }
Secret::Secret(const Secret& other) { assign(other.data_, other.size_); }
Secret& Secret::operator=(const Secret& other) {
  if (this != &other) {
    clear();
    assign(other.data_, other.size_);
  }
  return *this;
}
Secret::Secret(Secret&& other) noexcept : data_(other.data_), size_(other.size_) {
  other.data_ = nullptr;
  other.size_ = 0;
}
Secret& Secret::operator=(Secret&& other) noexcept {
  if (this != &other) {
    clear();
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }
  return *this;
}
Secret::~Secret() { clear(); }

void Secret::clear() {
  if (data_) {
    wipe(data_, size_);
    delete[] data_;
  }
  data_ = nullptr;
  size_ = 0;
}

void Secret::assign(const char* p, size_t n) {
  if (n == 0) return;
  data_ = new char[n];
  std::memcpy(data_, p, n);
  size_ = n;
}

namespace {

// Keeps only the first line.
Secret first_line(std::string& buf) {
  size_t end = buf.find_first_of("\r\n");
  if (end == std::string::npos) end = buf.size();
  Secret s(std::string_view(buf.data(), end));
  wipe(buf);
  return s;
}

}  // namespace

namespace {
// The whole of a secret file (at most a little over 1 MiB), after its permission checks.
std::string read_secret_bytes(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    int e = errno;
    throw Error(e == ENOENT ? Errc::kConfig : Errc::kIo,
                "cannot open secret file " + path + ": " + std::strerror(e),
                "check the path and its permissions");
  }
  struct stat st {};
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(Errc::kConfig, "secret file " + path + " is not a regular file");
  }
  if (st.st_mode & 077) {
    ::close(fd);
    throw Error(Errc::kConfig, "secret file " + path + " is readable by group or others",
                "run: chmod 600 " + path);
  }
  std::string buf;
  buf.reserve(4096);
  char tmp[4096];
  for (;;) {
    ssize_t n = ::read(fd, tmp, sizeof tmp);
    if (n < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      ::close(fd);
      wipe(tmp, sizeof tmp);
      wipe(buf);
      throw Error(Errc::kIo, "cannot read secret file " + path + ": " + std::strerror(e));
    }
    if (n == 0) break;
    if (buf.size() + n > buf.capacity()) {
      std::string bigger;
      bigger.reserve((buf.size() + n) * 2);
      bigger.append(buf);
      wipe(buf);
      buf.swap(bigger);
    }
    buf.append(tmp, n);
    if (buf.size() > (1 << 20)) break;
  }
  ::close(fd);
  wipe(tmp, sizeof tmp);
  return buf;
}
}  // namespace

Secret read_secret_file(const std::string& path) {
  std::string buf = read_secret_bytes(path);
  Secret s = first_line(buf);
  wipe(buf);
  if (s.empty()) throw Error(Errc::kConfig, "secret file " + path + " is empty");
  return s;
}

Secret read_secret_blob(const std::string& path) {
  std::string buf = read_secret_bytes(path);
  Secret s(buf);
  wipe(buf);
  if (s.empty()) throw Error(Errc::kConfig, "secret file " + path + " is empty");
  return s;
}

Secret run_secret_command(const std::string& command) {
  int pipefd[2];
  if (pipe2(pipefd, O_CLOEXEC) != 0) throw Error(Errc::kIo, "cannot create a pipe for the passphrase command");
  pid_t pid = fork();
  if (pid < 0) {
    ::close(pipefd[0]);
    ::close(pipefd[1]);
    throw Error(Errc::kIo, "cannot start the passphrase command");
  }
  if (pid == 0) {
    dup2(pipefd[1], 1);
    execl("/bin/sh", "sh", "-c", command.c_str(), static_cast<char*>(nullptr));
    _exit(127);
  }
  ::close(pipefd[1]);
  std::string buf;
  buf.reserve(65536);
  char tmp[4096];
  for (;;) {
    ssize_t n = ::read(pipefd[0], tmp, sizeof tmp);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    size_t room = buf.capacity() - buf.size();
    buf.append(tmp, std::min<size_t>(room, static_cast<size_t>(n)));
  }
  wipe(tmp, sizeof tmp);
  ::close(pipefd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    wipe(buf);
    throw Error(Errc::kConfig,
                "passphrase command failed (exit status " +
                    std::to_string(WIFEXITED(status) ? WEXITSTATUS(status) : -1) + ")",
                "check --passphrase-command");
  }
  Secret s = first_line(buf);
  if (s.empty()) throw Error(Errc::kConfig, "passphrase command printed nothing", "check --passphrase-command");
  return s;
}

Secret prompt_secret(std::string_view prompt) {
  int fd = ::open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) {
    throw Error(Errc::kConfig, "no passphrase given and no terminal to ask for one",
                "use --passphrase-file, --passphrase-command, PVESAFE_PASSPHRASE or a systemd "
                "credential pvesafe-passphrase");
  }
  (void)!::write(fd, prompt.data(), prompt.size());
  struct termios old {};
  bool have_termios = tcgetattr(fd, &old) == 0;
  if (have_termios) {
    struct termios noecho = old;
    noecho.c_lflag &= ~static_cast<tcflag_t>(ECHO);
    noecho.c_lflag |= ECHONL;
    tcsetattr(fd, TCSAFLUSH, &noecho);
  }
  std::string buf;
  buf.reserve(4096);
  char c;
  while (buf.size() + 1 < buf.capacity()) {
    ssize_t n = ::read(fd, &c, 1);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0 || c == '\n') break;
    buf.push_back(c);
  }
  c = 0;
  if (have_termios) tcsetattr(fd, TCSAFLUSH, &old);
  ::close(fd);
  return first_line(buf);
}

Secret read_passphrase(const PassphraseOptions& o, PromptMode mode, std::string_view what) {
  if (!o.file.empty()) return read_secret_file(o.file);
  if (!o.command.empty()) return run_secret_command(o.command);
  if (o.use_env && !o.env_var.empty()) {
    if (const char* v = std::getenv(o.env_var.c_str()); v && *v) return Secret(v);
  }
  if (o.use_credential && !o.credential.empty()) {
    if (const char* dir = std::getenv("CREDENTIALS_DIRECTORY"); dir && *dir) {
      std::string path = std::string(dir) + "/" + o.credential;
      if (::access(path.c_str(), F_OK) == 0) {
        // systemd makes credentials readable by the service user only; no mode check needed
        // beyond what read_secret_file does (it refuses group/other access).
        return read_secret_file(path);
      }
    }
  }
  if (o.use_prompt && isatty(0)) {
    std::string w(what);
    Secret first = prompt_secret("Enter " + w + ": ");
    if (first.empty()) throw Error(Errc::kConfig, "empty " + w + " refused");
    if (mode == PromptMode::kConfirm) {
      Secret second = prompt_secret("Repeat " + w + ": ");
      if (first.view() != second.view()) throw Error(Errc::kUsage, "the two passphrases differ", "try again");
    }
    return first;
  }
  throw Error(Errc::kConfig, "no " + std::string(what) + " given",
              "use --passphrase-file (mode 600), --passphrase-command, PVESAFE_PASSPHRASE, the "
              "systemd credential pvesafe-passphrase, or run on a terminal");
}

Secret hex_encode_secret(std::span<const uint8_t> bytes) {
  static const char* digits = "0123456789abcdef";
  std::string s(bytes.size() * 2, '\0');
  for (size_t i = 0; i < bytes.size(); ++i) {
    s[2 * i] = digits[bytes[i] >> 4];
    s[2 * i + 1] = digits[bytes[i] & 15];
  }
  Secret out(s);
  wipe(s);
  return out;
}

}  // namespace pvesafe
