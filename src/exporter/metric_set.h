// MetricSet collects samples during one scrape and renders them in the Prometheus text
// exposition format (version 0.0.4). Families keep the order in which they were first added;
// each family is written once with its HELP and TYPE lines, followed by all its samples.
//
// Names and label names must match the Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); label values
// are escaped (backslash, double quote, newline). A sample added twice with the same labels is
// kept once (the last value wins), so a scrape never exposes duplicate series.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace pvesafe::exporter {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kGauge, kCounter, kInfo };

class MetricSet {
 public:
  // Declares a family; optional, add() declares on first use.
  void describe(const std::string& name, MetricType type, const std::string& help);
  void add(const std::string& name, MetricType type, const std::string& help,
           const Labels& labels, double value);
  // Shorthand for a gauge.
  void gauge(const std::string& name, const std::string& help, const Labels& labels, double value) {
    add(name, MetricType::kGauge, help, labels, value);
  }
  // Appends every family of `other` (labels in `extra` are prepended to each sample).
  void merge(const MetricSet& other, const Labels& extra = {});
  // Moves every family of `other` in (cheaper for large scrapes); `other` is left empty.
  void merge(MetricSet&& other);

  std::string text() const;
  size_t sample_count() const;
  bool has(const std::string& name) const { return index_.count(name) != 0; }
  // Value of one sample, for tests; throws std::out_of_range when absent.
  double value(const std::string& name, const Labels& labels) const;
  // Samples of one family (empty when absent), for the status page and tests.
  const std::vector<std::pair<Labels, double>>& samples(const std::string& name) const;

 private:
  struct Family {
    std::string name;
    MetricType type;
    std::string help;
    std::vector<std::pair<Labels, double>> samples;
    // hash of the label set -> index in samples (collisions are resolved by comparing labels)
    std::unordered_multimap<uint64_t, size_t> by_hash;
  };
  Family& family(const std::string& name, MetricType type, const std::string& help);
  std::vector<Family> families_;
  std::map<std::string, size_t> index_;
};

// Value of one label ("" when absent).
std::string label(const Labels& labels, const std::string& key);
// Renders a double the way Prometheus expects (NaN, +Inf, -Inf, shortest round-trip form).
std::string format_value(double v);
// Escapes a label value.
std::string escape_label_value(const std::string& v);
// Replaces characters not allowed in a metric or label name by '_'.
std::string sanitize_name(const std::string& name);

}  // namespace pvesafe::exporter
