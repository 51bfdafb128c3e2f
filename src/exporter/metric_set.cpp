#include "exporter/metric_set.h"

#include <charconv>
#include <cmath>
#include <stdexcept>

namespace pvesafe::exporter {

namespace {
const char* type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter:
      return "counter";
    case MetricType::kInfo:  // info metrics are exposed as gauges with value 1 (text format 0.0.4)
    case MetricType::kGauge:
      return "gauge";
  }
  return "untyped";
}

std::string escape_help(const std::string& h) {
  std::string out;
  for (char c : h) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

uint64_t hash_labels(const Labels& labels) {
  uint64_t h = 1469598103934665603ull;  // FNV-1a
  auto mix = [&h](const std::string& s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ull;
    }
    h ^= 0xff;
    h *= 1099511628211ull;
  };
  for (const auto& [k, v] : labels) {
    mix(k);
    mix(v);
  }
  return h;
}

std::string render_labels(const Labels& labels) {
  if (labels.empty()) return {};
  std::string out = "{";
  bool first = true;
  for (const auto& [k, v] : labels) {
    if (!first) out += ',';
    first = false;
    out += k;
    out += "=\"";
    out += escape_label_value(v);
    out += '"';
  }
  out += '}';
  return out;
}
}  // namespace

std::string format_value(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    char buf[32];
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    return std::string(buf, p);
  }
  char buf[64];
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  return std::string(buf, p);
}

std::string escape_label_value(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

std::string sanitize_name(const std::string& name) {
  std::string out = name;
  for (size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) out[i] = '_';
  }
  if (out.empty()) out = "_";
  return out;
}

MetricSet::Family& MetricSet::family(const std::string& name, MetricType type,
                                     const std::string& help) {
  auto it = index_.find(name);
  if (it != index_.end()) return families_[it->second];
  index_.emplace(name, families_.size());
  families_.push_back(Family{name, type, help, {}, {}});
  return families_.back();
}

void MetricSet::describe(const std::string& name, MetricType type, const std::string& help) {
  family(name, type, help);
}

void MetricSet::add(const std::string& name, MetricType type, const std::string& help,
                    const Labels& labels, double value) {
  Family& f = family(name, type, help);
  uint64_t h = hash_labels(labels);
  auto [lo, hi] = f.by_hash.equal_range(h);
  for (auto it = lo; it != hi; ++it) {
    if (f.samples[it->second].first == labels) {
      f.samples[it->second].second = value;
      return;
    }
  }
  f.by_hash.emplace(h, f.samples.size());
  f.samples.emplace_back(labels, value);
}

void MetricSet::merge(const MetricSet& other, const Labels& extra) {
  for (const auto& f : other.families_) {
    describe(f.name, f.type, f.help);
    for (const auto& [labels, v] : f.samples) {
      Labels l = extra;
      l.insert(l.end(), labels.begin(), labels.end());
      add(f.name, f.type, f.help, l, v);
    }
  }
}

void MetricSet::merge(MetricSet&& other) {
  if (families_.empty()) {
    families_ = std::move(other.families_);
    index_ = std::move(other.index_);
    other.families_.clear();
    other.index_.clear();
    return;
  }
  for (auto& f : other.families_) {
    if (!index_.count(f.name)) {
      index_.emplace(f.name, families_.size());
      families_.push_back(std::move(f));
      continue;
    }
    for (auto& [labels, v] : f.samples) add(f.name, f.type, f.help, labels, v);
  }
  other.families_.clear();
  other.index_.clear();
}

std::string MetricSet::text() const {
  std::string out;
  out.reserve(sample_count() * 80 + families_.size() * 120);
  for (const auto& f : families_) {
    if (f.samples.empty()) continue;
    out += "# HELP ";
    out += f.name;
    out += ' ';
    out += escape_help(f.help);
    out += "\n# TYPE ";
    out += f.name;
    out += ' ';
    out += type_name(f.type);
    out += '\n';
    for (const auto& [labels, v] : f.samples) {
      out += f.name;
      out += render_labels(labels);
      out += ' ';
      out += format_value(v);
      out += '\n';
    }
  }
  return out;
}

size_t MetricSet::sample_count() const {
  size_t n = 0;
  for (const auto& f : families_) n += f.samples.size();
  return n;
}

double MetricSet::value(const std::string& name, const Labels& labels) const {
  auto it = index_.find(name);
  if (it == index_.end()) throw std::out_of_range("no metric family " + name);
  const Family& f = families_[it->second];
  auto [lo, hi] = f.by_hash.equal_range(hash_labels(labels));
  for (auto hit = lo; hit != hi; ++hit)
    if (f.samples[hit->second].first == labels) return f.samples[hit->second].second;
  throw std::out_of_range("no sample " + name + render_labels(labels));
}

const std::vector<std::pair<Labels, double>>& MetricSet::samples(const std::string& name) const {
  static const std::vector<std::pair<Labels, double>> none;
  auto it = index_.find(name);
  return it == index_.end() ? none : families_[it->second].samples;
}

std::string label(const Labels& labels, const std::string& key) {
  for (const auto& [k, v] : labels)
    if (k == key) return v;
  return {};
}

}  // namespace pvesafe::exporter
