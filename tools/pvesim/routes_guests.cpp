// Guest endpoints, for qemu and lxc alike: list, create/restore, status/current, start/stop/
// shutdown/reboot (tasks), config GET/PUT/POST, migrate, DELETE, snapshots, qemu agent ping.
#include <algorithm>
#include <cctype>
#include <filesystem>
#include <memory>

#include "archive.h"
#include "guest_ops.h"
#include "restore_placement.h"
#include "live_import.h"
#include "router.h"
#include "tasks.h"
#include "views.h"

namespace pvesim {

namespace {

std::string vm_acl(int vmid) { return "/vms/" + std::to_string(vmid); }

json guest_list_entry(Sim& sim, const Guest& g) {
  Usage u = guest_usage(sim, g);
  json j{{"vmid", g.vmid},         {"name", g.name},          {"status", g.status},
         {"cpus", g.cpus},         {"maxmem", g.maxmem},      {"mem", u.mem},
         {"maxdisk", g.maxdisk},   {"disk", u.disk},          {"uptime", u.uptime},
         {"cpu", u.cpu},           {"netin", u.netin},        {"netout", u.netout},
         {"diskread", u.diskread}, {"diskwrite", u.diskwrite}};
  if (g.type == "lxc") {
    j["type"] = "lxc";
    j["maxswap"] = 512ull << 20;
    j["swap"] = 0;
  }
  if (g.status == "running") j["pid"] = 10000 + g.vmid % 50000;
  if (!g.tags.empty()) j["tags"] = g.tags;
  if (!g.lock.empty()) j["lock"] = g.lock;
  if (g.is_template) j["template"] = 1;
  return j;
}

json guest_current(Sim& sim, const Guest& g) {
  json j = guest_list_entry(sim, g);
  HaResource* r = sim.ha_resource(g.sid());
  if (r) {
    j["ha"] = {{"managed", 1}, {"state", r->state}};
    if (!r->group.empty() && sim.pve_major() < 9) j["ha"]["group"] = r->group;
  } else {
    j["ha"] = {{"managed", 0}};
  }
  if (g.type == "qemu") {
    j["qmpstatus"] = g.status == "running" ? "running" : "stopped";
    if (g.agent) j["agent"] = 1;
    if (g.status == "running") {
      j["running-machine"] = sim.pve_major() >= 9 ? "pc-i440fx-10.0+pve1" : "pc-i440fx-9.2+pve1";
      j["running-qemu"] = sim.pve_major() >= 9 ? "10.0.2" : "9.2.0";
    }
  }
  return j;
}

// Resolves a backup volume id (STORAGE:backup/FILE) or an absolute path to a file path.
std::string resolve_archive(Sim& sim, const std::string& archive, const std::string& node) {
  if (!archive.empty() && archive[0] == '/') {
    if (!std::filesystem::exists(archive)) fail("can't find archive file '" + archive + "'");
    return archive;
  }
  auto colon = archive.find(':');
  if (colon == std::string::npos) fail("unable to parse volume ID '" + archive + "'");
  Storage* s = sim.storage(archive.substr(0, colon));
  if (!s) fail("storage '" + archive.substr(0, colon) + "' does not exist");
  std::string rest = archive.substr(colon + 1);
  if (!starts_with(rest, "backup/")) fail("unable to parse volume ID '" + archive + "'");
  std::string path = sim.storage_path(*s, node) + "/dump/" + rest.substr(7);
  if (!std::filesystem::exists(path)) fail("volume '" + archive + "' does not exist");
  return path;
}

// The task part of a create with import-from disks: the plain imports first (and efidisk0,
// tpmstate0), then, with live-restore, the guest starts and the other disks stream behind it;
// a failed stream stops the guest and fails the task ("live-restore failed"), leaving the VM
// locked (import) as qemu-server does.
void run_imports(TaskRun& run, int vmid, const std::vector<DiskImport>& imports, double bwlimit,
                 bool start, const std::shared_ptr<bool>& keep_on_error) {
  std::vector<RestoredDisk> done;
  for (const auto& d : imports) {
    if (d.live) continue;
    run.log("importing disk '" + d.source + "' to VM " + std::to_string(vmid) + " ...");
    done.push_back(run_import(run, d, 0));
    run.log("Successfully imported disk as '" + d.key + "'");
  }
  bool live = false;
  for (const auto& d : imports) live = live || d.live;
  {
    auto lk = run.lock();
    Guest* cur = run.sim().guest(vmid);
    if (!cur) throw std::runtime_error("guest " + std::to_string(vmid) + " vanished");
    cur->restored_disks = done;
    if (live) {
      cur->lock = "import";
      cur->status = "running";
      cur->started_at = run.sim().now();
    } else {
      cur->lock.clear();
      if (start) {
        cur->status = "running";
        cur->started_at = run.sim().now();
      }
    }
  }
  if (!live) return;
  try {
    for (const auto& d : imports) {
      if (!d.live) continue;
      RestoredDisk r = run_import(run, d, bwlimit);
      auto lk = run.lock();
      if (Guest* cur = run.sim().guest(vmid)) cur->restored_disks.push_back(r);
    }
  } catch (const std::exception& e) {
    run.warn("An error occurred during live-restore: " + std::string(e.what()));
    *keep_on_error = true;
    auto lk = run.lock();
    if (Guest* cur = run.sim().guest(vmid)) cur->status = "stopped";
    throw std::runtime_error("live-restore failed");
  }
  run.log("restore-drive jobs finished successfully, removing all tracking block devices");
  auto lk = run.lock();
  if (Guest* cur = run.sim().guest(vmid)) cur->lock.clear();
}

json create_guest(Ctx& c, const std::string& type) {
  Sim& sim = c.sim;
  Node& n = c.node();
  int vmid = static_cast<int>(int_param(c.params, "vmid", -1, 100, 999999999));
  if (vmid < 0) param_error("vmid", "property is missing and it is not optional");
  std::string archive;
  if (type == "qemu") {
    if (auto a = opt_param(c.params, "archive")) archive = *a;
  } else if (bool_param(c.params, "restore", false)) {
    archive = req_param(c.params, "ostemplate");
  }
  bool force = bool_param(c.params, "force", false);
  Guest* existing = sim.guest(vmid);
  if (existing && !(archive.size() && force))
    fail("unable to create " + std::string(guest_word(type)) + " " + std::to_string(vmid) + " - " +
         guest_word(type) + " " + std::to_string(vmid) + " already exists on node '" +
         existing->node + "'");
  if (existing) {
    c.require(vm_acl(vmid), "VM.Backup");
    if (existing->node != n.name || existing->type != type)
      fail("unable to restore " + std::string(guest_word(type)) + " " + std::to_string(vmid) +
           " - config file on node '" + existing->node + "'");
    if (existing->status == "running")
      fail("unable to restore " + std::string(guest_word(type)) + " " + std::to_string(vmid) +
           " - VM is running");
    check_lock(*existing, c.params);
  } else {
    c.require(vm_acl(vmid), "VM.Allocate");
  }
  std::string archive_path = archive.empty() ? "" : resolve_archive(sim, archive, n.name);
  std::string storage = c.params.count("storage") ? c.params.at("storage") : "";
  if (!archive.empty() && type == "lxc") check_ct_restore_storage(sim, storage, n.name);
  bool is_new = !existing;
  Guest backup_copy = existing ? *existing : Guest{};
  Guest g;
  g.vmid = vmid;
  g.type = type;
  g.node = n.name;
  g.name = (type == "qemu" ? "VM " : "CT") + std::to_string(vmid);
  if (type == "lxc") g.name = "CT" + std::to_string(vmid);
  g.backup_size = existing ? existing->backup_size : (4ull << 20);
  Params cfg = c.params;
  if (type == "qemu" && !cfg.count("name") && archive.empty())
    cfg["name"] = "VM" + std::to_string(vmid);
  // Disks imported from images (import-from), streamed behind the running guest with
  // live-restore (qemu-server's live_import_from_files).
  const bool live_restore = type == "qemu" && bool_param(c.params, "live-restore", false);
  std::vector<DiskImport> imports;
  if (type == "qemu" && archive.empty()) imports = take_imports(sim, c.who, cfg, live_restore);
  for (auto& d : imports) d.vmid = vmid;
  double bwlimit = static_cast<double>(int_param(c.params, "bwlimit", 0, 0, INT64_MAX)) * 1024;
  apply_config(sim, g, cfg, n.name);
  for (const auto& d : imports) {
    std::string& v = g.config[d.key];
    auto pos = v.find(",size=");
    if (pos != std::string::npos) v = v.substr(0, pos);
    v += ",size=" + pve_size(d.size);
  }
  if (!imports.empty()) apply_config(sim, g, Params{}, n.name);  // derives maxdisk from the sizes
  g.lock = "create";
  sim.c.guests[vmid] = g;
  bool start = bool_param(c.params, "start", false);
  Params overrides = c.params;
  double secs = sim.c.task_seconds;
  TaskSpec spec;
  spec.node = n.name;
  spec.type = task_prefix(type) + (archive.empty() ? "create" : "restore");
  spec.id = std::to_string(vmid);
  spec.user = c.who.user;
  std::string scratch = sim.opts.data_dir + "/tmp/restore-" + std::to_string(vmid);
  auto keep_on_error = std::make_shared<bool>(false);
  spec.body = [vmid, archive, archive_path, start, overrides, secs, type, scratch, storage, imports,
               live_restore, bwlimit, keep_on_error, node = n.name](TaskRun& run) {
    if (!archive.empty() && live_restore)
      throw std::runtime_error(
          "live-restore is only compatible with backup images from a Proxmox Backup Server");
    if (!imports.empty()) {
      run_imports(run, vmid, imports, bwlimit, start, keep_on_error);
      return;
    }
    std::string sha, conf;
    uint64_t bytes = 0;
    RestoredArchive restored;
    if (!archive.empty()) {
      sha = sha256_hex_file(archive_path);
      bytes = std::filesystem::file_size(archive_path);
      // Read and check the whole archive as qmrestore / pct restore do; a bad one fails here.
      struct RemoveScratch {
        std::string dir;
        ~RemoveScratch() {
          std::error_code ec;
          std::filesystem::remove_all(dir, ec);
        }
      } remove_scratch{scratch};
      restored = restore_archive(
          archive_path, type, vmid, scratch, [&run](const std::string& l) { run.log(l); }, storage);
      conf = restored.config;
      run.log("archive sha256: " + sha + " (" + std::to_string(bytes) + " bytes)");
    }
    run.sleep(secs);
    auto lk = run.lock();
    Guest* cur = run.sim().guest(vmid);
    if (!cur) throw std::runtime_error("guest " + std::to_string(vmid) + " vanished");
    if (!archive.empty()) {
      // Each volume to the storage qmrestore / pct restore would pick (fails like them when
      // that storage is missing on this node or holds no guest disks).
      conf = place_restored_volumes(run.sim(), type, vmid, node, storage, conf);
      apply_config_text(*cur, conf);
      Params keep;
      for (const auto& [k, v] : overrides)
        if (k == "name" || k == "hostname" || k == "memory" || k == "cores" || k == "sockets" ||
            k == "description" || k == "tags" || k == "onboot")
          keep[k] = v;
      apply_config(run.sim(), *cur, keep, node);
      cur->restored_from = archive;
      cur->restored_sha256 = sha;
      cur->restored_bytes = static_cast<int64_t>(bytes);
      cur->restored_disks.clear();
      for (const auto& d : restored.devices)
        cur->restored_disks.push_back({d.name, d.size, d.sha256});
      cur->restored_entries = type == "lxc" ? static_cast<int64_t>(restored.entries) : -1;
      cur->snapshots.clear();
    }
    cur->lock.clear();
    if (start) {
      cur->status = "running";
      cur->started_at = run.sim().now();
    }
  };
  spec.on_error = [&sim, vmid, is_new, backup_copy, keep_on_error]() {
    if (*keep_on_error) return;  // a failed live import leaves the VM, stopped and locked
    if (is_new)
      sim.c.guests.erase(vmid);
    else
      sim.c.guests[vmid] = backup_copy;
  };
  return start_task(sim, std::move(spec));
}

// start, stop, shutdown, reboot, suspend, resume
json status_action(Ctx& c, const std::string& type, const std::string& action) {
  Sim& sim = c.sim;
  Node& n = c.node();
  int vmid = c.vmid();
  Guest& g = sim.guest_on(n.name, vmid, type);
  c.require(vm_acl(vmid), "VM.PowerMgmt");
  check_lock(g, c.params);
  std::string word = guest_word(type);
  if ((action == "reboot" || action == "suspend") && g.status != "running")
    fail(word + " " + std::to_string(vmid) + " not running");
  HaResource* ha = sim.ha_resource(g.sid());
  TaskSpec spec;
  spec.node = n.name;
  spec.id = std::to_string(vmid);
  spec.user = c.who.user;
  double secs = sim.c.task_seconds;
  if (ha && (action == "start" || action == "stop" || action == "shutdown")) {
    // HA managed guests: the request goes to the HA stack, which then does the work.
    std::string want = action == "start" ? "started" : "stopped";
    spec.type = action == "start" ? "hastart" : "hastop";
    spec.body = [vmid, want, secs](TaskRun& run) {
      {
        auto lk = run.lock();
        if (HaResource* r = run.sim().ha_resource(run.sim().guest(vmid)->sid())) r->state = want;
      }
      run.log("Requesting HA " + std::string(want == "started" ? "start" : "stop") + " for VM " +
              std::to_string(vmid));
      run.sleep(secs);
      auto lk = run.lock();
      Guest* cur = run.sim().guest(vmid);
      if (!cur) return;
      cur->status = want == "started" ? "running" : "stopped";
      if (want == "started") cur->started_at = run.sim().now();
    };
    return start_task(sim, std::move(spec));
  }
  spec.type = task_prefix(type) + action;
  bool running = g.status == "running";
  spec.body = [vmid, action, secs, running, word](TaskRun& run) {
    if (action == "start" && running)
      throw std::runtime_error(word + " " + std::to_string(vmid) + " already running");
    if (action == "shutdown" && !running)
      throw std::runtime_error(word + " " + std::to_string(vmid) + " not running");
    run.sleep(secs);
    auto lk = run.lock();
    Guest* cur = run.sim().guest(vmid);
    if (!cur) throw std::runtime_error("guest " + std::to_string(vmid) + " vanished");
    if (action == "start" || action == "resume" || action == "reboot") {
      if (action != "resume" || cur->status != "running") cur->started_at = run.sim().now();
      cur->status = "running";
    } else if (action == "stop" || action == "shutdown") {
      cur->status = "stopped";
    }
  };
  return start_task(sim, std::move(spec));
}

json migrate(Ctx& c, const std::string& type) {
  Sim& sim = c.sim;
  Node& n = c.node();
  int vmid = c.vmid();
  Guest& g = sim.guest_on(n.name, vmid, type);
  c.require(vm_acl(vmid), "VM.Migrate");
  std::string target = req_param(c.params, "target");
  if (target == n.name) fail("target is local node.");
  Node* t = sim.node(target);
  if (!t) fail("no such cluster node '" + target + "'");
  if (!t->online) fail("target node '" + target + "' is not online");
  check_lock(g, c.params);
  bool online = bool_param(c.params, "online", false);
  bool restart = bool_param(c.params, "restart", false);
  if (g.status == "running" && type == "qemu" && !online)
    fail("can't migrate running VM without --online");
  if (g.status == "running" && type == "lxc" && !restart)
    fail("lxc live migration is currently not implemented");
  TaskSpec spec;
  spec.node = n.name;
  spec.id = std::to_string(vmid);
  spec.user = c.who.user;
  spec.type = sim.ha_resource(g.sid())    ? "hamigrate"
              : task_prefix(type) == "qm" ? "qmigrate"
                                          : "vzmigrate";
  g.lock = "migrate";
  double secs = sim.c.task_seconds;
  std::string src = n.name;
  spec.body = [vmid, target, secs, src](TaskRun& run) {
    run.log("starting migration of VM " + std::to_string(vmid) + " to node '" + target + "'");
    run.sleep(secs);
    auto lk = run.lock();
    Guest* cur = run.sim().guest(vmid);
    if (!cur) throw std::runtime_error("guest " + std::to_string(vmid) + " vanished");
    Node* tn = run.sim().node(target);
    if (!tn || !tn->online) {
      cur->lock.clear();
      throw std::runtime_error("migration aborted: target node '" + target + "' is not online");
    }
    cur->node = target;
    cur->lock.clear();
    lk.unlock();
    run.log("migration finished successfully (duration 00:00:01)");
  };
  spec.on_error = [&sim, vmid]() {
    if (Guest* gg = sim.guest(vmid)) gg->lock.clear();
  };
  return start_task(sim, std::move(spec));
}

json destroy(Ctx& c, const std::string& type) {
  Sim& sim = c.sim;
  Node& n = c.node();
  int vmid = c.vmid();
  Guest& g = sim.guest_on(n.name, vmid, type);
  c.require(vm_acl(vmid), "VM.Allocate");
  check_lock(g, c.params);
  std::string word = guest_word(type);
  if (g.status == "running")
    fail(word + " " + std::to_string(vmid) + " is running - destroy failed");
  bool purge = bool_param(c.params, "purge", false);
  if (sim.ha_resource(g.sid()) && !purge)
    fail("unable to remove " + word + " " + std::to_string(vmid) +
         " - used in HA resources and purge parameter not set.");
  g.lock = "destroyed";
  TaskSpec spec;
  spec.node = n.name;
  spec.type = task_prefix(type) + "destroy";
  spec.id = std::to_string(vmid);
  spec.user = c.who.user;
  double secs = sim.c.task_seconds;
  spec.body = [vmid, purge, secs](TaskRun& run) {
    run.sleep(secs / 2);
    auto lk = run.lock();
    Sim& s = run.sim();
    Guest* cur = s.guest(vmid);
    if (!cur) return;
    std::string sid = cur->sid();
    s.c.guests.erase(vmid);
    if (purge) {
      auto& v = s.c.ha_resources;
      v.erase(std::remove_if(v.begin(), v.end(), [&](const HaResource& r) { return r.sid == sid; }),
              v.end());
      for (auto& j : s.c.backup_jobs) {
        std::vector<std::string> ids;
        for (auto& id : split(j.vmid, ','))
          if (!id.empty() && id != std::to_string(vmid)) ids.push_back(id);
        j.vmid = join(ids, ",");
      }
    }
  };
  spec.on_error = [&sim, vmid]() {
    if (Guest* gg = sim.guest(vmid)) gg->lock.clear();
  };
  return start_task(sim, std::move(spec));
}

// POST .../qemu/{vmid}/move_disk (disk, storage, delete) and .../lxc/{vmid}/move_volume (volume,
// storage, delete): the volume is copied to a new volume on the storage and the config points to
// it; without delete=1 the old volume stays as unusedN.
json move_volume(Ctx& c, const std::string& type) {
  Sim& sim = c.sim;
  Node& n = c.node();
  Guest& g = sim.guest_on(n.name, c.vmid(), type);
  c.require(vm_acl(g.vmid), "VM.Config.Disk");
  std::string key = req_param(c.params, type == "qemu" ? "disk" : "volume");
  std::string storage = req_param(c.params, "storage");
  bool del = bool_param(c.params, "delete", false);
  auto it = g.config.find(key);
  if (it == g.config.end() || it->second.find(':') == std::string::npos)
    fail("disk '" + key + "' does not exist");
  check_lock(g, c.params);
  check_volume_storage(sim, storage, n.name, type);
  std::string old_value = it->second;
  std::string old_vol = old_value.substr(0, old_value.find(','));
  if (old_vol.substr(0, old_vol.find(':')) == storage)
    fail("you can't move to the same storage with same format");
  g.lock = "disk";
  int vmid = g.vmid;
  TaskSpec spec;
  spec.node = n.name;
  spec.type = type == "qemu" ? "qmmove" : "move_volume";
  spec.id = std::to_string(vmid);
  spec.user = c.who.user;
  double secs = sim.c.task_seconds;
  spec.body = [vmid, key, storage, del, secs, old_vol](TaskRun& run) {
    run.log("moving disk '" + old_vol + "' to storage '" + storage + "'");
    run.sleep(secs);
    auto lk = run.lock();
    Guest* cur = run.sim().guest(vmid);
    if (!cur) throw std::runtime_error("guest " + std::to_string(vmid) + " vanished");
    cur->lock.clear();
    auto ci = cur->config.find(key);
    if (ci == cur->config.end()) throw std::runtime_error("disk '" + key + "' vanished");
    std::string value = ci->second;
    auto comma = value.find(',');
    std::string opts = comma == std::string::npos ? "" : value.substr(comma);
    std::string vol = free_volume_name(*cur, storage);
    ci->second = vol + opts;
    if (!del) {
      for (int u = 0;; ++u)
        if (!cur->config.count("unused" + std::to_string(u))) {
          cur->config["unused" + std::to_string(u)] = old_vol;
          break;
        }
    } else {
      lk.unlock();
      run.log("removing volume '" + old_vol + "'");
    }
  };
  spec.on_error = [&sim, vmid]() {
    if (Guest* gg = sim.guest(vmid)) gg->lock.clear();
  };
  return start_task(sim, std::move(spec));
}

json snapshot_list(Ctx& c, const std::string& type) {
  Node& n = c.node();
  Guest& g = c.sim.guest_on(n.name, c.vmid(), type);
  c.require(vm_acl(g.vmid), "VM.Audit");
  json out = json::array();
  std::string last;
  for (auto& s : g.snapshots) {
    json j{{"name", s.name}, {"description", s.description}, {"snaptime", s.snaptime}};
    if (!s.parent.empty()) j["parent"] = s.parent;
    if (type == "qemu") j["vmstate"] = s.vmstate ? 1 : 0;
    out.push_back(j);
    last = s.name;
  }
  json cur{{"name", "current"}, {"description", "You are here!"}, {"digest", config_digest(g)}};
  if (!last.empty()) cur["parent"] = last;
  if (type == "qemu") cur["running"] = g.status == "running" ? 1 : 0;
  out.push_back(cur);
  return out;
}

json snapshot_task(Ctx& c, const std::string& type, const std::string& op) {
  Sim& sim = c.sim;
  Node& n = c.node();
  Guest& g = sim.guest_on(n.name, c.vmid(), type);
  int vmid = g.vmid;
  c.require(vm_acl(vmid), op == "rollback" ? "VM.Snapshot.Rollback" : "VM.Snapshot");
  std::string name = op == "create" ? req_param(c.params, "snapname") : c.var("snapname");
  bool valid =
      name.size() >= 2 && std::isalpha(static_cast<unsigned char>(name[0])) &&
      name.find_first_not_of("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-") ==
          std::string::npos;
  if (!valid) param_error("snapname", "invalid format - invalid configuration ID '" + name + "'");
  auto it = std::find_if(g.snapshots.begin(), g.snapshots.end(),
                         [&](const Snapshot& s) { return s.name == name; });
  if (op == "create" && it != g.snapshots.end()) fail("snapshot name '" + name + "' already used");
  if (op != "create" && it == g.snapshots.end()) fail("snapshot '" + name + "' does not exist");
  check_lock(g, c.params);
  std::string desc = c.params.count("description") ? c.params.at("description") : "";
  bool vmstate = bool_param(c.params, "vmstate", false);
  g.lock = op == "rollback" ? "rollback" : "snapshot";
  if (op == "delete") g.lock = "snapshot-delete";
  TaskSpec spec;
  spec.node = n.name;
  spec.type = task_prefix(type) + (op == "create"   ? "snapshot"
                                   : op == "delete" ? "delsnapshot"
                                                    : "rollback");
  spec.id = std::to_string(vmid);
  spec.user = c.who.user;
  double secs = sim.c.task_seconds;
  spec.body = [vmid, op, name, desc, vmstate, secs](TaskRun& run) {
    run.sleep(secs / 2);
    auto lk = run.lock();
    Guest* cur = run.sim().guest(vmid);
    if (!cur) throw std::runtime_error("guest " + std::to_string(vmid) + " vanished");
    cur->lock.clear();
    if (op == "create") {
      Snapshot s;
      s.name = name;
      s.description = desc;
      s.snaptime = run.sim().now();
      s.vmstate = vmstate && cur->status == "running";
      s.parent = cur->snapshots.empty() ? "" : cur->snapshots.back().name;
      s.config = cur->config;
      cur->snapshots.push_back(s);
    } else if (op == "delete") {
      auto& v = cur->snapshots;
      v.erase(std::remove_if(v.begin(), v.end(), [&](const Snapshot& s) { return s.name == name; }),
              v.end());
    } else {
      for (auto& s : cur->snapshots)
        if (s.name == name) {
          cur->config = s.config;
          cur->status = s.vmstate ? "running" : "stopped";
        }
    }
  };
  spec.on_error = [&sim, vmid]() {
    if (Guest* gg = sim.guest(vmid)) gg->lock.clear();
  };
  return start_task(sim, std::move(spec));
}

void register_for(Router& r, const std::string& type) {
  const std::string base = "/nodes/{node}/" + type;
  r.add("GET", base, [type](Ctx& c) {
    Node& n = c.node();
    json out = json::array();
    for (auto& [id, g] : c.sim.c.guests)
      if (g.node == n.name && g.type == type && c.can("VM.Audit"))
        out.push_back(guest_list_entry(c.sim, g));
    return out;
  });
  r.add("POST", base, [type](Ctx& c) { return create_guest(c, type); });
  r.add("GET", base + "/{vmid}", [type](Ctx& c) {
    c.sim.guest_on(c.node().name, c.vmid(), type);
    json out = json::array();
    for (const char* s : {"config", "status", "snapshot", "migrate", "agent", "rrddata"})
      out.push_back({{"subdir", s}});
    return out;
  });
  r.add("DELETE", base + "/{vmid}", [type](Ctx& c) { return destroy(c, type); });
  r.add("GET", base + "/{vmid}/status", [type](Ctx& c) {
    c.sim.guest_on(c.node().name, c.vmid(), type);
    json out = json::array();
    for (const char* s : {"current", "start", "stop", "shutdown", "reboot", "suspend", "resume"})
      out.push_back({{"subdir", s}});
    return out;
  });
  r.add("GET", base + "/{vmid}/status/current", [type](Ctx& c) {
    Guest& g = c.sim.guest_on(c.node().name, c.vmid(), type);
    c.require(vm_acl(g.vmid), "VM.Audit");
    return guest_current(c.sim, g);
  });
  for (const char* action : {"start", "stop", "shutdown", "reboot", "suspend", "resume"}) {
    std::string a = action;
    r.add("POST", base + "/{vmid}/status/" + a,
          [type, a](Ctx& c) { return status_action(c, type, a); });
  }
  r.add("GET", base + "/{vmid}/config", [type](Ctx& c) {
    Guest& g = c.sim.guest_on(c.node().name, c.vmid(), type);
    c.require(vm_acl(g.vmid), "VM.Audit");
    if (auto snap = opt_param(c.params, "snapshot")) {
      for (auto& s : g.snapshots)
        if (s.name == *snap) {
          Guest tmp = g;
          tmp.config = s.config;
          tmp.lock.clear();
          return guest_config_json(tmp);
        }
      fail("snapshot '" + *snap + "' does not exist");
    }
    return guest_config_json(g);
  });
  auto set_config = [type](Ctx& c, bool async) -> json {
    Guest& g = c.sim.guest_on(c.node().name, c.vmid(), type);
    c.require(vm_acl(g.vmid), "VM.Config.Options");
    check_lock(g, c.params);
    if (auto d = opt_param(c.params, "digest"); d && !d->empty() && *d != config_digest(g))
      fail("detected modified configuration - file changed by other user? Try again.");
    apply_config(c.sim, g, c.params, g.node);
    if (!async) return nullptr;
    TaskSpec spec{g.node, "qmconfig", std::to_string(g.vmid), c.who.user, [](TaskRun&) {}, nullptr};
    return start_task(c.sim, std::move(spec));
  };
  r.add("PUT", base + "/{vmid}/config", [set_config](Ctx& c) { return set_config(c, false); });
  if (type == "qemu")
    r.add("POST", base + "/{vmid}/config", [set_config](Ctx& c) { return set_config(c, true); });
  r.add("GET", base + "/{vmid}/migrate", [type](Ctx& c) {
    Guest& g = c.sim.guest_on(c.node().name, c.vmid(), type);
    c.require(vm_acl(g.vmid), "VM.Migrate");
    json allowed = json::array(), not_allowed = json::object();
    for (auto& n : c.sim.c.nodes) {
      if (n.name == g.node) continue;
      if (n.online)
        allowed.push_back(n.name);
      else
        not_allowed[n.name] = {{"unavailable_storages", json::array({"local-lvm"})}};
    }
    return json{{"running", g.status == "running" ? 1 : 0}, {"allowed_nodes", allowed},
                {"not_allowed_nodes", not_allowed},         {"local_disks", json::array()},
                {"local_resources", json::array()},         {"mapped-resources", json::array()},
                {"mapped-resource-info", json::object()}};
  });
  r.add("POST", base + "/{vmid}/migrate", [type](Ctx& c) { return migrate(c, type); });
  r.add("POST", base + (type == "qemu" ? "/{vmid}/move_disk" : "/{vmid}/move_volume"),
        [type](Ctx& c) { return move_volume(c, type); });
  r.add("GET", base + "/{vmid}/snapshot", [type](Ctx& c) { return snapshot_list(c, type); });
  r.add("POST", base + "/{vmid}/snapshot",
        [type](Ctx& c) { return snapshot_task(c, type, "create"); });
  r.add("DELETE", base + "/{vmid}/snapshot/{snapname}",
        [type](Ctx& c) { return snapshot_task(c, type, "delete"); });
  r.add("POST", base + "/{vmid}/snapshot/{snapname}/rollback",
        [type](Ctx& c) { return snapshot_task(c, type, "rollback"); });
  r.add("GET", base + "/{vmid}/snapshot/{snapname}/config", [type](Ctx& c) {
    Guest& g = c.sim.guest_on(c.node().name, c.vmid(), type);
    for (auto& s : g.snapshots)
      if (s.name == c.var("snapname")) {
        Guest tmp = g;
        tmp.config = s.config;
        tmp.lock.clear();
        return guest_config_json(tmp);
      }
    fail("snapshot '" + c.var("snapname") + "' does not exist");
  });
}

json agent_command(Ctx& c, const std::string& cmd) {
  Guest& g = c.sim.guest_on(c.node().name, c.vmid(), "qemu");
  c.require(vm_acl(g.vmid), "VM.Monitor");
  if (g.status != "running") fail("VM " + std::to_string(g.vmid) + " is not running");
  if (!g.agent) fail("No QEMU guest agent configured");
  if (cmd == "ping") return json{{"result", json::object()}};
  if (cmd == "get-host-name") return json{{"result", {{"host-name", g.name}}}};
  if (cmd == "get-osinfo")
    return json{{"result",
                 {{"id", "debian"},
                  {"name", "Debian GNU/Linux"},
                  {"pretty-name", "Debian GNU/Linux 12 (bookworm)"},
                  {"version-id", "12"},
                  {"kernel-release", "6.1.0-40-amd64"},
                  {"machine", "x86_64"}}}};
  if (cmd == "info")
    return json{{"result", {{"version", "7.2.19"}, {"supported_commands", json::array()}}}};
  if (cmd == "get-time") return json{{"result", c.sim.now() * 1000000000LL}};
  if (cmd == "network-get-interfaces")
    return json{
        {"result",
         json::array({{{"name", "lo"},
                       {"ip-addresses", json::array({{{"ip-address", "127.0.0.1"},
                                                      {"ip-address-type", "ipv4"},
                                                      {"prefix", 8}}})}},
                      {{"name", "eth0"},
                       {"hardware-address", "bc:24:11:00:00:01"},
                       {"ip-addresses",
                        json::array({{{"ip-address", "10.20.0." + std::to_string(g.vmid % 250 + 2)},
                                      {"ip-address-type", "ipv4"},
                                      {"prefix", 24}}})}}})}};
  param_error("command", "value '" + cmd + "' does not have a value in the enumeration");
}

}  // namespace

void register_guest_routes(Router& r) {
  register_for(r, "qemu");
  register_for(r, "lxc");
  r.add("POST", "/nodes/{node}/qemu/{vmid}/agent/{command}",
        [](Ctx& c) { return agent_command(c, c.var("command")); });
  r.add("GET", "/nodes/{node}/qemu/{vmid}/agent/{command}",
        [](Ctx& c) { return agent_command(c, c.var("command")); });
  r.add("POST", "/nodes/{node}/qemu/{vmid}/agent",
        [](Ctx& c) { return agent_command(c, req_param(c.params, "command")); });
}

}  // namespace pvesim
