// How pvesafe reaches each node of a cluster over SSH: one user, private key and known_hosts file
// for the whole cluster, and per node an address (an explicit NODE=HOST[:PORT] entry, else the
// node's cluster address from /cluster/status, else its name). Also the two path templates jobs
// use on a node, "{node}" (and "{storage}") substituted: the dump directory of a storage, and the
// root of the node's file system under which /etc/pve and /etc/network are read ("/" on a real
// node; a directory per node for a simulator or a chroot).
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pve/guest.h"
#include "pve/ssh.h"

namespace pvesafe::pve {

struct SshTargets {
  std::string user = "root";
  std::string key_file;
  std::string known_hosts;
  int port = 22;
  std::map<std::string, NodeAddress> hosts;  // node -> address
  std::string dump_dir_template;             // empty: the storage's path from the API + /dump
  std::string root_template;                 // empty: "/"

  // Connection options for `node`; `nodes` gives the cluster addresses.
  SshOptions for_node(const std::string& node, const std::vector<NodeInfo>& nodes) const;
  // `path` (absolute, e.g. /etc/pve) as seen through SSH on `node`: under the node's root.
  std::string path_on(const std::string& node, const std::string& path) const;
};

// "{node}" (and "{storage}") replaced in a path template.
std::string expand_template(std::string templ, const std::string& node,
                            const std::string& storage = {});

}  // namespace pvesafe::pve
