#include "make_archive.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include "archive.h"
#include "common.h"
#include "content.h"
#include "ct_tree.h"
#include "guest_disks.h"
#include "proc.h"
#include "vma_stream.h"

namespace pvesim {

namespace {

namespace fs = std::filesystem;

struct Common {
  int vmid = 100;
  std::string day, config_file, disks, size = "64M", compress = "0";
  int64_t ctime = -1;
  bool json_out = false;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read '" + path + "'");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Backup time: --ctime, else 01:00 UTC of --day, else 01:00 UTC on the first day of the history.
int64_t backup_time(const Common& o) {
  if (o.ctime >= 0) return o.ctime;
  if (o.day.empty()) return kHistoryStartDay * 86400 + 3600;
  std::tm tm{};
  if (std::sscanf(o.day.c_str(), "%4d-%2d-%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday) != 3)
    throw std::runtime_error("--day wants YYYY-MM-DD, not '" + o.day + "'");
  tm.tm_year -= 1900;
  tm.tm_mon -= 1;
  return static_cast<int64_t>(timegm(&tm)) + 3600;
}

// The guest config: --config FILE, else what pvesim generates for a guest, with --disks
// (KEY:SIZE,...) as its disks.
std::string guest_config(const Common& o, const std::string& type) {
  if (!o.config_file.empty()) return read_file(o.config_file);
  std::string id = std::to_string(o.vmid);
  std::map<std::string, std::string> cfg;
  if (type == "qemu") {
    cfg = {{"boot", "order=scsi0"},
           {"cores", "2"},
           {"memory", "2048"},
           {"name", "vm-" + id},
           {"net0", "virtio=BC:24:11:00:00:64,bridge=vmbr0"},
           {"ostype", "l26"},
           {"scsihw", "virtio-scsi-single"}};
    std::string spec = o.disks.empty() ? "scsi0:32G" : o.disks;
    int n = 0;
    for (const auto& d : split(spec, ',')) {
      auto colon = d.find(':');
      std::string key = d.substr(0, colon);
      std::string size = colon == std::string::npos ? "" : d.substr(colon + 1);
      if (key == "efidisk0") {
        cfg["bios"] = "ovmf";
        cfg[key] = "local-lvm:vm-" + id + "-disk-" + std::to_string(n++) +
                   ",efitype=4m,pre-enrolled-keys=1,size=" + (size.empty() ? "528K" : size);
      } else if (key == "tpmstate0") {
        cfg[key] = "local-lvm:vm-" + id + "-disk-" + std::to_string(n++) + ",size=4M,version=v2.0";
      } else {
        cfg[key] = "local-lvm:vm-" + id + "-disk-" + std::to_string(n++) +
                   ",iothread=1,size=" + (size.empty() ? "32G" : size);
      }
    }
  } else {
    cfg = {{"arch", "amd64"},
           {"cores", "1"},
           {"hostname", "ct-" + id},
           {"memory", "512"},
           {"net0", "name=eth0,bridge=vmbr0,ip=dhcp,type=veth"},
           {"ostype", "debian"},
           {"rootfs", "local-lvm:vm-" + id + "-disk-0,size=8G"},
           {"swap", "512"},
           {"unprivileged", "1"}};
  }
  std::string text;
  for (const auto& [k, v] : cfg) text += k + ": " + v + "\n";
  return text;
}

void add_common(CLI::App* c, Common& o, bool with_compress) {
  c->add_option("--vmid", o.vmid, "guest id: with the day, it decides the disk content")
      ->capture_default_str();
  c->add_option("--day", o.day,
                "day of the backup, YYYY-MM-DD (UTC; the history starts 2026-01-01, which is "
                "also the default)");
  c->add_option("--ctime", o.ctime, "backup time in epoch seconds (instead of --day 01:00 UTC)");
  c->add_option("--size", o.size, "disk bytes of the guest, as pvesim's --backup-size (K/M/G)")
      ->capture_default_str();
  c->add_option("--config", o.config_file,
                "guest config file (qemu-server.conf or pct.conf); default: a generated one");
  c->add_option("--disks", o.disks,
                "qemu disks of the generated config, KEY:SIZE,... e.g. "
                "scsi0:32G,virtio1:100G,efidisk0,tpmstate0 (sizes weigh the share of --size)");
  if (with_compress)
    c->add_option("--compress", o.compress, "0 | gzip | lzo | zstd, run as vzdump runs them")
        ->check(CLI::IsMember({"0", "1", "gzip", "lzo", "zstd"}))
        ->capture_default_str();
  c->add_flag("--json", o.json_out, "print what was written as JSON");
}

void print_result(const nlohmann::json& j, bool as_json) {
  if (as_json) {
    std::cout << j.dump(2) << std::endl;
    return;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it->is_array()) {
      for (const auto& e : *it) {
        std::string line;
        for (auto f = e.begin(); f != e.end(); ++f)
          line += (line.empty() ? "" : "  ") + f.key() + "=" +
                  (f->is_string() ? f->get<std::string>() : f->dump());
        std::cout << it.key() << ": " << line << "\n";
      }
    } else {
      std::cout << it.key() << ": " << (it->is_string() ? it->get<std::string>() : it->dump())
                << "\n";
    }
  }
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

// (a) A VMA from raw disk images and config files.
int cmd_vma(const std::vector<std::string>& disk_args, const std::string& config,
            const std::string& firewall, const std::string& out, const std::string& uuid_arg,
            int64_t ctime, double percent, uint64_t seed, const std::string& compress,
            bool as_json) {
  auto t0 = std::chrono::steady_clock::now();
  if (ctime < 0) ctime = static_cast<int64_t>(std::time(nullptr));
  Uuid uuid = random_uuid_v4();
  if (!uuid_arg.empty() && !parse_uuid(uuid_arg, uuid))
    throw std::runtime_error("--uuid: not a uuid: '" + uuid_arg + "'");
  std::vector<std::pair<std::string, std::string>> configs;
  if (!config.empty()) configs.emplace_back("qemu-server.conf", read_file(config));
  if (!firewall.empty()) configs.emplace_back("qemu-server.fw", read_file(firewall));
  std::vector<VmaSource> sources;
  std::vector<std::shared_ptr<int>> fds;
  for (const auto& arg : disk_args) {
    auto eq = arg.find('=');
    if (eq == std::string::npos || eq == 0)
      throw std::runtime_error("--disk wants NAME=FILE (e.g. drive-scsi0=disk.raw), not '" + arg +
                               "'");
    std::string name = arg.substr(0, eq), file = arg.substr(eq + 1);
    int fd = open(file.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("cannot open '" + file + "': " + std::strerror(errno));
    auto holder = std::shared_ptr<int>(new int(fd), [](int* p) {
      close(*p);
      delete p;
    });
    fds.push_back(holder);
    struct stat st {};
    fstat(fd, &st);
    if (st.st_size <= 0) throw std::runtime_error("'" + file + "' is empty");
    uint64_t size = static_cast<uint64_t>(st.st_size);
    // Holes of a sparse image are zeros: skip them without reading (a 64 GiB disk with 1 GiB in
    // use reads 1 GiB). `hole` caches the last answer: [from, next) holds no data. Clusters may
    // come out of order, so the cache only answers for offsets inside it.
    auto hole = std::make_shared<std::pair<uint64_t, uint64_t>>(0, 0);
    sources.push_back({name, size, [fd, size, hole](uint64_t cluster, unsigned char* buf) {
                         uint64_t off = cluster * kVmaCluster;
                         if (off < hole->first || off >= hole->second) {
                           off_t d = lseek(fd, static_cast<off_t>(off), SEEK_DATA);
                           *hole = {off, d < 0 ? size : static_cast<uint64_t>(d)};
                         }
                         if (hole->second >= off + kVmaCluster || hole->second >= size)
                           return false;
                         std::memset(buf, 0, kVmaCluster);
                         size_t n =
                             static_cast<size_t>(std::min<uint64_t>(kVmaCluster, size - off));
                         for (size_t got = 0; got < n;) {
                           ssize_t r = pread(fd, buf + got, n - got, static_cast<off_t>(off + got));
                           if (r <= 0) throw std::runtime_error("read error on a disk image");
                           got += static_cast<size_t>(r);
                         }
                         for (size_t k = 0; k < kVmaCluster; ++k)
                           if (buf[k]) return true;
                         return false;
                       }});
  }
  if (sources.empty() && configs.empty())
    throw std::runtime_error("nothing to archive: give --disk or --config");
  std::vector<GuestWrite> writes = random_guest_writes(sources, percent, seed);
  std::string tmp = out + ".tmp";
  int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) throw std::runtime_error("cannot create '" + tmp + "': " + std::strerror(errno));
  VmaStreamStats st;
  try {
    std::unique_ptr<Child> comp;
    auto cmd = compressor_command(compress);
    if (!cmd.empty()) comp = std::make_unique<Child>(cmd, Child::kPipe, fd);
    int w = comp ? comp->in_fd() : fd;
    st = write_vma_stream([w](const unsigned char* p, size_t n) { write_all(w, p, n); }, uuid,
                          ctime, configs, sources, writes);
    if (comp) {
      comp->close_in();
      int rc = comp->wait();
      if (rc != 0) throw std::runtime_error(comp->command() + " failed: " + comp->stderr_text());
    }
    close(fd);
  } catch (...) {
    close(fd);
    unlink(tmp.c_str());
    throw;
  }
  fs::rename(tmp, out);
  nlohmann::json j{{"path", out},
                   {"size", fs::file_size(out)},
                   {"vma_bytes", st.bytes},
                   {"uuid", uuid_text(uuid)},
                   {"ctime", ctime},
                   {"clusters", st.clusters},
                   {"early_clusters", st.early},
                   {"extents", st.extents},
                   {"seconds", seconds_since(t0)}};
  j["devices"] = nlohmann::json::array();
  int id = 1;
  for (const auto& s : sources)
    j["devices"].push_back({{"dev_id", id++}, {"name", s.name}, {"size", s.size}});
  print_result(j, as_json);
  return 0;
}

// (b) The disks of a guest on a day, as raw images.
int cmd_disks(const Common& o, const std::string& type, const std::string& out_dir) {
  auto t0 = std::chrono::steady_clock::now();
  std::string config = guest_config(o, type);
  auto cfg = parse_guest_config(config);
  int64_t ctime = backup_time(o);
  int day = history_day(ctime);
  fs::create_directories(out_dir);
  nlohmann::json j{{"vmid", o.vmid}, {"type", type}, {"day", day}, {"ctime", ctime}};
  j["disks"] = nlohmann::json::array();
  bool first_fs = true;
  std::vector<unsigned char> block(kBlockSize);
  uint64_t total = 0;
  for (const auto& d : guest_disks(type, cfg, parse_size(o.size))) {
    bool fs_disk = d.key != "efidisk0" && d.key != "tpmstate0";
    DiskContent dc(type, o.vmid, d, fs_disk && first_fs, day);
    if (fs_disk) first_fs = false;
    std::string path = out_dir + "/" + d.devname + ".raw";
    int fd = open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) throw std::runtime_error("cannot create '" + path + "': " + std::strerror(errno));
    uint64_t nonzero = 0;
    for (uint64_t b = 0; b < dc.blocks(); ++b) {
      uint64_t cid = dc.cid(b);
      if (!cid) continue;
      ++nonzero;
      render_block(cid, block.data());
      uint64_t off = b * kBlockSize;
      size_t n = static_cast<size_t>(std::min<uint64_t>(kBlockSize, d.size - off));
      if (pwrite(fd, block.data(), n, static_cast<off_t>(off)) != static_cast<ssize_t>(n))
        throw std::runtime_error("write error on '" + path + "'");
    }
    if (ftruncate(fd, static_cast<off_t>(d.size)) != 0 || close(fd) != 0)
      throw std::runtime_error("write error on '" + path + "'");
    total += d.size;
    j["disks"].push_back({{"key", d.key},
                          {"name", d.devname},
                          {"size", d.size},
                          {"file", path},
                          {"nonzero_blocks", nonzero},
                          {"file_blocks", dc.fs() ? dc.fs()->used_blocks() : nonzero}});
  }
  { std::ofstream(out_dir + "/" + (type == "qemu" ? "qemu-server.conf" : "pct.conf")) << config; }
  j["bytes"] = total;
  j["seconds"] = seconds_since(t0);
  print_result(j, o.json_out);
  return 0;
}

// (c) and the qemu counterpart: the archive pvesim's vzdump writes for a guest on a day.
int cmd_guest(const Common& o, const std::string& type, const std::string& out, bool running,
              const std::string& tree) {
  auto t0 = std::chrono::steady_clock::now();
  ArchiveSpec spec;
  spec.type = type;
  spec.vmid = o.vmid;
  spec.ctime = backup_time(o);
  spec.disk_bytes = parse_size(o.size);
  spec.config = guest_config(o, type);
  spec.compress = o.compress;
  spec.running = running;
  std::vector<std::string> log;
  ArchiveResult r = write_archive(out, spec, [&](const std::string& l) { log.push_back(l); });
  nlohmann::json j{{"path", out},
                   {"size", r.size},
                   {"vmid", o.vmid},
                   {"ctime", spec.ctime},
                   {"day", history_day(spec.ctime)},
                   {"disk_bytes", r.disk_bytes},
                   {"seconds", seconds_since(t0)}};
  if (type == "qemu") {
    j["uuid"] = r.uuid;
    j["early_clusters"] = r.early;
  }
  if (!tree.empty()) {
    auto cfg = parse_guest_config(spec.config);
    GuestDisk disk = guest_disks("lxc", cfg, spec.disk_bytes)[0];
    DiskContent dc("lxc", o.vmid, disk, true, history_day(spec.ctime));
    j["tree_entries"] = write_ct_tree(*dc.fs(), tree);
    j["tree"] = tree;
  }
  print_result(j, o.json_out);
  return 0;
}

}  // namespace

int make_archive_main(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);  // a failed compressor shows up as a write error, not a dead process
  CLI::App app{
      "pvesim make-archive - vzdump archives and the disks behind them, as pvesim's vzdump writes "
      "them, without a running simulator.\n\n"
      "Disk content is a deterministic function of (vmid, disk, day): a model of a file system\n"
      "that changes like a server's from day to day (about 1-3% of its used 4 KiB blocks per "
      "day).\nSo `disks` for a day gives the exact disks inside the `qemu` archive of that day, "
      "and two\ndays give what changed in between.",
      "pvesim make-archive"};
  app.require_subcommand(1);
  app.footer(
      "Examples:\n"
      "  # the disks of guest 100 on a day, and a VMA of them with 5% of the clusters out of "
      "order\n"
      "  pvesim make-archive disks --vmid 100 --day 2026-03-01 --size 256M "
      "--disks scsi0:32G,virtio1:64G,efidisk0 --out-dir d1\n"
      "  pvesim make-archive vma --config d1/qemu-server.conf --disk "
      "drive-scsi0=d1/drive-scsi0.raw "
      "\\\n      --disk drive-virtio1=d1/drive-virtio1.raw --disk "
      "drive-efidisk0=d1/drive-efidisk0.raw "
      "\\\n      --out-of-order 5 --seed 7 --compress zstd --out "
      "vzdump-qemu-100-2026_03_01-01_00_00.vma.zst\n"
      "  # what pvesim's vzdump writes for a running qemu guest / a container on a day\n"
      "  pvesim make-archive qemu --vmid 100 --day 2026-03-01 --size 256M --running --compress "
      "zstd "
      "--out a.vma.zst\n"
      "  pvesim make-archive ct --vmid 102 --day 2026-03-01 --size 64M --compress gzip --out "
      "ct.tar.gz --tree root\n");

  Common o;
  std::vector<std::string> disk_args;
  std::string config, firewall, out, uuid, out_dir, tree;
  int64_t ctime = -1;
  double percent = 0;
  uint64_t seed = 1;
  std::string compress = "0";
  bool as_json = false, running = false;

  auto* vma = app.add_subcommand(
      "vma",
      "(a) a VMA from raw disk images and config files: devices in the order given, "
      "clusters in order unless --out-of-order");
  vma->add_option("--disk", disk_args,
                  "NAME=FILE, one per disk, in dev_id order (NAME as PVE names them: drive-scsi0, "
                  "drive-efidisk0, drive-tpmstate0-backup)");
  vma->add_option("--config", config, "config blob 'qemu-server.conf' (the guest config)");
  vma->add_option("--firewall", firewall, "config blob 'qemu-server.fw' (the guest firewall)");
  vma->add_option("--out", out, "archive to write")->required();
  vma->add_option("--uuid", uuid, "archive uuid (default: a fresh random one, as PVE does)");
  vma->add_option("--ctime", ctime, "backup time in epoch seconds (default: now, as PVE's writer)");
  vma->add_option("--out-of-order", percent,
                  "copy-before-write of a running guest: PERCENT of all clusters are written by "
                  "the guest during the backup and go into the archive early (default 0: "
                  "strictly sequential, like a stopped guest)")
      ->check(CLI::Range(0.0, 100.0));
  vma->add_option("--seed", seed, "seed of --out-of-order: which clusters, and when")
      ->capture_default_str();
  vma->add_option("--compress", compress, "0 | gzip | lzo | zstd, run as vzdump runs them")
      ->check(CLI::IsMember({"0", "1", "gzip", "lzo", "zstd"}))
      ->capture_default_str();
  vma->add_flag("--json", as_json, "print what was written as JSON");

  auto* disks = app.add_subcommand(
      "disks",
      "(b) the disks of a guest on a day as raw images, DIR/<device>.raw (drive-scsi0.raw, ...; "
      "rootfs.raw for --type lxc), plus the config used");
  add_common(disks, o, false);
  std::string type = "qemu";
  disks->add_option("--type", type, "qemu | lxc")
      ->check(CLI::IsMember({"qemu", "lxc"}))
      ->capture_default_str();
  disks->add_option("--out-dir", out_dir, "directory for the images")->required();

  auto* ct = app.add_subcommand(
      "ct",
      "(c) a container's vzdump tar for a day: GNU tar with vzdump's flags over the generated "
      "root tree");
  add_common(ct, o, true);
  ct->add_option("--out", out, "archive to write (vzdump-lxc-...tar[.zst|.gz|.lzo])")->required();
  ct->add_option("--tree", tree,
                 "also write the root tree the archive holds into this new directory");

  auto* qemu = app.add_subcommand(
      "qemu", "the VMA pvesim's vzdump writes for a qemu guest on a day (generated disks)");
  add_common(qemu, o, true);
  qemu->add_option("--out", out, "archive to write")->required();
  qemu->add_flag("--running", running,
                 "the guest runs during the backup: the clusters it writes (a share of its next "
                 "day's writes) go into the archive early");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    if (*vma)
      return cmd_vma(disk_args, config, firewall, out, uuid, ctime, percent, seed, compress,
                     as_json);
    if (*disks) return cmd_disks(o, type, out_dir);
    if (*ct) return cmd_guest(o, "lxc", out, false, tree);
    if (*qemu) return cmd_guest(o, "qemu", out, running, "");
  } catch (const std::exception& e) {
    std::cerr << "pvesim make-archive: " << e.what() << std::endl;
    return 1;
  }
  return 2;
}

}  // namespace pvesim
