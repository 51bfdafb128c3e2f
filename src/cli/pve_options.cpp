#include "cli/pve_options.h"

#include <fmt/format.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <regex>

#include "core/error.h"
#include "repo/catalog.h"
#include "repo/lock.h"

namespace pvesafe::cli {

namespace {
std::string env_or(const char* name, const std::string& current) {
  if (!current.empty()) return current;
  const char* v = std::getenv(name);
  return v && *v ? v : "";
}
bool exists(const std::string& p) {
  struct stat st {};
  return !p.empty() && ::stat(p.c_str(), &st) == 0;
}
std::string home() {
  const char* h = std::getenv("HOME");
  return h && *h ? h : "/root";
}
}  // namespace

void add_pve_flags(CLI::App* cmd, PveFlags& f) {
  auto* g = "Proxmox VE API";
  cmd->add_option("--pve-host", f.host, "Any cluster node, name or address (env PVESAFE_PVE_HOST)")
      ->envname("PVESAFE_PVE_HOST")
      ->group(g);
  cmd->add_option("--pve-port", f.port, "API port")->capture_default_str()->group(g);
  cmd->add_option("--pve-token-id", f.token_id,
                  "API token USER@REALM!TOKENID (env PVESAFE_PVE_TOKEN_ID); secret from "
                  "--pve-token-file, env PVESAFE_PVE_TOKEN_SECRET or credential pvesafe-pve-token")
      ->envname("PVESAFE_PVE_TOKEN_ID")
      ->group(g);
  cmd->add_option("--pve-token-file", f.token_file, "File holding the token secret (mode 0600)")
      ->group(g);
  cmd->add_option("--pve-user", f.user,
                  "Ticket login USER@REALM instead of a token; password from --pve-password-file, "
                  "env PVESAFE_PVE_PASSWORD, credential pvesafe-pve-password or a prompt")
      ->group(g);
  cmd->add_option("--pve-password-file", f.password_file, "File holding the password (mode 0600)")
      ->group(g);
  cmd->add_option("--pve-fingerprint", f.fingerprint,
                  "Pin the node certificate's SHA-256 fingerprint AB:CD:... (env "
                  "PVESAFE_PVE_FINGERPRINT; `pvenode cert info`)")
      ->envname("PVESAFE_PVE_FINGERPRINT")
      ->group(g);
  cmd->add_option("--pve-ca", f.ca_file,
                  "CA bundle to verify the node certificate, e.g. /etc/pve/pve-root-ca.pem (env "
                  "PVESAFE_PVE_CA)")
      ->envname("PVESAFE_PVE_CA")
      ->group(g);
  cmd->add_option("--pve-timeout", f.timeout_seconds, "Seconds per API request")
      ->capture_default_str()
      ->group(g);
}

void add_ssh_flags(CLI::App* cmd, SshFlags& f) {
  auto* g = "SSH to the nodes";
  cmd->add_option("--ssh-user", f.user, "SSH user on the nodes")->capture_default_str()->group(g);
  cmd->add_option("--ssh-key", f.key_file,
                  "Private key (default: credential pvesafe-ssh-key, else ~/.ssh/id_ed25519)")
      ->group(g);
  cmd->add_option("--ssh-known-hosts", f.known_hosts,
                  "known_hosts file with the nodes' host keys (default ~/.ssh/known_hosts; env "
                  "PVESAFE_SSH_KNOWN_HOSTS)")
      ->envname("PVESAFE_SSH_KNOWN_HOSTS")
      ->group(g);
  cmd->add_option("--ssh-port", f.port, "SSH port")->capture_default_str()->group(g);
  cmd->add_option("--ssh-host", f.hosts,
                  "Address of a node for SSH, NODE=HOST[:PORT] (repeatable; default: the node's "
                  "cluster address)")
      ->group(g);
  cmd->add_option("--dump-dir", f.dump_dir,
                  "Dump directory on the nodes, with {node} and {storage} (default: the "
                  "storage's path from the API + /dump)")
      ->group(g);
  cmd->add_option("--node-root", f.node_root,
                  "Root of the nodes' file systems, with {node}, under which /etc/pve and "
                  "/etc/network are read and written (default /; a directory per node for a "
                  "chroot or pvesim)")
      ->group(g);
}

pve::ClientOptions pve_client_options(PveFlags& f) {
  f.host = env_or("PVESAFE_PVE_HOST", f.host);
  f.token_id = env_or("PVESAFE_PVE_TOKEN_ID", f.token_id);
  f.fingerprint = env_or("PVESAFE_PVE_FINGERPRINT", f.fingerprint);
  f.ca_file = env_or("PVESAFE_PVE_CA", f.ca_file);
  if (f.host.empty()) {
    throw Error(Errc::kUsage, "no Proxmox VE host given",
                "pass --pve-host NODE or set PVESAFE_PVE_HOST");
  }
  pve::ClientOptions o;
  o.host = f.host;
  o.port = f.port;
  o.fingerprint = f.fingerprint;
  o.ca_file = f.ca_file;
  o.timeout = std::chrono::milliseconds(static_cast<int64_t>(f.timeout_seconds * 1000));
  if (!f.token_id.empty()) {
    o.token_id = f.token_id;
    PassphraseOptions p;
    p.file = f.token_file;
    p.env_var = "PVESAFE_PVE_TOKEN_SECRET";
    p.credential = "pvesafe-pve-token";
    p.use_prompt = false;
    o.token_secret = read_passphrase(p, PromptMode::kOnce, "PVE API token secret");
  } else if (!f.user.empty()) {
    o.user = f.user;
    PassphraseOptions p;
    p.file = f.password_file;
    p.env_var = "PVESAFE_PVE_PASSWORD";
    p.credential = "pvesafe-pve-password";
    o.password = read_passphrase(p, PromptMode::kOnce, "PVE password");
  } else {
    throw Error(Errc::kUsage, "no Proxmox VE credentials given",
                "pass --pve-token-id (recommended; secret from --pve-token-file) or --pve-user");
  }
  return o;
}

pve::SshTargets ssh_targets(const SshFlags& f) {
  pve::SshTargets t;
  t.user = f.user;
  t.port = f.port;
  t.known_hosts = env_or("PVESAFE_SSH_KNOWN_HOSTS", f.known_hosts);
  if (t.known_hosts.empty()) t.known_hosts = home() + "/.ssh/known_hosts";
  t.key_file = f.key_file;
  if (t.key_file.empty()) {
    const char* cred = std::getenv("CREDENTIALS_DIRECTORY");
    std::string c = cred ? std::string(cred) + "/pvesafe-ssh-key" : "";
    if (exists(c)) {
      t.key_file = c;
    } else {
      for (const char* n : {"/.ssh/id_ed25519", "/.ssh/id_ecdsa", "/.ssh/id_rsa"}) {
        if (exists(home() + n)) {
          t.key_file = home() + n;
          break;
        }
      }
    }
  }
  for (const auto& h : f.hosts) {
    auto eq = h.find('=');
    if (eq == std::string::npos || eq == 0) {
      throw Error(Errc::kUsage, fmt::format("--ssh-host '{}' is not NODE=HOST[:PORT]", h));
    }
    t.hosts[h.substr(0, eq)] = pve::parse_host_port(h.substr(eq + 1));
  }
  t.dump_dir_template = f.dump_dir;
  t.root_template = f.node_root;
  return t;
}

pve::SshOptions ssh_options_for(const SshFlags& f, const std::string& node,
                                const std::vector<pve::NodeInfo>& nodes) {
  return ssh_targets(f).for_node(node, nodes);
}

repo::Repository open_repository_over(std::unique_ptr<store::ObjectStore> store,
                                      const RepoFlags& flags) {
  repo::Repository::read_config(*store);
  Secret pass = read_passphrase(flags.passphrase, PromptMode::kOnce);
  // Outermost, so that a lock this command takes and then loses stops all of its store calls.
  return repo::Repository::open(std::make_unique<repo::LockFencedStore>(std::move(store)), pass);
}

double parse_duration_seconds(const std::string& s) {
  static const std::regex part(R"((\d+(?:\.\d+)?)(ms|h|m|s)?)");
  double total = 0;
  size_t pos = 0;
  if (s.empty()) throw Error(Errc::kUsage, "empty duration");
  while (pos < s.size()) {
    std::smatch m;
    std::string rest = s.substr(pos);
    if (!std::regex_search(rest, m, part, std::regex_constants::match_continuous)) {
      throw Error(Errc::kUsage, fmt::format("'{}' is not a duration", s),
                  "write it like 15m, 900s or 1h30m");
    }
    double v = std::stod(m[1].str());
    std::string u = m[2].str();
    total += u == "h" ? v * 3600 : u == "m" ? v * 60 : u == "ms" ? v / 1000 : v;
    pos += static_cast<size_t>(m.length(0));
  }
  return total;
}

double parse_link_bytes_per_second(const std::string& s) {
  static const std::regex re(R"((\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(bit|b|B/s|B|bps)?(?:/s)?)");
  std::smatch m;
  if (!std::regex_match(s, m, re)) {
    throw Error(Errc::kUsage, fmt::format("'{}' is not a link speed", s),
                "write it like 1Gbit, 10Gbit, 500Mbit or 120MB/s");
  }
  double v = std::stod(m[1].str());
  char p = m[2].str().empty() ? ' ' : static_cast<char>(std::tolower(m[2].str()[0]));
  double mult = p == 'k' ? 1e3 : p == 'm' ? 1e6 : p == 'g' ? 1e9 : p == 't' ? 1e12 : 1;
  std::string unit = m[3].str();
  bool bytes = unit == "B" || unit == "B/s";
  double r = v * mult;
  return bytes ? r : r / 8;
}

}  // namespace pvesafe::cli
