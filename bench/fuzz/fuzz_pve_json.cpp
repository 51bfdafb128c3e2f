// PVE API answers: the JSON envelope as pve::Client reads it, then every parser of its "data"
// member (guest and node lists, the exporter's collectors with their lenient number and string
// helpers, HA daemon states, the cluster audit with the answer given for every path), and task
// ids (UPID). The first byte picks the reading: 'U' parses
// the rest as a UPID, anything else as an API answer.
//
// pve/ parsers must refuse bad answers with pvesafe::Error. The exporter's collectors run inside
// a catch of std::exception (a failing collector marks its source down), so for them any
// std::exception is a refusal; crashes and sanitizer findings are not.
#include <nlohmann/json.hpp>

#include "cluster/audit.h"
#include "exporter/metric_set.h"
#include "exporter/pve_collector.h"
#include "fuzz_target.h"
#include "pve/client.h"
#include "pve/guest.h"

namespace {

template <class F>
void collector(F&& f) {
  try {
    f();
  } catch (const std::exception&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace pvesafe;
  if (size == 0) return 0;
  std::string_view text = fuzz::as_text(data + 1, size - 1);
  if (data[0] == 'U') {
    fuzz::refusal_ok([&] { pve::Upid::parse(std::string(text)); });
    return 0;
  }
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (j.is_discarded()) return 0;
  const nlohmann::json& d = j.is_object() && j.contains("data") ? j["data"] : j;
  fuzz::refusal_ok([&] { pve::parse_guests(d); });
  fuzz::refusal_ok([&] { pve::parse_nodes(d); });
  exporter::MetricSet m;
  collector([&] { exporter::collect_cluster_status(d, m); });
  collector([&] { exporter::collect_cluster_resources(d, m); });
  collector([&] { exporter::collect_ha_status(d, m); });
  collector([&] { exporter::collect_ceph_status(d, m); });
  collector([&] { exporter::collect_node_status("pve-01", d, m); });
  collector([&] { exporter::collect_node_versions("pve-01", d, m); });
  if (d.is_string()) exporter::parse_ha_daemon_state(d.get<std::string>());
  m.text();
  fuzz::refusal_ok([&] {
    cluster::AuditOptions o;
    o.now = 1767225600;  // 2026-01-01
    auto report = cluster::run_audit([&](const std::string&) { return d; }, o);
    report.to_json().dump();
  });
  return 0;
}
