#include "pmxcfs.h"

#include <fcntl.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <sstream>

#include "config_files.h"

namespace pvesim {

namespace fs = std::filesystem;

namespace {

std::string rsa_key_pem(bool public_only) {
  static std::string priv, pub;
  if (priv.empty()) {
    // PVE's authkey is RSA; an EC key serves the same purpose here and is made at once.
    EVP_PKEY* key = EVP_EC_gen("P-256");
    if (!key) throw std::runtime_error("cannot generate the cluster's authkey");
    BIO* b = BIO_new(BIO_s_mem());
    PEM_write_bio_PrivateKey(b, key, nullptr, nullptr, 0, nullptr, nullptr);
    char* data = nullptr;
    long n = BIO_get_mem_data(b, &data);
    priv.assign(data, static_cast<size_t>(n));
    BIO_free(b);
    b = BIO_new(BIO_s_mem());
    PEM_write_bio_PUBKEY(b, key);
    n = BIO_get_mem_data(b, &data);
    pub.assign(data, static_cast<size_t>(n));
    BIO_free(b);
    EVP_PKEY_free(key);
  }
  return public_only ? pub : priv;
}

std::string domain_of(const ClusterSpec& c) { return c.name + ".lan"; }

std::string subnet_prefix(const std::string& ip) {
  auto dot = ip.rfind('.');
  return dot == std::string::npos ? ip : ip.substr(0, dot);
}

}  // namespace

Pmxcfs::Pmxcfs(Sim& sim, const std::string& root_ca_pem)
    : sim_(sim), dir_(sim.opts.data_dir + "/pmxcfs"), rootfs_(sim.opts.data_dir + "/rootfs") {
  for (const char* d : {"", "/priv", "/ha", "/firewall", "/nodes", "/sdn", "/mapping"}) {
    fs::create_directories(dir_ + d);
  }
  ::chmod((dir_ + "/priv").c_str(), 0700);
  auto once = [&](const std::string& rel, const std::string& content, mode_t mode) {
    if (!fs::exists(dir_ + "/" + rel)) write(rel, content, mode);
  };
  once("datacenter.cfg", initial_datacenter_cfg(), 0640);
  once("firewall/cluster.fw", initial_cluster_fw(), 0640);
  once("authkey.pub", rsa_key_pem(true), 0640);
  once("priv/authkey.key", rsa_key_pem(false), 0600);
  once("pve-root-ca.pem", root_ca_pem, 0640);
  once("priv/authorized_keys", "", 0600);
  once("priv/known_hosts", "", 0600);
  once("vzdump.cron",
       "# cluster wide vzdump cron schedule\n# Automatically generated file - do not edit\n\n"
       "PATH=\"/usr/sbin:/usr/bin:/sbin:/bin\"\n\n",
       0640);
  for (const auto& n : sim.c.nodes) write_node_files(n);
  render();
}

std::string Pmxcfs::node_root(const std::string& node) const { return rootfs_ + "/" + node; }

void Pmxcfs::write(const std::string& rel, const std::string& content, mode_t mode) {
  auto it = written_.find(rel);
  std::string path = dir_ + "/" + rel;
  if (it != written_.end() && it->second.content == content && !changed_by_others(rel)) return;
  fs::create_directories(fs::path(path).parent_path());
  std::string tmp = path + ".pvesim-tmp";
  {
    std::ofstream out(tmp, std::ios::trunc | std::ios::binary);
    out << content;
    if (!out) throw std::runtime_error("cannot write " + tmp);
  }
  ::chmod(tmp.c_str(), mode);
  fs::rename(tmp, path);
  struct stat st {};
  ::stat(path.c_str(), &st);
  written_[rel] = {content, st.st_ino, st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec,
                   st.st_size};
}

void Pmxcfs::remove(const std::string& rel) {
  std::error_code ec;
  fs::remove(dir_ + "/" + rel, ec);
  written_.erase(rel);
}

bool Pmxcfs::changed_by_others(const std::string& rel) {
  auto it = written_.find(rel);
  struct stat st {};
  bool exists = ::stat((dir_ + "/" + rel).c_str(), &st) == 0;
  if (it == written_.end()) return exists;
  if (!exists) return true;
  return st.st_ino != it->second.ino || st.st_size != it->second.size ||
         st.st_mtim.tv_sec * 1000000000LL + st.st_mtim.tv_nsec != it->second.mtime_ns;
}

std::string Pmxcfs::read(const std::string& rel) const {
  std::ifstream in(dir_ + "/" + rel, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

void Pmxcfs::render() {
  const ClusterSpec& c = sim_.c;
  write("storage.cfg", render_storage_cfg(c.storages), 0640);
  write("user.cfg", render_user_cfg(c, sim_.tokens), 0640);
  write("priv/token.cfg", render_token_cfg(sim_.tokens), 0600);
  write("corosync.conf", render_corosync_conf(c), 0640);
  write("ha/resources.cfg", render_ha_resources_cfg(c, sim_.pve_major()), 0640);
  if (sim_.pve_major() >= 9) {
    write("ha/rules.cfg", render_ha_rules_cfg(c), 0640);
  } else {
    write("ha/groups.cfg", render_ha_groups_cfg(c), 0640);
  }
  write("jobs.cfg", render_jobs_cfg(c), 0640);
  std::set<std::string> guests;
  for (const auto& n : c.nodes) {
    for (const char* d : {"qemu-server", "lxc", "openvz", "priv"}) {
      fs::create_directories(dir_ + "/nodes/" + n.name + "/" + d);
    }
  }
  for (const auto& [vmid, g] : c.guests) {
    std::string rel = "nodes/" + g.node + "/" + (g.type == "qemu" ? "qemu-server/" : "lxc/") +
                      std::to_string(vmid) + ".conf";
    write(rel, render_guest_conf(g), 0640);
    guests.insert(rel);
  }
  std::vector<std::string> gone;
  for (const auto& [rel, w] : written_) {
    if (rel.rfind("nodes/", 0) == 0 && rel.size() > 5 && rel.substr(rel.size() - 5) == ".conf" &&
        !guests.count(rel))
      gone.push_back(rel);
  }
  for (const auto& rel : gone) remove(rel);
}

void Pmxcfs::sync_in() {
  bool storage = changed_by_others("storage.cfg");
  bool users = changed_by_others("user.cfg") || changed_by_others("priv/token.cfg");
  if (!storage && !users) return;
  std::vector<std::string> warnings;
  if (storage) {
    auto parsed = parse_storage_cfg(read("storage.cfg"), sim_.c.storages, &warnings);
    sim_.c.storages = parsed;
    for (const auto& n : sim_.c.nodes)
      for (const auto& s : sim_.c.storages)
        if (s.file_based() && sim_.storage_on_node(s, n.name)) {
          std::error_code ec;
          fs::create_directories(sim_.storage_path(s, n.name) + "/dump", ec);
        }
    std::cerr << "pvesim: storage.cfg changed: " << parsed.size() << " storages" << std::endl;
  }
  if (users) {
    parse_user_cfg(read("user.cfg"), read("priv/token.cfg"), sim_.c.users, sim_.tokens, &warnings);
    std::cerr << "pvesim: user.cfg changed: " << sim_.c.users.size() << " users, "
              << sim_.tokens.size() << " tokens" << std::endl;
  }
  for (const auto& w : warnings) std::cerr << "pvesim: " << w << std::endl;
  // What was read is now the state: remember it as written (so it is not read again), then let
  // render() write the normalised form where it differs.
  for (const char* rel : {"storage.cfg", "user.cfg", "priv/token.cfg"}) {
    written_.erase(rel);
  }
  render();
}

void Pmxcfs::write_node_files(const Node& n) {
  std::string root = node_root(n.name);
  fs::create_directories(root + "/etc/network/interfaces.d");
  fs::create_directories(root + "/etc/apt/sources.list.d");
  fs::create_directories(root + "/etc/corosync");
  std::error_code ec;
  if (!fs::exists(root + "/etc/pve", ec) && !fs::is_symlink(root + "/etc/pve", ec)) {
    fs::create_directory_symlink(dir_, root + "/etc/pve");
  }
  const ClusterSpec& c = sim_.c;
  std::string net = subnet_prefix(n.ip);
  std::string host_octet = n.ip.substr(n.ip.rfind('.') + 1);
  auto once = [&](const std::string& rel, const std::string& content) {
    std::string path = root + "/" + rel;
    if (fs::exists(path, ec)) return;
    std::ofstream(path) << content;
  };
  once("etc/hostname", n.name + "\n");
  once("etc/hosts", "127.0.0.1 localhost.localdomain localhost\n" + n.ip + " " + n.name + "." +
                        domain_of(c) + " " + n.name +
                        "\n\n# The following lines are desirable for IPv6 capable hosts\n\n"
                        "::1     ip6-localhost ip6-loopback\nfe00::0 ip6-localnet\n"
                        "ff00::0 ip6-mcastprefix\nff02::1 ip6-allnodes\nff02::2 ip6-allrouters\n"
                        "ff02::3 ip6-allhosts\n");
  once("etc/resolv.conf", "search " + domain_of(c) + "\nnameserver " + net + ".1\n");
  once("etc/network/interfaces",
       "auto lo\niface lo inet loopback\n\niface eno1 inet manual\n\niface eno2 inet manual\n\n"
       "auto vmbr0\niface vmbr0 inet static\n\taddress " +
           n.ip + "/24\n\tgateway " + net +
           ".1\n\tbridge-ports eno1\n\tbridge-stp off\n\tbridge-fd 0\n\n"
           "auto vmbr1\niface vmbr1 inet static\n\taddress 10.20.0." +
           host_octet +
           "/24\n\tbridge-ports eno2\n\tbridge-stp off\n\tbridge-fd 0\n#storage and corosync link "
           "1\n\n"
           "source /etc/network/interfaces.d/*\n");
  if (sim_.pve_major() >= 9) {
    once("etc/apt/sources.list.d/debian.sources",
         "Types: deb\nURIs: http://deb.debian.org/debian/\nSuites: trixie trixie-updates\n"
         "Components: main contrib non-free-firmware\n"
         "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n"
         "Types: deb\nURIs: http://security.debian.org/debian-security/\nSuites: trixie-security\n"
         "Components: main contrib non-free-firmware\n"
         "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n");
    once("etc/apt/sources.list.d/pve-enterprise.sources",
         "Types: deb\nURIs: https://enterprise.proxmox.com/debian/pve\nSuites: trixie\n"
         "Components: pve-enterprise\n"
         "Signed-By: /usr/share/keyrings/proxmox-archive-keyring.gpg\n");
  } else {
    once("etc/apt/sources.list",
         "deb http://deb.debian.org/debian bookworm main contrib\n\n"
         "deb http://deb.debian.org/debian bookworm-updates main contrib\n\n"
         "# security updates\ndeb http://security.debian.org bookworm-security main contrib\n");
    once("etc/apt/sources.list.d/pve-enterprise.list",
         "deb https://enterprise.proxmox.com/debian/pve bookworm pve-enterprise\n");
  }
  once("etc/corosync/corosync.conf", render_corosync_conf(c));
  once("etc/vzdump.conf",
       "# vzdump default settings\n\n#tmpdir: DIR\n#dumpdir: DIR\n#storage: STORAGE_ID\n"
       "#mode: snapshot|suspend|stop\n#bwlimit: KBPS\n#performance: max-workers=N\n"
       "#ionice: PRI\n#lockwait: MINUTES\n#stopwait: MINUTES\n#stdexcludes: BOOLEAN\n"
       "#mailto: ADDRESSLIST\n#prune-backups: keep-INTERVAL=N[,...]\n#script: FILENAME\n"
       "#exclude-path: PATHLIST\n#pigz: N\n#notes-template: {{guestname}}\n");
}

std::string node_file(const Sim& sim, const std::string& node, const std::string& path) {
  std::ifstream in(sim.opts.data_dir + "/rootfs/" + node + path, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

PmxcfsRound::PmxcfsRound(Sim& sim, bool changes) : sim_(sim), changes_(changes) {
  if (sim_.pmxcfs) sim_.pmxcfs->sync_in();
}

PmxcfsRound::~PmxcfsRound() {
  try {
    if (changes_ && sim_.pmxcfs) sim_.pmxcfs->render();
  } catch (const std::exception&) {
  }
}

}  // namespace pvesim
