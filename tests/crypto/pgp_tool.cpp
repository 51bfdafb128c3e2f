// Test and benchmark driver for pvesafe's OpenPGP layer.
//
//   pgp_tool encrypt [--strong] [--name NAME] [--partial EXP] IN OUT
//   pgp_tool decrypt IN OUT
//   pgp_tool encrypt-to [--fresh-ephemeral] [--name NAME] PUBLIC-KEY IN OUT
//       encrypts to the public key (PKESK v3 + SEIPD v1)
//   pgp_tool decrypt-key SECRET-KEY IN OUT
//       decrypts with a secret key file; its passphrase (if any) is the first line of the file
//       named by PVESAFE_PGP_KEY_PASSFILE
//   pgp_tool decrypt-agent [--homedir DIR] IN OUT
//       decrypts through gpg-agent (GpgAgentProvider); with PVESAFE_PGP_KEY_PASSFILE set, its
//       first line is given to the agent as the key passphrase (loopback pinentry)
//   pgp_tool decrypt-command COMMAND IN OUT
//       decrypts with session keys from COMMAND (SessionKeyCommand)
//   pgp_tool session-key SECRET-KEY
//       a session key command (session_key_command.h) built on pvesafe: PKESK packets on stdin,
//       ALGO:HEX on stdout; exit 4 when the key does not open them
//   pgp_tool key-info [--at UNIX-TIME] PUBLIC-KEY
//       prints "primary FPR", "encryption FPR ALGO", "expires UNIX-TIME" lines
//   pgp_tool secret-info SECRET-KEY
//       prints "decryption FPR ALGO" lines
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
#include <pty.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <iostream>
#include <span>
#include <string>
#include <vector>

#include "core/error.h"
#include "crypto/gpg_agent.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"
#include "crypto/openpgp_key.h"
#include "crypto/recipient.h"
#include "crypto/s2k.h"
#include "crypto/secret_key_provider.h"
#include "crypto/session_key.h"
#include "crypto/session_key_command.h"

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

pvesafe::Secret key_passphrase() {
  const char* f = std::getenv("PVESAFE_PGP_KEY_PASSFILE");
  if (f == nullptr || *f == 0) return {};
  auto bytes = read_file(f);
  std::string p(bytes.begin(), bytes.end());
  if (!p.empty() && p.back() == '\n') p.pop_back();
  pvesafe::Secret s(p);
  pvesafe::wipe(p);
  return s;
}

pvesafe::crypto::SecretKey load_secret(const std::string& path) {
  auto bytes = read_file(path);
  return pvesafe::crypto::load_secret_key(bytes, key_passphrase());
}

std::vector<uint8_t> read_stdin() {
  std::vector<uint8_t> data;
  char buf[65536];
  for (;;) {
    ssize_t n = ::read(0, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    data.insert(data.end(), buf, buf + n);
  }
  return data;
}

int usage() {
  std::cerr << "usage: pgp_tool encrypt [--strong] [--name NAME] [--partial EXP] IN OUT\n"
               "       pgp_tool decrypt IN OUT\n"
               "       pgp_tool encrypt-to [--fresh-ephemeral] [--name NAME] PUBLIC-KEY IN OUT\n"
               "       pgp_tool decrypt-key SECRET-KEY IN OUT\n"
               "       pgp_tool decrypt-agent [--homedir DIR] IN OUT\n"
               "       pgp_tool decrypt-command COMMAND IN OUT\n"
               "       pgp_tool session-key SECRET-KEY\n"
               "       pgp_tool key-info [--at UNIX-TIME] PUBLIC-KEY\n"
               "       pgp_tool secret-info SECRET-KEY\n"
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
    } else if (cmd == "encrypt-to") {
      pvesafe::crypto::RecipientOptions ro;
      std::string name;
      size_t i = 1;
      for (; i < args.size() && args[i].rfind("--", 0) == 0; ++i) {
        if (args[i] == "--fresh-ephemeral") {
          ro.ecdh_ephemeral_messages = 1;
        } else if (args[i] == "--name" && i + 1 < args.size()) {
          name = args[++i];
        } else {
          return usage();
        }
      }
      if (args.size() - i != 3) return usage();
      pvesafe::crypto::Recipient to(pvesafe::crypto::load_public_key(read_file(args[i])), ro);
      InputFile plain(args[i + 1]);
      write_file(args[i + 2], pvesafe::crypto::encrypt_message_to(to, plain.bytes(), name));
    } else if (cmd == "decrypt-key") {
      if (args.size() != 4) return usage();
      pvesafe::crypto::SecretKeyProvider provider(load_secret(args[1]));
      InputFile message(args[2]);
      write_file(args[3], pvesafe::crypto::decrypt_message(message.bytes(), provider));
    } else if (cmd == "decrypt-agent") {
      pvesafe::crypto::GpgAgentOptions ao;
      size_t i = 1;
      if (args.size() > 2 && args[1] == "--homedir") {
        ao.gnupg_home = args[2];
        i = 3;
      }
      if (args.size() - i != 2) return usage();
      ao.passphrase = key_passphrase();
      pvesafe::crypto::GpgAgentProvider provider(std::move(ao));
      InputFile message(args[i]);
      write_file(args[i + 1], pvesafe::crypto::decrypt_message(message.bytes(), provider));
    } else if (cmd == "decrypt-command") {
      if (args.size() != 4) return usage();
      pvesafe::crypto::SessionKeyCommand provider(args[1]);
      InputFile message(args[2]);
      write_file(args[3], pvesafe::crypto::decrypt_message(message.bytes(), provider));
    } else if (cmd == "session-key") {
      if (args.size() != 2) return usage();
      pvesafe::crypto::SecretKeyProvider provider(load_secret(args[1]));
      auto packets = read_stdin();
      // The input is only session key packets: parse them with a stub encrypted packet behind.
      std::vector<uint8_t> framed = packets;
      for (uint8_t b : {0xD2, 0x01, 0x01}) framed.push_back(b);
      auto pkesks = pvesafe::crypto::pkesk_packets(framed);
      auto key = provider.session_key(pkesks);
      if (!key) {
        std::cerr << "pgp_tool: the secret key does not open these session key packets\n";
        return 4;
      }
      auto text = pvesafe::crypto::format_session_key(*key);
      std::cout << text.view() << "\n";
    } else if (cmd == "key-info") {
      std::time_t at = std::time(nullptr);
      size_t i = 1;
      if (args.size() > 2 && args[1] == "--at") {
        at = static_cast<std::time_t>(std::stoll(args[2]));
        i = 3;
      }
      if (args.size() - i != 1) return usage();
      auto key = pvesafe::crypto::load_public_key(read_file(args[i]), at);
      std::cout << "primary " << pvesafe::crypto::fingerprint_hex(key.primary().fingerprint) << "\n"
                << "encryption "
                << pvesafe::crypto::fingerprint_hex(key.encryption_key().fingerprint) << " "
                << key.encryption_key().algorithm_name << "\n"
                << "expires " << key.encryption_key().expires << "\n";
      for (const auto& uid : key.user_ids()) std::cout << "uid " << uid << "\n";
    } else if (cmd == "secret-info") {
      if (args.size() != 2) return usage();
      auto key = load_secret(args[1]);
      for (const auto& k : key.decryption_keys()) {
        std::cout << "decryption " << pvesafe::crypto::fingerprint_hex(k.fingerprint) << " "
                  << k.algorithm_name << "\n";
      }
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
