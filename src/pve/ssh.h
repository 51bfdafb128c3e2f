// SSH and SFTP to PVE nodes (libssh): archives stream from a node into a backup and from a
// restore into a node without a temporary copy on this machine.
//
// Host keys are always checked against a known_hosts file (OpenSSH format; "[host]:port" for
// non-standard ports); an unknown or changed key is refused (kAuth) with the fingerprint the
// node presented. Authentication is by private key only.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/byte_stream.h"

namespace pvesafe::pve {

struct SshOptions {
  std::string host;  // address to connect to
  int port = 22;
  std::string user = "root";
  std::string key_file;     // private key (OpenSSH format, no passphrase)
  std::string known_hosts;  // required
  std::chrono::seconds timeout{20};
  std::string node;  // PVE node name, for messages
};

class SshSession {
 public:
  // Connects, checks the host key, authenticates. Errors: kTransient (cannot connect), kAuth
  // (host key unknown/changed, key refused), kConfig (unreadable key or known_hosts).
  explicit SshSession(const SshOptions& options);
  ~SshSession();
  SshSession(const SshSession&) = delete;
  SshSession& operator=(const SshSession&) = delete;

  // Size of a remote file; nullopt when it does not exist.
  std::optional<uint64_t> stat(const std::string& path);
  // Removes a remote file; a missing file is not an error.
  void remove(const std::string& path);
  void rename(const std::string& from, const std::string& to);
  // Runs a command (no shell quoting is added); returns its exit status, stdout in *out.
  int exec(const std::string& command, std::string* out = nullptr, std::string* err = nullptr);

  // File system of the node, for small configuration files (/etc/pve, /etc/network): entries
  // are not followed when they are symbolic links (lstat semantics).
  struct Entry {
    std::string name;  // base name (list) or the path asked for (lstat)
    enum class Type { kFile, kDirectory, kSymlink, kOther } type = Type::kOther;
    uint32_t mode = 0;  // permission bits (07777)
    uint32_t uid = 0, gid = 0;
    uint64_t size = 0;
    int64_t mtime = 0;
  };
  // nullopt when the path does not exist.
  std::optional<Entry> lstat(const std::string& path);
  // The entries of a directory, without "." and "..", sorted by name. kNotFound when missing.
  std::vector<Entry> list(const std::string& dir);
  std::string readlink(const std::string& path);
  // The whole file; kUnsupported when it is larger than max_bytes, kNotFound when missing.
  std::string read_file(const std::string& path, uint64_t max_bytes = 64ull << 20);
  // Writes PATH.partial and renames it over PATH (mode applies to a new file).
  void write_file(const std::string& path, const std::string& content, uint32_t mode = 0600);
  // Creates a directory and its missing parents.
  void mkdirs(const std::string& dir, uint32_t mode = 0755);

  const SshOptions& options() const { return opt_; }
  std::string describe() const;  // "root@127.0.0.1:2222 (node pve-01)"

  struct Handles;
  Handles& handles();

 private:
  SshOptions opt_;
  std::unique_ptr<Handles> h_;
};

// Reads a remote file over SFTP with several reads in flight. Verifies at the end that it read
// exactly the size the file had when opened (kIntegrity otherwise).
class SftpSource : public ByteSource {
 public:
  SftpSource(SshSession& session, const std::string& path);
  ~SftpSource() override;
  size_t read(uint8_t* buf, size_t n) override;
  std::string name() const override;
  std::optional<uint64_t> size_hint() const override { return size_; }
  uint64_t bytes_read() const { return done_; }

 private:
  void issue();
  SshSession& session_;
  std::string path_;
  void* file_ = nullptr;
  uint64_t size_ = 0;
  uint64_t issued_ = 0;
  uint64_t done_ = 0;
  std::deque<std::pair<uint32_t, uint32_t>> pending_;  // (request id, length)
  std::vector<uint8_t> buf_;
  size_t buf_pos_ = 0;
  bool eof_ = false;
};

// Writes a remote file over SFTP: PATH.partial (mode 0600), renamed to PATH in finish().
// Destroyed without finish(): the partial file is removed.
class SftpSink : public ByteSink {
 public:
  SftpSink(SshSession& session, const std::string& path);
  ~SftpSink() override;
  void write(const uint8_t* buf, size_t n) override;
  void finish() override;
  uint64_t bytes_written() const { return written_; }
  const std::string& path() const { return path_; }

 private:
  SshSession& session_;
  std::string path_;
  std::string partial_;
  void* file_ = nullptr;
  uint64_t written_ = 0;
  bool finished_ = false;
};

// "--ssh-host NODE=HOST[:PORT]" entries.
struct NodeAddress {
  std::string host;
  int port = 0;  // 0: the default port
};
NodeAddress parse_host_port(const std::string& s);

}  // namespace pvesafe::pve
