#include "jobs/guest_restore.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "pve/guest.h"
#include "pve/provision.h"
#include "pve/ssh.h"
#include "repo/restore.h"
#include "store/request_json.h"

namespace pvesafe::jobs {

namespace {
double since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}
}  // namespace

void move_guest_disks(pve::Client& client, const std::string& node, const std::string& type,
                      const std::string& vmid, const std::map<std::string, std::string>& moves,
                      std::chrono::seconds timeout) {
  for (const auto& [disk, storage] : moves) {
    std::map<std::string, std::string> form{{"storage", storage}, {"delete", "1"}};
    std::string path;
    if (type == "lxc") {
      form["volume"] = disk;
      path = fmt::format("/nodes/{}/lxc/{}/move_volume", node, vmid);
    } else {
      form["disk"] = disk;
      path = fmt::format("/nodes/{}/qemu/{}/move_disk", node, vmid);
    }
    auto upid = client.post(path, form);
    if (!upid.is_string()) {
      throw Error(Errc::kRemote, fmt::format("moving disk {} of guest {} to {} returned no task id",
                                             disk, vmid, storage));
    }
    client.wait_task(upid.get<std::string>(), timeout);
  }
}

GuestRestoreResult restore_guest(repo::Repository& repo, const pve::ClientOptions& api,
                                 const pve::SshTargets& ssh_targets, const GuestRestoreOptions& o,
                                 EventLog& log) {
  pve::check_vmid(o.guest);
  if (!o.new_id.empty()) pve::check_vmid(o.new_id);
  if (o.node.empty()) throw Error(Errc::kUsage, "restore --guest needs --node NODE");
  auto t0 = std::chrono::steady_clock::now();
  repo::SnapshotFilter filter;
  filter.guest_id = o.guest;
  bool latest = o.snapshot.empty() || o.snapshot == "latest";
  std::string id = repo.resolve_snapshot(latest ? "latest" : o.snapshot,
                                         latest ? filter : repo::SnapshotFilter{});
  repo::Manifest m = repo.load_manifest(id);
  pve::ArchiveKind kind = pve::archive_kind(m.info.file_name);
  GuestRestoreResult r;
  r.snapshot_id = id;
  r.file_name = m.info.file_name;
  r.type = m.info.guest_type.empty() ? kind.type : m.info.guest_type;
  r.vmid = o.new_id.empty() ? o.guest : o.new_id;
  r.node = o.node;

  repo::CatalogEvent ev;
  ev.kind = "restore";
  ev.repository = repo.location();
  ev.snapshot_id = id;
  ev.node = o.node;
  ev.guest_id = r.vmid;
  ev.guest_type = r.type;
  ev.file_name = m.info.file_name;
  return log.recorded(ev, [&](repo::CatalogEvent& e) {
    pve::Client client(api);
    auto nodes = pve::list_nodes(client);
    pve::SshSession ssh(ssh_targets.for_node(o.node, nodes));
    pve::RestoreTarget t;
    t.node = o.node;
    t.vmid = r.vmid;
    t.type = r.type;
    t.storage = o.storage;
    t.dump_storage = o.dump_storage;
    t.dump_dir_template = ssh_targets.dump_dir_template;
    t.force = o.force;
    t.keep_archive = o.keep_archive;
    t.unique = o.unique;
    t.timeout = o.task_timeout;
    pve::GuestRestore gr(client, ssh, t, kind.extension);
    gr.preflight();
    spdlog::info("restoring snapshot {} ({}) to {} {} on {}", id.substr(0, 8), m.info.file_name,
                 r.type, r.vmid, r.node);
    auto tr = std::chrono::steady_clock::now();
    repo::RestoreOptions ro;
    ro.threads = o.threads;
    const auto before = repo.store().requests();
    repo::RestoreResult rr = repo::restore(repo, id, gr.upload(), ro);
    r.requests = repo.store().requests() - before;
    r.transfer_seconds = since(tr);
    r.size_bytes = rr.size_bytes;
    r.fetched_bytes = rr.fetched_bytes;
    auto tc = std::chrono::steady_clock::now();
    gr.create();
    r.create_seconds = since(tc);
    if (!o.move_disks.empty()) {
      auto tm = std::chrono::steady_clock::now();
      move_guest_disks(client, r.node, r.type, r.vmid, o.move_disks, o.task_timeout);
      r.move_seconds = since(tm);
    }
    if (o.start) {
      gr.start();
      r.started = true;
    }
    gr.commit();
    r.duration_seconds = since(t0);
    e.size_bytes = static_cast<int64_t>(r.size_bytes);
    e.duration_seconds = r.duration_seconds;
    e.throughput_bytes_per_second =
        r.transfer_seconds > 0 ? static_cast<double>(r.size_bytes) / r.transfer_seconds : 0;
    e.details_json = nlohmann::json{
        {"transfer_seconds", r.transfer_seconds},
        {"create_seconds", r.create_seconds},
        {"move_seconds", r.move_seconds},
        {"fetched_bytes", r.fetched_bytes},
        {"requests", store::requests_json(r.requests, r.size_bytes)},
        {"started", r.started},
        {"forced",
         o.force}}.dump();
    return r;
  });
}

}  // namespace pvesafe::jobs
