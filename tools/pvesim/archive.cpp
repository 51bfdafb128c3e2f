// Writing vzdump archives (see archive.h); reading them back is archive_restore.cpp.
#include "archive.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>

#include "common.h"
#include "content.h"
#include "ct_tree.h"
#include "guest_disks.h"
#include "proc.h"
#include "vma_stream.h"

namespace pvesim {

namespace {

namespace fs = std::filesystem;

// PVE::JSONSchema::format_size: "32G", "528K", or bytes.
std::string format_size(uint64_t size) {
  const char* units[] = {"K", "M", "G", "T"};
  std::string out = std::to_string(size);
  for (const char* u : units) {
    if (size % 1024) break;
    size /= 1024;
    out = std::to_string(size) + u;
  }
  return out;
}

// The config as vzdump stores it: without the lock, the parent and the snapshot sections.
std::string backup_config(const std::string& text) {
  std::string out;
  for (const auto& line : split(text, '\n')) {
    if (!line.empty() && line[0] == '[') break;
    if (line.rfind("lock:", 0) == 0 || line.rfind("parent:", 0) == 0) continue;
    if (line.rfind("#qmdump#", 0) == 0 || line.rfind("#vzdump#", 0) == 0) continue;
    if (!line.empty()) out += line + "\n";
  }
  return out;
}

// Output file plus, when compressing, the compressor between us and it.
class Output {
 public:
  Output(const std::string& path, const std::string& compress) : path_(path) {
    fd_ = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0)
      throw std::runtime_error("unable to create '" + path + "' - " + std::strerror(errno));
    auto cmd = compressor_command(compress);
    if (!cmd.empty()) comp_ = std::make_unique<Child>(cmd, Child::kPipe, fd_);
  }
  ~Output() {
    comp_.reset();
    if (fd_ >= 0) close(fd_);
  }
  int fd() const { return comp_ ? comp_->in_fd() : fd_; }
  // Closes our end of the compressor's input (its writer must have finished).
  void close_input() {
    if (comp_) comp_->close_in();
  }
  void finish() {
    if (comp_) {
      comp_->close_in();
      int rc = comp_->wait();
      if (rc != 0)
        throw std::runtime_error("command '" + comp_->command() + "' failed: exit code " +
                                 std::to_string(rc) + " " + comp_->stderr_text());
    }
    if (fsync(fd_) != 0 && errno != EINVAL)
      throw std::runtime_error("write error on '" + path_ + "' - " + std::strerror(errno));
    close(fd_);
    fd_ = -1;
  }

 private:
  std::string path_;
  int fd_ = -1;
  std::unique_ptr<Child> comp_;
};

ArchiveResult write_vma_archive(Output& out, const std::string& path, const ArchiveSpec& spec,
                                const std::function<void(const std::string&)>& log) {
  ArchiveResult res;
  auto cfg = parse_guest_config(spec.config);
  std::vector<std::string> excluded;
  std::vector<GuestDisk> disks = guest_disks("qemu", cfg, spec.disk_bytes, &excluded);
  int day = history_day(spec.ctime);
  std::vector<std::unique_ptr<DiskContent>> content;
  bool first_fs = true;
  std::string conf = backup_config(spec.config);
  for (const auto& d : disks) {
    bool fs_disk = d.key != "efidisk0" && d.key != "tpmstate0";
    content.push_back(
        std::make_unique<DiskContent>("qemu", spec.vmid, d, fs_disk && first_fs, day));
    if (fs_disk) first_fs = false;
    log("INFO: include disk '" + d.key + "' '" + d.volume + "' " + format_size(d.size));
    conf += "#qmdump#map:" + d.key + ":" + d.devname + ":" + d.storage + ":" + d.format + ":\n";
    res.disk_bytes += d.size;
  }
  for (const auto& e : excluded) log("INFO: exclude disk " + e);
  log("INFO: creating vzdump archive '" + path + "'");
  std::vector<VmaSource> sources;
  for (size_t k = 0; k < disks.size(); ++k) {
    const DiskContent* dc = content[k].get();
    sources.push_back({disks[k].devname, disks[k].size, [dc](uint64_t cluster, unsigned char* buf) {
                         uint64_t first = cluster * 16, blocks = dc->blocks();
                         bool any = false;
                         for (uint64_t b = first; b < first + 16 && b < blocks; ++b)
                           any = any || dc->cid(b) != 0;
                         if (!any) return false;
                         for (uint64_t b = 0; b < 16; ++b) {
                           uint64_t cid = first + b < blocks ? dc->cid(first + b) : 0;
                           render_block(cid, buf + b * kBlockSize);
                         }
                         return true;
                       }});
  }
  std::vector<GuestWrite> writes;
  if (spec.running) {
    // What the guest writes while the backup runs: a share of its next day's writes.
    std::vector<std::pair<size_t, uint64_t>> w;
    Rng pick(hash_combine(static_cast<uint64_t>(spec.vmid), static_cast<uint64_t>(day)));
    for (size_t k = 0; k < content.size(); ++k)
      for (uint32_t b : content[k]->next_day_writes())
        if (pick.chance(0.5)) w.emplace_back(k, b / 16);
    writes = time_guest_writes(sources, w, pick.next());
  }
  Uuid uuid = random_uuid_v4();
  res.uuid = uuid_text(uuid);
  log("INFO: started backup task '" + res.uuid + "'");
  int fd = out.fd();
  VmaStreamStats st =
      write_vma_stream([fd](const unsigned char* p, size_t n) { write_all(fd, p, n); }, uuid,
                       spec.ctime, {{"qemu-server.conf", conf}}, sources, std::move(writes));
  res.early = st.early;
  uint64_t zero = 0;
  for (size_t k = 0; k < disks.size(); ++k) {
    uint64_t z = 0;
    for (uint64_t b = 0; b < content[k]->blocks(); ++b) z += content[k]->cid(b) == 0 ? 4096 : 0;
    zero += std::min(z, disks[k].size);
  }
  if (res.disk_bytes)
    log("INFO: backup is sparse: " + render_bytes(zero) + " (" +
        std::to_string(zero * 100 / res.disk_bytes) + "%) total zero data");
  return res;
}

ArchiveResult write_tar_archive(Output& out, const std::string& path, const ArchiveSpec& spec,
                                const std::function<void(const std::string&)>& log) {
  ArchiveResult res;
  auto cfg = parse_guest_config(spec.config);
  GuestDisk disk = guest_disks("lxc", cfg, spec.disk_bytes)[0];
  res.disk_bytes = disk.size;
  DiskContent dc("lxc", spec.vmid, disk, true, history_day(spec.ctime));
  std::string work = spec.work_dir.empty() ? fs::path(path).parent_path().string() : spec.work_dir;
  std::string tmpl = work + "/vzdumptmpXXXXXX";
  if (!mkdtemp(tmpl.data()))
    throw std::runtime_error("unable to create temporary directory in '" + work + "'");
  struct Remove {
    std::string dir;
    ~Remove() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove{tmpl};
  fs::create_directories(tmpl + "/etc/vzdump");
  {
    std::ofstream(tmpl + "/etc/vzdump/pct.conf") << backup_config(spec.config);
    std::ofstream(tmpl + "/etc/vzdump/pct.fw");
  }
  timespec ts[2] = {{static_cast<time_t>(spec.ctime), 0}, {static_cast<time_t>(spec.ctime), 0}};
  for (const char* f : {"/etc/vzdump/pct.conf", "/etc/vzdump/pct.fw"})
    utimensat(AT_FDCWD, (tmpl + f).c_str(), ts, 0);
  write_ct_tree(*dc.fs(), tmpl + "/rootfs");
  log("INFO: including mount point rootfs ('/') in backup");
  log("INFO: creating vzdump archive '" + path + "'");
  auto un = cfg.find("unprivileged");
  bool unprivileged = un != cfg.end() && un->second == "1";
  int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
  Child tar(vzdump_tar_command(tmpl, tmpl + "/rootfs", unprivileged), devnull, out.fd());
  if (devnull >= 0) close(devnull);
  out.close_input();
  int rc = tar.wait();
  for (const auto& line : split(tar.stderr_text(), '\n'))
    if (!line.empty()) log("INFO: " + line);
  if (rc != 0)
    throw std::runtime_error("command '" + tar.command() + "' failed: exit code " +
                             std::to_string(rc));
  return res;
}

}  // namespace

std::string render_bytes(uint64_t b, int precision) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(b);
  int u = 0;
  while (v >= 1024 && u < 5) v /= 1024, ++u;
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.*f %s", precision, v, units[u]);
  return buf;
}

std::string vzdump_file_size(uint64_t b) {
  double kb = static_cast<double>(b) / 1024, mb = kb / 1024, gb = mb / 1024;
  char buf[40];
  if (kb < 1024)
    std::snprintf(buf, sizeof buf, "%dKB", static_cast<int>(kb));
  else if (mb < 1024)
    std::snprintf(buf, sizeof buf, "%dMB", static_cast<int>(mb));
  else if (gb < 1024)
    std::snprintf(buf, sizeof buf, "%.2fGB", gb);
  else
    std::snprintf(buf, sizeof buf, "%.2fTB", gb / 1024);
  return buf;
}

bool valid_compress(const std::string& c) {
  return c == "0" || c == "1" || c == "gzip" || c == "lzo" || c == "zstd";
}

std::string compress_suffix(const std::string& c) {
  if (c == "zstd") return ".zst";
  if (c == "gzip") return ".gz";
  if (c == "lzo" || c == "1") return ".lzo";
  return "";
}

std::vector<std::string> compressor_command(const std::string& c) {
  // PVE::VZDump::compressor_info with the defaults (zstd: 1 thread, pigz: 0 = plain gzip).
  if (c == "zstd") return {"zstd", "--rsyncable", "--threads=1"};
  if (c == "gzip") return {"gzip", "--rsyncable"};
  if (c == "lzo" || c == "1") return {"lzop"};
  return {};
}

std::string archive_file_name(const std::string& type, int vmid, int64_t epoch,
                              const std::string& compress) {
  std::time_t t = static_cast<std::time_t>(epoch);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char ts[32];
  std::strftime(ts, sizeof ts, "%Y_%m_%d-%H_%M_%S", &tm);
  std::string ext = type == "qemu" ? ".vma" : ".tar";
  return "vzdump-" + type + "-" + std::to_string(vmid) + "-" + ts + ext + compress_suffix(compress);
}

ArchiveResult write_archive(const std::string& path, const ArchiveSpec& spec,
                            const std::function<void(const std::string&)>& log_fn) {
  auto log = [&](const std::string& line) {
    if (log_fn) log_fn(line);
  };
  if (!valid_compress(spec.compress))
    throw std::runtime_error("unknown compression option '" + spec.compress + "'");
  std::string tmp = path + ".tmp";
  ArchiveResult res;
  try {
    Output out(tmp, spec.compress);
    res = spec.type == "qemu" ? write_vma_archive(out, path, spec, log)
                              : write_tar_archive(out, path, spec, log);
    out.finish();
  } catch (...) {
    std::error_code ec;
    fs::remove(tmp, ec);
    throw;
  }
  fs::rename(tmp, path);
  res.size = fs::file_size(path);
  return res;
}

bool parse_archive_name(const std::string& name, std::string& type, int& vmid, int64_t& ctime,
                        std::string& format) {
  // vzdump-(qemu|lxc)-VMID-YYYY_MM_DD-HH_MM_SS.(vma|tar)[.zst|.gz|.lzo]
  if (name.rfind("vzdump-", 0) != 0) return false;
  size_t p = 7;
  size_t dash = name.find('-', p);
  if (dash == std::string::npos) return false;
  type = name.substr(p, dash - p);
  if (type != "qemu" && type != "lxc" && type != "openvz") return false;
  size_t dash2 = name.find('-', dash + 1);
  if (dash2 == std::string::npos) return false;
  try {
    vmid = std::stoi(name.substr(dash + 1, dash2 - dash - 1));
  } catch (...) {
    return false;
  }
  std::tm tm{};
  if (name.size() < dash2 + 20) return false;
  if (std::sscanf(name.c_str() + dash2 + 1, "%4d_%2d_%2d-%2d_%2d_%2d", &tm.tm_year, &tm.tm_mon,
                  &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
    return false;
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  ctime = static_cast<int64_t>(timegm(&tm));
  size_t dot = dash2 + 20;
  if (dot >= name.size() || name[dot] != '.') return false;
  format = name.substr(dot + 1);
  if (format != "vma" && format != "vma.zst" && format != "vma.gz" && format != "vma.lzo" &&
      format != "tar" && format != "tar.zst" && format != "tar.gz" && format != "tar.lzo" &&
      format != "tgz")
    return false;
  return true;
}

}  // namespace pvesim
