// pvesafe audit: cluster health and configuration risks (version skew, services, quorum,
// corosync and HA lint, storage, certificates). See docs/audit.md.
//
// Exit status: 0 when the worst finding is below --fail-on (default critical), 11
// (check-failed) when a finding reaches it; API and usage errors use their own codes.
#include <cstdlib>
#include <iostream>
#include <sstream>

#include "cli/command.h"
#include "cli/pve_options.h"
#include "cli/repo_context.h"
#include "cluster/audit.h"
#include "core/error.h"
#include "core/secret.h"
#include "jobs/backup_security.h"
#include "pve/client.h"
#include "store/open_store.h"

namespace pvesafe::cli {

namespace {

struct AuditFlags {
  PveFlags pve;  // the same --pve-* connection flags as backup, restore and drill
  std::vector<std::string> corosync_files;
  std::vector<std::string> data_networks;
  std::vector<std::string> skip;
  std::string fail_on = "critical";
  bool offline = false;
  double storage_warn = 85, storage_crit = 95;
  int cert_warn_days = 30, cert_crit_days = 7;
  std::vector<std::string> backup_repos;
  RepoFlags repo;  // this host's passphrase: tells the mode of its key
};

std::string env_or(const char* name, const std::string& def) {
  const char* v = std::getenv(name);
  return v && *v ? v : def;
}

// Wraps text at `width` columns, continuation lines indented by `indent`.
std::string wrap(const std::string& text, size_t width, size_t indent) {
  std::istringstream in(text);
  std::string word, line, out;
  while (in >> word) {
    if (!line.empty() && line.size() + 1 + word.size() > width) {
      out += line + "\n" + std::string(indent, ' ');
      line.clear();
    }
    line += (line.empty() ? "" : " ") + word;
  }
  return out + line;
}

void print_table(const cluster::AuditReport& r, std::ostream& os) {
  size_t w_check = 5, w_subject = 7;
  for (const auto& f : r.findings) {
    w_check = std::max(w_check, f.check.size());
    w_subject = std::min<size_t>(std::max(w_subject, f.subject.size()), 40);
  }
  auto pad = [](std::string s, size_t w) {
    if (s.size() < w) s.append(w - s.size(), ' ');
    return s;
  };
  size_t msg_col = 10 + w_check + 2 + w_subject + 2;
  os << pad("SEVERITY", 10) << pad("CHECK", w_check + 2) << pad("SUBJECT", w_subject + 2)
     << "FINDING\n";
  for (const auto& f : r.findings) {
    std::string subject = f.subject;
    std::string lead = pad(std::string(cluster::severity_name(f.severity)), 10) +
                       pad(f.check, w_check + 2);
    if (subject.size() > w_subject) {
      os << lead << subject << "\n" << std::string(lead.size(), ' ') << pad("", w_subject + 2);
    } else {
      os << lead << pad(subject, w_subject + 2);
    }
    size_t width = msg_col < 60 ? 120 - msg_col : 60;
    os << wrap(f.message, width, msg_col) << "\n";
    os << std::string(msg_col, ' ') << wrap("-> " + f.remedy, width, msg_col + 3) << "\n";
  }
  int crit = 0, warn = 0, info = 0;
  for (const auto& f : r.findings) {
    crit += f.severity == cluster::Severity::kCritical;
    warn += f.severity == cluster::Severity::kWarning;
    info += f.severity == cluster::Severity::kInfo;
  }
  std::string checks;
  for (const auto& c : r.checks) checks += (checks.empty() ? "" : ",") + c.check;
  os << "audit: " << crit << " critical, " << warn << " warning, " << info << " info";
  if (!r.nodes.empty()) os << " on " << r.nodes.size() << " node(s)";
  os << "; checks: " << checks << "; worst: " << cluster::severity_name(r.worst()) << "\n";
}

}  // namespace

void register_audit(CLI::App& app, GlobalOptions& global) {
  auto flags = std::make_shared<AuditFlags>();
  auto* cmd = app.add_subcommand(
      "audit",
      "Check the cluster for split-brain and failover risks: version skew, services, quorum, "
      "corosync.conf and HA lint, storage, certificates");
  add_pve_flags(cmd, flags->pve);
  cmd->add_option("--corosync-conf", flags->corosync_files,
                  "corosync.conf to lint (repeatable; several copies are compared by "
                  "config_version)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--data-network", flags->data_networks,
                  "CIDR carrying guest traffic; corosync links inside it are reported (repeatable)");
  cmd->add_option("--skip", flags->skip,
                  "Skip a check: quorum, versions, services, ha, storage, certs, corosync");
  cmd->add_option("--fail-on", flags->fail_on,
                  "Exit 11 when a finding is at least this severe: critical or warning")
      ->check(CLI::IsMember({"critical", "warning", "info"}))
      ->capture_default_str();
  cmd->add_flag("--offline", flags->offline, "Only lint the --corosync-conf files; no API calls");
  cmd->add_option(
      "--backup-repo", flags->backup_repos,
      "Backup security of a repository (repeatable; -o store options apply): whether backup hosts "
      "hold secrets that read data, Object Lock, versioning, retention");
  cmd->add_option("--passphrase-file", flags->repo.passphrase.file,
                  "With --backup-repo: this host's passphrase, to report its key's mode");
  cmd->add_option("--storage-warn", flags->storage_warn, "Storage usage warning threshold, percent")
      ->capture_default_str();
  cmd->add_option("--storage-crit", flags->storage_crit, "Storage usage critical threshold, percent")
      ->capture_default_str();
  cmd->add_option("--cert-warn-days", flags->cert_warn_days,
                  "Warn when a certificate expires within this many days")
      ->capture_default_str();
  cmd->add_option("--cert-crit-days", flags->cert_crit_days,
                  "Critical when a certificate expires within this many days")
      ->capture_default_str();

  cmd->callback([flags, &global] {
    AuditFlags& f = *flags;
    const std::string host = f.pve.host.empty() ? env_or("PVESAFE_PVE_HOST", "") : f.pve.host;

    cluster::AuditOptions o;
    o.corosync_files = f.corosync_files;
    o.corosync.data_networks = f.data_networks;
    o.skip = f.skip;
    o.storage_warning_ratio = f.storage_warn / 100.0;
    o.storage_critical_ratio = f.storage_crit / 100.0;
    o.cert_warning_days = f.cert_warn_days;
    o.cert_critical_days = f.cert_crit_days;
    for (const auto& net : f.data_networks) {
      if (!cluster::address_in_network(net.substr(0, net.find('/')), net)) {
        throw Error(Errc::kUsage, "--data-network " + net + " is not a CIDR",
                    "write it like 192.0.2.0/24 or fd00::/64");
      }
    }

    cluster::AuditReport report;
    if (host.empty() && f.corosync_files.empty() && !f.backup_repos.empty()) {
      // Only the backup-security section.
    } else if (f.offline || (host.empty() && !f.corosync_files.empty())) {
      if (f.corosync_files.empty()) {
        throw Error(Errc::kUsage, "--offline needs at least one --corosync-conf FILE");
      }
      report = cluster::audit_corosync_files(o);
    } else {
      if (host.empty()) {
        throw Error(Errc::kUsage, "no PVE host given",
                    "pass --pve-host NODE (or PVESAFE_PVE_HOST), or --corosync-conf FILE --offline");
      }
      pve::Client client(pve_client_options(f.pve));
      report = cluster::run_audit(pve::api_get(client), o);
    }

    if (!f.backup_repos.empty()) {
      cluster::CheckRun run{"backup-security", cluster::Severity::kOk, 0};
      Secret pass;
      if (!f.repo.passphrase.file.empty()) pass = read_secret_file(f.repo.passphrase.file);
      for (const auto& loc : f.backup_repos) {
        std::vector<cluster::Finding> found;
        try {
          auto info = jobs::inspect_repository(
              store::open_store(loc, store::parse_store_options(global.options)), pass);
          found = jobs::security_findings(info);
        } catch (const Error& e) {
          found.push_back({cluster::Severity::kWarning, "backup-security", loc, "",
                           "cannot inspect: " + e.message(), e.hint()});
        }
        for (auto& x : found) {
          run.worst = std::max(run.worst, x.severity);
          if (x.severity == cluster::Severity::kOk)
            x.severity = cluster::Severity::kInfo;  // shown, never alarming
          ++run.findings;
          report.findings.push_back(std::move(x));
        }
      }
      report.checks.push_back(run);
    }
    if (global.json) {
      std::cout << report.to_json().dump(2) << "\n";
    } else {
      print_table(report, std::cout);
    }
    if (report.worst() >= cluster::parse_severity(f.fail_on)) {
      set_exit_status(exit_code(Errc::kCheckFailed));
    }
  });
}

}  // namespace pvesafe::cli
