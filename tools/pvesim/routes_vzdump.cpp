// POST /nodes/{node}/vzdump: a task that writes real archive files (VMA or tar, compressed by the
// real tools; see archive.h) into the dump directory of the target storage, with the log PVE
// writes; plus vzdump/defaults and vzdump/extractconfig.
#include <algorithm>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>

#include "archive.h"
#include "guest_ops.h"
#include "router.h"
#include "tasks.h"
#include "views.h"

namespace pvesim {

namespace {

namespace fs = std::filesystem;

std::string human_time(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S", &tm);
  return buf;
}

struct Job {
  int vmid;
  std::string type, name, config;
  uint64_t size;
};

// vzdump's default compression: the API schema's default ("0"), unless /etc/vzdump.conf (not
// simulated) says otherwise.
constexpr const char* kDefaultCompress = "0";

json vzdump(Ctx& c) {
  Sim& sim = c.sim;
  Node& n = c.node();
  std::vector<int> vmids;
  bool all = bool_param(c.params, "all", false);
  if (auto v = opt_param(c.params, "vmid")) {
    for (auto& s : split(*v, ',')) {
      if (s.empty()) continue;
      try {
        vmids.push_back(std::stoi(s));
      } catch (...) {
        param_error("vmid", "invalid format - value does not look like a valid VM ID");
      }
    }
  }
  if (all) {
    std::vector<std::string> excl =
        c.params.count("exclude") ? split(c.params.at("exclude"), ',') : std::vector<std::string>{};
    for (auto& [id, g] : sim.c.guests)
      if (g.node == n.name && std::find(excl.begin(), excl.end(), std::to_string(id)) == excl.end())
        vmids.push_back(id);
  } else if (vmids.empty()) {
    param_error("vmid", "property is missing and it is not optional");
  }
  std::vector<Job> jobs;
  for (int vmid : vmids) {
    c.require("/vms/" + std::to_string(vmid), "VM.Backup");
    Guest* g = sim.guest(vmid);
    if (!g) fail("Unable to find VM " + std::to_string(vmid));
    if (g->node != n.name)
      fail("guest " + std::to_string(vmid) + " is on node '" + g->node + "', not '" + n.name + "'");
    jobs.push_back({vmid, g->type, g->name, config_text(*g), g->backup_size});
  }
  std::string storage_id = c.params.count("storage") ? c.params.at("storage") : "";
  std::string dumpdir = c.params.count("dumpdir") ? c.params.at("dumpdir") : "";
  if (storage_id.empty() && dumpdir.empty()) storage_id = "local";
  std::string dir;
  if (!dumpdir.empty()) {
    c.require("/", "Sys.Modify");  // like PVE: dumpdir is for root only
    dir = dumpdir;
  } else {
    Storage* s = sim.storage(storage_id);
    if (!s || !sim.storage_on_node(*s, n.name)) fail("storage '" + storage_id + "' does not exist");
    if (s->content.find("backup") == std::string::npos)
      fail("could not get storage information for '" + storage_id + "': storage '" + storage_id +
           "' does not support backups");
    if (!s->file_based())
      fail("storage '" + storage_id + "' is not a file based backup storage in pvesim");
    c.require("/storage/" + storage_id, "Datastore.AllocateSpace");
    dir = sim.storage_path(*s, n.name) + "/dump";
  }
  std::string compress = c.params.count("compress") ? c.params.at("compress") : kDefaultCompress;
  if (!valid_compress(compress))
    param_error("compress",
                "value '" + compress +
                    "' does not have a value in the enumeration '0, 1, gzip, lzo, zstd'");
  std::string mode = c.params.count("mode") ? c.params.at("mode") : "snapshot";
  if (mode != "snapshot" && mode != "suspend" && mode != "stop")
    param_error("mode", "value '" + mode +
                            "' does not have a value in the enumeration 'snapshot, suspend, stop'");
  std::string notes_tpl = c.params.count("notes-template") ? c.params.at("notes-template") : "";
  bool protect = bool_param(c.params, "protected", false);
  std::string cmdline =
      "vzdump " +
      (all ? std::string("--all 1")
           : join(split(c.params.count("vmid") ? c.params.at("vmid") : "", ','), " ")) +
      (storage_id.empty() ? " --dumpdir " + dumpdir : " --storage " + storage_id) + " --mode " +
      mode + " --compress " + compress + " --node " + n.name;
  TaskSpec spec;
  spec.node = n.name;
  spec.type = "vzdump";
  spec.id = jobs.size() == 1 ? std::to_string(jobs[0].vmid) : "";
  spec.user = c.who.user;
  double secs = sim.c.task_seconds;
  std::string scratch = sim.opts.data_dir + "/tmp";
  spec.body = [jobs, dir, compress, mode, cmdline, secs, notes_tpl, protect, scratch,
               cluster = sim.c.name](TaskRun& run) {
    run.log("INFO: starting new backup job: " + cmdline);
    int failed = 0;
    std::error_code ec;
    fs::create_directories(dir, ec);
    for (const auto& j : jobs) {
      int64_t start = run.sim().now();
      std::string word = j.type == "qemu" ? "VM" : "CT";
      run.log("INFO: Starting Backup of VM " + std::to_string(j.vmid) + " (" + j.type + ")");
      run.log("INFO: Backup started at " + human_time(start));
      std::string file = archive_file_name(j.type, j.vmid, start, compress);
      std::string path = dir + "/" + file;
      try {
        bool running = false;
        {
          auto lk = run.lock();
          Guest* g = run.sim().guest(j.vmid);
          if (!g) throw std::runtime_error("unable to find VM " + std::to_string(j.vmid));
          if (!g->lock.empty()) throw std::runtime_error(word + " is locked (" + g->lock + ")");
          g->lock = "backup";
          running = g->status == "running";
          std::string status = g->status;
          lk.unlock();
          run.log("INFO: status = " + status);
        }
        run.log("INFO: " + std::string(j.type == "qemu" ? "VM" : "CT") + " Name: " + j.name);
        run.log("INFO: backup mode: " + mode);
        run.log("INFO: ionice priority: 7");
        ArchiveSpec a;
        a.type = j.type;
        a.vmid = j.vmid;
        a.ctime = start;
        a.disk_bytes = j.size;
        a.config = j.config;
        a.compress = compress;
        a.running = running;
        a.work_dir = scratch;
        std::error_code mk;
        fs::create_directories(scratch, mk);
        ArchiveResult r = write_archive(path, a, [&run](const std::string& l) { run.log(l); });
        run.sleep(secs);
        if (j.type == "qemu") {
          std::string disks = render_bytes(r.disk_bytes, 1);
          run.log("INFO: 100% (" + disks + " of " + disks + ") in 1s, read: " + disks +
                  "/s, write: " + render_bytes(r.size, 1) + "/s");
          run.log("INFO: transferred " + render_bytes(r.disk_bytes) + " in 1 seconds (" +
                  render_bytes(r.disk_bytes) + "/s)");
        }
        run.log("INFO: archive file size: " + vzdump_file_size(r.size));
        if (!notes_tpl.empty()) {
          std::string notes = notes_tpl;
          for (auto [k, v] : {std::pair<std::string, std::string>{"{{guestname}}", j.name},
                              {"{{vmid}}", std::to_string(j.vmid)},
                              {"{{node}}", run.task().node},
                              {"{{cluster}}", cluster}})
            for (size_t p = 0; (p = notes.find(k, p)) != std::string::npos;)
              notes.replace(p, k.size(), v);
          std::ofstream(path + ".notes") << notes;
          run.log("INFO: adding notes to backup");
        }
        if (protect) {
          std::ofstream(path + ".protected");
          run.log("INFO: marking backup as protected");
        }
        run.log("INFO: Finished Backup of VM " + std::to_string(j.vmid) + " (00:00:01)");
        run.log("INFO: Backup finished at " + human_time(run.sim().now()));
        std::string logpath =
            path.substr(0, path.find(j.type == "qemu" ? ".vma" : ".tar")) + ".log";
        std::ofstream(logpath) << human_time(start) << " INFO: Starting Backup of VM " << j.vmid
                               << " (" << j.type << ")\n"
                               << human_time(start) << " INFO: creating vzdump archive '" << path
                               << "'\n"
                               << human_time(run.sim().now()) << " INFO: Finished Backup of VM "
                               << j.vmid << "\n";
      } catch (const std::exception& e) {
        ++failed;
        run.log("ERROR: Backup of VM " + std::to_string(j.vmid) + " failed - " + e.what());
        fs::remove(path + ".tmp", ec);
      }
      auto lk = run.lock();
      if (Guest* g = run.sim().guest(j.vmid); g && g->lock == "backup") g->lock.clear();
    }
    if (failed) {
      run.log("INFO: Failed at " + human_time(run.sim().now()));
      throw std::runtime_error("job errors");
    }
    run.log("INFO: Backup job finished successfully");
  };
  return start_task(sim, std::move(spec));
}

}  // namespace

void register_vzdump_routes(Router& r) {
  r.add("POST", "/nodes/{node}/vzdump", [](Ctx& c) { return vzdump(c); });
  r.add("GET", "/nodes/{node}/vzdump/defaults", [](Ctx& c) {
    c.node();
    return json{{"storage", "local"},
                {"mode", "snapshot"},
                {"compress", kDefaultCompress},
                {"prune-backups", "keep-all=1"},
                {"ionice", 7},
                {"lockwait", 180},
                {"stopwait", 10},
                {"tmpdir", "/var/tmp"}};
  });
  r.add("GET", "/nodes/{node}/vzdump/extractconfig", [](Ctx& c) {
    Node& n = c.node();
    std::string vol = req_param(c.params, "volume");
    auto colon = vol.find(':');
    Storage* s = colon == std::string::npos ? nullptr : c.sim.storage(vol.substr(0, colon));
    if (!s || !starts_with(vol.substr(colon + 1), "backup/"))
      fail("unable to parse volume ID '" + vol + "'");
    c.require("/storage/" + s->id, "Datastore.AllocateSpace");
    std::string file = vol.substr(colon + 8);
    if (file.empty() || file.find('/') != std::string::npos) fail("unable to parse volume ID '" + vol + "'");
    std::string path = c.sim.storage_path(*s, n.name) + "/dump/" + file;
    if (!fs::exists(path)) fail("volume '" + vol + "' does not exist");
    try {
      return json(read_archive_config(path));
    } catch (const std::exception& e) {
      fail(e.what());
    }
  });
}

}  // namespace pvesim
