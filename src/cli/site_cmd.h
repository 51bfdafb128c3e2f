// The whole-site commands: `pvesafe restore latest --all` (every guest's newest snapshot onto a
// new or rebuilt cluster, jobs/site_restore.h) and `pvesafe drill --site` (the same as scratch
// copies, timed and removed again, jobs/site_drill.h). This file owns their selection flags, the
// live table on a terminal and the printing of the summary; restore and drill add the flags and
// hand over when asked.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli/command.h"
#include "cli/pve_options.h"
#include "repo/repository.h"
#include "store/read_timing_store.h"

namespace pvesafe::cli {

struct SiteFlags {
  bool requested = false;           // restore --all / drill --site
  std::vector<std::string> guests;  // --guests 100,101
  std::string pool, tag, source_node, cluster;
  int jobs = 2;
  std::vector<std::string> node_map;  // OLD=NEW
  std::string on_conflict = "fail";
  bool no_start = false;
  bool dry_run = false;
  std::string critical_tag = "critical";
  double health_timeout_seconds = 300;
  // drill --site only
  std::string predict_size;
};

// restore: --all and the site flags (--storage-map and --cluster are the cluster-config ones).
void add_site_restore_flags(CLI::App* cmd, SiteFlags& f);
// drill: --site and the site flags (--node, --storage, --sla, --link are the drill's own).
void add_site_drill_flags(CLI::App* cmd, SiteFlags& f);

struct SiteRunContext {
  PveFlags* pve;
  SshFlags* ssh;
  std::string dump_storage;
  std::vector<std::string> storage_map;
  std::string cluster;
  double task_timeout_seconds = 6 * 3600;
};

// restore latest --all: plans, restores, prints the live table (terminal) and the summary;
// exit status: 0 every guest healthy, else the first failure's code (5 for a missing snapshot).
void run_site_restore(SiteFlags& f, const SiteRunContext& c, repo::Repository& repo,
                      store::ReadTimingStore* timing, const GlobalOptions& g);

struct SiteDrillSettings {
  std::string node, storage;
  double sla_seconds = 900;
  double link_bytes_per_second = 0;
  double open_seconds = 0;
  std::string report;  // --report path
};

// drill --site: exit 0 when every guest was healthy, removed, and the site RTO within the SLA;
// 11 over the SLA; else the first failure's code.
void run_site_drill(SiteFlags& f, const SiteRunContext& c, const SiteDrillSettings& s,
                    repo::Repository& repo, store::ReadTimingStore* timing, const GlobalOptions& g);

// The UTC time stamp of drill reports (single-guest and site): 20261205T061500Z.
std::string utc_stamp();

// Writes a drill's JSON report to `path`, or when that is empty to drills/ (0700) beside the
// catalog as drill-STEM-STAMP.json; warns when it cannot be written. Returns the path.
std::string write_drill_report(const GlobalOptions& g, const std::string& path,
                               const std::string& stem, const nlohmann::json& doc);

}  // namespace pvesafe::cli
