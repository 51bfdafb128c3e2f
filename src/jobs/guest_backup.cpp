#include "jobs/guest_backup.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <memory>
#include <thread>

#include "pve/cluster_status.h"
#include "pve/ha.h"
#include "pve/ssh.h"
#include "pve/vzdump.h"
#include "store/request_json.h"

namespace pvesafe::jobs {

namespace {

std::string stem_of_archive(const std::string& path) {
  for (const char* ext : {".vma", ".tar", ".tgz"}) {
    auto p = path.rfind(ext);
    if (p != std::string::npos) return path.substr(0, p);
  }
  return path;
}

// What a restore onto a new cluster needs to know about the guest, beside its archive.
std::map<std::string, std::string> guest_tags(const pve::GuestInfo& guest,
                                              const std::string& cluster,
                                              const std::vector<pve::HaResource>& ha) {
  std::map<std::string, std::string> t{
      {"node", guest.node}, {"guest", guest.vmid}, {"type", guest.type}, {"source", "vzdump-api"}};
  if (!guest.name.empty()) t["name"] = guest.name;
  if (!cluster.empty()) t["cluster"] = cluster;
  if (!guest.pool.empty()) t["pool"] = guest.pool;
  if (!guest.status.empty()) t["status"] = guest.status;
  if (!guest.tags.empty()) {
    std::string joined;
    for (const auto& x : guest.tags) joined += (joined.empty() ? "" : ";") + x;
    t["pve_tags"] = joined;
  }
  std::string sid = (guest.type == "lxc" ? "ct:" : "vm:") + guest.vmid;
  for (const auto& r : ha) {
    if (r.sid() == sid) {
      auto h = pve::ha_tags(r);
      t.insert(h.begin(), h.end());
    }
  }
  return t;
}

GuestBackupResult backup_one(pve::Client& client, const std::vector<pve::NodeInfo>& nodes,
                             const pve::GuestInfo& guest, const GuestBackupOptions& o,
                             const std::map<std::string, std::string>& tags,
                             repo::Repository& repo) {
  GuestBackupResult b;
  b.guest = guest;
  pve::VzdumpOptions vo;
  vo.storage = o.dump_storage;
  vo.mode = o.mode;
  vo.compress = o.compress;
  vo.timeout = o.task_timeout;
  vo.dump_dir_template = o.ssh.dump_dir_template;
  // SSH first: a node we cannot reach or whose host key is wrong fails before vzdump writes
  // an archive there.
  pve::SshSession ssh(o.ssh.for_node(guest.node, nodes));
  spdlog::info("guest {}: vzdump on {} to storage {}", guest.vmid, guest.node, o.dump_storage);
  pve::VzdumpResult dump = pve::run_vzdump(client, guest, vo);
  b.vzdump_seconds = dump.seconds;
  b.archive = dump.archive_path;
  spdlog::info("guest {}: archive {} ({}), streaming it into {}", guest.vmid, dump.archive_path,
               dump.exitstatus, repo.location());
  auto t0 = std::chrono::steady_clock::now();
  {
    pve::SftpSource source(ssh, dump.archive_path);
    repo::BackupOptions bo;
    bo.node = guest.node;
    bo.guest_id = guest.vmid;
    bo.guest_type = guest.type;
    bo.file_name = dump.file_name;
    bo.tags = tags;
    try {
      const auto before = repo.store().requests();
      b.result = repo::backup(repo, source, bo);
      b.requests = repo.store().requests() - before;
    } catch (const Error& e) {
      // The archive on the node is still a valid vzdump backup: leave it for the operator.
      throw Error(e.code(), e.message(),
                  fmt::format("{}{}the archive stays on {} as {}", e.hint(),
                              e.hint().empty() ? "" : "; ", guest.node, dump.archive_path));
    }
  }
  b.transfer_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (o.keep_archive) {
    b.archive_kept = true;
  } else {
    ssh.remove(dump.archive_path);
    ssh.remove(stem_of_archive(dump.archive_path) + ".log");
    ssh.remove(dump.archive_path + ".notes");
  }
  b.ok = true;
  return b;
}

repo::CatalogEvent backup_event(const repo::Repository& repo, const GuestBackupResult& b) {
  repo::CatalogEvent ev;
  ev.kind = "backup";
  ev.repository = repo.location();
  ev.node = b.guest.node;
  ev.guest_id = b.guest.vmid;
  ev.guest_type = b.guest.type;
  if (b.ok) {
    ev.snapshot_id = b.result.snapshot_id;
    ev.file_name = b.result.snapshot.file_name;
    ev.size_bytes = static_cast<int64_t>(b.result.size_bytes);
    ev.stored_bytes = static_cast<int64_t>(b.result.stored_bytes);
    ev.duration_seconds = b.vzdump_seconds + b.transfer_seconds;
    ev.throughput_bytes_per_second =
        b.transfer_seconds > 0 ? static_cast<double>(b.result.size_bytes) / b.transfer_seconds : 0;
    ev.dedup_ratio = b.result.dedup_ratio;
  }
  ev.details_json =
      nlohmann::json{{"source", "vzdump-api"},
                     {"vzdump_seconds", b.vzdump_seconds},
                     {"transfer_seconds", b.transfer_seconds},
                     {"archive", b.archive},
                     {"archive_kept", b.archive_kept},
                     {"requests", store::requests_json(b.requests, b.result.size_bytes)}}
          .dump();
  return ev;
}

}  // namespace

int GuestBackupReport::failed() const {
  int n = 0;
  for (const auto& g : guests) n += g.ok ? 0 : 1;
  return n;
}

std::optional<Error> GuestBackupReport::first_error() const {
  for (const auto& g : guests) {
    if (!g.ok && g.error) return g.error;
  }
  return std::nullopt;
}

GuestBackupReport backup_guests(repo::Repository& repo, const GuestBackupOptions& o,
                                EventLog& log) {
  const auto& sel = o.select;
  if (!sel.guest.empty() && sel.all)
    throw Error(Errc::kUsage, "--guest and --all exclude each other");
  if (sel.all && sel.node.empty() && sel.pool.empty()) {
    throw Error(Errc::kUsage, "--all needs --node NODE or --pool POOL");
  }
  if (!sel.guest.empty()) pve::check_vmid(sel.guest);
  pve::Client client(o.api);
  auto guests_all = pve::list_guests(client);
  auto status = pve::cluster_status(client);
  auto nodes = status.nodes;
  std::vector<pve::GuestInfo> guests;
  if (!sel.guest.empty()) {
    guests.push_back(pve::find_guest(guests_all, sel.guest));
  } else {
    if (!sel.node.empty()) {
      bool known = false;
      for (const auto& n : nodes) known = known || n.name == sel.node;
      if (!known) {
        throw Error(Errc::kNotFound,
                    fmt::format("node {} is not a member of the cluster", sel.node));
      }
    }
    guests = pve::select_guests(guests_all, sel.node, sel.pool);
    if (guests.empty()) {
      throw Error(Errc::kNotFound,
                  fmt::format("no guests on {}{}{}", sel.node.empty() ? "" : "node " + sel.node,
                              !sel.node.empty() && !sel.pool.empty() ? " in " : "",
                              sel.pool.empty() ? "" : "pool " + sel.pool));
    }
  }
  std::vector<pve::HaResource> ha;
  try {
    ha = pve::list_ha_resources(client);
  } catch (const Error& e) {
    // A token without Sys.Audit on / cannot read HA: the backup still works, untagged.
    spdlog::warn("HA resources not readable, snapshots carry no HA state: {}", e.what());
  }
  GuestBackupReport report;
  report.guests.resize(guests.size());
  auto run = [&](size_t i, pve::Client& c) {
    GuestBackupResult& b = report.guests[i];
    b.guest = guests[i];
    try {
      if (!pve::lookup_guest(c, guests[i].vmid)) {
        throw Error(Errc::kNotFound, fmt::format("guest {} disappeared", guests[i].vmid));
      }
      pve::require_online_node(c, guests[i].node);
      b = backup_one(c, nodes, guests[i], o, guest_tags(guests[i], status.name, ha), repo);
    } catch (const Error& e) {
      b.ok = false;
      b.error = e;
    } catch (const std::exception& e) {
      b.ok = false;
      b.error = Error(Errc::kInternal, e.what());
    }
    auto ev = backup_event(repo, b);
    if (b.ok) {
      log.record(ev);
    } else {
      log.record_failure(ev, *b.error);
    }
  };
  if (guests.size() == 1) {
    run(0, client);
    return report;
  }
  std::atomic<size_t> next{0};
  std::vector<std::thread> workers;
  int n = std::min<int>(o.jobs, static_cast<int>(guests.size()));
  for (int w = 0; w < n; ++w) {
    workers.emplace_back([&] {
      std::unique_ptr<pve::Client> c;
      for (size_t i; (i = next.fetch_add(1)) < guests.size();) {
        try {
          if (!c) c = std::make_unique<pve::Client>(o.api);
          run(i, *c);
        } catch (const std::exception& e) {
          report.guests[i].ok = false;
          report.guests[i].error = Error(Errc::kInternal, e.what());
        }
      }
    });
  }
  for (auto& t : workers) t.join();
  return report;
}

}  // namespace pvesafe::jobs
