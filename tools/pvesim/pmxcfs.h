// pmxcfs as files: what a PVE node shows under /etc/pve, and each node's own /etc files that an
// operator reads over SSH, so that tools back up and restore a simulated cluster's configuration
// the way they do a real one's. Under the data directory:
//   pmxcfs/                    the cluster file system (one for all nodes, as pmxcfs is)
//   rootfs/NODE/etc/pve        a link to it
//   rootfs/NODE/etc/...        the node's network/interfaces, hosts, hostname, resolv.conf, apt
//                              sources, corosync/corosync.conf, vzdump.conf
// (SSH clients reach a node's files with the root "DIR/rootfs/NODE"; see docs/pvesim.md.)
//
// pvesim writes the files it derives from its state (config_files.h) after every change (API
// writes, task ends, control requests): storage.cfg, user.cfg, priv/token.cfg, corosync.conf,
// ha/*.cfg, jobs.cfg and the guest configs under nodes/NODE/. Files written by someone else are
// read back before the next request, as pmxcfs makes them visible at once: storage.cfg (the
// storages), user.cfg with priv/token.cfg (users, tokens and their roles). Other files it does
// not interpret (datacenter.cfg, firewall/, priv/ keys, anything new) stay as written. The HA and
// guest config files are views: to change HA or a guest, use the API.
#pragma once

#include <sys/types.h>

#include <map>
#include <string>

#include "state.h"

namespace pvesim {

class Pmxcfs {
 public:
  // Creates the directories and the files written once (keys, datacenter.cfg, firewall, the
  // nodes' /etc), then renders the state. `root_ca_pem` becomes pve-root-ca.pem.
  Pmxcfs(Sim& sim, const std::string& root_ca_pem);
  // Both are called with sim.mu held.
  void render();
  void sync_in();

  std::string dir() const { return dir_; }
  std::string node_root(const std::string& node) const;

 private:
  struct Written {
    std::string content;
    ino_t ino = 0;
    int64_t mtime_ns = 0;
    off_t size = -1;
  };
  void write(const std::string& rel, const std::string& content, mode_t mode);
  void remove(const std::string& rel);
  bool changed_by_others(const std::string& rel);
  std::string read(const std::string& rel) const;
  void write_node_files(const Node& n);

  Sim& sim_;
  std::string dir_;
  std::string rootfs_;
  std::map<std::string, Written> written_;  // relative path -> what pvesim wrote last
};

// A node's /etc file as pvesim keeps it (empty when missing).
std::string node_file(const Sim& sim, const std::string& node, const std::string& path);

// One request's round on /etc/pve, for the life of the guard (sim.mu held throughout): files
// written there since the last request are read in first, and when `changes` the state is
// rendered back at the end (errors of that are ignored: the request's answer stands).
class PmxcfsRound {
 public:
  PmxcfsRound(Sim& sim, bool changes);
  ~PmxcfsRound();
  PmxcfsRound(const PmxcfsRound&) = delete;
  PmxcfsRound& operator=(const PmxcfsRound&) = delete;

 private:
  Sim& sim_;
  bool changes_;
};

}  // namespace pvesim
