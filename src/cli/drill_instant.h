// The output side of `pvesafe drill --instant` (jobs/instant_drill.h does the work): the JSON
// report, the table, the catalog event (kind drill, details.mode = "instant", the stages and the
// background copy beside the RTO, which the exporter turns into metrics with mode="instant").
#pragma once

#include <nlohmann/json.hpp>

#include "cli/command.h"
#include "jobs/instant_drill.h"
#include "repo/repository.h"

namespace pvesafe::cli {

nlohmann::json instant_drill_json(const jobs::InstantDrillResult& r, const std::string& guest_id,
                                  const std::string& node, double sla_seconds);
void print_instant_drill(const jobs::InstantDrillResult& r, const std::string& guest_id,
                         const std::string& node, double sla_seconds);
void record_instant_drill(const GlobalOptions& g, const repo::Repository& repo,
                          const jobs::InstantDrillResult& r, const std::string& guest_id,
                          const std::string& node, double sla_seconds);
bool instant_drill_passed(const jobs::InstantDrillResult& r, double sla_seconds);

}  // namespace pvesafe::cli
