#include "auth.h"

#include <fcntl.h>
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <sstream>

namespace pvesim {

namespace {

constexpr int64_t kTicketLifetime = 7200;

int64_t wall_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::string make_ticket(Sim& sim, const std::string& user) {
  std::string data = "PVE:" + user + ":" + hex_upper(static_cast<uint64_t>(wall_now()), 8);
  return data + "::" + hmac_sha256_b64(sim.ticket_secret, data, true);
}

// Returns the user of a valid, unexpired ticket, or "".
std::string verify_ticket(Sim& sim, const std::string& ticket) {
  auto sep = ticket.find("::");
  if (sep == std::string::npos || !starts_with(ticket, "PVE:")) return "";
  std::string data = ticket.substr(0, sep);
  if (hmac_sha256_b64(sim.ticket_secret, data, true) != ticket.substr(sep + 2)) return "";
  auto parts = split(data, ':');
  if (parts.size() != 3) return "";
  int64_t t = static_cast<int64_t>(std::stoull(parts[2], nullptr, 16));
  int64_t age = wall_now() - t;
  if (age < -300 || age > kTicketLifetime) return "";
  return parts[1];
}

std::string make_csrf(Sim& sim, const std::string& user) {
  std::string ts = hex_upper(static_cast<uint64_t>(wall_now()), 8);
  return ts + ":" + hmac_sha256_b64(sim.ticket_secret, ts + ":" + user, false);
}

bool verify_csrf(Sim& sim, const std::string& user, const std::string& token) {
  auto colon = token.find(':');
  if (colon == std::string::npos) return false;
  std::string ts = token.substr(0, colon);
  if (hmac_sha256_b64(sim.ticket_secret, ts + ":" + user, false) != token.substr(colon + 1))
    return false;
  int64_t age = wall_now() - static_cast<int64_t>(std::stoull(ts, nullptr, 16));
  return age > -300 && age < kTicketLifetime;
}

// Like PVE's extract_auth_value: KEY=value or "KEY value", up to ';', uri-unescaped.
std::string extract_auth_value(const std::string& header, const std::string& key) {
  size_t pos = 0;
  while ((pos = header.find(key, pos)) != std::string::npos) {
    bool at_start = pos == 0 || header[pos - 1] == ' ' || header[pos - 1] == '\t';
    size_t after = pos + key.size();
    if (at_start && after < header.size() && (header[after] == '=' || header[after] == ' ')) {
      size_t end = header.find(';', after + 1);
      std::string v =
          header.substr(after + 1, end == std::string::npos ? std::string::npos : end - after - 1);
      std::string out;
      for (size_t i = 0; i < v.size(); ++i) {
        if (v[i] == '%' && i + 2 < v.size()) {
          out += static_cast<char>(std::stoi(v.substr(i + 1, 2), nullptr, 16));
          i += 2;
        } else {
          out += v[i];
        }
      }
      return out;
    }
    pos = after;
  }
  return "";
}

const std::string& role_of_user(Sim& sim, const std::string& user) {
  static const std::string none = "NoAccess";
  auto it = sim.c.users.find(user);
  return it == sim.c.users.end() ? none : it->second.role;
}

json caps_for(const std::string& role) {
  json caps = json::object();
  const std::map<std::string, std::vector<std::string>> all = {
      {"vms",
       {"VM.Allocate", "VM.Audit", "VM.Backup", "VM.Clone", "VM.Config.CDROM", "VM.Config.CPU",
        "VM.Config.Cloudinit", "VM.Config.Disk", "VM.Config.HWType", "VM.Config.Memory",
        "VM.Config.Network", "VM.Config.Options", "VM.Console", "VM.Migrate", "VM.Monitor",
        "VM.PowerMgmt", "VM.Snapshot", "VM.Snapshot.Rollback", "Permissions.Modify"}},
      {"storage",
       {"Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.AllocateTemplate",
        "Datastore.Audit", "Permissions.Modify"}},
      {"nodes",
       {"Sys.Audit", "Sys.Console", "Sys.Incoming", "Sys.Modify", "Sys.PowerMgmt", "Sys.Syslog",
        "Permissions.Modify"}},
      {"dc", {"SDN.Allocate", "SDN.Audit", "SDN.Use", "Sys.Audit"}},
      {"sdn", {"SDN.Allocate", "SDN.Audit", "SDN.Use", "Permissions.Modify"}},
      {"access", {"Group.Allocate", "Permissions.Modify", "User.Modify"}}};
  for (const auto& [area, privs] : all) {
    json a = json::object();
    for (const auto& p : privs)
      if (role_has(role, p)) a[p] = 1;
    caps[area] = a;
  }
  return caps;
}

}  // namespace

bool role_has(const std::string& role, const std::string& priv) {
  if (role == "Administrator") return true;
  if (role == "PVEAdmin") return priv != "Permissions.Modify" && priv != "Sys.PowerMgmt";
  if (role == "PVEVMAdmin")
    return starts_with(priv, "VM.") || priv == "Datastore.AllocateSpace" ||
           priv == "Datastore.Audit" || priv == "Sys.Audit";
  if (role == "PVEAuditor")
    return priv == "Sys.Audit" || priv == "VM.Audit" || priv == "Datastore.Audit" ||
           priv == "SDN.Audit" || priv == "Pool.Audit" || priv == "Mapping.Audit";
  return false;
}

void require(const Identity& who, const std::string& acl_path, const std::string& priv) {
  if (!role_has(who.role, priv))
    throw ApiError(403, "Permission check failed (" + acl_path + ", " + priv + ")");
}

json login(Sim& sim, const Params& p) {
  std::string user = p.count("username") ? p.at("username") : "";
  if (p.count("realm") && user.find('@') == std::string::npos) user += "@" + p.at("realm");
  const std::string pw = p.count("password") ? p.at("password") : "";
  if (user.empty()) param_error("username", "property is missing and it is not optional");
  if (!p.count("password")) param_error("password", "property is missing and it is not optional");
  auto it = sim.c.users.find(user);
  bool ok =
      it != sim.c.users.end() && (it->second.password == pw || verify_ticket(sim, pw) == user);
  if (!ok) throw ApiError(401, "authentication failure");
  return json{{"username", user},
              {"ticket", make_ticket(sim, user)},
              {"CSRFPreventionToken", make_csrf(sim, user)},
              {"clustername", sim.c.name},
              {"cap", caps_for(it->second.role)}};
}

Identity authenticate(Sim& sim, const httplib::Request& req) {
  std::string api_token = extract_auth_value(req.get_header_value("Authorization"), "PVEAPIToken");
  if (!api_token.empty()) {
    // USER@REALM!TOKENID=SECRET
    auto eq = api_token.find('=');
    std::string id = api_token.substr(0, eq);
    if (eq == std::string::npos || id.find('!') == std::string::npos)
      throw ApiError(401, "API token not in the form USER@REALM!TOKENID=SECRET");
    auto it = sim.tokens.find(id);
    if (it == sim.tokens.end())
      throw ApiError(401, "no such token '" + id.substr(id.find('!') + 1) + "' for user '" +
                              id.substr(0, id.find('!')) + "'");
    if (it->second.secret != api_token.substr(eq + 1)) throw ApiError(401, "invalid token value!");
    // Privilege-separated token: its own role, bounded by the user's role.
    std::string role = it->second.role;
    if (role_of_user(sim, it->second.user) == "NoAccess") role = "NoAccess";
    return {id, role};
  }
  std::string ticket = extract_auth_value(req.get_header_value("Cookie"), "PVEAuthCookie");
  if (ticket.empty()) throw ApiError(401, "No ticket");
  std::string user = verify_ticket(sim, ticket);
  if (user.empty()) throw ApiError(401, "permission denied - invalid PVE ticket");
  if (req.method != "GET" && !verify_csrf(sim, user, req.get_header_value("CSRFPreventionToken")))
    throw ApiError(401, "Permission denied - invalid csrf token");
  return {user, role_of_user(sim, user)};
}

void load_or_create_tokens(Sim& sim, const std::string& path) {
  std::ifstream in(path);
  if (!in) {
    std::string text =
        "# pvesim API tokens: USER@REALM!TOKENID=SECRET ROLE\n"
        "root@pam!pvesafe=" +
        random_uuid() +
        " Administrator\n"
        "auditor@pve!monitor=" +
        random_uuid() +
        " PVEAuditor\n"
        "noaccess@pve!none=" +
        random_uuid() + " NoAccess\n";
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
    if (fd < 0) throw std::runtime_error("cannot create tokens file " + path);
    if (::write(fd, text.data(), text.size()) != static_cast<ssize_t>(text.size())) {
      ::close(fd);
      throw std::runtime_error("cannot write tokens file " + path);
    }
    ::close(fd);
    in.open(path);
  }
  std::string line;
  while (std::getline(in, line)) {
    if (line.empty() || line[0] == '#') continue;
    std::istringstream ls(line);
    std::string spec, role = "Administrator";
    ls >> spec >> role;
    auto eq = spec.find('=');
    auto bang = spec.find('!');
    if (eq == std::string::npos || bang == std::string::npos || bang > eq)
      throw std::runtime_error("tokens file " + path +
                               ": malformed line (want USER@REALM!TOKENID=SECRET ROLE)");
    sim.tokens[spec.substr(0, eq)] = Token{spec.substr(0, bang), spec.substr(eq + 1), role};
  }
}

}  // namespace pvesim
