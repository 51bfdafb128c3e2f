#include "jobs/cluster_config.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <functional>
#include <set>

#include "core/line_diff.h"
#include "core/memory_stream.h"
#include "core/utc_time.h"
#include "jobs/cluster_files.h"
#include "pve/cluster_status.h"
#include "pve/section_config.h"
#include "repo/restore.h"

namespace pvesafe::jobs {

namespace {

namespace fs = std::filesystem;
using archive::TarEntry;

bool starts_with(const std::string& s, const std::string& p) { return s.rfind(p, 0) == 0; }

std::vector<std::string> split_lines(const std::string& text) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    if (nl == std::string::npos) nl = text.size();
    out.push_back(text.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

std::string join_lines(const std::vector<std::string>& lines) {
  std::string out;
  for (const auto& l : lines) out += l + "\n";
  return out;
}

TarEntry dir_entry(const std::string& path) {
  TarEntry t;
  t.path = path;
  t.type = TarEntry::Type::kDirectory;
  t.mode = 0755;
  return t;
}

TarEntry file_entry(const std::string& path, std::string data, uint32_t mode = 0644) {
  TarEntry t;
  t.path = path;
  t.type = TarEntry::Type::kFile;
  t.mode = mode;
  t.data = std::move(data);
  t.mtime = static_cast<int64_t>(std::time(nullptr));
  return t;
}

bool secret_path(const std::string& path) {
  return starts_with(path, "priv/") || path.find("/priv/") != std::string::npos ||
         (path.size() > 4 && path.substr(path.size() - 4) == ".key");
}

}  // namespace

// ---- backup ----------------------------------------------------------------------------------

ClusterConfigBackupResult backup_cluster_config(repo::Repository& repo,
                                                const ClusterConfigBackupOptions& o,
                                                EventLog& log) {
  ClusterConfigBackupResult r;
  pve::Client client(o.api);
  pve::ClusterStatus status = pve::cluster_status(client);
  r.cluster = status.name;
  std::vector<TarEntry> api{dir_entry("api")};
  auto capture = [&](const std::string& name, const std::string& path) {
    try {
      api.push_back(file_entry("api/" + name + ".json", client.get(path).dump(1) + "\n"));
    } catch (const Error& e) {
      r.warnings.push_back(fmt::format("API {}: {}", path, e.what()));
    }
  };
  capture("cluster-status", "/cluster/status");
  capture("version", "/version");
  capture("cluster-resources", "/cluster/resources");
  capture("storage", "/storage");
  capture("cluster-options", "/cluster/options");
  capture("ha-resources", "/cluster/ha/resources");
  capture("ha-groups", "/cluster/ha/groups");
  try {
    api.push_back(file_entry("api/ha-rules.json", client.get("/cluster/ha/rules").dump(1) + "\n"));
  } catch (const Error&) {
    // PVE 8 has no HA rules (501): nothing to keep.
  }
  for (const auto& n : status.nodes) {
    if (!n.online) continue;
    api.push_back(dir_entry("api/nodes/" + n.name));
    for (const char* what : {"network", "dns", "hosts"}) {
      try {
        api.push_back(
            file_entry(fmt::format("api/nodes/{}/{}.json", n.name, what),
                       client.get(fmt::format("/nodes/{}/{}", n.name, what)).dump(1) + "\n"));
      } catch (const Error& e) {
        r.warnings.push_back(fmt::format("API /nodes/{}/{}: {}", n.name, what, e.what()));
      }
    }
  }
  if (std::none_of(api.begin(), api.end(),
                   [](const TarEntry& e) { return e.path == "api/nodes"; })) {
    api.insert(api.begin() + 1, dir_entry("api/nodes"));
  }

  std::vector<TarEntry> pve_files, node_files;
  std::optional<Error> pve_error;
  for (const auto& n : status.nodes) {
    NodeCollection nc;
    nc.node = n.name;
    nc.online = n.online;
    if (!n.online) {
      nc.error = "offline";
      r.warnings.push_back(
          fmt::format("node {} is offline: its files are not in this snapshot", n.name));
      r.nodes.push_back(nc);
      continue;
    }
    try {
      pve::SshSession ssh(o.ssh.for_node(n.name, status.nodes));
      if (r.source_node.empty()) {
        try {
          pve_files = read_remote_tree(ssh, o.ssh.path_on(n.name, "/etc/pve"), "pve", true);
          r.source_node = n.name;
        } catch (const Error& e) {
          pve_error = e;
          r.warnings.push_back(fmt::format("/etc/pve on {}: {}", n.name, e.what()));
        }
      }
      auto files = read_node_files(ssh, o.ssh.path_on(n.name, ""), "nodes/" + n.name);
      for (const auto& f : files) nc.files += f.type == TarEntry::Type::kFile ? 1 : 0;
      node_files.insert(node_files.end(), files.begin(), files.end());
      nc.collected = true;
    } catch (const Error& e) {
      nc.error = e.what();
      r.warnings.push_back(fmt::format("node {}: {}", n.name, e.what()));
    }
    r.nodes.push_back(nc);
  }
  if (r.source_node.empty()) {
    if (pve_error) {
      throw Error(pve_error->code(),
                  fmt::format("cannot read /etc/pve of cluster {} from any node: {}", r.cluster,
                              pve_error->message()),
                  pve_error->hint());
    }
    throw Error(Errc::kTransient,
                fmt::format("cannot read /etc/pve of cluster {}: no node could be reached over SSH",
                            r.cluster),
                "check --ssh-host, --ssh-key and --ssh-known-hosts");
  }

  nlohmann::json nodes_json = nlohmann::json::array();
  for (const auto& n : r.nodes) {
    nodes_json.push_back({{"node", n.node},
                          {"online", n.online},
                          {"collected", n.collected},
                          {"files", n.files},
                          {"error", n.error}});
  }
  r.files = 0;
  for (const auto* v : {&api, &pve_files, &node_files})
    for (const auto& e : *v) r.files += e.type == TarEntry::Type::kFile ? 1 : 0;
  nlohmann::json summary{{"format", 1},
                         {"kind", kClusterConfigContent},
                         {"cluster", r.cluster},
                         {"quorate", status.quorate},
                         {"time_utc", format_utc(std::chrono::system_clock::now())},
                         {"source_node", r.source_node},
                         {"nodes", nodes_json},
                         {"files", r.files},
                         {"warnings", r.warnings}};

  MemorySink tar_out;
  archive::TarWriter tar(tar_out);
  tar.add(file_entry(kClusterConfigSummary, summary.dump(2) + "\n"));
  for (const auto* v : {&api, &pve_files}) {
    for (const auto& e : *v) tar.add(e);
  }
  tar.add(dir_entry("nodes"));
  for (const auto& e : node_files) tar.add(e);
  tar.finish();

  std::string file_name = fmt::format("pve-cluster-{}.tar", r.cluster);
  MemorySource source(tar_out.take(), file_name);
  repo::BackupOptions bo;
  bo.node = r.source_node;
  bo.file_name = file_name;
  bo.archive_aware = false;
  bo.tags = o.tags;
  bo.tags["content"] = kClusterConfigContent;
  bo.tags["cluster"] = r.cluster;
  repo::CatalogEvent ev;
  ev.kind = "backup";
  ev.repository = repo.location();
  ev.node = r.source_node;
  ev.file_name = file_name;
  r.backup = log.recorded(ev, [&](repo::CatalogEvent& e) {
    auto b = repo::backup(repo, source, bo);
    e.snapshot_id = b.snapshot_id;
    e.size_bytes = static_cast<int64_t>(b.size_bytes);
    e.stored_bytes = static_cast<int64_t>(b.stored_bytes);
    e.duration_seconds = b.duration_seconds;
    e.dedup_ratio = b.dedup_ratio;
    e.details_json = nlohmann::json{
        {"content", kClusterConfigContent},
        {"cluster", r.cluster},
        {"files", r.files},
        {"nodes", nodes_json},
        {"warnings",
         r.warnings}}.dump();
    return b;
  });
  return r;
}

// ---- reading a snapshot ----------------------------------------------------------------------

std::string ClusterConfigSnapshot::cluster() const {
  auto it = info.tags.find("cluster");
  return it == info.tags.end() ? summary.value("cluster", std::string()) : it->second;
}

const TarEntry* ClusterConfigSnapshot::find(const std::string& path) const {
  for (const auto& e : entries)
    if (e.path == path) return &e;
  return nullptr;
}

ClusterConfigSnapshot load_cluster_config(repo::Repository& repo, const std::string& snapshot,
                                          const std::string& cluster) {
  repo::SnapshotFilter filter;
  filter.tags["content"] = kClusterConfigContent;
  if (!cluster.empty()) filter.tags["cluster"] = cluster;
  std::string id;
  bool latest = snapshot.empty() || snapshot == "latest";
  try {
    id = repo.resolve_snapshot(latest ? "latest" : snapshot,
                               latest ? filter : repo::SnapshotFilter{});
  } catch (const Error& e) {
    if (latest && e.code() == Errc::kNotFound) {
      throw Error(Errc::kNotFound,
                  fmt::format("no cluster configuration snapshot{} in {}",
                              cluster.empty() ? "" : " of cluster " + cluster, repo.location()),
                  "back it up with `pvesafe backup --cluster-config`");
    }
    throw;
  }
  ClusterConfigSnapshot s;
  s.snapshot_id = id;
  repo::Manifest m = repo.load_manifest(id);
  s.info = m.info;
  auto c = s.info.tags.find("content");
  if (c == s.info.tags.end() || c->second != kClusterConfigContent) {
    throw Error(Errc::kUsage,
                fmt::format("snapshot {} ({}) is not a cluster configuration", id.substr(0, 8),
                            s.info.file_name),
                "list them with `pvesafe snapshots --tag content=pve-cluster-config`");
  }
  MemorySink sink;
  repo::restore(repo, id, sink);
  MemorySource src(sink.take(), s.info.file_name);
  archive::TarReader reader(src);
  while (auto e = reader.next()) s.entries.push_back(std::move(*e));
  if (const auto* sum = s.find(kClusterConfigSummary)) {
    s.summary = nlohmann::json::parse(sum->data, nullptr, false);
    if (s.summary.is_discarded()) s.summary = nlohmann::json::object();
  }
  return s;
}

int extract_cluster_config(const ClusterConfigSnapshot& snap, const std::string& dir, bool force) {
  std::error_code ec;
  if (fs::exists(dir, ec)) {
    if (!fs::is_directory(dir, ec) || fs::is_symlink(dir, ec)) {
      throw Error(Errc::kUsage, fmt::format("{} exists and is not a directory", dir));
    }
    if (!fs::is_empty(dir, ec) && !force) {
      throw Error(Errc::kUsage, fmt::format("{} is not empty", dir),
                  "pass --force to write into it (files of the snapshot replace those there), or "
                  "give a new directory");
    }
  } else if (::mkdir(dir.c_str(), 0700) != 0) {
    throw Error(Errc::kIo, fmt::format("cannot create {}: {}", dir, std::strerror(errno)));
  }
  ::chmod(dir.c_str(), 0700);
  int files = 0;
  auto ensure_dir = [&](const std::string& rel) {
    std::string cur = dir;
    size_t pos = 0;
    while (pos < rel.size()) {
      size_t slash = rel.find('/', pos);
      if (slash == std::string::npos) break;
      cur = dir + "/" + rel.substr(0, slash);
      struct stat st {};
      if (::lstat(cur.c_str(), &st) == 0) {
        if (!S_ISDIR(st.st_mode)) {
          throw Error(
              Errc::kIntegrity,
              fmt::format("{} is in the way of the snapshot's {} (not a directory)", cur, rel));
        }
      } else if (::mkdir(cur.c_str(), 0755) != 0) {
        throw Error(Errc::kIo, fmt::format("cannot create {}: {}", cur, std::strerror(errno)));
      }
      pos = slash + 1;
    }
  };
  for (const auto& e : snap.entries) {
    ensure_dir(e.path);
    std::string path = dir + "/" + e.path;
    struct stat st {};
    bool exists = ::lstat(path.c_str(), &st) == 0;
    if (e.type == TarEntry::Type::kDirectory) {
      if (!exists && ::mkdir(path.c_str(), 0755) != 0) {
        throw Error(Errc::kIo, fmt::format("cannot create {}: {}", path, std::strerror(errno)));
      }
      continue;
    }
    if (exists) {
      if (S_ISDIR(st.st_mode))
        throw Error(Errc::kIntegrity, fmt::format("{} is a directory", path));
      ::unlink(path.c_str());
    }
    if (e.type == TarEntry::Type::kSymlink) {
      if (::symlink(e.link_target.c_str(), path.c_str()) != 0) {
        throw Error(Errc::kIo,
                    fmt::format("cannot create the link {}: {}", path, std::strerror(errno)));
      }
      continue;
    }
    uint32_t mode = secret_path(e.path) ? 0600 : (e.mode & 0755);
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
    if (fd < 0)
      throw Error(Errc::kIo, fmt::format("cannot create {}: {}", path, std::strerror(errno)));
    size_t off = 0;
    while (off < e.data.size()) {
      ssize_t w = ::write(fd, e.data.data() + off, e.data.size() - off);
      if (w <= 0) {
        ::close(fd);
        throw Error(Errc::kIo, fmt::format("writing {} failed: {}", path, std::strerror(errno)));
      }
      off += static_cast<size_t>(w);
    }
    ::fchmod(fd, mode);
    if (::close(fd) != 0) throw Error(Errc::kIo, fmt::format("writing {} failed", path));
    ++files;
  }
  return files;
}

// ---- merges ----------------------------------------------------------------------------------

std::string merge_storage_cfg(const std::string& target, const std::string& backup,
                              const std::map<std::string, std::string>& storage_map,
                              std::vector<std::string>* added) {
  auto t = pve::parse_section_config(target, "storage.cfg of the cluster");
  auto b = pve::parse_section_config(backup, "storage.cfg of the snapshot");
  std::set<std::string> have;
  for (const auto& s : t) have.insert(s.id);
  for (const auto& s : b) {
    if (have.count(s.id) || storage_map.count(s.id)) continue;
    t.push_back(s);
    if (added) added->push_back(s.id);
  }
  return write_section_config(t);
}

namespace {

std::string user_cfg_key(const std::string& line) {
  auto f1 = line.find(':');
  if (f1 == std::string::npos) return "other:" + line;
  std::string type = line.substr(0, f1);
  if (type == "acl") return line;
  auto f2 = line.find(':', f1 + 1);
  return line.substr(0, f2);
}

int user_cfg_rank(const std::string& line) {
  static const std::vector<std::string> order = {
      "user:", "token:", "group:", "pool:", "role:", "acl:"};
  for (size_t i = 0; i < order.size(); ++i)
    if (starts_with(line, order[i])) return static_cast<int>(i);
  return static_cast<int>(order.size());
}

std::string merge_by_key(const std::string& target, const std::string& backup,
                         const std::function<std::string(const std::string&)>& key,
                         const std::function<int(const std::string&)>& rank) {
  std::vector<std::string> t, b;
  for (auto& l : split_lines(target))
    if (!l.empty()) t.push_back(l);
  for (auto& l : split_lines(backup))
    if (!l.empty()) b.push_back(l);
  std::map<std::string, std::string> from_backup;
  for (const auto& l : b) from_backup[key(l)] = l;
  std::set<std::string> used;
  std::vector<std::pair<int, std::string>> out;
  for (const auto& l : t) {
    std::string k = key(l);
    auto it = from_backup.find(k);
    out.emplace_back(rank(l), it == from_backup.end() ? l : it->second);
    used.insert(k);
  }
  for (const auto& l : b) {
    if (used.insert(key(l)).second) out.emplace_back(rank(l), l);
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const auto& x, const auto& y) { return x.first < y.first; });
  std::vector<std::string> lines;
  for (auto& [r, l] : out) lines.push_back(l);
  return join_lines(lines);
}

}  // namespace

std::string merge_user_cfg(const std::string& target, const std::string& backup) {
  return merge_by_key(target, backup, user_cfg_key, user_cfg_rank);
}

std::string merge_keyed_lines(const std::string& target, const std::string& backup, char sep) {
  return merge_by_key(
      target, backup, [sep](const std::string& l) { return l.substr(0, l.find(sep)); },
      [](const std::string&) { return 0; });
}

// ---- plan and apply --------------------------------------------------------------------------

std::pair<std::string, std::string> apply_policy(const std::string& p) {
  static const std::set<std::string> identity = {"corosync.conf",
                                                 "authkey.pub",
                                                 "authkey.pub.old",
                                                 "pve-root-ca.pem",
                                                 "pve-www.key",
                                                 "priv/authkey.key",
                                                 "priv/pve-root-ca.key",
                                                 "priv/pve-root-ca.srl",
                                                 "priv/authorized_keys",
                                                 "priv/known_hosts",
                                                 "ceph.conf",
                                                 "priv/ceph.client.admin.keyring",
                                                 "priv/ceph.mon.keyring"};
  if (identity.count(p) || starts_with(p, "priv/lock/") || starts_with(p, "priv/ceph/") ||
      starts_with(p, "priv/acme/")) {
    return {"skip", "the new cluster's own identity (keys, certificates, corosync)"};
  }
  if (p == "local" || p == "qemu-server" || p == "lxc" || p == "openvz") {
    return {"skip", "a link to the node's own directory"};
  }
  if (starts_with(p, "nodes/")) {
    return {"skip", "guest configs and node certificates: restore --all brings the guests back"};
  }
  if (starts_with(p, "ha/")) {
    return {"skip",
            "HA comes back with the guests (restore --all registers resources, groups, rules)"};
  }
  if (p == "replication.cfg") return {"skip", "its targets are nodes of the old cluster"};
  if (p == "storage.cfg")
    return {"merge", "the cluster's storages stay; the backup's others are added"};
  if (p == "user.cfg" || p == "priv/token.cfg" || p == "priv/shadow.cfg") {
    return {"merge", "the backup's users and tokens added; the cluster's own kept"};
  }
  if (starts_with(p, "priv/storage/")) return {"storage-secret", "with its storage"};
  if (p == "priv/tfa.cfg") return {"replace-if-absent", "second factors"};
  return {"replace", ""};
}

int ClusterConfigPlan::to_apply() const {
  int n = 0;
  for (const auto& f : files) {
    n += (f.action == "replace" || f.action == "merge") && f.state != FileChange::State::kSame &&
                 f.state != FileChange::State::kOnlyOnCluster
             ? 1
             : 0;
  }
  return n;
}

ClusterConfigPlan plan_cluster_config(const ClusterConfigSnapshot& snap,
                                      const ClusterConfigTarget& target) {
  ClusterConfigPlan plan;
  plan.snapshot_id = snap.snapshot_id;
  plan.backup_cluster = snap.cluster();
  pve::Client client(target.api);
  pve::ClusterStatus status = pve::cluster_status(client);
  plan.target_cluster = status.name;
  std::unique_ptr<pve::SshSession> ssh;
  std::optional<Error> last;
  std::vector<TarEntry> live;
  for (const auto& n : status.nodes) {
    if (!n.online) continue;
    try {
      ssh = std::make_unique<pve::SshSession>(target.ssh.for_node(n.name, status.nodes));
      live = read_remote_tree(*ssh, target.ssh.path_on(n.name, "/etc/pve"), "pve", true);
      plan.target_node = n.name;
      break;
    } catch (const Error& e) {
      last = e;
      ssh.reset();
    }
  }
  if (plan.target_node.empty()) {
    if (last) throw *last;
    throw Error(Errc::kTransient, fmt::format("no node of cluster {} is online", status.name));
  }
  std::map<std::string, const TarEntry*> have, want;
  for (const auto& e : live)
    if (e.type != TarEntry::Type::kDirectory) have[e.path.substr(4)] = &e;
  for (const auto& e : snap.entries)
    if (starts_with(e.path, "pve/") && e.type != TarEntry::Type::kDirectory)
      want[e.path.substr(4)] = &e;

  // storage.cfg first: which storages the merge adds decides about their secrets.
  std::vector<std::string> added_storages;
  std::set<std::string> paths;
  for (const auto& [p, e] : have) paths.insert(p);
  for (const auto& [p, e] : want) paths.insert(p);
  std::string merged_storage;
  if (want.count("storage.cfg")) {
    merged_storage =
        merge_storage_cfg(have.count("storage.cfg") ? have["storage.cfg"]->data : "",
                          want["storage.cfg"]->data, target.storage_map, &added_storages);
  }
  for (const auto& p : paths) {
    FileChange f;
    f.path = p;
    const TarEntry* h = have.count(p) ? have[p] : nullptr;
    const TarEntry* w = want.count(p) ? want[p] : nullptr;
    std::string hs =
        h ? (h->type == TarEntry::Type::kSymlink ? "-> " + h->link_target : h->data) : "";
    std::string ws =
        w ? (w->type == TarEntry::Type::kSymlink ? "-> " + w->link_target : w->data) : "";
    f.state = !w                               ? FileChange::State::kOnlyOnCluster
              : !h                             ? FileChange::State::kOnlyInBackup
              : hs == ws && h->type == w->type ? FileChange::State::kSame
                                               : FileChange::State::kChanged;
    f.secret = secret_path(p);
    f.mode = f.secret ? 0600 : 0640;
    auto [action, reason] = apply_policy(p);
    if (!w) {
      action = "keep";
      reason = "not in the backup; apply never deletes";
    } else if (w->type == TarEntry::Type::kSymlink && action != "skip") {
      action = "skip";
      reason = "a link";
    } else if (action == "storage-secret") {
      std::string id = p.substr(std::string("priv/storage/").size());
      id = id.substr(0, id.find('.'));
      bool add =
          std::find(added_storages.begin(), added_storages.end(), id) != added_storages.end();
      action = add ? "replace" : "skip";
      reason = add ? "secret of storage " + id + ", added by the merge"
                   : "storage " + id + " is not added";
    } else if (action == "replace-if-absent") {
      action = h ? "skip" : "replace";
      reason = h ? "the cluster has its own" : "";
    }
    if (action == "merge") {
      if (p == "storage.cfg") {
        f.result = merged_storage;
        reason = added_storages.empty()
                     ? "no storage to add (the cluster has them, or the storage map renames them)"
                     : "adds " + fmt::format("{}", fmt::join(added_storages, ", "));
      } else if (p == "user.cfg") {
        f.result = merge_user_cfg(hs, ws);
      } else {
        f.result = merge_keyed_lines(hs, ws, p == "priv/shadow.cfg" ? ':' : ' ');
      }
      if (h && f.result == hs) f.state = FileChange::State::kSame;
    } else if (action == "replace") {
      f.result = ws;
    }
    f.action = action;
    f.reason = reason;
    if (!f.secret && f.state != FileChange::State::kSame && action != "skip") {
      f.diff = unified_diff(hs, action == "merge" ? f.result : ws, "cluster:/etc/pve/" + p,
                            (action == "merge" ? "merged:" : "backup:") + p);
    }
    plan.files.push_back(std::move(f));
  }

  // Node files: shown, never applied.
  std::map<std::string, std::vector<const TarEntry*>> by_node;
  for (const auto& e : snap.entries) {
    if (!starts_with(e.path, "nodes/") || e.type != TarEntry::Type::kFile) continue;
    std::string rest = e.path.substr(6);
    by_node[rest.substr(0, rest.find('/'))].push_back(&e);
  }
  for (const auto& [node, entries] : by_node) {
    bool online = false;
    for (const auto& n : status.nodes) online = online || (n.name == node && n.online);
    std::vector<TarEntry> live_node;
    std::string why;
    if (online) {
      try {
        pve::SshSession s(target.ssh.for_node(node, status.nodes));
        live_node = read_node_files(s, target.ssh.path_on(node, ""), "nodes/" + node);
      } catch (const Error& e) {
        why = e.what();
      }
    } else {
      why = "not an online node of cluster " + status.name;
    }
    for (const auto* e : entries) {
      FileChange f;
      std::string rel = e->path.substr(6 + node.size());
      f.path = node + ":" + rel;
      f.action = "show";
      f.reason = why.empty() ? "node files are never applied" : why;
      const TarEntry* h = nullptr;
      for (const auto& l : live_node)
        if (l.path == e->path) h = &l;
      f.state = !h                   ? FileChange::State::kOnlyInBackup
                : h->data == e->data ? FileChange::State::kSame
                                     : FileChange::State::kChanged;
      if (f.state != FileChange::State::kSame) {
        f.diff = unified_diff(h ? h->data : "", e->data, node + ":" + rel + " (now)",
                              node + ":" + rel + " (backup)");
      }
      plan.node_files.push_back(std::move(f));
    }
  }
  return plan;
}

ApplyResult apply_cluster_config(const ClusterConfigPlan& plan, const ClusterConfigTarget& target,
                                 const std::string& undo_dir) {
  pve::Client client(target.api);
  pve::ClusterStatus status = pve::require_quorum(client);
  if (status.name != plan.target_cluster) {
    throw Error(Errc::kUsage, fmt::format("the plan was made for cluster {}, not {}",
                                          plan.target_cluster, status.name));
  }
  ApplyResult r;
  r.undo_dir = undo_dir;
  std::error_code ec;
  fs::create_directories(undo_dir, ec);
  if (ec) throw Error(Errc::kIo, fmt::format("cannot create {}: {}", undo_dir, ec.message()));
  ::chmod(undo_dir.c_str(), 0700);
  pve::SshSession ssh(target.ssh.for_node(plan.target_node, status.nodes));
  std::string base = target.ssh.path_on(plan.target_node, "/etc/pve");
  for (const auto& f : plan.files) {
    if (f.action != "replace" && f.action != "merge") continue;
    if (f.state == FileChange::State::kSame || f.state == FileChange::State::kOnlyOnCluster)
      continue;
    if (!target.only.empty() &&
        std::find(target.only.begin(), target.only.end(), f.path) == target.only.end()) {
      continue;
    }
    std::string remote = base + "/" + f.path;
    if (f.state == FileChange::State::kChanged) {
      // What is replaced goes to the undo directory first.
      std::string keep = undo_dir + "/" + f.path;
      fs::create_directories(fs::path(keep).parent_path(), ec);
      std::string old = ssh.read_file(remote);
      int fd = ::open(keep.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
      if (fd < 0 || ::write(fd, old.data(), old.size()) != static_cast<ssize_t>(old.size()) ||
          ::close(fd) != 0) {
        throw Error(Errc::kIo, fmt::format("cannot keep the cluster's {} in {}", f.path, keep),
                    "nothing was written to the cluster for this file");
      }
    }
    auto slash = f.path.find_last_of('/');
    if (slash != std::string::npos) ssh.mkdirs(base + "/" + f.path.substr(0, slash), 0755);
    ssh.write_file(remote, f.result, f.mode);
    r.written.push_back(f.path);
  }
  return r;
}

}  // namespace pvesafe::jobs
