#include "exporter/pve_collector.h"

#include <algorithm>
#include <set>

#include "core/error.h"

namespace pvesafe::exporter {

using nlohmann::json;

namespace {

// PVE returns numbers as numbers, but some fields arrive as strings ("quorate": "1").
bool number(const json& obj, const char* key, double& out) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return false;
  if (it->is_number()) {
    out = it->get<double>();
    return true;
  }
  if (it->is_boolean()) {
    out = it->get<bool>() ? 1 : 0;
    return true;
  }
  if (it->is_string()) {
    try {
      size_t pos = 0;
      out = std::stod(it->get<std::string>(), &pos);
      return pos > 0;
    } catch (...) {
      return false;
    }
  }
  return false;
}

std::string str(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<long long>());
  if (it->is_number()) return format_value(it->get<double>());
  return it->dump();
}

// A string member without copying it ("" when absent or not a string).
std::string_view sv(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

void need_array(const json& data, const char* what) {
  if (!data.is_array())
    throw pvesafe::Error(Errc::kRemote, std::string(what) + ": expected a JSON array");
}
void need_object(const json& data, const char* what) {
  if (!data.is_object())
    throw pvesafe::Error(Errc::kRemote, std::string(what) + ": expected a JSON object");
}

void opt_gauge(MetricSet& out, std::string_view name, std::string_view help, const json& obj,
               const char* key, const LabelSet& labels, double scale = 1) {
  double v;
  if (number(obj, key, v)) out.gauge(name, help, labels, v * scale);
}

// A numeric field of an API entry and the metric family it feeds (declared once per response,
// so no name lookup per sample).
struct Figure {
  const char* key;
  size_t family;
};

// Adds each figure the entry has, with the same labels.
template <size_t N>
void add_figures(MetricSet& out, const Figure (&figures)[N], const json& obj, const LabelSet& labels) {
  for (const auto& f : figures) {
    double v;
    if (number(obj, f.key, v)) out.add(f.family, labels, v);
  }
}

}  // namespace

std::string parse_ha_daemon_state(const std::string& status) {
  if (status.find("dead") != std::string::npos) return "dead";
  auto open = status.find('(');
  if (open == std::string::npos) return status.empty() ? "unknown" : "unknown";
  auto end = status.find_first_of(",)", open + 1);
  std::string s = status.substr(open + 1, end == std::string::npos ? std::string::npos
                                                                   : end - open - 1);
  while (!s.empty() && s.back() == ' ') s.pop_back();
  if (s.rfind("maintenance", 0) == 0) return "maintenance";
  for (char& c : s)
    if (c == ' ') c = '_';
  return s.empty() ? "unknown" : s;
}

void collect_cluster_status(const json& data, MetricSet& out) {
  need_array(data, "/cluster/status");
  bool have_cluster = false;
  for (const auto& e : data) {
    if (!e.is_object()) continue;
    std::string type = str(e, "type");
    if (type == "cluster") {
      have_cluster = true;
      out.add("pvesafe_cluster_info", MetricType::kInfo, "Cluster name and config version",
              {{"cluster_name", str(e, "name")}, {"config_version", str(e, "version")}}, 1);
      opt_gauge(out, "pvesafe_cluster_quorate", "1 if the cluster has quorum", e, "quorate", {});
      opt_gauge(out, "pvesafe_cluster_nodes", "Nodes configured in the cluster", e, "nodes", {});
    } else if (type == "node") {
      LabelSet l{{"node", str(e, "name")}};
      opt_gauge(out, "pvesafe_node_online", "1 if the node is online in the cluster", e, "online",
                l);
      double id;
      if (number(e, "nodeid", id)) {
        out.add("pvesafe_node_info", MetricType::kInfo, "Node id and address",
                {{"node", str(e, "name")}, {"nodeid", str(e, "nodeid")}, {"ip", str(e, "ip")},
                 {"local", str(e, "local")}},
                1);
      }
    }
  }
  if (!have_cluster) {
    // A standalone node has no cluster entry: it is trivially quorate.
    out.gauge("pvesafe_cluster_quorate", "1 if the cluster has quorum", {}, 1);
  }
}

void collect_cluster_resources(const json& data, MetricSet& out) {
  need_array(data, "/cluster/resources");
  // Tens of thousands of samples for a large cluster: the families are looked up once, and each
  // entry's label set is rendered once for all its figures.
  const auto g = MetricType::kGauge;
  const auto c = MetricType::kCounter;
  const size_t node_up = out.family(
      "pvesafe_node_up", g, "1 if the API reports the node online (cluster resources)");
  const Figure node_figures[] = {
      {"cpu", out.family("pvesafe_node_cpu_ratio", g, "Node CPU usage, 0 to 1")},
      {"maxcpu", out.family("pvesafe_node_cpus", g, "Logical CPUs of the node")},
      {"mem", out.family("pvesafe_node_memory_used_bytes", g, "Node memory in use")},
      {"maxmem", out.family("pvesafe_node_memory_total_bytes", g, "Node memory size")},
      {"disk", out.family("pvesafe_node_rootfs_used_bytes", g,
                          "Used bytes of the node's root filesystem")},
      {"maxdisk",
       out.family("pvesafe_node_rootfs_total_bytes", g, "Size of the node's root filesystem")},
      {"uptime", out.family("pvesafe_node_uptime_seconds", g, "Node uptime")},
  };
  const size_t guest_info = out.family("pvesafe_guest_info", MetricType::kInfo,
                                       "Guest name, node and flags");
  const size_t guest_running =
      out.family("pvesafe_guest_running", g, "1 if the guest is running");
  const Figure guest_figures[] = {
      {"cpu", out.family("pvesafe_guest_cpu_ratio", g,
                         "Guest CPU usage relative to its vCPUs, 0 to 1")},
      {"maxcpu", out.family("pvesafe_guest_cpus", g, "vCPUs of the guest")},
      {"mem", out.family("pvesafe_guest_memory_used_bytes", g, "Guest memory in use")},
      {"maxmem", out.family("pvesafe_guest_memory_total_bytes", g, "Guest memory size")},
      {"disk", out.family("pvesafe_guest_disk_used_bytes", g, "Guest disk usage (containers)")},
      {"maxdisk", out.family("pvesafe_guest_disk_total_bytes", g, "Guest disk size")},
      {"uptime", out.family("pvesafe_guest_uptime_seconds", g, "Guest uptime")},
      {"netin", out.family("pvesafe_guest_network_receive_bytes_total", c,
                           "Bytes received by the guest")},
      {"netout",
       out.family("pvesafe_guest_network_transmit_bytes_total", c, "Bytes sent by the guest")},
      {"diskread", out.family("pvesafe_guest_disk_read_bytes_total", c, "Bytes read by the guest")},
      {"diskwrite",
       out.family("pvesafe_guest_disk_written_bytes_total", c, "Bytes written by the guest")},
  };
  const size_t storage_available = out.family("pvesafe_storage_available", g,
                                              "1 if the storage is available on the node");
  const size_t storage_info = out.family("pvesafe_storage_info", MetricType::kInfo,
                                         "Storage type, content and sharing");
  const Figure storage_figures[] = {
      {"disk", out.family("pvesafe_storage_used_bytes", g, "Used bytes of the storage")},
      {"maxdisk", out.family("pvesafe_storage_total_bytes", g, "Size of the storage")},
  };
  for (const auto& e : data) {
    if (!e.is_object()) continue;
    std::string_view type = sv(e, "type");
    std::string node = str(e, "node");
    if (type == "node") {
      LabelSet l{{"node", node}};
      bool online = sv(e, "status") == "online";
      out.add(node_up, l, online ? 1 : 0);
      if (!online) continue;  // offline nodes carry no live figures
      add_figures(out, node_figures, e, l);
    } else if (type == "qemu" || type == "lxc") {
      std::string guest = str(e, "vmid");
      double tmpl = 0;
      number(e, "template", tmpl);
      out.add(guest_info,
              LabelSet{{"node", node},
                       {"guest", guest},
                       {"type", type},
                       {"name", str(e, "name")},
                       {"template", tmpl != 0 ? "1" : "0"},
                       {"hastate", str(e, "hastate")}},
              1);
      LabelSet l{{"node", node}, {"guest", guest}, {"type", type}};
      out.add(guest_running, l, sv(e, "status") == "running" ? 1 : 0);
      add_figures(out, guest_figures, e, l);
    } else if (type == "storage") {
      std::string storage = str(e, "storage");
      LabelSet l{{"node", node}, {"storage", storage}};
      bool available = sv(e, "status") == "available";
      out.add(storage_available, l, available ? 1 : 0);
      double shared = 0;
      number(e, "shared", shared);
      out.add(storage_info,
              LabelSet{{"node", node},
                       {"storage", storage},
                       {"plugintype", str(e, "plugintype")},
                       {"content", str(e, "content")},
                       {"shared", shared != 0 ? "1" : "0"}},
              1);
      if (!available) continue;
      add_figures(out, storage_figures, e, l);
    }
  }
}

void collect_ha_status(const json& data, MetricSet& out) {
  need_array(data, "/cluster/ha/status/current");
  for (const auto& e : data) {
    if (!e.is_object()) continue;
    std::string type = str(e, "type");
    std::string node = str(e, "node");
    if (type == "quorum") {
      opt_gauge(out, "pvesafe_ha_quorate", "1 if the HA stack sees quorum", e, "quorate", {});
    } else if (type == "master") {
      std::string state = parse_ha_daemon_state(str(e, "status"));
      out.add("pvesafe_ha_crm_master_info", MetricType::kInfo,
              "Node holding the HA cluster resource manager (CRM) master role and its state",
              {{"node", node}, {"state", state}}, 1);
      opt_gauge(out, "pvesafe_ha_crm_master_timestamp_seconds",
                "Last time the CRM master updated its status", e, "timestamp", {{"node", node}});
    } else if (type == "fencing") {
      std::string armed = str(e, "armed-state");
      out.gauge("pvesafe_ha_fencing_armed", "1 if the HA fencing watchdog is armed",
                {{"node", node}}, armed == "armed" ? 1 : 0);
    } else if (type == "lrm") {
      std::string state = parse_ha_daemon_state(str(e, "status"));
      out.add("pvesafe_ha_lrm_info", MetricType::kInfo,
              "State of the HA local resource manager (LRM) of a node",
              {{"node", node}, {"state", state}}, 1);
      opt_gauge(out, "pvesafe_ha_lrm_timestamp_seconds", "Last time the node's LRM reported", e,
                "timestamp", {{"node", node}});
    } else if (type == "service") {
      std::string sid = str(e, "sid");
      std::string guest = sid.substr(sid.find(':') == std::string::npos ? 0 : sid.find(':') + 1);
      std::string state = str(e, "state");
      if (state.empty()) state = str(e, "crm_state");
      out.add("pvesafe_ha_resource_info", MetricType::kInfo,
              "State of an HA resource (started, stopped, fence, error, recovery, migrate, ...)",
              {{"sid", sid}, {"guest", guest}, {"node", node}, {"state", state},
               {"request_state", str(e, "request_state")}},
              1);
      bool bad = state == "error" || state == "fence" || state == "recovery";
      out.gauge("pvesafe_ha_resource_problem",
                "1 if the HA resource is in error, fence or recovery state",
                {{"sid", sid}, {"guest", guest}, {"node", node}}, bad ? 1 : 0);
    }
  }
}

void collect_ceph_status(const json& data, MetricSet& out) {
  need_object(data, "/cluster/ceph/status");
  out.gauge("pvesafe_ceph_configured", "1 if Ceph is configured in the cluster", {}, 1);
  if (auto h = data.find("health"); h != data.end() && h->is_object()) {
    std::string status = str(*h, "status");
    for (const char* s : {"HEALTH_OK", "HEALTH_WARN", "HEALTH_ERR"}) {
      out.gauge("pvesafe_ceph_health_status", "1 for the current Ceph health status",
                {{"status", s}}, status == s ? 1 : 0);
    }
    if (auto c = h->find("checks"); c != h->end() && c->is_object()) {
      for (const auto& [name, chk] : c->items()) {
        std::string sev = chk.is_object() ? str(chk, "severity") : "";
        out.add("pvesafe_ceph_health_check_info", MetricType::kInfo, "Active Ceph health check",
                {{"check", name}, {"severity", sev}}, 1);
      }
    }
  }
  if (auto o = data.find("osdmap"); o != data.end() && o->is_object()) {
    // Reef has the counters at the top of osdmap; older releases nest them in osdmap.osdmap.
    const json& m = (o->contains("osdmap") && (*o)["osdmap"].is_object()) ? (*o)["osdmap"] : *o;
    opt_gauge(out, "pvesafe_ceph_osds", "Ceph OSDs in the OSD map", m, "num_osds", {});
    opt_gauge(out, "pvesafe_ceph_osds_up", "Ceph OSDs up", m, "num_up_osds", {});
    opt_gauge(out, "pvesafe_ceph_osds_in", "Ceph OSDs in", m, "num_in_osds", {});
  }
  if (auto p = data.find("pgmap"); p != data.end() && p->is_object()) {
    opt_gauge(out, "pvesafe_ceph_used_bytes", "Raw bytes used in the Ceph cluster", *p,
              "bytes_used", {});
    opt_gauge(out, "pvesafe_ceph_total_bytes", "Raw capacity of the Ceph cluster", *p,
              "bytes_total", {});
    opt_gauge(out, "pvesafe_ceph_pgs", "Placement groups", *p, "num_pgs", {});
  }
  if (auto q = data.find("quorum_names"); q != data.end() && q->is_array()) {
    out.gauge("pvesafe_ceph_monitors_in_quorum", "Ceph monitors in quorum", {},
              static_cast<double>(q->size()));
  }
}

void collect_node_status(const std::string& node, const json& data, MetricSet& out) {
  need_object(data, "/nodes/{node}/status");
  LabelSet l{{"node", node}};
  if (auto m = data.find("memory"); m != data.end() && m->is_object()) {
    opt_gauge(out, "pvesafe_node_memory_available_bytes", "Node memory available", *m,
              "available", l);
  }
  if (auto s = data.find("swap"); s != data.end() && s->is_object()) {
    opt_gauge(out, "pvesafe_node_swap_used_bytes", "Node swap in use", *s, "used", l);
    opt_gauge(out, "pvesafe_node_swap_total_bytes", "Node swap size", *s, "total", l);
  }
  if (auto r = data.find("rootfs"); r != data.end() && r->is_object()) {
    opt_gauge(out, "pvesafe_node_rootfs_available_bytes",
              "Bytes available to users on the node's root filesystem", *r, "avail", l);
  }
  if (auto la = data.find("loadavg"); la != data.end() && la->is_array() && !la->empty()) {
    try {
      const json& v = (*la)[0];
      double x = v.is_string() ? std::stod(v.get<std::string>()) : v.get<double>();
      out.gauge("pvesafe_node_load1", "Node load average over 1 minute", l, x);
    } catch (...) {
    }
  }
  opt_gauge(out, "pvesafe_node_io_wait_ratio", "Node CPU time waiting for I/O, 0 to 1", data,
            "wait", l);
  std::string pveversion = str(data, "pveversion");  // pve-manager/7.4-16/0f39f621
  std::string kernel;
  if (auto ck = data.find("current-kernel"); ck != data.end() && ck->is_object()) {
    kernel = str(*ck, "release");
  } else {
    kernel = str(data, "kversion");  // "Linux 5.15.108-1-pve #1 SMP ..."
    if (kernel.rfind("Linux ", 0) == 0) kernel = kernel.substr(6);
    kernel = kernel.substr(0, kernel.find(' '));
  }
  if (!pveversion.empty()) {
    std::string v = pveversion;
    auto slash = v.find('/');
    if (slash != std::string::npos) v = v.substr(slash + 1);
    auto slash2 = v.find('/');
    if (slash2 != std::string::npos) v = v.substr(0, slash2);
    out.add("pvesafe_node_package_info", MetricType::kInfo,
            "Installed version of a cluster-relevant package on the node",
            {{"node", node}, {"package", "pve-manager"}, {"version", v}}, 1);
  }
  if (!kernel.empty()) {
    out.add("pvesafe_node_kernel_info", MetricType::kInfo, "Running kernel release of the node",
            {{"node", node}, {"release", kernel}}, 1);
  }
}

void collect_node_versions(const std::string& node, const json& data, MetricSet& out) {
  need_array(data, "/nodes/{node}/apt/versions");
  static const std::set<std::string> watched = {
      "proxmox-ve",   "pve-manager",    "pve-ha-manager", "pve-cluster", "corosync",
      "libknet1",     "qemu-server",    "pve-qemu-kvm",   "lxc-pve",     "ceph",
      "ceph-common",  "zfsutils-linux", "proxmox-backup-client"};
  for (const auto& p : data) {
    if (!p.is_object()) continue;
    std::string name = str(p, "Package");
    if (!watched.count(name)) continue;
    std::string state = str(p, "CurrentState");
    if (!state.empty() && state != "Installed") continue;
    out.add("pvesafe_node_package_info", MetricType::kInfo,
            "Installed version of a cluster-relevant package on the node",
            {{"node", node}, {"package", name}, {"version", str(p, "Version")}}, 1);
  }
}

namespace {
// Online nodes as the collected metrics show them (value 1 of a per-node family).
std::vector<std::string> online_nodes(const MetricSet& m, const char* family) {
  std::vector<std::string> out;
  for (const auto& [labels, v] : m.samples(family))
    if (v == 1) out.push_back(label(labels, "node"));
  return out;
}
}  // namespace

void collect_pve(const ApiGet& get, const PveCollectOptions& opts,
                 std::chrono::steady_clock::time_point deadline, MetricSet& out,
                 ScrapeReport& report) {
  std::vector<std::string> paths = {"/cluster/status", "/cluster/resources",
                                    "/cluster/ha/status/current"};
  if (opts.ceph) paths.push_back("/cluster/ceph/status");
  // Each answer becomes metrics on the thread that fetched it, into a scratch set per answer (a
  // malformed answer exposes nothing), and is released at once: a large cluster's
  // /cluster/resources document is several times the size of the metrics made from it.
  auto r1 = fetch_all(get, paths, deadline, opts.parallel,
                      [](size_t i, const nlohmann::json& data, MetricSet& m) {
                        switch (i) {
                          case 0: return collect_cluster_status(data, m);
                          case 1: return collect_cluster_resources(data, m);
                          case 2: return collect_ha_status(data, m);
                          default: return collect_ceph_status(data, m);
                        }
                      });

  // The online nodes for round 2: from /cluster/status, else from /cluster/resources.
  std::vector<std::string> nodes;
  if (opts.node_details) {
    if (r1[0].ok && r1[0].convert_error.empty())
      nodes = online_nodes(r1[0].metrics, "pvesafe_node_online");
    if (nodes.empty() && r1[1].ok && r1[1].convert_error.empty())
      nodes = online_nodes(r1[1].metrics, "pvesafe_node_up");
  }

  auto apply = [&](FetchOutcome& r, const std::string& source) {
    if (!r.ok) {
      report.fail(source, r.path + ": " + r.error, r.seconds);
    } else if (!r.convert_error.empty()) {
      report.fail(source, r.path + ": unexpected answer: " + r.convert_error, r.seconds);
    } else {
      out.merge(std::move(r.metrics));
      report.ok(source, r.seconds);
    }
  };
  apply(r1[0], "cluster_status");
  apply(r1[1], "cluster_resources");
  apply(r1[2], "ha");
  if (opts.ceph) {
    auto& c = r1[3];
    // PVE answers 500 "binary not installed: /usr/bin/ceph-mon" (or "... not initialized")
    // on clusters without Ceph: that is "not configured", not a failing source.
    bool absent = !c.ok && (c.error_code == static_cast<int>(Errc::kNotFound) ||
                            c.error.find("not installed") != std::string::npos ||
                            c.error.find("not initialized") != std::string::npos);
    if (absent) {
      out.gauge("pvesafe_ceph_configured", "1 if Ceph is configured in the cluster", {}, 0);
    } else {
      apply(c, "ceph");
    }
  }
  r1.clear();
  if (!opts.node_details) return;

  if (!opts.only_node.empty()) {
    nodes.erase(std::remove_if(nodes.begin(), nodes.end(),
                               [&](const std::string& n) { return n != opts.only_node; }),
                nodes.end());
    if (nodes.empty()) nodes.push_back(opts.only_node);
  }
  if (nodes.empty()) return;
  std::vector<std::string> p2;
  for (const auto& n : nodes) {
    p2.push_back("/nodes/" + n + "/status");
    p2.push_back("/nodes/" + n + "/apt/versions");
  }
  auto names = std::make_shared<const std::vector<std::string>>(nodes);  // outlives late workers
  auto r2 = fetch_all(get, p2, deadline, opts.parallel,
                      [names](size_t i, const nlohmann::json& data, MetricSet& m) {
                        if (i % 2 == 0) collect_node_status((*names)[i / 2], data, m);
                        else collect_node_versions((*names)[i / 2], data, m);
                      });
  std::string status_err, versions_err;
  double status_s = 0, versions_s = 0;
  MetricSet details;  // all nodes' figures, merged into out once
  for (size_t i = 0; i < r2.size(); ++i) {
    auto& r = r2[i];
    bool status = i % 2 == 0;
    double& secs = status ? status_s : versions_s;
    secs = std::max(secs, r.seconds);
    std::string& err = status ? status_err : versions_err;
    if (!r.ok) {
      if (err.empty()) err = r.path + ": " + r.error;
    } else if (!r.convert_error.empty()) {
      if (err.empty()) err = r.path + ": unexpected answer: " + r.convert_error;
    } else {
      details.merge(std::move(r.metrics));
    }
  }
  r2.clear();
  out.merge(std::move(details));
  if (status_err.empty()) report.ok("node_status", status_s);
  else report.fail("node_status", status_err, status_s);
  if (versions_err.empty()) report.ok("node_versions", versions_s);
  else report.fail("node_versions", versions_err, versions_s);
}

}  // namespace pvesafe::exporter
