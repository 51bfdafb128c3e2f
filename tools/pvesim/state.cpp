#include "state.h"

#include <toml++/toml.h>

#include <chrono>
#include <filesystem>

namespace pvesim {

namespace {

// Package versions that a node of the given PVE major reports in /nodes/{node}/apt/versions.
std::vector<std::pair<std::string, std::string>> default_packages(int major,
                                                                  const std::string& manager) {
  if (major >= 9)
    return {{"proxmox-ve", "9.0.0"},
            {"pve-manager", manager},
            {"proxmox-kernel-helper", "9.0.3"},
            {"proxmox-kernel-6.14", "6.14.11-2"},
            {"ceph-fuse", "19.2.3-pve1"},
            {"corosync", "3.1.9-pve2"},
            {"libknet1", "1.30-pve2"},
            {"libpve-access-control", "9.0.3"},
            {"libpve-cluster-perl", "9.0.6"},
            {"libpve-common-perl", "9.0.9"},
            {"libpve-guest-common-perl", "6.0.2"},
            {"libpve-storage-perl", "9.0.13"},
            {"lxc-pve", "6.0.5-1"},
            {"proxmox-backup-client", "4.0.14-1"},
            {"pve-cluster", "9.0.6"},
            {"pve-container", "6.0.11"},
            {"pve-firewall", "6.0.3"},
            {"pve-ha-manager", "5.0.4"},
            {"pve-qemu-kvm", "10.0.2-4"},
            {"qemu-server", "9.0.22"},
            {"zfsutils-linux", "2.3.4-pve1"}};
  return {{"proxmox-ve", "8.4.0"},
          {"pve-manager", manager},
          {"proxmox-kernel-helper", "8.1.1"},
          {"proxmox-kernel-6.8", "6.8.12-13"},
          {"ceph-fuse", "18.2.7-pve1"},
          {"corosync", "3.1.9-pve1"},
          {"libknet1", "1.30-pve2"},
          {"libpve-access-control", "8.2.2"},
          {"libpve-cluster-perl", "8.1.2"},
          {"libpve-common-perl", "8.3.4"},
          {"libpve-guest-common-perl", "5.2.2"},
          {"libpve-storage-perl", "8.3.7"},
          {"lxc-pve", "6.0.0-1"},
          {"proxmox-backup-client", "3.4.6-1"},
          {"pve-cluster", "8.1.2"},
          {"pve-container", "5.3.3"},
          {"pve-firewall", "5.1.2"},
          {"pve-ha-manager", "4.0.7"},
          {"pve-qemu-kvm", "9.2.0-7"},
          {"qemu-server", "8.4.4"},
          {"zfsutils-linux", "2.2.8-pve1"}};
}

std::vector<Service> default_services() {
  return {{"chrony", "chrony, an NTP client/server"},
          {"corosync", "Corosync Cluster Engine"},
          {"cron", "Regular background program processing daemon"},
          {"ksmtuned", "Kernel Samepage Merging (KSM) Tuning Daemon"},
          {"postfix", "Postfix Mail Transport Agent (instance -)"},
          {"pve-cluster", "The Proxmox VE cluster filesystem"},
          {"pve-firewall", "Proxmox VE firewall"},
          {"pve-ha-crm", "PVE Cluster HA Resource Manager Daemon"},
          {"pve-ha-lrm", "PVE Local HA Resource Manager Daemon"},
          {"pvedaemon", "PVE API Daemon"},
          {"pvefw-logger", "Proxmox VE firewall logger"},
          {"pveproxy", "PVE API Proxy Server"},
          {"pvescheduler", "Proxmox VE scheduler"},
          {"pvestatd", "PVE Status Daemon"},
          {"spiceproxy", "PVE SPICE Proxy Server"},
          {"sshd", "OpenBSD Secure Shell server"},
          {"syslog", "System Logging Service"},
          {"systemd-journald", "Journal Service"},
          {"systemd-timesyncd", "Network Time Synchronization"}};
}

std::string node_name(int i, int n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "pve-%02d", i);
  (void)n;
  return buf;
}

int64_t real_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

void complete_spec(ClusterSpec& spec) {
  int major = std::stoi(spec.version);
  int64_t t = real_now();
  int i = 0;
  for (auto& n : spec.nodes) {
    ++i;
    if (n.nodeid == 0) n.nodeid = i;
    if (n.ip.empty()) n.ip = "10.10.0." + std::to_string(10 + i);
    if (n.boot_time == 0) n.boot_time = t - 86400 * 12 - i * 977;
    for (auto& [pkg, ver] : default_packages(major, spec.version))
      if (!n.packages.count(pkg)) n.packages[pkg] = ver;
    if (n.services.empty()) n.services = default_services();
    if (n.cert_notafter == 0) n.cert_notafter = t + 86400LL * 365;
    if (n.ssl_fingerprint.empty()) {
      std::string h = random_hex(32), f;
      for (size_t k = 0; k < h.size(); k += 2) f += (k ? ":" : "") + h.substr(k, 2);
      for (auto& ch : f) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      n.ssl_fingerprint = f;
    }
  }
  if (spec.storages.empty()) {
    spec.storages.push_back({"local", "dir", "backup,iso,vztmpl", false, {}, 100ull << 30, ""});
    spec.storages.push_back(
        {"local-lvm", "lvmthin", "images,rootdir", false, {}, 800ull << 30, ""});
    spec.storages.push_back({"backup-nfs", "nfs", "backup", true, {}, 4ull << 40, ""});
  }
  if (!spec.users.count("root@pam")) spec.users["root@pam"] = {"pvesim", "Administrator"};
  if (!spec.users.count("auditor@pve")) spec.users["auditor@pve"] = {"pvesim", "PVEAuditor"};
  if (!spec.users.count("noaccess@pve")) spec.users["noaccess@pve"] = {"pvesim", "NoAccess"};
  // HA resources for guests marked HA in the config.
  for (auto& [vmid, g] : spec.guests) {
    if (g.config.empty()) {
      g.config["name"] = g.name;
      g.config["memory"] = std::to_string(g.maxmem >> 20);
      if (g.type == "qemu") {
        g.config["cores"] = std::to_string(g.cpus);
        g.config["sockets"] = "1";
        g.config["ostype"] = "l26";
        g.config["scsihw"] = "virtio-scsi-single";
        std::vector<std::string> disks = g.disks;
        if (disks.empty()) disks.push_back("scsi0:" + std::to_string(g.maxdisk >> 30) + "G");
        for (size_t n = 0; n < disks.size(); ++n) {
          // KEY[:SIZE[:STORAGE]]
          auto parts = split(disks[n], ':');
          std::string key = parts[0];
          std::string size = parts.size() > 1 && !parts[1].empty() ? parts[1] : "32G";
          std::string storage = parts.size() > 2 && !parts[2].empty() ? parts[2] : g.storage;
          std::string vol = storage + ":vm-" + std::to_string(vmid) + "-disk-";
          if (key == "efidisk0") {
            g.config["bios"] = "ovmf";
            g.config[key] = vol + std::to_string(n) + ",efitype=4m,pre-enrolled-keys=1,size=528K";
          } else if (key == "tpmstate0") {
            g.config[key] = vol + std::to_string(n) + ",size=4M,version=v2.0";
          } else {
            g.config[key] = vol + std::to_string(n) + ",iothread=1,size=" + size;
          }
        }
        g.config["net0"] = "virtio=BC:24:11:" + hex_upper((vmid >> 16) & 0xff, 2) + ":" +
                           hex_upper((vmid >> 8) & 0xff, 2) + ":" + hex_upper(vmid & 0xff, 2) +
                           ",bridge=vmbr0";
        g.config["boot"] = "order=" + disks[0].substr(0, disks[0].find(':')) + ";net0";
        g.config["smbios1"] = "uuid=" + random_uuid();
        g.config["vmgenid"] = random_uuid();
        if (g.agent) g.config["agent"] = "1";
      } else {
        g.config["hostname"] = g.name;
        g.config.erase("name");
        g.config["cores"] = std::to_string(g.cpus);
        g.config["ostype"] = "debian";
        g.config["arch"] = "amd64";
        g.config["swap"] = "512";
        g.config["rootfs"] = g.storage + ":vm-" + std::to_string(vmid) +
                             "-disk-0,size=" + std::to_string(g.maxdisk >> 30) + "G";
        g.config["net0"] = "name=eth0,bridge=vmbr0,ip=dhcp,type=veth";
        g.config["unprivileged"] = "1";
      }
      if (!g.tags.empty()) g.config["tags"] = g.tags;
    }
    if (g.status == "running" && g.started_at == 0) g.started_at = t - 3600 * 24 - vmid * 7;
  }
}

ClusterSpec generate_cluster(int nodes, int guests, const std::string& version,
                             uint64_t backup_size) {
  ClusterSpec s;
  s.version = version;
  for (int i = 1; i <= nodes; ++i) {
    Node n;
    n.name = node_name(i, nodes);
    n.nodeid = i;
    n.ip = "10.10." + std::to_string(i / 200) + "." + std::to_string(10 + i % 200);
    n.cpus = 16 + (i % 4) * 8;
    n.maxmem = (128ull << 30) * (1 + i % 2);
    n.maxdisk = 200ull << 30;
    s.nodes.push_back(n);
  }
  for (int k = 0; k < guests; ++k) {
    Guest g;
    g.vmid = 100 + k;
    g.type = (k % 3 == 2) ? "lxc" : "qemu";
    g.node = s.nodes[static_cast<size_t>(k % nodes)].name;
    g.name = (g.type == "qemu" ? "vm-" : "ct-") + std::to_string(g.vmid);
    g.status = (k % 10 < 7) ? "running" : "stopped";
    g.maxmem = (1ull << 30) << (k % 4);
    g.cpus = 1 << (k % 3);
    g.maxdisk = (8ull << 30) << (k % 3);
    g.backup_size = backup_size;
    g.agent = g.type == "qemu" && k % 2 == 0;
    if (g.type == "qemu" && k % 3 == 1)  // 101, 104, ...: UEFI with a second disk
      g.disks = {"scsi0:" + std::to_string(g.maxdisk >> 30) + "G",
                 "virtio1:" + std::to_string((g.maxdisk >> 30) * 2) + "G", "efidisk0"};
    if (k % 4 == 3) {  // 103, 107, ...: HA managed (100-102 stay plain guests for simple tests)
      HaResource r;
      r.sid = g.sid();
      r.state = g.status == "running" ? "started" : "stopped";
      s.ha_resources.push_back(r);
    }
    s.guests[g.vmid] = g;
  }
  if (std::stoi(version) >= 9) {
    if (nodes >= 2)
      s.ha_rules.push_back(
          {"prefer-first", "node-affinity", s.ha_resources.empty() ? "" : s.ha_resources[0].sid,
           s.nodes[0].name + ":2," + s.nodes[1].name + ":1", "", "generated", 0, 0});
  } else if (nodes >= 2) {
    s.ha_groups.push_back(
        {"prefer-first", s.nodes[0].name + ":2," + s.nodes[1].name + ":1", "generated", 0, 0});
    if (!s.ha_resources.empty()) s.ha_resources[0].group = "prefer-first";
  }
  if (s.ha_rules.size() == 1 && s.ha_rules[0].resources.empty()) s.ha_rules.clear();
  s.backup_jobs.push_back({"backup-daily", "01:00", "local", "", "snapshot", "zstd", true, true});
  complete_spec(s);
  return s;
}

namespace {

uint64_t size_of(const toml::node_view<const toml::node>& v, uint64_t def) {
  if (auto i = v.value<int64_t>()) return static_cast<uint64_t>(*i);
  if (auto str = v.value<std::string>()) return parse_size(*str);
  return def;
}

std::string str_of(const toml::node_view<const toml::node>& v, const std::string& def = "") {
  if (auto str = v.value<std::string>()) return *str;
  if (auto i = v.value<int64_t>()) return std::to_string(*i);
  return def;
}

}  // namespace

ClusterSpec load_config(const std::string& path) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    throw std::runtime_error("config " + path + ": " + std::string(e.description()));
  }
  ClusterSpec s;
  std::map<std::string, std::vector<std::string>>
      stopped;  // node -> services configured as stopped
  const toml::node_view<const toml::node> root{t};
  s.name = str_of(root["cluster"]["name"], s.name);
  s.version = str_of(root["cluster"]["version"], s.version);
  s.ceph = root["cluster"]["ceph"].value_or(false);
  s.ceph_health = str_of(root["cluster"]["ceph_health"], s.ceph_health);
  s.task_seconds = root["cluster"]["task_seconds"].value_or(s.task_seconds);
  if (auto arr = root["node"].as_array()) {
    for (const auto& el : *arr) {
      toml::node_view<const toml::node> v{el};
      Node n;
      n.name = str_of(v["name"]);
      if (n.name.empty()) throw std::runtime_error("config " + path + ": a [[node]] has no name");
      n.ip = str_of(v["ip"]);
      n.nodeid = static_cast<int>(v["nodeid"].value_or(int64_t{0}));
      n.cpus = static_cast<int>(v["cpus"].value_or(int64_t{16}));
      n.maxmem = size_of(v["memory"], n.maxmem);
      n.maxdisk = size_of(v["disk"], n.maxdisk);
      n.online = v["online"].value_or(true);
      if (auto days = v["cert_days"].value<int64_t>()) n.cert_notafter = real_now() + *days * 86400;
      if (auto pk = v["packages"].as_table())
        for (const auto& [k, val] : *pk)
          n.packages[std::string(k.str())] = val.value_or(std::string());
      if (auto sv = v["stopped_services"].as_array())
        for (const auto& e : *sv) stopped[n.name].push_back(e.value_or(std::string()));
      s.nodes.push_back(n);
    }
  }
  if (s.nodes.empty()) throw std::runtime_error("config " + path + ": no [[node]] defined");
  if (auto arr = root["storage"].as_array()) {
    for (const auto& el : *arr) {
      toml::node_view<const toml::node> v{el};
      Storage st;
      st.id = str_of(v["id"]);
      st.type = str_of(v["type"], "dir");
      st.content = str_of(v["content"], "images,rootdir");
      st.shared = v["shared"].value_or(false);
      st.total = size_of(v["size"], st.total);
      st.path = str_of(v["path"]);
      if (auto ns = v["nodes"].as_array())
        for (const auto& e : *ns) st.nodes.push_back(e.value_or(std::string()));
      s.storages.push_back(st);
    }
  }
  if (auto arr = root["guest"].as_array()) {
    for (const auto& el : *arr) {
      toml::node_view<const toml::node> v{el};
      Guest g;
      g.vmid = static_cast<int>(v["vmid"].value_or(int64_t{0}));
      if (g.vmid < 100) throw std::runtime_error("config " + path + ": guest vmid must be >= 100");
      g.type = str_of(v["type"], "qemu");
      if (g.type != "qemu" && g.type != "lxc")
        throw std::runtime_error("config " + path + ": guest " + std::to_string(g.vmid) +
                                 " type must be qemu or lxc");
      g.node = str_of(v["node"], s.nodes[0].name);
      g.name = str_of(v["name"], (g.type == "qemu" ? "vm-" : "ct-") + std::to_string(g.vmid));
      g.status = str_of(v["status"], "stopped");
      g.maxmem = size_of(v["memory"], g.maxmem);
      g.maxdisk = size_of(v["disk"], g.maxdisk);
      g.backup_size = size_of(v["backup_size"], g.backup_size);
      g.cpus = static_cast<int>(v["cores"].value_or(int64_t{2}));
      g.agent = v["agent"].value_or(false);
      g.tags = str_of(v["tags"]);
      g.storage = str_of(v["storage"], g.storage);
      if (auto ds = v["disks"].as_array())
        for (const auto& e : *ds) g.disks.push_back(e.value_or(std::string()));
      g.is_template = v["template"].value_or(false);
      std::string ha = str_of(v["ha"]);
      if (v["ha"].value<bool>()) ha = *v["ha"].value<bool>() ? "started" : "";
      if (!ha.empty()) {
        HaResource r;
        r.sid = g.sid();
        r.state = ha;
        r.group = str_of(v["ha_group"]);
        s.ha_resources.push_back(r);
      }
      bool found = false;
      for (auto& n : s.nodes) found = found || n.name == g.node;
      if (!found)
        throw std::runtime_error("config " + path + ": guest " + std::to_string(g.vmid) +
                                 " is on unknown node " + g.node);
      s.guests[g.vmid] = g;
    }
  }
  if (auto arr = root["ha"]["rule"].as_array())
    for (const auto& el : *arr) {
      toml::node_view<const toml::node> v{el};
      s.ha_rules.push_back({str_of(v["rule"]), str_of(v["type"], "node-affinity"),
                            str_of(v["resources"]), str_of(v["nodes"]), str_of(v["affinity"]),
                            str_of(v["comment"]),
                            static_cast<int>(v["strict"].value_or(int64_t{0})),
                            static_cast<int>(v["disable"].value_or(int64_t{0}))});
    }
  if (auto arr = root["ha"]["group"].as_array())
    for (const auto& el : *arr) {
      toml::node_view<const toml::node> v{el};
      s.ha_groups.push_back({str_of(v["group"]), str_of(v["nodes"]), str_of(v["comment"]),
                             static_cast<int>(v["restricted"].value_or(int64_t{0})),
                             static_cast<int>(v["nofailback"].value_or(int64_t{0}))});
    }
  if (auto arr = root["backup_job"].as_array())
    for (const auto& el : *arr) {
      toml::node_view<const toml::node> v{el};
      BackupJob j;
      j.id = str_of(v["id"], "backup-job");
      j.schedule = str_of(v["schedule"], j.schedule);
      j.storage = str_of(v["storage"], j.storage);
      j.vmid = str_of(v["vmid"]);
      j.all = v["all"].value_or(j.vmid.empty());
      j.mode = str_of(v["mode"], j.mode);
      j.enabled = v["enabled"].value_or(true);
      s.backup_jobs.push_back(j);
    }
  if (auto arr = root["user"].as_array())
    for (const auto& el : *arr) {
      toml::node_view<const toml::node> v{el};
      s.users[str_of(v["name"])] = {str_of(v["password"], "pvesim"),
                                    str_of(v["role"], "PVEAuditor")};
    }
  complete_spec(s);
  for (auto& n : s.nodes)
    for (const auto& name : stopped[n.name])
      for (auto& sv : n.services)
        if (sv.name == name) sv.state = "stopped";
  return s;
}

Sim::Sim(ClusterSpec spec, Options o) : initial(spec), c(std::move(spec)), opts(std::move(o)) {}

int64_t Sim::now() const { return real_now() + clock_offset; }

int Sim::pve_major() const { return std::stoi(c.version); }

Node* Sim::node(const std::string& name) {
  for (auto& n : c.nodes)
    if (n.name == name) return &n;
  return nullptr;
}

Node& Sim::online_node(const std::string& name) {
  Node* n = node(name);
  if (!n)
    fail("hostname lookup '" + name + "' failed - failed to get address info for: " + name +
         ": Name or service not known");
  if (!n->online) throw ApiError(595, "No route to host");
  return *n;
}

Guest* Sim::guest(int vmid) {
  auto it = c.guests.find(vmid);
  return it == c.guests.end() ? nullptr : &it->second;
}

Guest& Sim::guest_on(const std::string& nodename, int vmid, const std::string& type) {
  Guest* g = guest(vmid);
  if (!g || g->node != nodename || g->type != type) {
    if (type == "qemu")
      fail("Configuration file 'nodes/" + nodename + "/qemu-server/" + std::to_string(vmid) +
           ".conf' does not exist");
    fail("Configuration file 'nodes/" + nodename + "/lxc/" + std::to_string(vmid) +
         ".conf' does not exist");
  }
  return *g;
}

Storage* Sim::storage(const std::string& id) {
  for (auto& s : c.storages)
    if (s.id == id) return &s;
  return nullptr;
}

bool Sim::storage_on_node(const Storage& s, const std::string& nodename) const {
  if (s.nodes.empty()) return true;
  for (const auto& n : s.nodes)
    if (n == nodename) return true;
  return false;
}

std::string Sim::storage_path(const Storage& s, const std::string& nodename) const {
  if (!s.path.empty()) return s.path;
  if (s.shared) return opts.data_dir + "/shared/" + s.id;
  return opts.data_dir + "/nodes/" + nodename + "/" + s.id;
}

HaResource* Sim::ha_resource(const std::string& sid) {
  for (auto& r : c.ha_resources)
    if (r.sid == sid) return &r;
  return nullptr;
}

std::string Sim::first_online_node() {
  for (auto& n : c.nodes)
    if (n.online) return n.name;
  return c.nodes.front().name;
}

bool Sim::quorate() {
  size_t online = 0;
  for (auto& n : c.nodes) online += n.online ? 1 : 0;
  return online * 2 > c.nodes.size();
}

void Sim::reset() {
  c = initial;
  double scale = ha.base_scale;
  ha = HaRuntime{};
  ha.time_scale = ha.base_scale = scale;
  faults = Faults{};
  clock_offset = 0;
  hold_tasks = false;
  for (auto it = task_order.begin(); it != task_order.end();) {
    if ((*it)->running) {
      ++it;
    } else {
      tasks.erase((*it)->upid);
      it = task_order.erase(it);
    }
  }
}

}  // namespace pvesim
