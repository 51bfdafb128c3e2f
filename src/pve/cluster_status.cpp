#include "pve/cluster_status.h"

#include <fmt/format.h>

#include "core/error.h"

namespace pvesafe::pve {

int ClusterStatus::online_nodes() const {
  int n = 0;
  for (const auto& x : nodes) n += x.online ? 1 : 0;
  return n;
}

ClusterStatus parse_cluster_status(const nlohmann::json& data) {
  ClusterStatus s;
  s.nodes = parse_nodes(data);
  bool cluster = false;
  for (const auto& r : data) {
    if (!r.is_object() || r.value("type", std::string()) != "cluster") continue;
    cluster = true;
    if (r.contains("name") && r["name"].is_string()) s.name = r["name"].get<std::string>();
    const auto& q = r.contains("quorate") ? r["quorate"] : nlohmann::json();
    s.quorate = (q.is_number() && q.get<double>() != 0) || (q.is_boolean() && q.get<bool>()) ||
                (q.is_string() && q.get<std::string>() == "1");
  }
  if (!cluster) {
    s.quorate = true;
    if (!s.nodes.empty()) s.name = s.nodes.front().name;
  }
  return s;
}

ClusterStatus cluster_status(Client& client) {
  return parse_cluster_status(client.get("/cluster/status"));
}

ClusterStatus require_quorum(Client& client) {
  ClusterStatus s = cluster_status(client);
  if (!s.quorate) {
    throw Error(Errc::kRemote,
                fmt::format("cluster {} has no quorum ({} of {} nodes online): it cannot create "
                            "or start guests",
                            s.name, s.online_nodes(), s.nodes.size()),
                "bring enough nodes online (pvecm status), or on a lone surviving node run "
                "`pvecm expected 1` first");
  }
  return s;
}

}  // namespace pvesafe::pve
