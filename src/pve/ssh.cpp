#include "pve/ssh.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <libssh/libssh.h>
#include <libssh/sftp.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstring>

#include "core/error.h"

namespace pvesafe::pve {

namespace {
constexpr uint32_t kReadRequestBytes = 64 * 1024;
constexpr size_t kReadsInFlight = 32;
// One round trip per write (libssh 0.10 has no pipelined writes): large writes, below
// OpenSSH's 256 KiB message limit.
constexpr size_t kWriteBytes = 240 * 1024;

std::string base_name(const std::string& path) {
  auto p = path.find_last_of('/');
  return p == std::string::npos ? path : path.substr(p + 1);
}
}  // namespace

struct SshSession::Handles {
  ssh_session session = nullptr;
  sftp_session sftp = nullptr;
  ~Handles() {
    if (sftp) sftp_free(sftp);
    if (session) {
      ssh_disconnect(session);
      ssh_free(session);
    }
  }
};

SshSession::Handles& SshSession::handles() { return *h_; }

std::string SshSession::describe() const {
  std::string s = fmt::format("{}@{}:{}", opt_.user, opt_.host, opt_.port);
  if (!opt_.node.empty()) s += fmt::format(" (node {})", opt_.node);
  return s;
}

NodeAddress parse_host_port(const std::string& s) {
  NodeAddress a;
  if (!s.empty() && s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string::npos) throw Error(Errc::kUsage, fmt::format("bad address '{}'", s));
    a.host = s.substr(1, close - 1);
    if (close + 1 < s.size() && s[close + 1] == ':') a.port = std::stoi(s.substr(close + 2));
    return a;
  }
  auto colon = s.rfind(':');
  if (colon != std::string::npos && s.find(':') == colon) {
    a.host = s.substr(0, colon);
    try {
      a.port = std::stoi(s.substr(colon + 1));
    } catch (const std::exception&) {
      throw Error(Errc::kUsage, fmt::format("bad port in address '{}'", s));
    }
  } else {
    a.host = s;
  }
  return a;
}

SshSession::SshSession(const SshOptions& options) : opt_(options), h_(std::make_unique<Handles>()) {
  if (opt_.known_hosts.empty()) {
    throw Error(Errc::kConfig, fmt::format("no known_hosts file for SSH to {}", describe()),
                "pass --ssh-known-hosts FILE; host keys are always checked");
  }
  struct stat st {};
  if (::stat(opt_.known_hosts.c_str(), &st) != 0) {
    throw Error(Errc::kConfig, fmt::format("cannot read known_hosts file {}", opt_.known_hosts),
                "create it with `ssh-keyscan -p PORT HOST >> FILE` and compare the fingerprint "
                "with the node's /etc/ssh/ssh_host_*_key.pub");
  }
  if (opt_.key_file.empty()) {
    throw Error(Errc::kConfig, fmt::format("no SSH private key for {}", describe()),
                "pass --ssh-key FILE (or the systemd credential ssh-key)");
  }
  ssh_session s = ssh_new();
  if (!s) throw Error(Errc::kInternal, "ssh_new failed");
  h_->session = s;
  int port = opt_.port;
  long timeout = static_cast<long>(opt_.timeout.count());
  int no = 0;
  ssh_options_set(s, SSH_OPTIONS_HOST, opt_.host.c_str());
  ssh_options_set(s, SSH_OPTIONS_PORT, &port);
  ssh_options_set(s, SSH_OPTIONS_USER, opt_.user.c_str());
  ssh_options_set(s, SSH_OPTIONS_TIMEOUT, &timeout);
  ssh_options_set(s, SSH_OPTIONS_PROCESS_CONFIG, &no);
  // SFTP is request/response: without TCP_NODELAY every write waits for a delayed ACK (~40 ms).
  int yes = 1;
  ssh_options_set(s, SSH_OPTIONS_NODELAY, &yes);
  ssh_options_set(s, SSH_OPTIONS_KNOWNHOSTS, opt_.known_hosts.c_str());
  // Only the given file decides; the system-wide file is not consulted.
  ssh_options_set(s, SSH_OPTIONS_GLOBAL_KNOWNHOSTS, opt_.known_hosts.c_str());
  if (ssh_connect(s) != SSH_OK) {
    throw Error(Errc::kTransient,
                fmt::format("cannot connect over SSH to {}: {}", describe(), ssh_get_error(s)),
                "check the node's address (--ssh-host NODE=HOST[:PORT]) and that sshd runs");
  }
  // Host key check.
  ssh_key srv = nullptr;
  std::string fp = "?";
  if (ssh_get_server_publickey(s, &srv) == SSH_OK) {
    unsigned char* hash = nullptr;
    size_t hlen = 0;
    if (ssh_get_publickey_hash(srv, SSH_PUBLICKEY_HASH_SHA256, &hash, &hlen) == 0) {
      char* f = ssh_get_fingerprint_hash(SSH_PUBLICKEY_HASH_SHA256, hash, hlen);
      if (f) {
        fp = f;
        ssh_string_free_char(f);
      }
      ssh_clean_pubkey_hash(&hash);
    }
    ssh_key_free(srv);
  }
  switch (ssh_session_is_known_server(s)) {
    case SSH_KNOWN_HOSTS_OK:
      break;
    case SSH_KNOWN_HOSTS_CHANGED:
    case SSH_KNOWN_HOSTS_OTHER:
      throw Error(Errc::kAuth,
                  fmt::format("SSH host key of {} ({}) does NOT match the entry in {}", describe(),
                              fp, opt_.known_hosts),
                  "if the node was reinstalled, verify the new key on its console and replace "
                  "the entry; otherwise someone may be intercepting the connection");
    case SSH_KNOWN_HOSTS_UNKNOWN:
    case SSH_KNOWN_HOSTS_NOT_FOUND:
      throw Error(
          Errc::kAuth,
          fmt::format("SSH host key of {} ({}) is not in {}", describe(), fp, opt_.known_hosts),
          "verify the fingerprint on the node (ssh-keygen -lf "
          "/etc/ssh/ssh_host_ed25519_key.pub) and add the key to the known_hosts file");
    default:
      throw Error(Errc::kConfig, fmt::format("cannot check the SSH host key of {} against {}: {}",
                                             describe(), opt_.known_hosts, ssh_get_error(s)));
  }
  ssh_key key = nullptr;
  if (ssh_pki_import_privkey_file(opt_.key_file.c_str(), nullptr, nullptr, nullptr, &key) !=
      SSH_OK) {
    throw Error(Errc::kConfig, fmt::format("cannot read SSH private key {}", opt_.key_file),
                "it must be an unencrypted OpenSSH private key readable by this user");
  }
  int rc = ssh_userauth_publickey(s, nullptr, key);
  ssh_key_free(key);
  if (rc != SSH_AUTH_SUCCESS) {
    throw Error(Errc::kAuth, fmt::format("SSH key {} refused by {}", opt_.key_file, describe()),
                "add the public key to the node's ~/.ssh/authorized_keys (or "
                "/etc/pve/priv/authorized_keys)");
  }
  h_->sftp = sftp_new(s);
  if (!h_->sftp || sftp_init(h_->sftp) != SSH_OK) {
    throw Error(Errc::kRemote,
                fmt::format("cannot start SFTP on {}: {}", describe(), ssh_get_error(s)),
                "enable the sftp subsystem in the node's sshd_config");
  }
}

SshSession::~SshSession() = default;

std::optional<uint64_t> SshSession::stat(const std::string& path) {
  sftp_attributes a = sftp_stat(h_->sftp, path.c_str());
  if (!a) {
    if (sftp_get_error(h_->sftp) == SSH_FX_NO_SUCH_FILE) return std::nullopt;
    throw Error(Errc::kRemote, fmt::format("cannot stat {} on {}: {}", path, describe(),
                                           ssh_get_error(h_->session)));
  }
  uint64_t size = a->size;
  sftp_attributes_free(a);
  return size;
}

void SshSession::remove(const std::string& path) {
  if (sftp_unlink(h_->sftp, path.c_str()) != SSH_OK &&
      sftp_get_error(h_->sftp) != SSH_FX_NO_SUCH_FILE) {
    throw Error(Errc::kRemote, fmt::format("cannot remove {} on {}: {}", path, describe(),
                                           ssh_get_error(h_->session)));
  }
}

void SshSession::rename(const std::string& from, const std::string& to) {
  // SFTP v3 rename refuses an existing target.
  remove(to);
  if (sftp_rename(h_->sftp, from.c_str(), to.c_str()) != SSH_OK) {
    throw Error(Errc::kRemote, fmt::format("cannot rename {} to {} on {}: {}", from, to, describe(),
                                           ssh_get_error(h_->session)));
  }
}

int SshSession::exec(const std::string& command, std::string* out, std::string* err) {
  ssh_channel ch = ssh_channel_new(h_->session);
  if (!ch) throw Error(Errc::kRemote, fmt::format("cannot open SSH channel to {}", describe()));
  struct Guard {
    ssh_channel c;
    ~Guard() {
      ssh_channel_close(c);
      ssh_channel_free(c);
    }
  } guard{ch};
  if (ssh_channel_open_session(ch) != SSH_OK ||
      ssh_channel_request_exec(ch, command.c_str()) != SSH_OK) {
    throw Error(Errc::kRemote, fmt::format("cannot run a command on {}: {}", describe(),
                                           ssh_get_error(h_->session)));
  }
  ssh_channel_send_eof(ch);
  char buf[16384];
  for (int is_err = 0; is_err < 2; ++is_err) {
    while (true) {
      int n = ssh_channel_read(ch, buf, sizeof buf, is_err);
      if (n < 0) {
        throw Error(Errc::kRemote, fmt::format("reading command output from {} failed: {}",
                                               describe(), ssh_get_error(h_->session)));
      }
      if (n == 0) break;
      std::string* dst = is_err ? err : out;
      if (dst) dst->append(buf, static_cast<size_t>(n));
    }
  }
  return ssh_channel_get_exit_status(ch);
}

namespace {
SshSession::Entry entry_from(sftp_attributes a, const std::string& name) {
  SshSession::Entry e;
  e.name = name;
  switch (a->type) {
    case SSH_FILEXFER_TYPE_REGULAR:
      e.type = SshSession::Entry::Type::kFile;
      break;
    case SSH_FILEXFER_TYPE_DIRECTORY:
      e.type = SshSession::Entry::Type::kDirectory;
      break;
    case SSH_FILEXFER_TYPE_SYMLINK:
      e.type = SshSession::Entry::Type::kSymlink;
      break;
    default:
      // SFTP v3 servers leave the type out; the permission bits carry it.
      switch (a->permissions & S_IFMT) {
        case S_IFREG:
          e.type = SshSession::Entry::Type::kFile;
          break;
        case S_IFDIR:
          e.type = SshSession::Entry::Type::kDirectory;
          break;
        case S_IFLNK:
          e.type = SshSession::Entry::Type::kSymlink;
          break;
        default:
          e.type = SshSession::Entry::Type::kOther;
      }
  }
  e.mode = a->permissions & 07777;
  e.uid = a->uid;
  e.gid = a->gid;
  e.size = a->size;
  e.mtime = static_cast<int64_t>(a->mtime);
  return e;
}
}  // namespace

std::optional<SshSession::Entry> SshSession::lstat(const std::string& path) {
  sftp_attributes a = sftp_lstat(h_->sftp, path.c_str());
  if (!a) {
    if (sftp_get_error(h_->sftp) == SSH_FX_NO_SUCH_FILE) return std::nullopt;
    throw Error(Errc::kRemote, fmt::format("cannot stat {} on {}: {}", path, describe(),
                                           ssh_get_error(h_->session)));
  }
  Entry e = entry_from(a, path);
  sftp_attributes_free(a);
  return e;
}

std::vector<SshSession::Entry> SshSession::list(const std::string& dir) {
  sftp_dir d = sftp_opendir(h_->sftp, dir.c_str());
  if (!d) {
    Errc code = sftp_get_error(h_->sftp) == SSH_FX_NO_SUCH_FILE ? Errc::kNotFound : Errc::kRemote;
    throw Error(
        code, fmt::format("cannot list {} on {}: {}", dir, describe(), ssh_get_error(h_->session)));
  }
  std::vector<Entry> out;
  while (sftp_attributes a = sftp_readdir(h_->sftp, d)) {
    std::string name = a->name ? a->name : "";
    if (!name.empty() && name != "." && name != "..") out.push_back(entry_from(a, name));
    sftp_attributes_free(a);
  }
  bool eof = sftp_dir_eof(d);
  sftp_closedir(d);
  if (!eof) {
    throw Error(Errc::kRemote, fmt::format("listing {} on {} stopped early: {}", dir, describe(),
                                           ssh_get_error(h_->session)));
  }
  std::sort(out.begin(), out.end(), [](const Entry& a, const Entry& b) { return a.name < b.name; });
  return out;
}

std::string SshSession::readlink(const std::string& path) {
  char* t = sftp_readlink(h_->sftp, path.c_str());
  if (!t) {
    throw Error(Errc::kRemote, fmt::format("cannot read the link {} on {}: {}", path, describe(),
                                           ssh_get_error(h_->session)));
  }
  std::string s = t;
  ssh_string_free_char(t);
  return s;
}

std::string SshSession::read_file(const std::string& path, uint64_t max_bytes) {
  SftpSource src(*this, path);
  if (src.size_hint() && *src.size_hint() > max_bytes) {
    throw Error(Errc::kUnsupported,
                fmt::format("{} on {} is {} bytes, more than the {} bytes expected of it", path,
                            describe(), *src.size_hint(), max_bytes));
  }
  std::string out;
  out.resize(static_cast<size_t>(src.size_hint().value_or(0)));
  size_t got = read_full(src, reinterpret_cast<uint8_t*>(out.data()), out.size());
  out.resize(got);
  return out;
}

void SshSession::write_file(const std::string& path, const std::string& content, uint32_t mode) {
  SftpSink sink(*this, path);
  sink.write(reinterpret_cast<const uint8_t*>(content.data()), content.size());
  if (mode != 0600) {
    if (sftp_chmod(h_->sftp, (path + ".partial").c_str(), mode) != SSH_OK) {
      throw Error(Errc::kRemote, fmt::format("cannot set the mode of {} on {}: {}", path,
                                             describe(), ssh_get_error(h_->session)));
    }
  }
  sink.finish();
}

void SshSession::mkdirs(const std::string& dir, uint32_t mode) {
  if (dir.empty() || dir == "/") return;
  if (auto e = lstat(dir)) {
    if (e->type == Entry::Type::kDirectory) return;
    throw Error(Errc::kRemote, fmt::format("{} on {} is not a directory", dir, describe()));
  }
  auto slash = dir.find_last_of('/');
  if (slash != std::string::npos && slash > 0) mkdirs(dir.substr(0, slash), mode);
  if (sftp_mkdir(h_->sftp, dir.c_str(), mode) != SSH_OK &&
      sftp_get_error(h_->sftp) != SSH_FX_FILE_ALREADY_EXISTS) {
    throw Error(Errc::kRemote, fmt::format("cannot create the directory {} on {}: {}", dir,
                                           describe(), ssh_get_error(h_->session)));
  }
}

// ---- SftpSource ----------------------------------------------------------------------------

SftpSource::SftpSource(SshSession& session, const std::string& path)
    : session_(session), path_(path) {
  auto& h = session_.handles();
  sftp_file f = sftp_open(h.sftp, path.c_str(), O_RDONLY, 0);
  if (!f) {
    Errc code = sftp_get_error(h.sftp) == SSH_FX_NO_SUCH_FILE ? Errc::kNotFound : Errc::kRemote;
    throw Error(code, fmt::format("cannot open {} on {}: {}", path, session_.describe(),
                                  ssh_get_error(h.session)));
  }
  file_ = f;
  sftp_attributes a = sftp_fstat(f);
  if (!a) {
    throw Error(Errc::kRemote, fmt::format("cannot stat {} on {}", path, session_.describe()));
  }
  size_ = a->size;
  sftp_attributes_free(a);
  buf_.reserve(kReadRequestBytes);
}

SftpSource::~SftpSource() {
  if (file_) sftp_close(static_cast<sftp_file>(file_));
}

std::string SftpSource::name() const { return base_name(path_); }

void SftpSource::issue() {
  auto f = static_cast<sftp_file>(file_);
  while (pending_.size() < kReadsInFlight && issued_ < size_) {
    uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(kReadRequestBytes, size_ - issued_));
    int id = sftp_async_read_begin(f, len);
    if (id < 0) {
      throw Error(Errc::kRemote,
                  fmt::format("SFTP read of {} on {} failed: {}", path_, session_.describe(),
                              ssh_get_error(session_.handles().session)));
    }
    pending_.emplace_back(static_cast<uint32_t>(id), len);
    issued_ += len;
  }
}

size_t SftpSource::read(uint8_t* out, size_t n) {
  if (buf_pos_ == buf_.size()) {
    buf_.clear();
    buf_pos_ = 0;
    if (done_ >= size_ || eof_) return 0;
    issue();
    if (pending_.empty()) return 0;
    auto [id, len] = pending_.front();
    pending_.pop_front();
    buf_.resize(len);
    int got = sftp_async_read(static_cast<sftp_file>(file_), buf_.data(), len, id);
    if (got < 0) {
      throw Error(Errc::kRemote,
                  fmt::format("SFTP read of {} on {} failed: {}", path_, session_.describe(),
                              ssh_get_error(session_.handles().session)));
    }
    if (static_cast<uint32_t>(got) != len) {
      // Requests after this one were issued at fixed offsets: a short read would leave a hole.
      throw Error(Errc::kIntegrity,
                  fmt::format("{} on {} shrank while it was read ({} of {} bytes)", path_,
                              session_.describe(), done_ + static_cast<uint64_t>(got), size_),
                  "the archive changed during the transfer; run the backup again");
    }
    buf_.resize(static_cast<size_t>(got));
    done_ += static_cast<uint64_t>(got);
  }
  size_t k = std::min(n, buf_.size() - buf_pos_);
  std::memcpy(out, buf_.data() + buf_pos_, k);
  buf_pos_ += k;
  return k;
}

// ---- SftpSink --------------------------------------------------------------------------------

SftpSink::SftpSink(SshSession& session, const std::string& path)
    : session_(session), path_(path), partial_(path + ".partial") {
  auto& h = session_.handles();
  sftp_file f = sftp_open(h.sftp, partial_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  if (!f) {
    throw Error(Errc::kRemote,
                fmt::format("cannot create {} on {}: {}", partial_, session_.describe(),
                            ssh_get_error(h.session)),
                "check that the storage's dump directory exists and has space");
  }
  file_ = f;
}

SftpSink::~SftpSink() {
  if (file_) sftp_close(static_cast<sftp_file>(file_));
  if (!finished_) {
    try {
      session_.remove(partial_);
    } catch (...) {
    }
  }
}

void SftpSink::write(const uint8_t* buf, size_t n) {
  auto f = static_cast<sftp_file>(file_);
  while (n > 0) {
    size_t k = std::min(n, kWriteBytes);
    ssize_t w = sftp_write(f, buf, k);
    if (w <= 0) {
      throw Error(
          Errc::kRemote,
          fmt::format("writing {} on {} failed after {} bytes: {}", partial_, session_.describe(),
                      written_, ssh_get_error(session_.handles().session)),
          "check free space in the storage's dump directory");
    }
    // A server may accept less than asked for (it caps its message size): go on from there.
    buf += w;
    n -= static_cast<size_t>(w);
    written_ += static_cast<uint64_t>(w);
  }
}

void SftpSink::finish() {
  if (sftp_close(static_cast<sftp_file>(file_)) != SSH_OK) {
    file_ = nullptr;
    throw Error(Errc::kRemote,
                fmt::format("closing {} on {} failed", partial_, session_.describe()));
  }
  file_ = nullptr;
  session_.rename(partial_, path_);
  finished_ = true;
}

}  // namespace pvesafe::pve
