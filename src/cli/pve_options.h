// Shared command-line flags for commands that talk to a Proxmox VE cluster (backup --guest,
// restore --guest, drill, exporter): the API connection and SSH to the nodes.
//
// Secrets never come from argv:
//   token secret: --pve-token-file FILE (0600), env PVESAFE_PVE_TOKEN_SECRET, or the systemd
//                 credential pvesafe-pve-token
//   password:     --pve-password-file FILE, env PVESAFE_PVE_PASSWORD, credential
//                 pvesafe-pve-password, or a prompt
//   SSH key:      --ssh-key FILE, default the credential pvesafe-ssh-key, else ~/.ssh/id_ed25519
// Other settings also come from the environment: PVESAFE_PVE_HOST, PVESAFE_PVE_TOKEN_ID,
// PVESAFE_PVE_FINGERPRINT, PVESAFE_PVE_CA, PVESAFE_SSH_KNOWN_HOSTS.
#pragma once

#include <CLI/CLI.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/repo_context.h"
#include "core/secret.h"
#include "pve/client.h"
#include "pve/guest.h"
#include "pve/ssh.h"
#include "pve/ssh_targets.h"
#include "repo/repository.h"

namespace pvesafe::cli {

struct PveFlags {
  std::string host;
  int port = 8006;
  std::string token_id;
  std::string token_file;
  std::string user;
  std::string password_file;
  std::string fingerprint;
  std::string ca_file;
  double timeout_seconds = 30;
};

struct SshFlags {
  std::string user = "root";
  std::string key_file;
  std::string known_hosts;
  int port = 22;
  std::vector<std::string> hosts;  // NODE=HOST[:PORT]
  // Dump directory template on the nodes ("{node}", "{storage}"); empty: from the API.
  std::string dump_dir;
  // Root of the nodes' file systems ("{node}"); empty: "/".
  std::string node_root;
};

void add_pve_flags(CLI::App* cmd, PveFlags& f);
void add_ssh_flags(CLI::App* cmd, SshFlags& f);

// Fills unset flags from the environment and reads the secret. kUsage/kConfig when incomplete.
pve::ClientOptions pve_client_options(PveFlags& f);

// The SSH flags with their defaults filled in (env PVESAFE_SSH_KNOWN_HOSTS, the credential
// pvesafe-ssh-key, ~/.ssh/id_*); kUsage for a malformed --ssh-host.
pve::SshTargets ssh_targets(const SshFlags& f);
// SSH options to reach `node`: --ssh-host NODE=... wins, else the node's cluster address
// (/cluster/status "ip"), else the node name.
pve::SshOptions ssh_options_for(const SshFlags& f, const std::string& node,
                                const std::vector<pve::NodeInfo>& nodes);

// Opens the repository over `store` (e.g. a decorated store of --repo) with the passphrase of
// the repository flags (see cli/repo_context.h for the usual open_repository()).
repo::Repository open_repository_over(std::unique_ptr<store::ObjectStore> store,
                                      const RepoFlags& flags);

// "15m", "900s", "1h30m", "90" (seconds) -> seconds; kUsage otherwise.
double parse_duration_seconds(const std::string& s);
// "1Gbit", "10Gbit", "100Mbit", "125MB/s", "1G" (bits) -> bytes per second; kUsage otherwise.
double parse_link_bytes_per_second(const std::string& s);

}  // namespace pvesafe::cli
