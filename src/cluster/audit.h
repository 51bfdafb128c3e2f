// `pvesafe audit`: checks for the cluster states that lead to split-brain, lost quorum and failed
// failovers, read through the PVE API (a pve::ApiGet, so the checks run against recorded JSON in
// unit tests and against pve::Client in the CLI).
//
// Checks (each returns findings; a check that cannot query the API reports a warning finding
// naming the path instead of throwing, so one broken endpoint does not hide the others):
//   nodes     GET /nodes                              offline nodes
//   quorum    GET /cluster/status                     quorum lost, members offline, even votes
//   versions  GET /nodes/{n}/apt/versions             per-package version skew between nodes
//   services  GET /nodes/{n}/services                 required services not running
//   ha        GET /cluster/ha/resources, /cluster/ha/rules (PVE 9) or /cluster/ha/groups (PVE 8),
//             /cluster/resources, /nodes/{n}/{qemu|lxc}/{id}/config
//                                                     HA guests on node-local storage, rules
//                                                     naming unknown nodes, rules with no
//                                                     preference, guests with no failover target
//   storage   GET /cluster/resources?type=storage     storage nearly full
//   certs     GET /nodes/{n}/certificates/info        certificates expiring or expired
//   corosync  files given by the user (and GET /cluster/config/nodes + /cluster/config/totem when
//             no file is given): see corosync_lint.h
#pragma once

#include <ctime>
#include <string>
#include <vector>

#include "cluster/audit_finding.h"
#include "cluster/corosync_lint.h"
#include "pve/client.h"

namespace pvesafe::cluster {

struct AuditOptions {
  // Services that must be running on every node (systemd unit names as /services reports them).
  std::vector<std::string> required_services{"corosync",   "pve-cluster", "pve-ha-lrm",
                                             "pve-ha-crm", "pveproxy",    "pvedaemon",
                                             "pvestatd"};
  // Version skew in these packages is critical when the major.minor differs, else a warning;
  // skew in any other package reported by apt/versions is a warning.
  std::vector<std::string> cluster_packages{"pve-manager", "pve-cluster",   "corosync",
                                            "libknet1",    "pve-ha-manager", "qemu-server",
                                            "proxmox-ve",  "libpve-common-perl"};
  double storage_warning_ratio = 0.85;
  double storage_critical_ratio = 0.95;
  int cert_warning_days = 30;
  int cert_critical_days = 7;
  std::time_t now = 0;  // 0: time(nullptr)

  std::vector<std::string> corosync_files;  // lint these; several copies are also compared
  CorosyncLintOptions corosync;
  bool corosync_from_api = true;  // lint /cluster/config when no file is given
  std::vector<std::string> skip;  // check ids to skip
};

struct CheckRun {
  std::string check;
  Severity worst = Severity::kOk;
  size_t findings = 0;
};

struct AuditReport {
  std::vector<Finding> findings;  // sorted: critical first, then by check and subject
  std::vector<CheckRun> checks;   // every check that ran, in order
  std::vector<std::string> nodes;
  Severity worst() const;
  nlohmann::json to_json() const;
};

AuditReport run_audit(const pve::ApiGet& get, const AuditOptions& options);
// Offline: lint corosync files only (no API).
AuditReport audit_corosync_files(const AuditOptions& options);

// The individual checks (used by run_audit; exposed for tests and the exporter).
std::vector<Finding> check_nodes(const pve::ApiGet& get, std::vector<std::string>* online_nodes,
                                 std::vector<std::string>* all_nodes);
std::vector<Finding> check_quorum(const pve::ApiGet& get);
std::vector<Finding> check_versions(const pve::ApiGet& get, const std::vector<std::string>& nodes,
                                    const AuditOptions& options);
std::vector<Finding> check_services(const pve::ApiGet& get, const std::vector<std::string>& nodes,
                                    const AuditOptions& options);
std::vector<Finding> check_ha(const pve::ApiGet& get, const std::vector<std::string>& online_nodes,
                              const std::vector<std::string>& all_nodes);
std::vector<Finding> check_storage(const pve::ApiGet& get, const AuditOptions& options);
std::vector<Finding> check_certificates(const pve::ApiGet& get,
                                        const std::vector<std::string>& nodes,
                                        const AuditOptions& options);
std::vector<Finding> check_corosync_api(const pve::ApiGet& get, const AuditOptions& options);

// Debian version comparison (dpkg --compare-versions semantics): <0, 0, >0.
int compare_debian_versions(const std::string& a, const std::string& b);

}  // namespace pvesafe::cluster
