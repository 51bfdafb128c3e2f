// Arithmetic of a DR fire drill: stage times, the RTO verdict and the RTO predicted for a
// guest's real disk size. The drill itself (cli/cmd_drill.cpp) measures; this file computes.
//
// Stages: lookup (open the repository, find the snapshot, check the node, pick a scratch id),
// fetch (time during which at least one repository read was in flight while the snapshot
// streamed to the node), decrypt/verify (the rest of that streaming time: decryption,
// decompression, chunk-id checks and the upload that are not hidden behind a read), provision
// (the restore task creating the guest), boot (start task until status "running"), health
// (guest agent ping, or "running" when no agent is configured), cleanup (removal of the scratch
// guest). RTO = lookup + fetch + decrypt/verify + provision + boot + health, i.e. the time until
// a healthy guest runs; cleanup is reported but not part of the RTO.
//
// Prediction for a disk of D bytes from a drill of a snapshot of S bytes (archive size) of
// which F bytes were fetched from the repository (after dedup/compression/encryption):
//   k = D / S                           (conservative: the archive grows with the whole disk)
//   fetch'     = D * (F / S) / link     (with --link; else fetch * k)
//   decrypt'   = decrypt_verify * k
//   provision' = provision * k          (the restore task's work is proportional to the data)
//   RTO'       = lookup + fetch' + decrypt' + provision' + boot + health
// The stages overlap in the pipeline, so the sum is an upper bound of what the pipeline needs.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace pvesafe::pve {

// Total length covered by possibly overlapping [start, end) intervals.
double union_seconds(std::vector<std::pair<double, double>> intervals);

struct DrillStages {
  double lookup = 0, fetch = 0, decrypt_verify = 0, provision = 0, boot = 0, health = 0,
         cleanup = 0;
  double rto() const { return lookup + fetch + decrypt_verify + provision + boot + health; }
  // [("lookup", s), ...] in order.
  std::vector<std::pair<std::string, double>> list() const;
};

struct RtoPrediction {
  uint64_t disk_bytes = 0;
  double link_bytes_per_second = 0;  // 0: the measured fetch rate was used
  double fetch = 0, decrypt_verify = 0, provision = 0;
  double rto = 0;
};

RtoPrediction predict_rto(const DrillStages& measured, uint64_t snapshot_bytes,
                          uint64_t fetched_bytes, uint64_t disk_bytes,
                          double link_bytes_per_second);

nlohmann::json to_json(const DrillStages& s);
nlohmann::json to_json(const RtoPrediction& p);

// "1h02m03s", "4m35s", "12.3s".
std::string format_seconds(double s);

}  // namespace pvesafe::pve
