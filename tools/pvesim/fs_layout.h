// What the file system model (fs_model.h) holds, as a Debian server with nginx and PostgreSQL
// lays it out: the directories with their modes and owners, the merged-usr and other symlinks,
// the logs (rotated weekly), a few files every such system has (/etc/hostname, sshd_config,
// postgresql.conf, a kernel), and the names, modes and owners of the other files.
#pragma once

#include <cstdint>
#include <string>
#include <utility>

#include "fs_model.h"

namespace pvesim {

struct DirSpec {
  const char* path;
  uint16_t mode;
  uint32_t uid, gid;
};

// The directories of a Debian server with nginx and PostgreSQL (a container's root tree).
inline constexpr DirSpec kDirs[] = {
    {"", 0755, 0, 0},
    {"/boot", 0755, 0, 0},
    {"/dev", 0755, 0, 0},
    {"/etc", 0755, 0, 0},
    {"/etc/apt", 0755, 0, 0},
    {"/etc/default", 0755, 0, 0},
    {"/etc/nginx", 0755, 0, 0},
    {"/etc/nginx/sites-enabled", 0755, 0, 0},
    {"/etc/postgresql", 0755, 105, 113},
    {"/etc/postgresql/15", 0755, 105, 113},
    {"/etc/postgresql/15/main", 0755, 105, 113},
    {"/etc/ssh", 0755, 0, 0},
    {"/etc/systemd", 0755, 0, 0},
    {"/etc/systemd/system", 0755, 0, 0},
    {"/home", 0755, 0, 0},
    {"/home/user", 0750, 1000, 1000},
    {"/lost+found", 0700, 0, 0},
    {"/media", 0755, 0, 0},
    {"/mnt", 0755, 0, 0},
    {"/opt", 0755, 0, 0},
    {"/opt/app", 0755, 0, 0},
    {"/opt/app/bin", 0755, 0, 0},
    {"/proc", 0555, 0, 0},
    {"/root", 0700, 0, 0},
    {"/run", 0755, 0, 0},
    {"/srv", 0755, 0, 0},
    {"/srv/data", 0755, 0, 0},
    {"/srv/data/archive", 0755, 0, 0},
    {"/srv/data/media", 0755, 0, 0},
    {"/srv/data/reports", 0755, 0, 0},
    {"/srv/empty", 0755, 0, 0},
    {"/sys", 0555, 0, 0},
    {"/tmp", 01777, 0, 0},
    {"/usr", 0755, 0, 0},
    {"/usr/bin", 0755, 0, 0},
    {"/usr/lib", 0755, 0, 0},
    {"/usr/lib/x86_64-linux-gnu", 0755, 0, 0},
    {"/usr/lib64", 0755, 0, 0},
    {"/usr/sbin", 0755, 0, 0},
    {"/usr/share", 0755, 0, 0},
    {"/usr/share/doc", 0755, 0, 0},
    {"/usr/share/man", 0755, 0, 0},
    {"/usr/share/man/man1", 0755, 0, 0},
    {"/usr/share/zoneinfo", 0755, 0, 0},
    {"/usr/share/zoneinfo/Etc", 0755, 0, 0},
    {"/var", 0755, 0, 0},
    {"/var/cache", 0755, 0, 0},
    {"/var/cache/apt", 0755, 0, 0},
    {"/var/cache/apt/archives", 0755, 0, 0},
    {"/var/cache/apt/archives/partial", 0700, 0, 0},
    {"/var/lib", 0755, 0, 0},
    {"/var/lib/app", 0755, 0, 0},
    {"/var/lib/postgresql", 0755, 105, 113},
    {"/var/lib/postgresql/15", 0755, 105, 113},
    {"/var/lib/postgresql/15/main", 0700, 105, 113},
    {"/var/lib/postgresql/15/main/base", 0700, 105, 113},
    {"/var/lib/postgresql/15/main/base/16384", 0700, 105, 113},
    {"/var/lib/postgresql/15/main/pg_wal", 0700, 105, 113},
    {"/var/log", 0755, 0, 0},
    {"/var/log/nginx", 0755, 33, 4},
    {"/var/log/postgresql", 01775, 105, 113},
    {"/var/spool", 0755, 0, 0},
    {"/var/spool/cron", 0755, 0, 0},
    {"/var/tmp", 01777, 0, 0},
};

inline constexpr std::pair<const char*, const char*> kLinks[] = {
    {"/bin", "usr/bin"},  {"/sbin", "usr/sbin"},
    {"/lib", "usr/lib"},  {"/lib64", "usr/lib64"},
    {"/var/run", "/run"}, {"/etc/localtime", "/usr/share/zoneinfo/Etc/UTC"}};

struct LogSpec {
  const char* dir;
  const char* name;
  uint16_t mode;
  uint32_t uid, gid;
  int weight;
};
inline constexpr LogSpec kLogs[] = {
    {"/var/log", "syslog", 0640, 0, 4, 4},
    {"/var/log", "auth.log", 0640, 0, 4, 1},
    {"/var/log", "daemon.log", 0640, 0, 4, 1},
    {"/var/log/nginx", "access.log", 0640, 33, 4, 4},
    {"/var/log/nginx", "error.log", 0640, 33, 4, 1},
    {"/var/log/postgresql", "postgresql-15-main.log", 0640, 105, 4, 2},
    {"/var/lib/app", "app.log", 0644, 0, 0, 3},
};
inline constexpr int kDataRoleLog = 5;  // a data disk holds only the database log

struct FixedSpec {
  const char* dir;
  const char* name;
  FileKind kind;
  uint32_t size;
  uint16_t mode;
  uint32_t gid;
};
inline constexpr FixedSpec kFixed[] = {
    {"/etc", "hostname", FileKind::kText, 7, 0644, 0},
    {"/etc", "hosts", FileKind::kText, 221, 0644, 0},
    {"/etc", "fstab", FileKind::kText, 612, 0644, 0},
    {"/etc", "passwd", FileKind::kText, 1423, 0644, 0},
    {"/etc", "group", FileKind::kText, 812, 0644, 0},
    {"/etc", "shadow", FileKind::kText, 903, 0640, 42},
    {"/etc", "os-release", FileKind::kText, 267, 0644, 0},
    {"/etc/ssh", "sshd_config", FileKind::kText, 3305, 0644, 0},
    {"/etc/nginx", "nginx.conf", FileKind::kText, 1447, 0644, 0},
    {"/etc/nginx/sites-enabled", "default", FileKind::kText, 2412, 0644, 0},
    {"/etc/postgresql/15/main", "postgresql.conf", FileKind::kText, 29793, 0644, 0},
    {"/etc/postgresql/15/main", "pg_hba.conf", FileKind::kText, 5588, 0640, 113},
    {"/usr/share/zoneinfo/Etc", "UTC", FileKind::kBinary, 114, 0644, 0},
    {"/root", ".bashrc", FileKind::kText, 571, 0644, 0},
    {"/home/user", ".bashrc", FileKind::kText, 3526, 0644, 1000},
    {"/home/user", ".profile", FileKind::kText, 807, 0644, 1000},
    {"/boot", "vmlinuz-6.1.0-28-amd64", FileKind::kBinary, 8u << 20, 0644, 0},
    {"/boot", "initrd.img-6.1.0-28-amd64", FileKind::kArchive, 30u << 20, 0644, 0},
};
inline constexpr uint32_t kFixedBit = 0x80000000u, kLogBit = 0x40000000u;

// The file's name (without its directory) and permission bits.
std::string layout_file_name(const FsFile& f, const std::string& dir);
uint32_t layout_file_mode(const FsFile& f);

}  // namespace pvesim
