// Reading a cluster's configuration files over SSH: /etc/pve (the cluster file system, the same
// on every node) and each node's own /etc files (network, hosts, DNS, apt sources, vzdump.conf),
// as tar entries (archive/tar.h) with their modes and owners. Paths go through the node's root
// (pve/ssh_targets.h), so a chroot or a simulator's per-node directory works like "/".
#pragma once

#include <string>
#include <vector>

#include "archive/tar.h"
#include "pve/ssh.h"

namespace pvesafe::jobs {

// The files of a node that describe it (besides /etc/pve).
const std::vector<std::string>& node_config_paths();

// Every file, directory and link under `remote_dir` as entries named `prefix`/... ; the virtual
// status files at the top of /etc/pve (.members, .vmlist, .rrd, ...) are left out when
// `skip_top_dotfiles`. kUnsupported when the tree holds more than max_bytes (pmxcfs itself holds
// at most 128 MiB).
std::vector<archive::TarEntry> read_remote_tree(pve::SshSession& ssh, const std::string& remote_dir,
                                                const std::string& prefix, bool skip_top_dotfiles,
                                                uint64_t max_bytes = 128ull << 20);

// node_config_paths() of one node (missing ones are skipped; directories are read whole), named
// `prefix`/etc/...
std::vector<archive::TarEntry> read_node_files(pve::SshSession& ssh, const std::string& root,
                                               const std::string& prefix);

}  // namespace pvesafe::jobs
