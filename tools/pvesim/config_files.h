// The files of /etc/pve that pvesim derives from its state, in PVE's own formats, and the parsers
// of those an operator may write back (storage.cfg, user.cfg with priv/token.cfg):
//   storage.cfg          section config: "TYPE: ID" and tab-indented properties
//   user.cfg             "user:ID:ENABLE:EXPIRE:FIRST:LAST:EMAIL:COMMENT:KEYS:",
//                        "token:USER!NAME:EXPIRE:PRIVSEP:COMMENT:", "acl:1:PATH:IDS:ROLES:"
//   priv/token.cfg       "USER@REALM!NAME SECRET" per line
//   corosync.conf        nodelist and totem of the cluster
//   ha/resources.cfg, ha/groups.cfg (PVE 8), ha/rules.cfg (PVE 9), jobs.cfg
//   nodes/N/qemu-server/ID.conf, nodes/N/lxc/ID.conf   "key: value" lines, snapshots as [name]
#pragma once

#include <map>
#include <string>
#include <vector>

#include "state.h"

namespace pvesim {

// The path a node shows for a file based storage (/var/lib/vz for local, /mnt/pve/ID else).
std::string storage_pve_path(const Storage& s);

std::string render_storage_cfg(const std::vector<Storage>& storages);
// Storages from storage.cfg; `current` gives what the file does not say (sizes, where the
// simulator keeps a storage's files). Lines it cannot read are skipped (as PVE's parser does)
// and reported in *warnings.
std::vector<Storage> parse_storage_cfg(const std::string& text, const std::vector<Storage>& current,
                                       std::vector<std::string>* warnings);

std::string render_user_cfg(const ClusterSpec& c, const std::map<std::string, Token>& tokens);
std::string render_token_cfg(const std::map<std::string, Token>& tokens);
// Users and tokens from user.cfg and priv/token.cfg. A user's or token's role is the first role
// an ACL on "/" grants it (or, for a token without privilege separation, its user's); pve-realm
// passwords live in priv/shadow.cfg, which pvesim does not keep: users it knew keep theirs, new
// users get "pvesim". A token without a line in token.cfg cannot log in.
void parse_user_cfg(const std::string& user_cfg, const std::string& token_cfg,
                    std::map<std::string, User>& users, std::map<std::string, Token>& tokens,
                    std::vector<std::string>* warnings);

std::string render_corosync_conf(const ClusterSpec& c);
std::string render_ha_resources_cfg(const ClusterSpec& c, int pve_major);
std::string render_ha_groups_cfg(const ClusterSpec& c);
std::string render_ha_rules_cfg(const ClusterSpec& c);
std::string render_jobs_cfg(const ClusterSpec& c);
std::string render_guest_conf(const Guest& g);
// Files written once when the cluster is set up and then kept as whoever writes them leaves them.
std::string initial_datacenter_cfg();
std::string initial_cluster_fw();

}  // namespace pvesim
