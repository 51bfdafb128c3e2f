// Test and benchmark driver for pvesafe's OpenPGP layer.
//
//   pgp_tool encrypt [--strong] [--name NAME] [--partial EXP] IN OUT
//   pgp_tool decrypt IN OUT
//   pgp_tool bench-encrypt|bench-decrypt IN OUT RUNS   (prints seconds per run, one a line)
//   pgp_tool pty COMMAND [ARGS...]
//       runs COMMAND on a new pseudo-terminal and answers each password prompt on it with the
//       passphrase (sq 0.27 reads passwords only from its terminal); the passphrase is masked in
//       the relayed terminal output; exits with the command's status.
//
// The passphrase is read from the file named by PVESAFE_PGP_PASSFILE (one trailing newline is
// dropped, like the first line gpg --passphrase-file reads). Errors print one line on stderr and
// exit with pvesafe's exit code for the error category.
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "core/error.h"
#include "crypto/openpgp.h"
#include "crypto/openpgp_internal.h"
#include "crypto/s2k.h"

namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw pvesafe::Error(pvesafe::Errc::kIo, "cannot open " + path);
  std::vector<uint8_t> data;
  std::vector<char> buf(1 << 20);
  while (in) {
    in.read(buf.data(), static_cast<std::streamsize>(buf.size()));
    data.insert(data.end(), buf.begin(), buf.begin() + in.gcount());
  }
  if (in.bad()) throw pvesafe::Error(pvesafe::Errc::kIo, "cannot read " + path);
  return data;
}

void write_file(const std::string& path, const std::vector<uint8_t>& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(data.data()), static_cast<std::streamsize>(data.size()));
  out.close();
  if (!out) throw pvesafe::Error(pvesafe::Errc::kIo, "cannot write " + path);
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
               "       pgp_tool bench-encrypt|bench-decrypt IN OUT RUNS\n"
               "       pgp_tool pty COMMAND [ARGS...]\n";
  return 2;
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
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
      auto plain = read_file(args[i]);
      uint8_t count = strong ? pvesafe::crypto::detail::kS2kCountStrong
                             : pvesafe::crypto::detail::kS2kCountFast;
      write_file(args[i + 1], pvesafe::crypto::detail::encrypt_message_with(
                                  plain, passphrase(), count, name, partial));
    } else if (cmd == "decrypt") {
      if (args.size() != 3) return usage();
      write_file(args[2], pvesafe::crypto::decrypt_message(read_file(args[1]), passphrase()));
    } else if (cmd == "pty") {
      if (args.size() < 2) return usage();
      return run_on_pty(std::vector<std::string>(args.begin() + 1, args.end()), passphrase());
    } else if (cmd == "bench-encrypt" || cmd == "bench-decrypt") {
      if (args.size() != 4) return usage();
      auto in = read_file(args[1]);
      int runs = std::stoi(args[3]);
      std::string pass = passphrase();
      std::vector<uint8_t> out;
      for (int r = 0; r < runs; ++r) {
        out.clear();
        out.shrink_to_fit();
        auto t0 = std::chrono::steady_clock::now();
        out = cmd == "bench-encrypt"
                  ? pvesafe::crypto::encrypt_message(in, pass, pvesafe::crypto::S2kStrength::kFast)
                  : pvesafe::crypto::decrypt_message(in, pass);
        std::printf("%.6f\n", seconds_since(t0));
      }
      write_file(args[2], out);
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
