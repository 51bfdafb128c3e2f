// Storage endpoints: /storage (cluster config), /nodes/{node}/storage, .../{storage}/status and
// .../{storage}/content (backup files found on disk, guest volumes), volume DELETE.
#include <algorithm>
#include <filesystem>
#include <fstream>

#include "archive.h"
#include "router.h"
#include "tasks.h"
#include "views.h"

namespace pvesim {

namespace {

namespace fs = std::filesystem;

// The path a real PVE cluster would show for the storage (the simulator keeps the files under
// the data directory instead; GET /pvesim/storage-path tells where).
std::string pve_path(const Storage& s) {
  if (!s.cfg_path.empty()) return s.cfg_path;
  if (!s.path.empty()) return s.path;
  if (s.id == "local") return "/var/lib/vz";
  return "/mnt/pve/" + s.id;
}

json storage_config(const Storage& s) {
  json j{{"storage", s.id},
         {"type", s.type},
         {"content", s.content},
         {"digest", "5e8b2c0f7a1d3e4b6c9a0f1e2d3c4b5a6f7e8d9c"}};
  if (s.file_based()) j["path"] = pve_path(s);
  if (s.shared) j["shared"] = 1;
  if (!s.nodes.empty()) j["nodes"] = join(s.nodes, ",");
  if (s.content.find("backup") != std::string::npos) j["prune-backups"] = "keep-all=1";
  if (s.type == "nfs" && s.extra.empty()) {
    j["server"] = "10.10.0.250";
    j["export"] = "/export/" + s.id;
  }
  if (s.type == "lvmthin" && s.extra.empty()) {
    j["thinpool"] = "data";
    j["vgname"] = "pve";
  }
  for (const auto& [k, v] : s.extra) j[k] = v;  // as storage.cfg configures it
  return j;
}

Storage& node_storage(Ctx& c) {
  Node& n = c.node();
  Storage* s = c.sim.storage(c.var("storage"));
  if (!s || !c.sim.storage_on_node(*s, n.name))
    fail("storage '" + c.var("storage") + "' does not exist");
  return *s;
}

json storage_status(Ctx& c, const Storage& s, const std::string& node) {
  uint64_t used = storage_used(c.sim, s, node);
  if (used > s.total) used = s.total;
  return json{{"storage", s.id},
              {"type", s.type},
              {"content", s.content},
              {"active", 1},
              {"enabled", 1},
              {"shared", s.shared ? 1 : 0},
              {"total", s.total},
              {"used", used},
              {"avail", s.total - used},
              {"used_fraction", static_cast<double>(used) / static_cast<double>(s.total)}};
}

}  // namespace

// Backup archives of one storage on one node: (volid, file path).
static std::vector<std::pair<std::string, fs::path>> list_backups(Sim& sim, const Storage& s,
                                                                  const std::string& node) {
  std::vector<std::pair<std::string, fs::path>> out;
  if (!s.file_based()) return out;
  std::error_code ec;
  fs::path dump = fs::path(sim.storage_path(s, node)) / "dump";
  for (fs::directory_iterator it(dump, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename();
    std::string type, fmt;
    int vmid = 0;
    int64_t ctime = 0;
    if (it->is_regular_file(ec) && parse_archive_name(name, type, vmid, ctime, fmt))
      out.emplace_back(s.id + ":backup/" + name, it->path());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void register_storage_routes(Router& r) {
  r.add("GET", "/storage", [](Ctx& c) {
    json out = json::array();
    for (auto& s : c.sim.c.storages)
      if (c.can("Datastore.Audit")) out.push_back(storage_config(s));
    return out;
  });
  r.add("GET", "/storage/{storage}", [](Ctx& c) {
    c.require("/storage/" + c.var("storage"), "Datastore.Audit");
    Storage* s = c.sim.storage(c.var("storage"));
    if (!s) fail("storage '" + c.var("storage") + "' does not exist");
    return storage_config(*s);
  });

  r.add("GET", "/nodes/{node}/storage", [](Ctx& c) {
    Node& n = c.node();
    json out = json::array();
    std::string content = c.params.count("content") ? c.params.at("content") : "";
    for (auto& s : c.sim.c.storages) {
      if (!c.sim.storage_on_node(s, n.name)) continue;
      if (c.params.count("storage") && c.params.at("storage") != s.id) continue;
      if (!content.empty() &&
          ("," + s.content + ",").find("," + content + ",") == std::string::npos)
        continue;
      if (!c.can("Datastore.Audit") && !c.can("Datastore.AllocateSpace")) continue;
      out.push_back(storage_status(c, s, n.name));
    }
    return out;
  });
  r.add("GET", "/nodes/{node}/storage/{storage}", [](Ctx& c) {
    node_storage(c);
    json out = json::array();
    for (const char* s : {"content", "status", "rrd", "rrddata", "upload", "download-url"})
      out.push_back({{"subdir", s}});
    return out;
  });
  r.add("GET", "/nodes/{node}/storage/{storage}/status", [](Ctx& c) {
    Storage& s = node_storage(c);
    c.require("/storage/" + s.id, "Datastore.Audit");
    json j = storage_status(c, s, c.var("node"));
    j.erase("storage");
    j.erase("used_fraction");
    return j;
  });
  r.add("GET", "/nodes/{node}/storage/{storage}/content", [](Ctx& c) {
    Storage& s = node_storage(c);
    if (!c.can("Datastore.Audit") && !c.can("Datastore.AllocateSpace"))
      c.require("/storage/" + s.id, "Datastore.Audit");
    std::string content = c.params.count("content") ? c.params.at("content") : "";
    int64_t vmid_filter = int_param(c.params, "vmid", 0, 0, 999999999);
    json out = json::array();
    std::string node = c.var("node");
    if (content.empty() || content == "backup") {
      for (auto& [volid, path] : list_backups(c.sim, s, node)) {
        std::string type, fmt;
        int vmid = 0;
        int64_t ctime = 0;
        parse_archive_name(path.filename(), type, vmid, ctime, fmt);
        if (vmid_filter && vmid != vmid_filter) continue;
        std::error_code ec;
        json j{{"volid", volid}, {"content", "backup"},
               {"format", fmt},  {"size", fs::file_size(path, ec)},
               {"ctime", ctime}, {"vmid", vmid},
               {"subtype", type}};
        fs::path notes = path;
        notes += ".notes";
        if (fs::exists(notes, ec)) {
          std::ifstream in(notes);
          std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
          j["notes"] = text;
        }
        fs::path prot = path;
        prot += ".protected";
        if (fs::exists(prot, ec)) j["protected"] = 1;
        out.push_back(j);
      }
    }
    if ((content.empty() || content == "images" || content == "rootdir") &&
        (s.content.find("images") != std::string::npos ||
         s.content.find("rootdir") != std::string::npos)) {
      for (auto& [id, g] : c.sim.c.guests) {
        if (!s.shared && g.node != node) continue;
        if (vmid_filter && id != vmid_filter) continue;
        for (auto& [k, v] : g.config) {
          if (!starts_with(v, s.id + ":vm-")) continue;
          std::string vol = v.substr(0, v.find(','));
          uint64_t size = g.maxdisk;
          auto pos = v.find("size=");
          if (pos != std::string::npos) {
            try {
              size = parse_size(v.substr(pos + 5, v.find(',', pos) - pos - 5));
            } catch (...) {
            }
          }
          out.push_back({{"volid", vol},
                         {"content", g.type == "lxc" && k == "rootfs" ? "rootdir" : "images"},
                         {"format", "raw"},
                         {"size", size},
                         {"used", size / 2},
                         {"vmid", id},
                         {"ctime", c.sim.now() - 86400 * 30}});
        }
      }
    }
    return out;
  });
  r.add("GET", "/nodes/{node}/storage/{storage}/content/{volume*}", [](Ctx& c) {
    Storage& s = node_storage(c);
    c.require("/storage/" + s.id, "Datastore.Audit");
    std::string vol = c.var("volume");
    if (vol.find(':') == std::string::npos) vol = s.id + ":" + vol;
    for (auto& [volid, path] : list_backups(c.sim, s, c.var("node")))
      if (volid == vol) {
        std::string type, fmt;
        int vmid = 0;
        int64_t ctime = 0;
        parse_archive_name(path.filename(), type, vmid, ctime, fmt);
        return json{{"path", pve_path(s) + "/dump/" + path.filename().string()},
                    {"size", fs::file_size(path)},
                    {"used", fs::file_size(path)},
                    {"format", fmt}};
      }
    fail("volume '" + vol + "' does not exist");
  });
  r.add("DELETE", "/nodes/{node}/storage/{storage}/content/{volume*}", [](Ctx& c) {
    Storage& s = node_storage(c);
    c.require("/storage/" + s.id, "Datastore.Allocate");
    std::string vol = c.var("volume");
    if (vol.find(':') == std::string::npos) vol = s.id + ":" + vol;
    for (auto& [volid, path] : list_backups(c.sim, s, c.var("node")))
      if (volid == vol) {
        fs::path prot = path;
        prot += ".protected";
        if (fs::exists(prot)) fail("volume '" + vol + "' is protected");
        fs::path p = path;
        TaskSpec spec{c.var("node"),
                      "imgdel",
                      vol,
                      c.who.user,
                      [p](TaskRun& run) {
                        std::error_code ec;
                        fs::remove(p, ec);
                        fs::path logf = p;
                        logf.replace_extension();
                        if (logf.extension() == ".vma" || logf.extension() == ".tar")
                          logf.replace_extension();
                        fs::remove(logf.string() + ".log", ec);
                        fs::remove(p.string() + ".notes", ec);
                        run.log("removed volume '" + p.filename().string() + "'");
                      },
                      nullptr};
        return json(start_task(c.sim, std::move(spec)));
      }
    fail("volume '" + vol + "' does not exist");
  });
}

}  // namespace pvesim
