#include "pve/ssh_targets.h"

namespace pvesafe::pve {

std::string expand_template(std::string t, const std::string& node, const std::string& storage) {
  for (const auto& [key, value] : {std::pair<std::string, std::string>{"{node}", node},
                                   std::pair<std::string, std::string>{"{storage}", storage}}) {
    for (size_t p = 0; (p = t.find(key, p)) != std::string::npos; p += value.size()) {
      t.replace(p, key.size(), value);
    }
  }
  return t;
}

SshOptions SshTargets::for_node(const std::string& node, const std::vector<NodeInfo>& nodes) const {
  SshOptions o;
  o.node = node;
  o.user = user;
  o.port = port;
  o.key_file = key_file;
  o.known_hosts = known_hosts;
  if (auto it = hosts.find(node); it != hosts.end()) {
    o.host = it->second.host;
    if (it->second.port) o.port = it->second.port;
    return o;
  }
  o.host = node;
  for (const auto& n : nodes) {
    if (n.name == node && !n.ip.empty()) o.host = n.ip;
  }
  return o;
}

std::string SshTargets::path_on(const std::string& node, const std::string& path) const {
  std::string root = expand_template(root_template, node);
  while (!root.empty() && root.back() == '/') root.pop_back();
  return root + path;
}

}  // namespace pvesafe::pve
