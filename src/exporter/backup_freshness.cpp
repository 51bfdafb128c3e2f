#include "exporter/backup_freshness.h"

#include <algorithm>
#include <chrono>
#include <map>
#include <stdexcept>

namespace pvesafe::exporter {

namespace {

std::string text_of(const nlohmann::json& e, const char* key) {
  auto it = e.find(key);
  if (it == e.end() || it->is_null()) return "";
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<int64_t>());
  if (it->is_number()) return std::to_string(static_cast<int64_t>(it->get<double>()));
  return "";
}

bool vmid_less(const std::string& a, const std::string& b) {
  return a.size() != b.size() ? a.size() < b.size() : a < b;
}

}  // namespace

ClusterView parse_cluster_view(const nlohmann::json& vm_resources, const nlohmann::json& nodes,
                               const nlohmann::json& not_backed_up) {
  if (!vm_resources.is_array()) throw std::runtime_error("/cluster/resources is not a list");
  if (!nodes.is_array()) throw std::runtime_error("/nodes is not a list");
  ClusterView v;
  for (const auto& n : nodes)
    if (n.is_object() && !text_of(n, "node").empty()) v.nodes.insert(text_of(n, "node"));
  for (const auto& e : vm_resources) {
    if (!e.is_object()) continue;
    std::string type = text_of(e, "type");
    if (type != "qemu" && type != "lxc") continue;
    ClusterGuest g;
    g.vmid = text_of(e, "vmid");
    g.type = type;
    g.node = text_of(e, "node");
    g.name = text_of(e, "name");
    auto t = e.find("template");
    g.is_template = t != e.end() && t->is_number() && t->get<double>() != 0;
    if (!g.vmid.empty()) v.guests.push_back(std::move(g));
  }
  if (not_backed_up.is_array()) {
    v.not_backed_up_known = true;
    for (const auto& e : not_backed_up)
      if (e.is_object() && !text_of(e, "vmid").empty()) v.not_backed_up.insert(text_of(e, "vmid"));
  }
  std::sort(v.guests.begin(), v.guests.end(),
            [](const ClusterGuest& a, const ClusterGuest& b) { return vmid_less(a.vmid, b.vmid); });
  return v;
}

std::vector<GuestBackup> join_backups(const std::vector<repo::SnapshotInfo>& snapshots,
                                      const ClusterView& cluster) {
  std::vector<GuestBackup> out;
  std::map<std::string, size_t> by_vmid;
  for (const auto& g : cluster.guests) {
    by_vmid[g.vmid] = out.size();
    GuestBackup b;
    b.guest = g;
    b.in_backup_job = !cluster.not_backed_up.count(g.vmid);
    out.push_back(std::move(b));
  }
  for (const auto& s : snapshots) {
    auto it = by_vmid.find(s.guest_id);
    if (it == by_vmid.end()) continue;
    GuestBackup& b = out[it->second];
    if (!s.guest_type.empty() && s.guest_type != b.guest.type) continue;
    if (!s.node.empty() && !cluster.nodes.empty() && !cluster.nodes.count(s.node)) continue;
    ++b.snapshots;
    double t = std::chrono::duration<double>(s.time.time_since_epoch()).count();
    if (t >= b.last_time) {
      b.last_time = t;
      b.last_node = s.node;
      b.last_snapshot = s.id;
      b.last_size_bytes = s.size_bytes;
    }
  }
  return out;
}

void backup_freshness_metrics(const std::vector<GuestBackup>& backups, const ClusterView& cluster,
                              MetricSet& out) {
  const size_t count = out.family("pvesafe_guest_backup_snapshots", MetricType::kGauge,
                                  "Snapshots of the guest in the repository (0: never backed up)");
  const size_t last = out.family("pvesafe_guest_backup_last_timestamp_seconds", MetricType::kGauge,
                                 "Time of the guest's newest snapshot in the repository, whichever "
                                 "node took it");
  const size_t size = out.family("pvesafe_guest_backup_last_size_bytes", MetricType::kGauge,
                                 "Bytes a restore of the guest's newest snapshot writes");
  const size_t job = out.family("pvesafe_guest_backup_not_in_job", MetricType::kGauge,
                                "1 when Proxmox VE lists the guest as covered by no backup job");
  double total = 0;
  for (const auto& b : backups) {
    LabelSet l{{"guest", b.guest.vmid}, {"type", b.guest.type}};
    out.add(count, l, b.snapshots);
    total += b.snapshots;
    if (b.snapshots > 0) {
      out.add(last, l, b.last_time);
      out.add(size, l, static_cast<double>(b.last_size_bytes));
    }
    if (cluster.not_backed_up_known) out.add(job, l, b.in_backup_job ? 0 : 1);
  }
  out.gauge("pvesafe_repository_snapshots", "Snapshots in the repository of this cluster's guests",
            {}, total);
}

}  // namespace pvesafe::exporter
