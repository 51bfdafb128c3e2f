// Secret holds a passphrase, key or token and wipes its memory when destroyed. It never prints:
// there is no operator<<, and error messages must not include view().
//
// Passphrase sources, in the order read_passphrase() tries them (never argv):
//   1. --passphrase-file FILE    first line of FILE; refused (kConfig) if group/other can read it
//   2. --passphrase-command CMD  run via /bin/sh -c, first line of its stdout; non-zero exit: kConfig
//   3. env PVESAFE_PASSPHRASE
//   4. systemd credential $CREDENTIALS_DIRECTORY/pvesafe-passphrase (LoadCredential=)
//   5. an interactive prompt on the controlling terminal, without echo (asked twice to confirm
//      when a new passphrase is chosen)
// No source available: kConfig naming the options.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace pvesafe {

class Secret {
 public:
  Secret() = default;
  explicit Secret(std::string_view value);
  Secret(const Secret& other);
  Secret& operator=(const Secret& other);
  Secret(Secret&& other) noexcept;
  Secret& operator=(Secret&& other) noexcept;
  ~Secret();

  std::string_view view() const { return {data_, size_}; }
  std::span<const uint8_t> bytes() const {
    return {reinterpret_cast<const uint8_t*>(data_), size_};
  }
  bool empty() const { return size_ == 0; }
  size_t size() const { return size_; }
  void clear();

 private:
  void assign(const char* p, size_t n);
  char* data_ = nullptr;
  size_t size_ = 0;
};

// Wipes memory the optimiser may not elide (OPENSSL_cleanse).
void wipe(void* p, size_t n);
void wipe(std::string& s);

struct PassphraseOptions {
  std::string file;     // --passphrase-file
  std::string command;  // --passphrase-command
  // Variable and credential names, so other secrets (e.g. a new passphrase for `key add`) can
  // use the same machinery.
  std::string env_var = "PVESAFE_PASSPHRASE";
  std::string credential = "pvesafe-passphrase";
  bool use_env = true;
  bool use_credential = true;
  bool use_prompt = true;
};

enum class PromptMode { kOnce, kConfirm };

// Reads the passphrase from the first configured source (see above). `what` names it in
// prompts and messages ("repository passphrase"). Throws kConfig when no source yields one, when
// a file is readable by group/other ("chmod 600 FILE"), or when the passphrase is empty;
// kUsage when kConfirm prompts disagree.
Secret read_passphrase(const PassphraseOptions& options, PromptMode mode = PromptMode::kOnce,
                       std::string_view what = "repository passphrase");

// First line of a secret file (trailing CR/LF stripped). Refuses (kConfig) a file that group or
// other may read; kIo when it cannot be read.
Secret read_secret_file(const std::string& path);

// The whole content of a secret file (e.g. an OpenPGP secret key, binary or armored), at most
// 1 MiB, with the same checks as read_secret_file.
Secret read_secret_blob(const std::string& path);

// First line of stdout of `/bin/sh -c command`; kConfig on non-zero exit or empty output.
Secret run_secret_command(const std::string& command);

// Reads a line from the terminal (/dev/tty) with echo off. kConfig when there is no terminal.
Secret prompt_secret(std::string_view prompt);

// Hex encoding helpers for secrets stored as hex in key files.
Secret hex_encode_secret(std::span<const uint8_t> bytes);

}  // namespace pvesafe
