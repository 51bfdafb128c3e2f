#include "fs_layout.h"

#include <cstdio>

namespace pvesim {

namespace {

constexpr const char* kSyl[32] = {"net", "cfg",  "sys", "log",  "data", "srv", "web", "db",
                                  "app", "run",  "lib", "core", "util", "mgr", "ctl", "fmt",
                                  "img", "pkg",  "sec", "auth", "io",   "fs",  "dev", "mon",
                                  "key", "sync", "xml", "json", "http", "ssl", "zip", "tar"};

bool starts_with_path(const std::string& s, const char* prefix) {
  return s.compare(0, std::char_traits<char>::length(prefix), prefix) == 0;
}

}  // namespace

std::string layout_file_name(const FsFile& f, const std::string& dir) {
  std::string name;
  uint32_t id = f.ino;
  const char* a = kSyl[f.name & 31];
  const char* b = kSyl[(f.name >> 5) & 31];
  if (f.name & kFixedBit) {
    name = kFixed[f.name & 0xffff].name;
  } else if (f.name & kLogBit) {
    name = kLogs[f.name & 0xffff].name;
    if (f.rotation == 1) name += ".1";
    if (f.rotation >= 2) name += "." + std::to_string(f.rotation) + ".gz";
  } else {
    std::string n = std::to_string(id);
    switch (f.kind) {
      case FileKind::kBinary:
        name = std::string(a) + b + n;
        break;
      case FileKind::kLibrary:
        name = "lib" + std::string(a) + b + "-" + n + ".so." + std::to_string(f.name % 7);
        break;
      case FileKind::kText:
        name = starts_with_path(dir, "/usr/share/doc") ? std::string(a) + "-" + n + ".txt"
               : dir == "/etc/systemd/system"          ? std::string(a) + b + n + ".service"
                                                       : std::string(a) + b + n + ".conf";
        break;
      case FileKind::kArchive:
        name = dir == "/usr/share/man/man1" ? std::string(a) + b + n + ".1.gz"
               : dir == "/var/cache/apt/archives"
                   ? std::string(a) + b + n + "_1.0-" + std::to_string(f.name % 9) + "_amd64.deb"
                   : "changelog-" + n + ".gz";
        break;
      case FileKind::kDb:
        name = std::to_string(16384 + id);
        break;
      case FileKind::kWal: {
        char buf[32];
        std::snprintf(buf, sizeof buf, "0000000100000000%08X", id);
        name = buf;
        break;
      }
      case FileKind::kSparse:
        name = "blobstore.img";
        break;
      default:
        name = dir == "/tmp"                ? "tmp." + n
               : dir == "/srv/data/media"   ? "img" + n + ".jpg"
               : dir == "/srv/data/archive" ? "backup-" + n + ".tar.gz"
               : dir == "/srv/data/reports" ? "report-" + n + ".csv"
               : dir == "/var/lib/app"      ? "state-" + n + ".dat"
                                            : std::string(a) + "-" + n + ".txt";
    }
  }
  return name;
}

uint32_t layout_file_mode(const FsFile& f) {
  if (f.name & kFixedBit) return kFixed[f.name & 0xffff].mode;
  if (f.name & kLogBit) return kLogs[f.name & 0xffff].mode;
  switch (f.kind) {
    case FileKind::kBinary:
      return 0755;
    case FileKind::kDb:
    case FileKind::kWal:
    case FileKind::kSparse:
      return 0600;
    default:
      return 0644;
  }
}

}  // namespace pvesim
