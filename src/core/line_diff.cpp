#include "core/line_diff.h"

#include <fmt/format.h>

#include <algorithm>
#include <vector>

namespace pvesafe {

namespace {

std::vector<std::string> lines_of(const std::string& s) {
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t nl = s.find('\n', pos);
    if (nl == std::string::npos) nl = s.size();
    out.push_back(s.substr(pos, nl - pos));
    pos = nl + 1;
  }
  return out;
}

enum class Op { kKeep, kDelete, kInsert };

// Shortest edit script (Myers 1986), as a sequence of operations over a and b.
std::vector<Op> edit_script(const std::vector<std::string>& a, const std::vector<std::string>& b) {
  const int n = static_cast<int>(a.size()), m = static_cast<int>(b.size());
  const int max = n + m;
  std::vector<int> v(2 * static_cast<size_t>(max) + 2, 0);
  std::vector<std::vector<int>> trace;
  int d_end = 0;
  for (int d = 0; d <= max; ++d) {
    trace.push_back(v);
    bool done = false;
    for (int k = -d; k <= d; k += 2) {
      int x;
      if (k == -d || (k != d && v[k - 1 + max] < v[k + 1 + max])) {
        x = v[k + 1 + max];
      } else {
        x = v[k - 1 + max] + 1;
      }
      int y = x - k;
      while (x < n && y < m && a[x] == b[y]) {
        ++x;
        ++y;
      }
      v[k + max] = x;
      if (x >= n && y >= m) {
        done = true;
        break;
      }
    }
    if (done) {
      d_end = d;
      break;
    }
  }
  std::vector<Op> ops;
  int x = n, y = m;
  for (int d = d_end; d > 0; --d) {
    const auto& vd = trace[static_cast<size_t>(d)];
    int k = x - y;
    int prev_k = (k == -d || (k != d && vd[k - 1 + max] < vd[k + 1 + max])) ? k + 1 : k - 1;
    int prev_x = vd[prev_k + max];
    int prev_y = prev_x - prev_k;
    while (x > prev_x && y > prev_y) {
      ops.push_back(Op::kKeep);
      --x;
      --y;
    }
    ops.push_back(x == prev_x ? Op::kInsert : Op::kDelete);
    x = prev_x;
    y = prev_y;
  }
  while (x > 0 && y > 0) {
    ops.push_back(Op::kKeep);
    --x;
    --y;
  }
  std::reverse(ops.begin(), ops.end());
  return ops;
}

}  // namespace

std::string unified_diff(const std::string& a_text, const std::string& b_text,
                         const std::string& a_name, const std::string& b_name, int context) {
  auto a = lines_of(a_text), b = lines_of(b_text);
  if (a == b) return {};
  auto ops = edit_script(a, b);
  // Positions in a and b before each op.
  struct Pos {
    Op op;
    int ai, bi;
  };
  std::vector<Pos> seq;
  int ai = 0, bi = 0;
  for (Op op : ops) {
    seq.push_back({op, ai, bi});
    if (op != Op::kInsert) ++ai;
    if (op != Op::kDelete) ++bi;
  }
  std::string out = fmt::format("--- {}\n+++ {}\n", a_name, b_name);
  size_t i = 0;
  while (i < seq.size()) {
    if (seq[i].op == Op::kKeep) {
      ++i;
      continue;
    }
    // A hunk: from `context` keeps before this change to `context` keeps after the last change
    // that is at most 2*context keeps away.
    size_t start = i >= static_cast<size_t>(context) ? i - static_cast<size_t>(context) : 0;
    while (start < i && seq[start].op != Op::kKeep) ++start;
    size_t end = i;
    size_t keeps = 0;
    for (size_t j = i; j < seq.size(); ++j) {
      if (seq[j].op == Op::kKeep) {
        if (++keeps > static_cast<size_t>(2 * context)) break;
      } else {
        keeps = 0;
        end = j;
      }
    }
    size_t stop = std::min(seq.size(), end + 1 + static_cast<size_t>(context));
    for (size_t j = end + 1; j < stop; ++j) {
      if (seq[j].op != Op::kKeep) {
        stop = j;
        break;
      }
    }
    int a0 = seq[start].ai, b0 = seq[start].bi, an = 0, bn = 0;
    std::string body;
    for (size_t j = start; j < stop; ++j) {
      switch (seq[j].op) {
        case Op::kKeep:
          body += " " + a[static_cast<size_t>(seq[j].ai)] + "\n";
          ++an;
          ++bn;
          break;
        case Op::kDelete:
          body += "-" + a[static_cast<size_t>(seq[j].ai)] + "\n";
          ++an;
          break;
        case Op::kInsert:
          body += "+" + b[static_cast<size_t>(seq[j].bi)] + "\n";
          ++bn;
          break;
      }
    }
    out += fmt::format("@@ -{},{} +{},{} @@\n", an ? a0 + 1 : a0, an, bn ? b0 + 1 : b0, bn);
    out += body;
    i = stop;
  }
  return out;
}

}  // namespace pvesafe
