#include "exporter/metric_set.h"

#include <charconv>
#include <cmath>
#include <limits>
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

void append_escaped_help(std::string& out, std::string_view h) {
  for (char c : h) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void append_escaped_value(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

size_t hash_text(std::string_view s) { return std::hash<std::string_view>{}(s); }

// Calls fn(key, escaped value) for each label of a rendered set; stops when fn returns true.
// Returns whether fn did.
template <typename Fn>
bool for_each_label(std::string_view r, Fn&& fn) {
  if (r.size() < 2 || r.front() != '{') return false;
  size_t i = 1;
  while (i < r.size() && r[i] != '}') {
    size_t eq = r.find('=', i);
    if (eq == std::string_view::npos || eq + 1 >= r.size() || r[eq + 1] != '"') return false;
    std::string_view key = r.substr(i, eq - i);
    size_t j = eq + 2;
    while (j < r.size() && r[j] != '"') j += r[j] == '\\' ? 2 : 1;
    if (j >= r.size()) return false;
    if (fn(key, r.substr(eq + 2, j - eq - 2))) return true;
    i = j + 1;
    if (i < r.size() && r[i] == ',') ++i;
  }
  return false;
}

std::string unescape(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '\\' && i + 1 < v.size()) {
      char n = v[++i];
      out += n == 'n' ? '\n' : n;
    } else {
      out += v[i];
    }
  }
  return out;
}
}  // namespace

LabelSet& LabelSet::add(std::string_view key, std::string_view value) {
  if (text_.empty()) {
    text_.reserve(key.size() + value.size() + 32);
    text_ += '{';
  } else {
    text_.back() = ',';  // replaces the closing brace
  }
  text_ += key;
  text_ += "=\"";
  append_escaped_value(text_, value);
  text_ += "\"}";
  return *this;
}

void append_value(std::string& out, double v) {
  if (std::isnan(v)) {
    out += "NaN";
    return;
  }
  if (std::isinf(v)) {
    out += v > 0 ? "+Inf" : "-Inf";
    return;
  }
  char buf[64];
  if (v == std::floor(v) && std::fabs(v) < 1e15) {
    auto [p, ec] = std::to_chars(buf, buf + sizeof buf, static_cast<long long>(v));
    out.append(buf, p);
    return;
  }
  auto [p, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, p);
}

std::string format_value(double v) {
  std::string out;
  append_value(out, v);
  return out;
}

std::string escape_label_value(std::string_view v) {
  std::string out;
  out.reserve(v.size());
  append_escaped_value(out, v);
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

Labels parse_labels(std::string_view rendered) {
  Labels out;
  for_each_label(rendered, [&](std::string_view k, std::string_view v) {
    out.emplace_back(std::string(k), unescape(v));
    return false;
  });
  return out;
}

size_t MetricSet::family(std::string_view name, MetricType type, std::string_view help) {
  auto it = index_.find(name);
  if (it != index_.end()) return it->second;
  index_.emplace(std::string(name), families_.size());
  families_.push_back(Family{std::string(name), type, std::string(help), {}, {}});
  return families_.size() - 1;
}

const MetricSet::Family* MetricSet::find_family(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &families_[it->second];
}

void MetricSet::grow(Family& f) {
  size_t cap = f.slots.empty() ? 16 : f.slots.size() * 2;
  while (cap < (f.series.size() + 1) * 2) cap *= 2;
  f.slots.assign(cap, 0);
  size_t mask = cap - 1;
  for (size_t j = 0; j < f.series.size(); ++j) {
    size_t i = hash_text(labels_of(f.series[j])) & mask;
    while (f.slots[i] != 0) i = (i + 1) & mask;
    f.slots[i] = static_cast<uint32_t>(j + 1);
  }
}

void MetricSet::add_rendered(size_t fam, std::string_view labels, double value) {
  Family& f = families_.at(fam);
  if ((f.series.size() + 1) * 2 > f.slots.size()) grow(f);
  size_t mask = f.slots.size() - 1;
  size_t i = hash_text(labels) & mask;
  while (uint32_t slot = f.slots[i]) {
    Series& s = f.series[slot - 1];
    if (labels_of(s) == labels) {
      s.value = value;
      return;
    }
    i = (i + 1) & mask;
  }
  uint32_t off = last_off_;
  if (labels.size() != last_len_ || labels_of(Series{last_off_, last_len_, 0}) != labels) {
    if (arena_.size() + labels.size() > std::numeric_limits<uint32_t>::max())
      throw std::length_error("metric labels exceed 4 GiB");
    off = static_cast<uint32_t>(arena_.size());
    arena_.append(labels);
    last_off_ = off;
    last_len_ = static_cast<uint32_t>(labels.size());
  }
  f.slots[i] = static_cast<uint32_t>(f.series.size() + 1);
  f.series.push_back(Series{off, static_cast<uint32_t>(labels.size()), value});
}

void MetricSet::merge(const MetricSet& other, const Labels& extra) {
  LabelSet prefix(extra);
  std::string combined;
  for (const auto& f : other.families_) {
    size_t id = family(f.name, f.type, f.help);
    for (const auto& s : f.series) {
      std::string_view l = other.labels_of(s);
      if (prefix.empty() || l.empty()) {
        combined.assign(prefix.empty() ? l : prefix.text());
      } else {
        combined.assign(prefix.text().substr(0, prefix.text().size() - 1));
        combined += ',';
        combined += l.substr(1);
      }
      add_rendered(id, combined, s.value);
    }
  }
}

void MetricSet::merge(MetricSet&& other) {
  if (&other == this) return;
  if (families_.empty() && arena_.empty()) {
    *this = std::move(other);
    other = MetricSet();
    return;
  }
  if (arena_.size() + other.arena_.size() > std::numeric_limits<uint32_t>::max())
    throw std::length_error("metric labels exceed 4 GiB");
  auto base = static_cast<uint32_t>(arena_.size());
  arena_.append(other.arena_);
  for (auto& f : other.families_) {
    for (auto& s : f.series) s.off += base;
    auto it = index_.find(f.name);
    if (it == index_.end()) {
      index_.emplace(f.name, families_.size());
      families_.push_back(std::move(f));  // label hashes do not depend on offsets: slots stay
      continue;
    }
    Family& mine = families_[it->second];
    for (const auto& s : f.series) {
      if ((mine.series.size() + 1) * 2 > mine.slots.size()) grow(mine);
      size_t mask = mine.slots.size() - 1;
      std::string_view l = labels_of(s);
      size_t i = hash_text(l) & mask;
      bool found = false;
      while (uint32_t slot = mine.slots[i]) {
        Series& m = mine.series[slot - 1];
        if (labels_of(m) == l) {
          m.value = s.value;
          found = true;
          break;
        }
        i = (i + 1) & mask;
      }
      if (found) continue;
      mine.slots[i] = static_cast<uint32_t>(mine.series.size() + 1);
      mine.series.push_back(s);
    }
  }
  other = MetricSet();
}

void MetricSet::render_family_header(const Family& f, std::string& out) const {
  out += "# HELP ";
  out += f.name;
  out += ' ';
  append_escaped_help(out, f.help);
  out += "\n# TYPE ";
  out += f.name;
  out += ' ';
  out += type_name(f.type);
  out += '\n';
}

bool MetricSet::render_chunk(size_t& cursor, std::string& out, size_t chunk) const {
  out.clear();
  size_t fi = cursor >> 32, si = cursor & 0xffffffffu;
  while (fi < families_.size()) {
    const Family& f = families_[fi];
    if (si == 0 && !f.series.empty()) render_family_header(f, out);
    while (si < f.series.size()) {
      const Series& s = f.series[si++];
      out += f.name;
      out += labels_of(s);
      out += ' ';
      append_value(out, s.value);
      out += '\n';
      if (out.size() >= chunk) {
        cursor = (fi << 32) | si;
        return true;
      }
    }
    ++fi;
    si = 0;
  }
  cursor = fi << 32;
  return !out.empty();
}

std::string MetricSet::text() const {
  std::string out;
  size_t cursor = 0;
  render_chunk(cursor, out, std::numeric_limits<size_t>::max());
  return out;
}

size_t MetricSet::sample_count() const {
  size_t n = 0;
  for (const auto& f : families_) n += f.series.size();
  return n;
}

size_t MetricSet::memory_bytes() const {
  size_t n = arena_.capacity() + families_.capacity() * sizeof(Family);
  for (const auto& f : families_)
    n += f.series.capacity() * sizeof(Series) + f.slots.capacity() * sizeof(uint32_t);
  return n;
}

double MetricSet::value(std::string_view name, const Labels& labels) const {
  const Family* f = find_family(name);
  if (!f) throw std::out_of_range("no metric family " + std::string(name));
  LabelSet want(labels);
  if (!f->slots.empty()) {
    size_t mask = f->slots.size() - 1;
    for (size_t i = hash_text(want.text()) & mask; f->slots[i] != 0; i = (i + 1) & mask) {
      const Series& s = f->series[f->slots[i] - 1];
      if (labels_of(s) == want.text()) return s.value;
    }
  }
  throw std::out_of_range("no sample " + std::string(name) + std::string(want.text()));
}

std::vector<std::pair<Labels, double>> MetricSet::samples(std::string_view name) const {
  std::vector<std::pair<Labels, double>> out;
  if (const Family* f = find_family(name)) {
    out.reserve(f->series.size());
    for (const auto& s : f->series) out.emplace_back(parse_labels(labels_of(s)), s.value);
  }
  return out;
}

std::optional<std::pair<Labels, double>> MetricSet::find(std::string_view name,
                                                         std::string_view key,
                                                         std::string_view value) const {
  const Family* f = find_family(name);
  if (!f) return std::nullopt;
  std::string want = escape_label_value(value);
  for (const auto& s : f->series) {
    std::string_view l = labels_of(s);
    bool hit = for_each_label(
        l, [&](std::string_view k, std::string_view v) { return k == key && v == want; });
    if (hit || (want.empty() &&
                !for_each_label(l, [&](std::string_view k, std::string_view) { return k == key; })))
      return std::make_pair(parse_labels(l), s.value);
  }
  return std::nullopt;
}

std::string label(const Labels& labels, const std::string& key) {
  for (const auto& [k, v] : labels)
    if (k == key) return v;
  return {};
}

}  // namespace pvesafe::exporter
