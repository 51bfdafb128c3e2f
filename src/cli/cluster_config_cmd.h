// The flags of `pvesafe backup --cluster-config` and `pvesafe restore --cluster-config`, and the
// hand-over to the use case (jobs/cluster_config.h) with the printing of its results.
//   backup --cluster-config      /etc/pve, the API's view and every node's own files, one snapshot
//   restore SNAP --cluster-config --to DIR     writes the snapshot's files into DIR (nothing else)
//   restore SNAP --cluster-config --diff       compares it with the running cluster: per file
//                                               what apply would do, and a unified diff
//   restore SNAP --cluster-config --apply      does it (only merge/replace files; the replaced
//                                               versions first go to --undo-dir)
// The PVE and SSH flags are those of the guest commands (cli/pve_guest.h), shared on purpose.
#pragma once

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/pve_options.h"
#include "repo/repository.h"

namespace pvesafe::cli {

struct ClusterConfigRestoreFlags {
  bool requested = false;  // --cluster-config
  bool diff = false;
  bool apply = false;
  std::string cluster;                   // with latest: of this cluster
  std::vector<std::string> storage_map;  // OLD=NEW
  std::vector<std::string> only;         // /etc/pve paths
  std::string undo_dir;
};

// backup: --cluster-config. Uses the PVE and SSH flags registered by add_guest_backup_flags().
void add_cluster_config_backup_flag(CLI::App* cmd, bool& requested);
void run_cluster_config_backup(PveFlags& pve, SshFlags& ssh, const std::vector<std::string>& tags,
                               repo::Repository& repo, const GlobalOptions& g);

void add_cluster_config_restore_flags(CLI::App* cmd, ClusterConfigRestoreFlags& f);
// `to`: the directory of --to (may be empty with --diff/--apply). kUsage for a combination that
// says nothing to do.
void run_cluster_config_restore(ClusterConfigRestoreFlags& f, PveFlags& pve, SshFlags& ssh,
                                repo::Repository& repo, const std::string& snapshot,
                                const std::string& to, bool force, const GlobalOptions& g);

}  // namespace pvesafe::cli
