#include "config_files.h"

#include <algorithm>
#include <set>
#include <sstream>

namespace pvesim {

namespace {

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  for (std::string l; std::getline(in, l);) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    out.push_back(l);
  }
  return out;
}

std::string trim(std::string s) {
  s.erase(0, s.find_first_not_of(" \t"));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

bool implicitly_shared(const std::string& type) {
  return type == "nfs" || type == "cifs" || type == "cephfs" || type == "rbd" || type == "pbs" ||
         type == "glusterfs" || type == "iscsi";
}

}  // namespace

std::string storage_pve_path(const Storage& s) {
  if (!s.cfg_path.empty()) return s.cfg_path;
  if (!s.path.empty()) return s.path;
  if (s.id == "local") return "/var/lib/vz";
  return "/mnt/pve/" + s.id;
}

std::string render_storage_cfg(const std::vector<Storage>& storages) {
  std::string out;
  for (const auto& s : storages) {
    if (!out.empty()) out += "\n";
    out += s.type + ": " + s.id + "\n";
    std::vector<std::pair<std::string, std::string>> props;
    if (s.file_based()) props.emplace_back("path", storage_pve_path(s));
    if (s.type == "lvmthin" && s.extra.empty()) {
      props.emplace_back("thinpool", "data");
      props.emplace_back("vgname", "pve");
    }
    if (s.type == "nfs" && s.extra.empty()) {
      props.emplace_back("server", "10.10.0.250");
      props.emplace_back("export", "/export/" + s.id);
    }
    for (const auto& kv : s.extra) props.push_back(kv);
    props.emplace_back("content", s.content);
    if (s.shared && !implicitly_shared(s.type)) props.emplace_back("shared", "1");
    if (!s.nodes.empty()) props.emplace_back("nodes", join(s.nodes, ","));
    if (s.content.find("backup") != std::string::npos)
      props.emplace_back("prune-backups", "keep-all=1");
    for (const auto& [k, v] : props) out += "\t" + k + " " + v + "\n";
  }
  return out;
}

std::vector<Storage> parse_storage_cfg(const std::string& text, const std::vector<Storage>& current,
                                       std::vector<std::string>* warnings) {
  std::vector<Storage> out;
  Storage* cur = nullptr;
  int n = 0;
  for (const auto& line : lines_of(text)) {
    ++n;
    if (trim(line).empty()) {
      cur = nullptr;
      continue;
    }
    if (line[0] == '#') continue;
    if (line[0] == ' ' || line[0] == '\t') {
      if (!cur) {
        if (warnings)
          warnings->push_back("storage.cfg line " + std::to_string(n) +
                              ": property outside a section");
        continue;
      }
      std::string body = trim(line);
      auto sp = body.find_first_of(" \t");
      std::string key = body.substr(0, sp),
                  value = sp == std::string::npos ? "" : trim(body.substr(sp));
      if (key == "content") {
        cur->content = value;
      } else if (key == "shared") {
        cur->shared = value == "1";
      } else if (key == "nodes") {
        cur->nodes.clear();
        for (auto& x : split(value, ','))
          if (!trim(x).empty()) cur->nodes.push_back(trim(x));
      } else if (key == "path") {
        cur->cfg_path = value;
      } else if (key == "prune-backups") {
        // rendered from the content
      } else {
        cur->extra.emplace_back(key, value);
      }
      continue;
    }
    auto colon = line.find(':');
    if (colon == std::string::npos) {
      if (warnings)
        warnings->push_back("storage.cfg line " + std::to_string(n) + ": not a section header");
      cur = nullptr;
      continue;
    }
    Storage s;
    s.type = trim(line.substr(0, colon));
    s.id = trim(line.substr(colon + 1));
    s.content = s.type == "dir" ? "images,rootdir" : "images";
    s.shared = implicitly_shared(s.type);
    for (const auto& c : current)
      if (c.id == s.id) {
        s.total = c.total;
        s.path = c.path;
      }
    out.push_back(s);
    cur = &out.back();
  }
  for (auto& s : out) {
    // A path the operator wrote that is the one pvesim shows anyway is no override.
    Storage probe = s;
    probe.cfg_path.clear();
    if (s.cfg_path == storage_pve_path(probe)) s.cfg_path.clear();
  }
  return out;
}

std::string render_user_cfg(const ClusterSpec& c, const std::map<std::string, Token>& tokens) {
  std::string out;
  for (const auto& [name, u] : c.users) out += "user:" + name + ":1:0:::::" + ":\n";
  for (const auto& [id, t] : tokens) out += "token:" + id + ":0:1::\n";
  out += "\n";
  for (const auto& [name, u] : c.users)
    if (name != "root@pam" && !u.role.empty()) out += "acl:1:/:" + name + ":" + u.role + ":\n";
  for (const auto& [id, t] : tokens)
    if (!t.role.empty()) out += "acl:1:/:" + id + ":" + t.role + ":\n";
  return out;
}

std::string render_token_cfg(const std::map<std::string, Token>& tokens) {
  std::string out;
  for (const auto& [id, t] : tokens) out += id + " " + t.secret + "\n";
  return out;
}

void parse_user_cfg(const std::string& user_cfg, const std::string& token_cfg,
                    std::map<std::string, User>& users, std::map<std::string, Token>& tokens,
                    std::vector<std::string>* warnings) {
  std::map<std::string, std::string> secrets;
  for (const auto& line : lines_of(token_cfg)) {
    std::string l = trim(line);
    if (l.empty() || l[0] == '#') continue;
    auto sp = l.find_first_of(" \t");
    if (sp == std::string::npos) continue;
    secrets[l.substr(0, sp)] = trim(l.substr(sp));
  }
  std::map<std::string, User> new_users;
  std::map<std::string, bool> privsep;  // token id -> privilege separation
  std::map<std::string, std::string> acl_role;
  int n = 0;
  for (const auto& line : lines_of(user_cfg)) {
    ++n;
    std::string l = trim(line);
    if (l.empty() || l[0] == '#') continue;
    auto f = split(l, ':');
    if (f[0] == "user" && f.size() >= 2) {
      User u;
      auto old = users.find(f[1]);
      u.password = old == users.end() ? "pvesim" : old->second.password;
      new_users[f[1]] = u;
    } else if (f[0] == "token" && f.size() >= 4) {
      privsep[f[1]] = f[3] != "0";
    } else if (f[0] == "acl" && f.size() >= 5) {
      for (auto& who : split(f[3], ','))
        if (!who.empty() && !acl_role.count(who) && f[2] == "/")
          acl_role[who] = split(f[4], ',')[0];
    } else if (f[0] == "group" || f[0] == "role" || f[0] == "pool") {
      // kept in the file; pvesim has no groups, custom roles or pools
    } else if (warnings) {
      warnings->push_back("user.cfg line " + std::to_string(n) + ": unknown entry '" + f[0] + "'");
    }
  }
  for (auto& [name, u] : new_users) {
    u.role =
        name == "root@pam" ? "Administrator" : (acl_role.count(name) ? acl_role[name] : "NoAccess");
  }
  std::map<std::string, Token> new_tokens;
  for (const auto& [id, sep] : privsep) {
    auto bang = id.find('!');
    if (bang == std::string::npos) continue;
    std::string user = id.substr(0, bang);
    if (!new_users.count(user)) continue;
    auto s = secrets.find(id);
    if (s == secrets.end()) continue;
    std::string role = acl_role.count(id) ? acl_role[id] : "";
    if (!sep) role = new_users[user].role;
    new_tokens[id] = Token{user, s->second, role.empty() ? "NoAccess" : role};
  }
  users = std::move(new_users);
  tokens = std::move(new_tokens);
}

std::string render_corosync_conf(const ClusterSpec& c) {
  std::string out = "logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n";
  for (const auto& n : c.nodes) {
    out += "  node {\n    name: " + n.name + "\n    nodeid: " + std::to_string(n.nodeid) +
           "\n    quorum_votes: 1\n    ring0_addr: " + n.ip + "\n  }\n";
  }
  out += "}\n\nquorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: " + c.name +
         "\n  config_version: " + std::to_string(c.nodes.size() + 2) +
         "\n  interface {\n    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n"
         "  secauth: on\n  version: 2\n}\n";
  return out;
}

std::string render_ha_resources_cfg(const ClusterSpec& c, int pve_major) {
  std::string out;
  for (const auto& r : c.ha_resources) {
    auto colon = r.sid.find(':');
    if (!out.empty()) out += "\n";
    out += r.sid.substr(0, colon) + ": " + r.sid.substr(colon + 1) + "\n";
    if (!r.comment.empty()) out += "\tcomment " + r.comment + "\n";
    if (pve_major < 9 && !r.group.empty()) out += "\tgroup " + r.group + "\n";
    if (pve_major >= 9 && !r.failback) out += "\tfailback 0\n";
    if (r.max_relocate != 1) out += "\tmax_relocate " + std::to_string(r.max_relocate) + "\n";
    if (r.max_restart != 1) out += "\tmax_restart " + std::to_string(r.max_restart) + "\n";
    out += "\tstate " + r.state + "\n";
  }
  return out;
}

std::string render_ha_groups_cfg(const ClusterSpec& c) {
  std::string out;
  for (const auto& g : c.ha_groups) {
    if (!out.empty()) out += "\n";
    out += "group: " + g.group + "\n";
    if (!g.comment.empty()) out += "\tcomment " + g.comment + "\n";
    out += "\tnodes " + g.nodes + "\n";
    if (g.nofailback) out += "\tnofailback 1\n";
    if (g.restricted) out += "\trestricted 1\n";
  }
  return out;
}

std::string render_ha_rules_cfg(const ClusterSpec& c) {
  std::string out;
  for (const auto& r : c.ha_rules) {
    if (!out.empty()) out += "\n";
    out += r.type + ": " + r.rule + "\n";
    if (r.type == "resource-affinity")
      out += "\taffinity " + (r.affinity.empty() ? std::string("positive") : r.affinity) + "\n";
    if (!r.comment.empty()) out += "\tcomment " + r.comment + "\n";
    if (r.disable) out += "\tdisable 1\n";
    if (r.type == "node-affinity") out += "\tnodes " + r.nodes + "\n";
    out += "\tresources " + r.resources + "\n";
    if (r.type == "node-affinity" && r.strict) out += "\tstrict 1\n";
  }
  return out;
}

std::string render_jobs_cfg(const ClusterSpec& c) {
  std::string out;
  for (const auto& j : c.backup_jobs) {
    if (!out.empty()) out += "\n";
    out += "vzdump: " + j.id + "\n\tschedule " + j.schedule + "\n";
    if (j.all) out += "\tall 1\n";
    out += "\tcompress " + j.compress + "\n\tenabled " + std::string(j.enabled ? "1" : "0") +
           "\n\tmode " + j.mode + "\n\tnotes-template {{guestname}}\n\tstorage " + j.storage + "\n";
    if (!j.vmid.empty()) out += "\tvmid " + j.vmid + "\n";
  }
  return out;
}

std::string render_guest_conf(const Guest& g) {
  auto section = [](const std::map<std::string, std::string>& cfg) {
    std::string s;
    auto d = cfg.find("description");
    if (d != cfg.end())
      for (const auto& l : split(d->second, '\n')) s += "#" + l + "\n";
    for (const auto& [k, v] : cfg)
      if (k != "description") s += k + ": " + v + "\n";
    return s;
  };
  std::map<std::string, std::string> main = g.config;
  if (!g.lock.empty()) main["lock"] = g.lock;
  if (!g.snapshots.empty()) main["parent"] = g.snapshots.back().name;
  std::string out = section(main);
  for (const auto& snap : g.snapshots) {
    std::map<std::string, std::string> cfg = snap.config;
    if (!snap.parent.empty()) cfg["parent"] = snap.parent;
    cfg["snaptime"] = std::to_string(snap.snaptime);
    if (snap.vmstate) cfg["vmstate"] = "1";
    if (!snap.description.empty()) cfg["description"] = snap.description;
    out += "\n[" + snap.name + "]\n" + section(cfg);
  }
  return out;
}

std::string initial_datacenter_cfg() {
  return "console: xtermjs\nkeyboard: en-us\nmigration: secure\n";
}

std::string initial_cluster_fw() {
  return "[OPTIONS]\n\nenable: 0\npolicy_in: ACCEPT\n\n[RULES]\n\n"
         "IN SSH(ACCEPT) -log nolog # management\n"
         "IN ACCEPT -p tcp -dport 8006 -log nolog # web interface\n";
}

}  // namespace pvesim
