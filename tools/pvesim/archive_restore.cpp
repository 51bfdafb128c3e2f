// Reading vzdump archives back (see archive.h): the config they hold, and the whole archive as
// qmrestore / pct restore read it.
#include <fcntl.h>
#include <sys/time.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <map>
#include <memory>

#include "archive.h"
#include "common.h"
#include "guest_disks.h"
#include "proc.h"
#include "vma_reader.h"

namespace pvesim {

namespace {

enum class Comp { kNone, kZstd, kGzip, kLzo };

struct Fd {
  int fd = -1;
  explicit Fd(int f) : fd(f) {}
  ~Fd() {
    if (fd >= 0) close(fd);
  }
};

int open_archive(const std::string& path) {
  int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw std::runtime_error("can't open file " + path + " - " + std::strerror(errno));
  return fd;
}

Comp compression_of(const std::string& path) {
  Fd f(open_archive(path));
  unsigned char m[4] = {};
  ssize_t n = pread(f.fd, m, 4, 0);
  if (n >= 4 && m[0] == 0x28 && m[1] == 0xb5 && m[2] == 0x2f && m[3] == 0xfd) return Comp::kZstd;
  if (n >= 2 && m[0] == 0x1f && m[1] == 0x8b) return Comp::kGzip;
  if (n >= 4 && m[0] == 0x89 && m[1] == 'L' && m[2] == 'Z' && m[3] == 'O') return Comp::kLzo;
  return Comp::kNone;
}

// The decompressor qmrestore runs (PVE::Storage::decompressor_info).
std::vector<std::string> decompressor(Comp c, const std::string& path) {
  switch (c) {
    case Comp::kZstd:
      return {"zstd", "-q", "-d", "-c", path};
    case Comp::kGzip:
      return {"zcat", path};
    case Comp::kLzo:
      return {"lzop", "-d", "-c", path};
    default:
      return {};
  }
}

// GNU tar's own option for the compression (pct restore lets tar decompress).
std::vector<std::string> tar_compression(Comp c) {
  switch (c) {
    case Comp::kZstd:
      return {"--zstd"};
    case Comp::kGzip:
      return {"-z"};
    case Comp::kLzo:
      return {"--lzop"};
    default:
      return {};
  }
}

// The decompressed stream: the decompressor's output, or the file itself.
struct Stream {
  std::unique_ptr<Child> child;
  std::unique_ptr<Fd> file;
  std::string command;  // the decompressor command ("" when none)
  int fd() const { return child ? child->out_fd() : file->fd; }
  explicit Stream(const std::string& path) {
    auto cmd = decompressor(compression_of(path), path);
    if (cmd.empty()) {
      file = std::make_unique<Fd>(open_archive(path));
    } else {
      child = std::make_unique<Child>(cmd, -1, Child::kPipe);
      command = child->command();
    }
  }
  // Exit status of the decompressor after we stopped reading (0 when there is none).
  int finish() {
    if (!child) return 0;
    child->close_out();
    return child->wait();
  }
};

bool is_vma(const std::string& path) {
  Stream s(path);
  unsigned char m[4] = {};
  size_t n = read_full(s.fd(), m, 4);
  return n == 4 && std::memcmp(m, "VMA\0", 4) == 0;
}

std::string tar_config(const std::string& path, int* status, std::string* err) {
  Fd in(open_archive(path));
  std::vector<std::string> cmd = {"tar", "-x", "-O", "-f", "-"};
  for (const auto& o : tar_compression(compression_of(path))) cmd.push_back(o);
  cmd.push_back("--occurrence=1");
  cmd.push_back("./etc/vzdump/pct.conf");
  Child tar(cmd, in.fd, Child::kPipe);
  std::string out;
  char buf[65536];
  for (ssize_t n; (n = read(tar.out_fd(), buf, sizeof buf)) > 0;)
    out.append(buf, static_cast<size_t>(n));
  tar.close_out();
  *status = tar.wait();
  *err = tar.stderr_text();
  return out;
}

std::string clock_text() {
  timeval tv{};
  gettimeofday(&tv, nullptr);
  std::tm tm{};
  time_t t = tv.tv_sec;
  localtime_r(&t, &tm);
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d:%02d.%03d", tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(tv.tv_usec / 1000));
  return buf;
}

std::string ctime_text(int64_t t) {
  time_t tt = static_cast<time_t>(t);
  char buf[64];
  std::tm tm{};
  localtime_r(&tt, &tm);
  std::strftime(buf, sizeof buf, "%a %b %e %H:%M:%S %Y", &tm);
  return buf;
}

RestoredArchive restore_vma(const std::string& path, int vmid, const std::string& scratch,
                            const std::function<void(const std::string&)>& log,
                            const std::string& storage_override) {
  RestoredArchive res;
  std::string tmp = "/var/tmp/vzdumptmp" + std::to_string(getpid());
  Stream in(path);
  std::string extract = "vma extract -v -r " + tmp + ".fifo " +
                        (in.command.empty() ? shell_quote(path) : std::string("-")) + " " + tmp;
  std::string shown = in.command.empty() ? extract : in.command + " | " + extract;
  std::string cmdline = in.command.empty() ? extract : "set -o pipefail && " + shown;
  log("restore vma archive: " + shown);
  std::string error;
  VmaContents c;
  const std::string default_storage = "local-lvm";
  auto started = std::chrono::steady_clock::now();
  VmaReadHooks hooks;
  hooks.header = [&](const VmaContents& h) {
    for (const auto& [name, data] : h.configs)
      log("CFG: size: " + std::to_string(data.size()) + " name: " + name);
    for (const auto& d : h.devices)
      log("DEV: dev_id=" + std::to_string(d.dev_id) + " size: " + std::to_string(d.size) +
          " devname: " + d.name);
    log("CTIME: " + ctime_text(h.ctime));
    // Where each disk goes: vzdump's "#qmdump#map:KEY:DEVNAME:STORAGE:FORMAT:" lines.
    std::map<std::string, std::string> target;
    for (const auto& [name, data] : h.configs)
      if (name == "qemu-server.conf")
        for (const auto& line : split(data, '\n')) {
          auto f = split(line, ':');
          if (f.size() >= 4 && f[0] == "#qmdump#map" && !f[3].empty()) target[f[2]] = f[3];
        }
    int n = 0;
    for (const auto& d : h.devices) {
      std::string vol = "vm-" + std::to_string(vmid) + "-disk-" + std::to_string(n++);
      std::string storage = !storage_override.empty() ? storage_override
                            : target.count(d.name)    ? target[d.name]
                                                      : default_storage;
      log("new volume ID is '" + storage + ":" + vol + "'");
      log("map '" + d.name + "' to '/dev/pve/" + vol + "' (write zeros = 0)");
    }
  };
  hooks.progress = [&](int pct, uint64_t bytes) {
    auto secs =
        std::chrono::duration_cast<std::chrono::seconds>(std::chrono::steady_clock::now() - started)
            .count();
    log("progress " + std::to_string(pct) + "% (read " + std::to_string(bytes) +
        " bytes, duration " + std::to_string(secs) + " sec)");
  };
  try {
    std::error_code ec;
    std::filesystem::create_directories(scratch, ec);
    c = read_vma(in.fd(), scratch, hooks);
  } catch (const VmaError& e) {
    error = e.what();
  }
  // With pipefail the command fails with the exit code of the last tool that failed: vma's
  // when it failed too, else the decompressor's (141: it was stopped by our error).
  int rc = in.finish();
  bool decompressor_failed = rc != 0 && rc != 141;
  if (decompressor_failed)
    for (const auto& line : split(in.child->stderr_text(), '\n'))
      if (!line.empty()) log(line);
  if (!error.empty()) {
    log("** (process:" + std::to_string(getpid()) + "): ERROR **: " + clock_text() +
        ": restore failed - " + error);
    log("/bin/bash: line 1: " + std::to_string(getpid() + 1) + " Trace/breakpoint trap   " +
        extract);
    log("no lock found trying to remove 'create'  lock");
    log("error before or during data restore, some or all disks were not completely restored. VM " +
        std::to_string(vmid) + " state is NOT cleaned up.");
    throw std::runtime_error("command '" + cmdline + "' failed: exit code 133");
  }
  if (decompressor_failed)
    throw std::runtime_error("command '" + cmdline + "' failed: exit code " + std::to_string(rc));

  uint64_t zero = 0;
  for (const auto& [name, data] : c.configs)
    if (name == "qemu-server.conf") res.config = data;
  for (const auto& d : c.devices) zero += d.zero_bytes;
  uint64_t total = c.clusters * 65536;  // vma counts whole clusters
  char line[160];
  std::snprintf(line, sizeof line, "total bytes read %llu, sparse bytes %llu (%.3g%%)",
                static_cast<unsigned long long>(total), static_cast<unsigned long long>(zero),
                total ? 100.0 * static_cast<double>(zero) / static_cast<double>(total) : 0.0);
  log(line);
  if (total > zero) {
    std::snprintf(
        line, sizeof line, "space reduction due to 4K zero blocks %.3g%%",
        100.0 * static_cast<double>(c.partial_zero_bytes) / static_cast<double>(total - zero));
    log(line);
  }
  log("rescan volumes...");
  res.devices = c.devices;
  res.early = c.out_of_order;
  if (res.config.empty()) throw std::runtime_error("backup does not contain a configuration file");
  return res;
}

RestoredArchive restore_tar(const std::string& path, int vmid,
                            const std::function<void(const std::string&)>& log) {
  RestoredArchive res;
  Comp comp = compression_of(path);
  std::vector<std::string> pct = {"lxc-usernsexec",
                                  "-m",
                                  "u:0:100000:65536",
                                  "-m",
                                  "g:0:100000:65536",
                                  "--",
                                  "tar",
                                  "xpf",
                                  "-"};
  for (const auto& o : tar_compression(comp)) pct.push_back(o);
  for (const char* o :
       {"--totals", "--one-file-system", "-p", "--sparse", "--numeric-owner", "--acls", "--xattrs",
        "--xattrs-include=user.*", "--xattrs-include=security.capability",
        "--warning=no-file-ignored", "--warning=no-xattr-write", "-C"})
    pct.push_back(o);
  pct.push_back("/var/lib/lxc/" + std::to_string(vmid) + "/rootfs");
  for (const char* o : {"--skip-old-files", "--anchored", "--exclude", "./dev/*"}) pct.push_back(o);
  std::string pct_cmd;
  for (const auto& a : pct) pct_cmd += (pct_cmd.empty() ? "" : " ") + shell_quote(a);
  auto failed = [&](int rc) {
    return std::runtime_error("unable to restore CT " + std::to_string(vmid) + " - command '" +
                              pct_cmd + "' failed: exit code " + std::to_string(rc));
  };
  log("extracting archive '" + path + "'");
  // What tar -t makes of the whole archive: headers, sizes, the compressor's checks.
  Fd in(open_archive(path));
  std::vector<std::string> list = {"tar", "-t", "-f", "-", "--totals"};
  for (const auto& o : tar_compression(comp)) list.push_back(o);
  Child tar(list, in.fd, Child::kPipe);
  char buf[65536];
  std::string names;
  for (ssize_t n; (n = read(tar.out_fd(), buf, sizeof buf)) > 0;)
    names.append(buf, static_cast<size_t>(n));
  tar.close_out();
  int rc = tar.wait();
  for (const auto& line : split(tar.stderr_text(), '\n'))
    if (!line.empty()) log(line);
  if (rc != 0) throw failed(rc);
  for (const auto& n : split(names, '\n')) res.entries += n.empty() ? 0 : 1;
  std::string err;
  res.config = tar_config(path, &rc, &err);
  if (rc != 0) {
    if (!err.empty()) log(err);
    throw failed(rc);
  }
  auto cfg = parse_guest_config(res.config);
  log("Detected container architecture: " +
      (cfg.count("arch") ? cfg["arch"] : std::string("amd64")));
  log("merging backed-up and given configuration..");
  return res;
}

}  // namespace

std::string read_archive_config(const std::string& path) {
  if (is_vma(path)) {
    Stream in(path);
    VmaContents c = read_vma_header(in.fd());
    for (const auto& [name, data] : c.configs)
      if (name == "qemu-server.conf") return data;
    throw std::runtime_error("unable to find configuration data 'qemu-server.conf'");
  }
  int rc = 0;
  std::string err;
  std::string conf = tar_config(path, &rc, &err);
  if (rc != 0) throw std::runtime_error(err.empty() ? "unable to read the archive" : err);
  return conf;
}

RestoredArchive restore_archive(const std::string& path, const std::string& type, int vmid,
                                const std::string& scratch,
                                const std::function<void(const std::string&)>& log,
                                const std::string& storage) {
  return type == "qemu" ? restore_vma(path, vmid, scratch, log, storage)
                        : restore_tar(path, vmid, log);
}

}  // namespace pvesim
