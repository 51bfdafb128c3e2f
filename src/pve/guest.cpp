#include "pve/guest.h"

#include <fmt/format.h>

#include <algorithm>

#include "core/error.h"
#include "core/json_number.h"

namespace pvesafe::pve {

namespace {
std::string as_string(const nlohmann::json& v) {
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  if (v.is_number()) return fmt::format("{}", v.get<double>());
  return {};
}
uint64_t as_u64(const nlohmann::json& o, const char* key) {
  if (!o.contains(key)) return 0;
  const auto& v = o[key];
  if (v.is_number_unsigned()) return v.get<uint64_t>();
  if (v.is_number_integer()) return static_cast<uint64_t>(std::max<int64_t>(0, v.get<int64_t>()));
  if (v.is_number_float()) return clamp_to<uint64_t>(v.get<double>());
  if (v.is_string()) {
    try {
      return std::stoull(v.get<std::string>());
    } catch (const std::exception&) {
      return 0;
    }
  }
  return 0;
}
bool truthy(const nlohmann::json& o, const char* key) {
  if (!o.contains(key)) return false;
  const auto& v = o[key];
  if (v.is_boolean()) return v.get<bool>();
  if (v.is_number()) return v.get<double>() != 0;
  if (v.is_string()) return v.get<std::string>() == "1";
  return false;
}
}  // namespace

std::vector<GuestInfo> parse_guests(const nlohmann::json& resources) {
  std::vector<GuestInfo> out;
  if (!resources.is_array()) {
    throw Error(Errc::kRemote, "PVE /cluster/resources is not a list");
  }
  for (const auto& r : resources) {
    if (!r.is_object()) continue;
    std::string type = r.contains("type") ? as_string(r["type"]) : "";
    if (type != "qemu" && type != "lxc") continue;
    GuestInfo g;
    g.type = type;
    g.vmid = r.contains("vmid") ? as_string(r["vmid"]) : "";
    if (g.vmid.empty() && r.contains("id")) {  // "qemu/100"
      std::string id = as_string(r["id"]);
      auto slash = id.find('/');
      if (slash != std::string::npos) g.vmid = id.substr(slash + 1);
    }
    if (g.vmid.empty()) continue;
    g.node = r.contains("node") ? as_string(r["node"]) : "";
    g.name = r.contains("name") ? as_string(r["name"]) : "";
    g.status = r.contains("status") ? as_string(r["status"]) : "";
    g.pool = r.contains("pool") ? as_string(r["pool"]) : "";
    if (r.contains("tags")) {
      std::string t = as_string(r["tags"]), cur;
      for (char ch : t + ";") {
        if (ch == ';' || ch == ',' || ch == ' ') {
          if (!cur.empty()) g.tags.push_back(cur);
          cur.clear();
        } else {
          cur.push_back(ch);
        }
      }
    }
    g.maxdisk_bytes = as_u64(r, "maxdisk");
    g.maxmem_bytes = as_u64(r, "maxmem");
    g.is_template = truthy(r, "template");
    out.push_back(std::move(g));
  }
  return out;
}

std::vector<NodeInfo> parse_nodes(const nlohmann::json& data) {
  std::vector<NodeInfo> out;
  if (!data.is_array()) throw Error(Errc::kRemote, "PVE cluster node list is not a list");
  for (const auto& r : data) {
    if (!r.is_object() || !r.contains("type") || as_string(r["type"]) != "node") continue;
    NodeInfo n;
    // /cluster/status has "name", /cluster/resources has "node".
    n.name = r.contains("name") ? as_string(r["name"]) : (r.contains("node") ? as_string(r["node"]) : "");
    if (n.name.empty()) continue;
    n.ip = r.contains("ip") ? as_string(r["ip"]) : "";
    if (r.contains("online")) {
      n.online = truthy(r, "online");
    } else {
      n.online = r.contains("status") && as_string(r["status"]) == "online";
    }
    out.push_back(std::move(n));
  }
  std::sort(out.begin(), out.end(), [](const NodeInfo& a, const NodeInfo& b) { return a.name < b.name; });
  return out;
}

GuestInfo find_guest(const std::vector<GuestInfo>& guests, const std::string& vmid) {
  for (const auto& g : guests) {
    if (g.vmid == vmid) return g;
  }
  throw Error(Errc::kNotFound, fmt::format("guest {} not found in the cluster", vmid),
              "list the guests with `pvesh get /cluster/resources --type vm`");
}

std::vector<GuestInfo> list_guests(Client& client) {
  return parse_guests(client.get("/cluster/resources", {{"type", "vm"}}));
}

std::optional<GuestInfo> lookup_guest(Client& client, const std::string& vmid) {
  for (auto& g : list_guests(client)) {
    if (g.vmid == vmid) return g;
  }
  return std::nullopt;
}

GuestInfo find_guest(Client& client, const std::string& vmid) {
  return find_guest(list_guests(client), vmid);
}

std::vector<NodeInfo> list_nodes(Client& client) {
  return parse_nodes(client.get("/cluster/status"));
}

NodeInfo require_online_node(Client& client, const std::string& node) {
  for (auto& n : list_nodes(client)) {
    if (n.name != node) continue;
    if (!n.online) {
      throw Error(Errc::kTransient, fmt::format("node {} is offline", node),
                  "pick another node with --node, or bring it back (pvecm status)");
    }
    return n;
  }
  throw Error(Errc::kNotFound, fmt::format("node {} is not a member of the cluster", node),
              "list the nodes with `pvecm nodes`");
}

std::vector<GuestInfo> select_guests(const std::vector<GuestInfo>& guests, const std::string& node,
                                     const std::string& pool) {
  std::vector<GuestInfo> out;
  for (const auto& g : guests) {
    if (g.is_template) continue;
    if (!node.empty() && g.node != node) continue;
    if (!pool.empty() && g.pool != pool) continue;
    out.push_back(g);
  }
  std::sort(out.begin(), out.end(), [](const GuestInfo& a, const GuestInfo& b) {
    return std::stoull(a.vmid) < std::stoull(b.vmid);
  });
  return out;
}

std::vector<GuestInfo> guests_with_tag(const std::vector<GuestInfo>& guests, const std::string& tag) {
  std::vector<GuestInfo> out;
  for (const auto& g : select_guests(guests, "", "")) {
    if (std::find(g.tags.begin(), g.tags.end(), tag) != g.tags.end()) out.push_back(g);
  }
  return out;
}

std::string next_vmid(Client& client) {
  auto v = client.get("/cluster/nextid");
  std::string id = as_string(v);
  return check_vmid(id);
}

std::string check_vmid(const std::string& vmid) {
  bool digits = !vmid.empty() && vmid.size() <= 9 &&
                std::all_of(vmid.begin(), vmid.end(), [](char c) { return c >= '0' && c <= '9'; });
  if (!digits || std::stoull(vmid) < 100) {
    throw Error(Errc::kUsage, fmt::format("'{}' is not a guest id (100 - 999999999)", vmid));
  }
  return vmid;
}

}  // namespace pvesafe::pve
