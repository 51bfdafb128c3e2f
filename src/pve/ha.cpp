#include "pve/ha.h"

#include <fmt/format.h>

#include "core/error.h"

namespace pvesafe::pve {

namespace {
std::string str(const nlohmann::json& o, const char* key) {
  if (!o.contains(key)) return {};
  const auto& v = o[key];
  if (v.is_string()) return v.get<std::string>();
  if (v.is_number_unsigned()) return std::to_string(v.get<uint64_t>());
  if (v.is_number_integer()) return std::to_string(v.get<int64_t>());
  return {};
}
int to_int(const std::string& s, int def) {
  try {
    return s.empty() ? def : std::stoi(s);
  } catch (const std::exception&) {
    return def;
  }
}
bool split_sid(const std::string& sid, std::string& type, std::string& vmid) {
  auto colon = sid.find(':');
  if (colon == std::string::npos) return false;
  type = sid.substr(0, colon);
  vmid = sid.substr(colon + 1);
  return (type == "vm" || type == "ct") && !vmid.empty();
}
}  // namespace

std::vector<HaResource> parse_ha_resources(const nlohmann::json& data) {
  std::vector<HaResource> out;
  if (!data.is_array()) throw Error(Errc::kRemote, "PVE /cluster/ha/resources is not a list");
  for (const auto& r : data) {
    if (!r.is_object()) continue;
    HaResource h;
    if (!split_sid(str(r, "sid"), h.type, h.vmid)) continue;
    if (auto s = str(r, "state"); !s.empty()) h.state = s;
    h.group = str(r, "group");
    h.comment = str(r, "comment");
    h.max_restart = to_int(str(r, "max_restart"), 1);
    h.max_relocate = to_int(str(r, "max_relocate"), 1);
    if (r.contains("failback")) h.failback = str(r, "failback") != "0";
    out.push_back(std::move(h));
  }
  return out;
}

std::vector<HaResource> parse_ha_resources_cfg(const std::string& text) {
  std::vector<HaResource> out;
  for (const auto& s : parse_section_config(text, "ha/resources.cfg")) {
    HaResource h;
    h.type = s.type;
    h.vmid = s.id;
    if (h.type != "vm" && h.type != "ct") continue;
    if (auto v = s.get("state")) h.state = *v;
    h.group = s.get("group").value_or("");
    h.comment = s.get("comment").value_or("");
    h.max_restart = to_int(s.get("max_restart").value_or(""), 1);
    h.max_relocate = to_int(s.get("max_relocate").value_or(""), 1);
    if (auto v = s.get("failback")) h.failback = *v != "0";
    out.push_back(std::move(h));
  }
  return out;
}

std::vector<HaResource> list_ha_resources(Client& client) {
  return parse_ha_resources(client.get("/cluster/ha/resources"));
}

std::map<std::string, std::string> ha_tags(const HaResource& r) {
  std::map<std::string, std::string> t{{"ha.state", r.state},
                                       {"ha.max_restart", std::to_string(r.max_restart)},
                                       {"ha.max_relocate", std::to_string(r.max_relocate)}};
  if (!r.group.empty()) t["ha.group"] = r.group;
  if (!r.comment.empty()) t["ha.comment"] = r.comment;
  if (r.failback) t["ha.failback"] = *r.failback ? "1" : "0";
  return t;
}

std::optional<HaResource> ha_from_tags(const std::map<std::string, std::string>& tags,
                                       const std::string& vmid, const std::string& guest_type) {
  auto it = tags.find("ha.state");
  if (it == tags.end()) return std::nullopt;
  HaResource h;
  h.type = guest_type == "lxc" ? "ct" : "vm";
  h.vmid = vmid;
  h.state = it->second;
  auto get = [&](const char* k) {
    auto f = tags.find(k);
    return f == tags.end() ? std::string() : f->second;
  };
  h.group = get("ha.group");
  h.comment = get("ha.comment");
  h.max_restart = to_int(get("ha.max_restart"), 1);
  h.max_relocate = to_int(get("ha.max_relocate"), 1);
  if (auto f = get("ha.failback"); !f.empty()) h.failback = f != "0";
  return h;
}

void add_ha_resource(Client& client, const HaResource& r) {
  std::map<std::string, std::string> form{{"sid", r.sid()},
                                          {"state", r.state},
                                          {"max_restart", std::to_string(r.max_restart)},
                                          {"max_relocate", std::to_string(r.max_relocate)}};
  if (!r.group.empty()) form["group"] = r.group;
  if (!r.comment.empty()) form["comment"] = r.comment;
  if (r.failback) form["failback"] = *r.failback ? "1" : "0";
  client.post("/cluster/ha/resources", form);
}

void add_ha_group(Client& client, const Section& group) {
  std::map<std::string, std::string> form{{"group", group.id}};
  for (const auto& [k, v] : group.props) form[k] = v;
  client.post("/cluster/ha/groups", form);
}

void add_ha_rule(Client& client, const Section& rule) {
  std::map<std::string, std::string> form{{"rule", rule.id}, {"type", rule.type}};
  for (const auto& [k, v] : rule.props) form[k] = v;
  client.post("/cluster/ha/rules", form);
}

}  // namespace pvesafe::pve
