// Concurrent API calls with a deadline. A scrape must never hang: fetch_all() returns at the
// deadline at the latest, and a call still running then is reported as timed out (its result,
// if it ever arrives, is dropped). The calls run on short-lived worker threads that own a copy
// of the fetcher, so the fetcher must stay valid on its own (capture shared_ptrs, not references).
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "exporter/metric_set.h"

namespace pvesafe::exporter {

// Returns the "data" member of a PVE API answer for an API path such as "/cluster/status";
// throws (pvesafe::Error or any std::exception) on failure.
using ApiGet = std::function<nlohmann::json(const std::string& path)>;

struct FetchOutcome {
  std::string path;
  bool ok = false;
  bool timed_out = false;
  int error_code = 0;  // pvesafe::Errc value when the fetcher threw pvesafe::Error, else 0
  nlohmann::json data;  // the answer (null when a Convert turned it into `metrics`)
  std::string error;    // one line, no secrets
  double seconds = 0;
  MetricSet metrics;          // what the Convert made of the answer
  std::string convert_error;  // ok, but the Convert rejected the answer (then `metrics` is empty)
};

// Turns the answer to paths[index] into metrics; throws when the answer is not what it expects.
using Convert = std::function<void(size_t index, const nlohmann::json& data, MetricSet& out)>;

// Runs get(path) for every path, at most `parallel` at a time, and returns the outcomes in the
// order of `paths` no later than `deadline`. With a `convert`, each answer is turned into metrics
// on the worker thread that fetched it and released at once, so large answers neither pile up
// nor wait for the slowest call.
std::vector<FetchOutcome> fetch_all(const ApiGet& get, const std::vector<std::string>& paths,
                                    std::chrono::steady_clock::time_point deadline,
                                    int parallel = 8, Convert convert = {});

}  // namespace pvesafe::exporter

namespace pvesafe::exporter {

// Runs fn on a worker thread and waits for it until `deadline`. Returns true and sets `out` when
// fn finished in time; otherwise returns false with `error` set (fn's exception text, or a
// timeout). A late fn keeps running detached and its result is dropped.
template <typename T>
bool run_with_deadline(std::function<T()> fn, std::chrono::steady_clock::time_point deadline,
                       T& out, std::string& error, double& seconds);

}  // namespace pvesafe::exporter

#include "exporter/fetch_inl.h"
