// A strict checker for the Prometheus text exposition format 0.0.4, as netfence emits it.
//
// Stricter than Prometheus itself where that costs nothing: every family must have `# HELP`
// then `# TYPE` before its samples, families are contiguous and appear once, no timestamps,
// no comments other than HELP/TYPE, no blank lines, counters are named `*_total` and are
// non-negative, and histograms must be cumulative and monotone with `+Inf` equal to `_count`.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace netfence::observe::prom {

struct Sample {
  std::string name;
  std::vector<std::pair<std::string, std::string>> labels;  // unescaped values, in order
  double value = 0;
};

struct Family {
  std::string name;
  std::string type;
  std::string help;  // unescaped
  std::vector<Sample> samples;
};

struct Exposition {
  std::vector<Family> families;
  std::vector<std::string> errors;  // empty = valid

  const Family* family(std::string_view name) const {
    for (const auto& f : families) {
      if (f.name == name) return &f;
    }
    return nullptr;
  }
  /// The value of the series `name{labels}` (labels in any order), or NaN if absent.
  double value(std::string_view name,
               std::vector<std::pair<std::string, std::string>> labels = {}) const {
    std::sort(labels.begin(), labels.end());
    for (const auto& f : families) {
      for (const auto& s : f.samples) {
        auto l = s.labels;
        std::sort(l.begin(), l.end());
        if (s.name == name && l == labels) return s.value;
      }
    }
    return std::nan("");
  }
};

namespace detail {

inline bool metric_name_ok(std::string_view n) {
  if (n.empty()) return false;
  auto first = [](char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
  };
  auto rest = [&](char c) { return first(c) || (c >= '0' && c <= '9'); };
  if (!first(n[0])) return false;
  return std::all_of(n.begin() + 1, n.end(), rest);
}

inline bool label_name_ok(std::string_view n) {
  if (n.empty() || n.starts_with("__")) return false;
  auto first = [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; };
  auto rest = [&](char c) { return first(c) || (c >= '0' && c <= '9'); };
  if (!first(n[0])) return false;
  return std::all_of(n.begin() + 1, n.end(), rest);
}

inline bool parse_value(std::string_view s, double& out) {
  if (s == "+Inf") return out = HUGE_VAL, true;
  if (s == "-Inf") return out = -HUGE_VAL, true;
  if (s == "NaN") return out = std::nan(""), true;
  if (s.empty()) return false;
  const std::string copy(s);
  char* end = nullptr;
  out = std::strtod(copy.c_str(), &end);
  // strtod also takes "inf"/"nan" spellings and hex floats; the format does not.
  if (copy.find_first_of("xXiInN") != std::string::npos) return false;
  return end == copy.c_str() + copy.size();
}

}  // namespace detail

inline Exposition validate_prometheus(std::string_view text) {
  Exposition x;
  auto error = [&](std::size_t line_no, const std::string& what) {
    x.errors.push_back("line " + std::to_string(line_no) + ": " + what);
  };
  if (!text.empty() && text.back() != '\n') x.errors.push_back("text does not end with LF");

  std::set<std::string> seen_families;
  std::set<std::string> seen_series;
  std::string pending_help_name;
  std::string pending_help;
  bool has_pending_help = false;
  constexpr std::size_t kNone = static_cast<std::size_t>(-1);
  std::size_t current_index = kNone;  // index into x.families (which reallocates)

  std::size_t line_no = 0;
  std::size_t pos = 0;
  while (pos < text.size()) {
    ++line_no;
    std::size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    const std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;

    if (line.empty()) {
      error(line_no, "blank line");
      continue;
    }
    if (line.find('\r') != std::string_view::npos) error(line_no, "CR in line");

    if (line.starts_with("# HELP ")) {
      std::string_view rest = line.substr(7);
      const auto sp = rest.find(' ');
      const std::string_view name = rest.substr(0, sp);
      if (!detail::metric_name_ok(name)) error(line_no, "bad HELP name");
      std::string help;
      const std::string_view raw = sp == std::string_view::npos ? "" : rest.substr(sp + 1);
      for (std::size_t i = 0; i < raw.size(); ++i) {
        if (raw[i] != '\\') {
          help += raw[i];
          continue;
        }
        if (i + 1 < raw.size() && raw[i + 1] == '\\') {
          help += '\\';
        } else if (i + 1 < raw.size() && raw[i + 1] == 'n') {
          help += '\n';
        } else {
          error(line_no, "bad escape in HELP");
        }
        ++i;
      }
      if (has_pending_help) error(line_no, "two HELP lines without TYPE");
      pending_help_name = std::string(name);
      pending_help = std::move(help);
      has_pending_help = true;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      const std::string_view rest = line.substr(7);
      const auto sp = rest.find(' ');
      if (sp == std::string_view::npos) {
        error(line_no, "TYPE without type");
        continue;
      }
      const std::string name(rest.substr(0, sp));
      const std::string type(rest.substr(sp + 1));
      if (!detail::metric_name_ok(name)) error(line_no, "bad TYPE name " + name);
      if (type != "counter" && type != "gauge" && type != "histogram" && type != "summary" &&
          type != "untyped") {
        error(line_no, "bad type " + type);
      }
      if (!has_pending_help || pending_help_name != name) {
        error(line_no, "TYPE " + name + " not preceded by its HELP");
      }
      if (!seen_families.insert(name).second) error(line_no, "family repeated: " + name);
      if (type == "counter" && !name.ends_with("_total")) {
        error(line_no, "counter not named *_total: " + name);
      }
      x.families.push_back(Family{name, type, pending_help, {}});
      current_index = x.families.size() - 1;
      has_pending_help = false;
      continue;
    }
    if (line.starts_with("#")) {
      error(line_no, "unexpected comment");
      continue;
    }

    // A sample: name [ '{' labels '}' ] SP value
    if (current_index == kNone || has_pending_help) {
      error(line_no, "sample before HELP+TYPE");
      continue;
    }
    Family* current = &x.families[current_index];
    Sample s;
    std::size_t i = 0;
    while (i < line.size() && line[i] != '{' && line[i] != ' ') ++i;
    s.name = std::string(line.substr(0, i));
    if (!detail::metric_name_ok(s.name)) error(line_no, "bad metric name " + s.name);
    bool ok = true;
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (ok && i < line.size() && line[i] != '}') {
        std::size_t eq = line.find('=', i);
        if (eq == std::string_view::npos) {
          ok = false;
          break;
        }
        std::string lname(line.substr(i, eq - i));
        if (!detail::label_name_ok(lname)) error(line_no, "bad label name " + lname);
        i = eq + 1;
        if (i >= line.size() || line[i] != '"') {
          ok = false;
          break;
        }
        ++i;
        std::string value;
        bool closed = false;
        while (i < line.size()) {
          const char c = line[i];
          if (c == '"') {
            closed = true;
            ++i;
            break;
          }
          if (c == '\\') {
            if (i + 1 >= line.size()) break;
            const char e = line[i + 1];
            if (e == '\\') {
              value += '\\';
            } else if (e == '"') {
              value += '"';
            } else if (e == 'n') {
              value += '\n';
            } else {
              error(line_no, "bad escape in label value");
            }
            i += 2;
            continue;
          }
          value += c;
          ++i;
        }
        if (!closed) {
          ok = false;
          break;
        }
        for (const auto& [n, v] : s.labels) {
          if (n == lname) error(line_no, "label repeated: " + lname);
        }
        s.labels.emplace_back(std::move(lname), std::move(value));
        if (i < line.size() && line[i] == ',') {
          ++i;
        } else if (i >= line.size() || line[i] != '}') {
          ok = false;
        }
      }
      if (!ok || i >= line.size() || line[i] != '}') {
        error(line_no, "malformed label set");
        continue;
      }
      ++i;
    }
    if (i >= line.size() || line[i] != ' ') {
      error(line_no, "missing value");
      continue;
    }
    const std::string_view value_text = line.substr(i + 1);
    if (value_text.find(' ') != std::string_view::npos) error(line_no, "timestamp or junk");
    if (!detail::parse_value(value_text, s.value)) {
      error(line_no, "bad value '" + std::string(value_text) + "'");
    }

    // The sample must belong to the current family.
    const std::string& fam = current->name;
    bool belongs = s.name == fam;
    if (current->type == "histogram") {
      belongs = s.name == fam + "_bucket" || s.name == fam + "_sum" || s.name == fam + "_count";
    }
    if (!belongs) error(line_no, s.name + " outside its family (current " + fam + ")");
    if (current->type == "counter" && !(s.value >= 0)) error(line_no, "negative counter");

    auto key_labels = s.labels;
    std::sort(key_labels.begin(), key_labels.end());
    std::string key = s.name;
    for (const auto& [n, v] : key_labels) key += "\x1f" + n + "\x1e" + v;
    if (!seen_series.insert(key).second) error(line_no, "duplicate series " + s.name);

    current->samples.push_back(std::move(s));
  }
  if (has_pending_help) x.errors.push_back("HELP for " + pending_help_name + " without TYPE");

  // Histogram structure.
  for (const auto& f : x.families) {
    if (f.type != "histogram") continue;
    using Labels = std::vector<std::pair<std::string, std::string>>;
    struct Series {
      std::vector<std::pair<double, double>> buckets;  // (le, value) in emitted order
      bool has_sum = false;
      bool has_count = false;
      double count = 0;
    };
    std::map<Labels, Series> groups;
    for (const auto& s : f.samples) {
      Labels rest;
      std::string le;
      bool has_le = false;
      for (const auto& [n, v] : s.labels) {
        if (n == "le") {
          le = v;
          has_le = true;
        } else {
          rest.emplace_back(n, v);
        }
      }
      std::sort(rest.begin(), rest.end());
      auto& g = groups[rest];
      if (s.name == f.name + "_bucket") {
        double bound = 0;
        if (!has_le || !detail::parse_value(le, bound)) {
          x.errors.push_back(f.name + ": bucket without a valid le");
          continue;
        }
        g.buckets.emplace_back(bound, s.value);
      } else {
        if (has_le) x.errors.push_back(f.name + ": le on a non-bucket sample");
        if (s.name == f.name + "_sum") g.has_sum = true;
        if (s.name == f.name + "_count") {
          g.has_count = true;
          g.count = s.value;
        }
      }
    }
    for (const auto& [labels, g] : groups) {
      if (g.buckets.empty() || !std::isinf(g.buckets.back().first)) {
        x.errors.push_back(f.name + ": last bucket is not +Inf");
      }
      for (std::size_t i = 1; i < g.buckets.size(); ++i) {
        if (!(g.buckets[i].first > g.buckets[i - 1].first)) {
          x.errors.push_back(f.name + ": le not increasing");
        }
        if (g.buckets[i].second < g.buckets[i - 1].second) {
          x.errors.push_back(f.name + ": buckets not cumulative");
        }
      }
      if (!g.has_sum) x.errors.push_back(f.name + ": no _sum");
      if (!g.has_count) x.errors.push_back(f.name + ": no _count");
      if (!g.buckets.empty() && g.has_count && g.buckets.back().second != g.count) {
        x.errors.push_back(f.name + ": +Inf bucket differs from _count");
      }
    }
  }
  return x;
}

}  // namespace netfence::observe::prom
