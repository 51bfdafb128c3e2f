#include "jobs/cluster_files.h"

#include <fmt/format.h>

#include "core/error.h"

namespace pvesafe::jobs {

namespace {

using Entry = pve::SshSession::Entry;

archive::TarEntry entry_of(const Entry& e, const std::string& name) {
  archive::TarEntry t;
  t.path = name;
  t.mode = e.mode;
  t.uid = e.uid;
  t.gid = e.gid;
  t.mtime = e.mtime;
  return t;
}

void walk(pve::SshSession& ssh, const std::string& dir, const std::string& prefix, bool top,
          bool skip_top_dotfiles, uint64_t max_bytes, uint64_t& total,
          std::vector<archive::TarEntry>& out) {
  for (const auto& e : ssh.list(dir)) {
    if (top && skip_top_dotfiles && !e.name.empty() && e.name[0] == '.') continue;
    std::string remote = dir + "/" + e.name;
    std::string name = prefix + "/" + e.name;
    archive::TarEntry t = entry_of(e, name);
    switch (e.type) {
      case Entry::Type::kDirectory:
        t.type = archive::TarEntry::Type::kDirectory;
        out.push_back(t);
        walk(ssh, remote, name, false, skip_top_dotfiles, max_bytes, total, out);
        break;
      case Entry::Type::kSymlink:
        t.type = archive::TarEntry::Type::kSymlink;
        t.link_target = ssh.readlink(remote);
        out.push_back(t);
        break;
      case Entry::Type::kFile:
        t.type = archive::TarEntry::Type::kFile;
        t.data = ssh.read_file(remote, max_bytes);
        total += t.data.size();
        if (total > max_bytes) {
          throw Error(
              Errc::kUnsupported,
              fmt::format("{} on {} holds more than {} bytes; that is no configuration tree", dir,
                          ssh.describe(), max_bytes));
        }
        out.push_back(std::move(t));
        break;
      case Entry::Type::kOther:
        break;  // sockets, FIFOs: nothing to keep
    }
  }
}

}  // namespace

const std::vector<std::string>& node_config_paths() {
  static const std::vector<std::string> paths = {
      "/etc/network/interfaces", "/etc/network/interfaces.d", "/etc/hosts",
      "/etc/hostname",           "/etc/resolv.conf",          "/etc/apt/sources.list",
      "/etc/apt/sources.list.d", "/etc/vzdump.conf",          "/etc/corosync/corosync.conf"};
  return paths;
}

std::vector<archive::TarEntry> read_remote_tree(pve::SshSession& ssh, const std::string& remote_dir,
                                                const std::string& prefix, bool skip_top_dotfiles,
                                                uint64_t max_bytes) {
  std::vector<archive::TarEntry> out;
  uint64_t total = 0;
  walk(ssh, remote_dir, prefix, true, skip_top_dotfiles, max_bytes, total, out);
  return out;
}

std::vector<archive::TarEntry> read_node_files(pve::SshSession& ssh, const std::string& root,
                                               const std::string& prefix) {
  std::vector<archive::TarEntry> out;
  std::string base = root;
  while (!base.empty() && base.back() == '/') base.pop_back();
  for (const auto& p : node_config_paths()) {
    std::string remote = base + p;
    auto st = ssh.lstat(remote);
    if (!st) continue;
    std::string name = prefix + p;
    // parent directories, so the tree extracts with them
    std::string parent = name.substr(0, name.find_last_of('/'));
    for (size_t pos = prefix.size() + 1; pos < parent.size();) {
      size_t slash = parent.find('/', pos);
      std::string d = parent.substr(0, slash);
      bool have = false;
      for (const auto& e : out) have = have || e.path == d;
      if (!have) {
        archive::TarEntry t;
        t.path = d;
        t.type = archive::TarEntry::Type::kDirectory;
        t.mode = 0755;
        out.push_back(t);
      }
      if (slash == std::string::npos) break;
      pos = slash + 1;
    }
    archive::TarEntry t = entry_of(*st, name);
    if (st->type == Entry::Type::kDirectory) {
      t.type = archive::TarEntry::Type::kDirectory;
      out.push_back(t);
      auto sub = read_remote_tree(ssh, remote, name, false, 16ull << 20);
      out.insert(out.end(), sub.begin(), sub.end());
    } else if (st->type == Entry::Type::kSymlink) {
      t.type = archive::TarEntry::Type::kSymlink;
      t.link_target = ssh.readlink(remote);
      out.push_back(t);
    } else if (st->type == Entry::Type::kFile) {
      t.type = archive::TarEntry::Type::kFile;
      t.data = ssh.read_file(remote, 16ull << 20);
      out.push_back(t);
    }
  }
  return out;
}

}  // namespace pvesafe::jobs
