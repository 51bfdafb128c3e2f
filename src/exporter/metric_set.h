// MetricSet collects samples during one scrape and renders them in the Prometheus text
// exposition format (version 0.0.4). Families keep the order in which they were first added;
// each family is written once with its HELP and TYPE lines, followed by all its samples.
//
// Names and label names must match the Prometheus rules ([a-zA-Z_:][a-zA-Z0-9_:]*); label values
// are escaped (backslash, double quote, newline). A sample added twice with the same labels is
// kept once (the last value wins), so a scrape never exposes duplicate series.
//
// Memory: a large cluster has well over 100,000 series, so a sample is stored as its label set
// already rendered ("{node=\"pve-01\",guest=\"100\"}") in one arena shared by all families, plus
// its value: 16 bytes and a hash slot per sample. Consecutive samples with the same label set (the
// dozen figures of one guest) share one copy of the rendered labels. Collectors build a label set
// once with LabelSet and add it to every family they fill.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pvesafe::exporter {

using Labels = std::vector<std::pair<std::string, std::string>>;

enum class MetricType { kGauge, kCounter, kInfo };

// A label set rendered once in the exposition format ("{a=\"x\",b=\"y\"}"; empty when no labels).
class LabelSet {
 public:
  LabelSet() = default;
  LabelSet(std::initializer_list<std::pair<std::string_view, std::string_view>> labels) {
    for (const auto& [k, v] : labels) add(k, v);
  }
  LabelSet(const Labels& labels) {  // NOLINT(google-explicit-constructor)
    for (const auto& [k, v] : labels) add(k, v);
  }
  // Appends one label (the value is escaped here).
  LabelSet& add(std::string_view key, std::string_view value);
  // The rendered form, with braces; "" for the empty set.
  std::string_view text() const { return text_; }
  bool empty() const { return text_.empty(); }

 private:
  std::string text_;
};

class MetricSet {
 public:
  MetricSet() = default;
  MetricSet(MetricSet&&) noexcept = default;
  MetricSet& operator=(MetricSet&&) noexcept = default;
  MetricSet(const MetricSet&) = default;
  MetricSet& operator=(const MetricSet&) = default;

  // Declares a family (first declaration wins for type and help) and returns its handle, valid
  // for this set until it is merged into another one.
  size_t family(std::string_view name, MetricType type, std::string_view help);
  void describe(std::string_view name, MetricType type, std::string_view help) {
    family(name, type, help);
  }
  // Adds a sample to a family (see family()).
  void add(size_t family, const LabelSet& labels, double value) {
    add_rendered(family, labels.text(), value);
  }
  void add(std::string_view name, MetricType type, std::string_view help, const LabelSet& labels,
           double value) {
    add_rendered(family(name, type, help), labels.text(), value);
  }
  // Shorthands for a gauge.
  void gauge(std::string_view name, std::string_view help, const LabelSet& labels, double value) {
    add(name, MetricType::kGauge, help, labels, value);
  }
  // Appends every family of `other` (labels in `extra` are prepended to each sample).
  void merge(const MetricSet& other, const Labels& extra = {});
  // Moves every family of `other` in (cheaper for large scrapes); `other` is left empty.
  void merge(MetricSet&& other);

  // The whole exposition text.
  std::string text() const;
  // Streams the exposition text: renders the next piece (about `chunk` bytes, whole lines) into
  // `out` (replacing its contents) and returns false once everything was rendered. `cursor`
  // starts at 0 and is advanced by each call; the set must not change in between.
  bool render_chunk(size_t& cursor, std::string& out, size_t chunk = 64 * 1024) const;

  size_t sample_count() const;
  // Whether the family has samples.
  bool has(std::string_view name) const {
    const Family* f = find_family(name);
    return f && !f->series.empty();
  }
  // Value of one sample, for tests; throws std::out_of_range when absent.
  double value(std::string_view name, const Labels& labels) const;
  // Samples of one family with their labels parsed back (empty when absent), for the status
  // page and tests.
  std::vector<std::pair<Labels, double>> samples(std::string_view name) const;
  // The first sample of a family whose label `key` has `value`.
  std::optional<std::pair<Labels, double>> find(std::string_view name, std::string_view key,
                                                std::string_view value) const;
  // Bytes held by the samples (arena, series and hash tables), for tests and the docs.
  size_t memory_bytes() const;

 private:
  struct Series {
    uint32_t off;  // rendered labels: arena_[off, off + len)
    uint32_t len;
    double value;
  };
  struct Family {
    std::string name;
    MetricType type;
    std::string help;
    std::vector<Series> series;
    std::vector<uint32_t> slots;  // open addressing by label hash: series index + 1, 0 = empty
  };
  void add_rendered(size_t family, std::string_view labels, double value);
  std::string_view labels_of(const Series& s) const {
    return std::string_view(arena_).substr(s.off, s.len);
  }
  const Family* find_family(std::string_view name) const;
  void grow(Family& f);
  void render_family_header(const Family& f, std::string& out) const;

  std::vector<Family> families_;
  std::map<std::string, size_t, std::less<>> index_;
  std::string arena_;
  uint32_t last_off_ = 0, last_len_ = 0;  // the most recently stored label set
};

// Value of one label ("" when absent).
std::string label(const Labels& labels, const std::string& key);
// Parses a rendered label set ("{a=\"x\"}" or "") back into labels (values unescaped).
Labels parse_labels(std::string_view rendered);
// Renders a double the way Prometheus expects (NaN, +Inf, -Inf, shortest round-trip form).
std::string format_value(double v);
// Appends the same to out.
void append_value(std::string& out, double v);
// Escapes a label value.
std::string escape_label_value(std::string_view v);
// Replaces characters not allowed in a metric or label name by '_'.
std::string sanitize_name(const std::string& name);

}  // namespace pvesafe::exporter
