// SPEC §18 as data (issue 10 item 3): the SSRF corpus under tests/data/ssrf driven against the
// real netfence binary. Each table file is one test; each line of a table is one case per config
// variant and front end it names (HTTP absolute-form, CONNECT, SOCKS5 with ATYP domain / IPv4 /
// IPv6, raw requests). netfence runs once per variant, with the stub DNS server as its only
// resolver and a counting origin on 127.0.0.1 where a wrongly allowed dial would land. For every
// case the exact answer is checked, and then what it left behind: the blocked history (GET
// /blocked?drain=true on the admin port), the `blocked protocol=...` log line, the audit event
// (JSON-lines sink), the origin's connection count and the stub's query count. Every failing
// case is reported with its file and line; the run prints
//   SSRF corpus: <passed>/<total> cases behaved as specified (...)
// The file format is described at the top of each table.
#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "proxy_fixture.hpp"
#include "socks_client.hpp"

namespace netfence::testing {
namespace {

namespace fs = std::filesystem;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

const fs::path kDataDir = NETFENCE_SSRF_DATA_DIR;

// ---------------------------------------------------------------------------------------------
// Table model

enum class Front {
  http,
  url,
  connect,
  raw,
  slowloris,
  socks,
  socks_ip,
  socks_bind,
  socks_greeting
};

std::string_view front_name(Front f) {
  switch (f) {
    case Front::http:
      return "http";
    case Front::url:
      return "url";
    case Front::connect:
      return "connect";
    case Front::raw:
      return "raw";
    case Front::slowloris:
      return "slowloris";
    case Front::socks:
      return "socks";
    case Front::socks_ip:
      return "socks-ip";
    case Front::socks_bind:
      return "socks-bind";
    case Front::socks_greeting:
      return "socks-greeting";
  }
  return "?";
}

bool is_socks(Front f) {
  return f == Front::socks || f == Front::socks_ip || f == Front::socks_bind ||
         f == Front::socks_greeting;
}

enum class Kind { refused, text_error, socks_code, allowed, closed_at_30s };

struct Expect {
  Kind kind = Kind::refused;
  int status = 0;      // refused: 403 / 502; text_error: 400 / 414 / 431
  std::string reason;  // refused
  std::string body;    // text_error
  int socks = -1;      // socks_code (0xFF = no acceptable method)
  bool no_query = false, queried = false, one_lookup = false;
};

struct Line {
  std::string file;
  int line = 0;
  int row = 0;
  std::string family;
  std::vector<Front> fronts;
  std::string target;     // as written (escapes and placeholders unexpanded)
  std::string canonical;  // "" for `-`
  std::vector<std::string> variants;
  std::string dns;  // "" for `-`
  Expect expect;
  std::string note;
};

struct Variant {
  std::string name, toml, note;
};

// §6.4, for the reasons the corpus uses.
struct ReasonInfo {
  std::string_view x_proxy_error, message, source;
  std::uint8_t socks;
};
std::optional<ReasonInfo> reason_info(std::string_view reason) {
  if (reason == "not_allowed") {
    return ReasonInfo{"blocked-by-allowlist", kMsgNotAllowed, "baseline_policy", 0x02};
  }
  if (reason == "not_allowed_local") {
    return ReasonInfo{"blocked-by-allowlist", kMsgNotAllowedLocal, "baseline_policy", 0x02};
  }
  if (reason == "denied") {
    return ReasonInfo{"blocked-by-denylist", kMsgDenied, "baseline_policy", 0x02};
  }
  if (reason == "self_target") {
    return ReasonInfo{"blocked-by-policy", kMsgSelf, "proxy_state", 0x02};
  }
  if (reason == "dns_failure") return ReasonInfo{"dns-failure", kMsgDns, "proxy_state", 0x04};
  return std::nullopt;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const auto pos = s.find(sep, start);
    out.emplace_back(s.substr(start, pos == std::string_view::npos ? s.npos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

std::string trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return std::string(s);
}

std::vector<std::string> read_lines(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::vector<std::string> lines;
  std::string l;
  while (std::getline(in, l)) {
    if (!l.empty() && l.back() == '\r') l.pop_back();
    lines.push_back(l);
  }
  return lines;
}

// `{N*text}` (innermost first, so they nest), then \r \n \t \0 \\ \xHH. Throws on a bad escape.
std::string expand(std::string s) {
  static const std::regex repeat(R"(\{(\d+)\*([^{}]*)\})");
  std::smatch m;
  while (std::regex_search(s, m, repeat)) {
    std::string rep;
    const int n = std::stoi(m[1].str());
    for (int i = 0; i < n; ++i) rep += m[2].str();
    s = m.prefix().str() + rep + m.suffix().str();
  }
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '\\') {
      out += s[i];
      continue;
    }
    if (i + 1 >= s.size()) throw std::invalid_argument("backslash at the end");
    const char c = s[++i];
    if (c == 'r') {
      out += '\r';
    } else if (c == 'n') {
      out += '\n';
    } else if (c == 't') {
      out += '\t';
    } else if (c == '0') {
      out += '\0';
    } else if (c == '\\') {
      out += '\\';
    } else if (c == 'x' && i + 2 < s.size() &&
               std::isxdigit(static_cast<unsigned char>(s[i + 1])) &&
               std::isxdigit(static_cast<unsigned char>(s[i + 2]))) {
      out += static_cast<char>(std::stoi(s.substr(i + 1, 2), nullptr, 16));
      i += 2;
    } else {
      throw std::invalid_argument(std::string("unknown escape \\") + c);
    }
  }
  return out;
}

std::string replace_all(std::string_view s, std::string_view from, std::string_view to) {
  std::string out;
  for (auto pos = s.find(from); pos != std::string_view::npos; pos = s.find(from)) {
    out.append(s.substr(0, pos)).append(to);
    s.remove_prefix(pos + from.size());
  }
  return out.append(s);
}

// Host and port as written: `[v6]` / `[v6]:port`, else a last `:digits` splits. `port` is empty
// when the target names none (or what follows the colon is not a port, as in
// `example.com:443.evil.net`, which then is all host).
struct HostPort {
  std::string host, port;
};
bool is_digit(char c) { return c >= '0' && c <= '9'; }
HostPort split_target(const std::string& t) {
  if (!t.empty() && t.front() == '[') {
    const auto close = t.find(']');
    if (close != std::string::npos) {
      const std::string rest = t.substr(close + 1);
      if (rest.size() > 1 && rest.front() == ':' &&
          std::all_of(rest.begin() + 1, rest.end(), is_digit)) {
        return {t.substr(0, close + 1), rest.substr(1)};
      }
      if (rest.empty()) return {t, ""};
    }
    return {t, ""};
  }
  const auto colon = t.rfind(':');
  if (colon != std::string::npos && colon + 1 < t.size() &&
      std::count(t.begin(), t.end(), ':') == 1 &&
      std::all_of(t.begin() + static_cast<long>(colon) + 1, t.end(), is_digit)) {
    return {t.substr(0, colon), t.substr(colon + 1)};
  }
  return {t, ""};
}

std::string unbracket(const std::string& h) {
  if (h.size() >= 2 && h.front() == '[' && h.back() == ']') return h.substr(1, h.size() - 2);
  return h;
}

// ATYP 0x01 / 0x04 address part for a plain literal; nullopt when inet_pton does not take it.
std::optional<std::string> socks_ip_address(const std::string& host, std::uint16_t port) {
  const std::string h = unbracket(host);
  in_addr v4{};
  in6_addr v6{};
  if (::inet_pton(AF_INET, h.c_str(), &v4) == 1) return socks5::addr_ipv4(h, port);
  if (::inet_pton(AF_INET6, h.c_str(), &v6) == 1) return socks5::addr_ipv6(h, port);
  return std::nullopt;
}

// The target with `{port}` as a placeholder port, for deciding `all` at load time.
std::string probe_target(const std::string& written) {
  if (written == "(empty)") return "";
  return expand(replace_all(written, "{port}", "1"));
}

std::string parse_expect(const std::string& text, Expect& e) {
  auto words = split(text, ' ');
  words.erase(std::remove(words.begin(), words.end(), std::string()), words.end());
  if (words.empty()) return "empty expect";
  // Flags come last.
  while (words.size() > 1) {
    const std::string& w = words.back();
    if (w == "no-query") {
      e.no_query = true;
    } else if (w == "queried") {
      e.queried = true;
    } else if (w == "one-lookup") {
      e.one_lookup = true;
    } else {
      break;
    }
    words.pop_back();
  }
  const std::string& head = words[0];
  if (head == "allowed" && words.size() == 1) {
    e.kind = Kind::allowed;
  } else if (head == "closed-at-30s" && words.size() == 1) {
    e.kind = Kind::closed_at_30s;
  } else if (head == "socks" && words.size() == 2) {
    e.kind = Kind::socks_code;
    e.socks = std::stoi(words[1], nullptr, 16);
  } else if ((head == "403" || head == "502") && words.size() == 2) {
    e.kind = Kind::refused;
    e.status = std::stoi(head);
    e.reason = words[1];
    if (!reason_info(e.reason)) return "unknown reason " + e.reason;
    if ((e.status == 502) != (e.reason == "dns_failure")) return "502 goes with dns_failure only";
  } else if ((head == "400" || head == "414" || head == "431") && words.size() >= 2) {
    e.kind = Kind::text_error;
    e.status = std::stoi(head);
    for (std::size_t i = 1; i < words.size(); ++i) e.body += (i > 1 ? " " : "") + words[i];
  } else {
    return "cannot read expect \"" + text + "\"";
  }
  return {};
}

// Loads one table; problems with the table itself are returned in `errors`.
std::vector<Line> load_table(const fs::path& path, const std::map<std::string, Variant>& variants,
                             std::vector<std::string>& errors) {
  std::vector<Line> out;
  const auto lines = read_lines(path);
  for (std::size_t i = 0; i < lines.size(); ++i) {
    const std::string& text = lines[i];
    if (trim(text).empty() || text.front() == '#') continue;
    const std::string where = path.filename().string() + ":" + std::to_string(i + 1);
    const auto f = split(text, '\t');
    if (f.size() != 9) {
      errors.push_back(where + ": " + std::to_string(f.size()) + " fields, want 9");
      continue;
    }
    Line l;
    l.file = path.filename().string();
    l.line = static_cast<int>(i + 1);
    try {
      l.row = std::stoi(f[0]);
      l.family = f[1];
      l.target = f[3];
      l.canonical = f[4] == "-" ? "" : expand(f[4]);
      l.variants = split(f[5], ',');
      l.dns = f[6] == "-" ? "" : f[6];
      l.note = f[8];
      if (auto err = parse_expect(f[7], l.expect); !err.empty()) throw std::invalid_argument(err);
      for (const auto& v : l.variants) {
        if (!variants.count(v)) throw std::invalid_argument("unknown variant " + v);
      }
      const std::string probe = probe_target(l.target);
      for (const auto& name : split(f[2], ',')) {
        if (name == "all") {
          l.fronts.insert(l.fronts.end(), {Front::http, Front::connect, Front::socks});
          const auto hp = split_target(probe);
          if (socks_ip_address(hp.host, 1)) l.fronts.push_back(Front::socks_ip);
          continue;
        }
        bool found = false;
        for (Front fr : {Front::http, Front::url, Front::connect, Front::raw, Front::slowloris,
                         Front::socks, Front::socks_ip, Front::socks_bind, Front::socks_greeting}) {
          if (front_name(fr) == name) {
            l.fronts.push_back(fr);
            found = true;
          }
        }
        if (!found) throw std::invalid_argument("unknown front end " + name);
        if (l.fronts.back() == Front::socks_ip && !socks_ip_address(split_target(probe).host, 1)) {
          throw std::invalid_argument("socks-ip needs a plain IP literal");
        }
      }
      const Kind k = l.expect.kind;
      for (Front fr : l.fronts) {
        const bool s = is_socks(fr);
        if (k == Kind::socks_code && !s)
          throw std::invalid_argument("`socks 0xNN` on an HTTP front");
        if (k == Kind::text_error && s && l.expect.body != "invalid host") {
          throw std::invalid_argument("only `400 invalid host` maps to a SOCKS5 reply");
        }
        if ((k == Kind::closed_at_30s) != (fr == Front::slowloris)) {
          throw std::invalid_argument("closed-at-30s goes with slowloris only");
        }
      }
      if ((k == Kind::refused || k == Kind::allowed) && l.canonical.empty()) {
        throw std::invalid_argument("a refused or allowed case needs its canonical host");
      }
    } catch (const std::exception& ex) {
      errors.push_back(where + ": " + ex.what());
      continue;
    }
    out.push_back(std::move(l));
  }
  return out;
}

std::map<std::string, Variant> load_variants(std::vector<std::string>& errors) {
  std::map<std::string, Variant> out;
  const auto lines = read_lines(kDataDir / "variants.tsv");
  for (std::size_t i = 0; i < lines.size(); ++i) {
    if (trim(lines[i]).empty() || lines[i].front() == '#') continue;
    const auto f = split(lines[i], '\t');
    if (f.size() != 3) {
      errors.push_back("variants.tsv:" + std::to_string(i + 1) + ": want 3 fields");
      continue;
    }
    out[f[0]] = Variant{f[0], replace_all(f[1], "\\n", "\n"), f[2]};
  }
  return out;
}

std::vector<std::string> table_files() {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(kDataDir, ec)) {
    const auto name = e.path().filename().string();
    if (e.path().extension() == ".tsv" && name != "variants.tsv") names.push_back(name);
  }
  std::sort(names.begin(), names.end());
  if (names.empty()) names.push_back("missing-ssrf-tables");
  return names;
}

// A non-loopback address of this host (§7.3 "own interfaces"); "" when there is none.
std::string own_ipv4() {
  std::string own;
  ifaddrs* list = nullptr;
  if (::getifaddrs(&list) != 0) return own;
  for (auto* i = list; i && own.empty(); i = i->ifa_next) {
    if (!i->ifa_addr || i->ifa_addr->sa_family != AF_INET) continue;
    char buf[INET_ADDRSTRLEN];
    ::inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, buf, sizeof buf);
    if (std::string(buf).rfind("127.", 0) != 0) own = buf;
  }
  ::freeifaddrs(list);
  return own;
}

// ---------------------------------------------------------------------------------------------
// Results across tables (printed by the environment at the end of the run)

struct Tally {
  std::size_t total = 0, passed = 0, skipped = 0;
  std::map<int, std::size_t> per_row;
  std::map<std::string, std::size_t> per_kind;
};
std::mutex g_tally_mutex;
Tally g_tally;

std::string kind_label(Kind k) {
  switch (k) {
    case Kind::refused:
      return "refused";
    case Kind::text_error:
      return "rejected as malformed";
    case Kind::socks_code:
      return "SOCKS5 error replies";
    case Kind::allowed:
      return "allowed controls";
    case Kind::closed_at_30s:
      return "closed at the head deadline";
  }
  return "?";
}

class SummaryEnvironment : public ::testing::Environment {
 public:
  void TearDown() override {
    std::lock_guard lock(g_tally_mutex);
    if (g_tally.total == 0) return;
    std::ostringstream s;
    s << "SSRF corpus: " << g_tally.passed << "/" << g_tally.total
      << " cases behaved as specified (";
    bool first = true;
    for (const auto& [k, n] : g_tally.per_kind) {
      s << (first ? "" : ", ") << n << " " << k;
      first = false;
    }
    s << ")";
    if (g_tally.skipped) s << "; " << g_tally.skipped << " skipped";
    s << "\nSSRF corpus cases per SPEC §18 row:";
    for (const auto& [row, n] : g_tally.per_row) s << " " << row << ":" << n;
    std::cout << s.str() << std::endl;
    EXPECT_EQ(g_tally.passed, g_tally.total) << "not every SSRF corpus case behaved as specified";
  }
};
[[maybe_unused]] auto* const g_summary =
    ::testing::AddGlobalTestEnvironment(new SummaryEnvironment);

// ---------------------------------------------------------------------------------------------
// One running netfence per variant

struct Instance {
  std::string name;
  fs::path dir;
  std::unique_ptr<StubDnsServer> dns;
  std::unique_ptr<NetfenceProcess> proxy;
  std::uint16_t http = 0, socks = 0, admin = 0;
  std::set<std::string> rules;     // stub rules already loaded
  std::size_t audit_consumed = 0;  // audit events already checked
  std::size_t blocked_lines = 0;   // `INFO blocked ` log lines already checked
};

std::uint16_t admin_port_of(const NetfenceProcess& p) {
  static const std::regex listening(R"(INFO admin API listening on 127\.0\.0\.1:(\d+)\n)");
  const auto deadline = Clock::now() + 5s;
  do {
    std::smatch m;
    const std::string text = p.log();
    if (std::regex_search(text, m, listening)) {
      return static_cast<std::uint16_t>(std::stoi(m[1].str()));
    }
    std::this_thread::sleep_for(10ms);
  } while (Clock::now() < deadline);
  return 0;
}

std::vector<Json> audit_events(const Instance& in) {
  std::vector<Json> out;
  std::ifstream f(in.dir / "audit.jsonl", std::ios::binary);
  std::string line;
  while (std::getline(f, line)) {
    if (line.empty()) continue;
    Json j = Json::parse(line, nullptr, false);
    out.push_back(j.is_discarded() ? Json("<not JSON: " + line + ">") : j);
  }
  return out;
}

std::vector<std::string> blocked_log_lines(const Instance& in) {
  std::vector<std::string> out;
  std::istringstream s(in.proxy->log());
  std::string line;
  while (std::getline(s, line)) {
    if (line.find(" INFO blocked ") != std::string::npos) out.push_back(line);
  }
  return out;
}

// GET on the admin API; nullopt unless 200 with a JSON body.
std::optional<Json> admin_get(std::uint16_t port, const std::string& path) {
  RawClient c;
  if (!c.connect(port)) return std::nullopt;
  if (!c.send("GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
              "\r\nConnection: close\r\n\r\n")) {
    return std::nullopt;
  }
  auto r = c.read_response(5s);
  if (!r || r->status != 200) return std::nullopt;
  Json j = Json::parse(r->body, nullptr, false);
  if (j.is_discarded()) return std::nullopt;
  return j;
}

std::string show(std::string_view s, std::size_t max = 160) {
  std::string out;
  for (unsigned char c : s.substr(0, max)) {
    if (c == '\r') {
      out += "\\r";
    } else if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > max) out += "...(" + std::to_string(s.size()) + " bytes)";
  return out;
}

// ---------------------------------------------------------------------------------------------
// The test: one table

class SsrfCorpus : public ::testing::TestWithParam<std::string> {
 protected:
  void TearDown() override {
    for (auto& [name, in] : instances_) {
      in->proxy->stop();
      if (HasFailure()) {
        std::cerr << "---- netfence stderr (variant " << name << ", last 40 lines) ----\n";
        const auto log = in->proxy->log();
        std::vector<std::string> lines = split(log, '\n');
        const std::size_t from = lines.size() > 40 ? lines.size() - 40 : 0;
        for (std::size_t i = from; i < lines.size(); ++i) std::cerr << lines[i] << "\n";
      }
      fs::remove_all(in->dir);
    }
    instances_.clear();
    origin_.reset();
  }

  std::string start_instance(const Variant& v) {
    auto in = std::make_unique<Instance>();
    in->name = v.name;
    in->dir = fs::temp_directory_path() /
              ("netfence-ssrf-" + std::to_string(::getpid()) + "-" + GetParam() + "-" + v.name);
    fs::remove_all(in->dir);
    fs::create_directories(in->dir);
    in->dns = std::make_unique<StubDnsServer>();
    in->proxy = std::make_unique<NetfenceProcess>(in->dir);
    const std::string cfg =
        "[network]\n"
        "enabled = true\n"
        "proxy_url = \"http://127.0.0.1:0\"\n"
        "socks_url = \"socks5h://127.0.0.1:0\"\n"
        "admin_url = \"http://127.0.0.1:0\"\n"
        "allow_upstream_proxy = false\n"
        "dns_servers = [\"" +
        in->dns->address() +
        "\"]\n"
        "dns_timeout_ms = 500\n"
        "connect_timeout_ms = 1000\n" +
        v.toml +
        "\n\n[network.audit]\n"
        "jsonl_path = \"" +
        (in->dir / "audit.jsonl").string() + "\"\n";
    if (auto err = in->proxy->start(cfg); !err.empty()) {
      return "variant " + v.name + ": " + err + "\nconfig:\n" + cfg;
    }
    in->http = in->proxy->port();
    in->socks = in->proxy->socks_port();
    in->admin = admin_port_of(*in->proxy);
    if (in->socks == 0 || in->admin == 0) {
      return "variant " + v.name + ": no SOCKS5 or admin listener:\n" + in->proxy->log();
    }
    instances_[v.name] = std::move(in);
    return {};
  }

  // Everything one case (line x variant x front end) must show; returns what went wrong.
  std::vector<std::string> run_case(const Line& l, Instance& in, Front front);
  std::vector<std::string> run_slowloris(const Line& l, std::uint16_t http_port);

  std::map<std::string, std::unique_ptr<Instance>> instances_;
  std::unique_ptr<OriginServer> origin_;
  std::uint16_t sink_ = 0;
  std::string own_ip_;
};

// Splits the expanded target into the request and the expected (canonical host, port) facts.
struct Prepared {
  std::string bytes;  // what goes on the wire (HTTP request or SOCKS5 request / greeting)
  std::string protocol;
  std::optional<std::string> method;  // nullopt for SOCKS5 (JSON null / audit "none")
  std::uint16_t port = 0;             // the port the proxy must report
  bool head_request = false;
};

Prepared prepare(Front front, const std::string& target, std::uint16_t sink) {
  Prepared p;
  const HostPort hp = split_target(target);
  const auto written_port = [&](std::uint16_t dflt) {
    return hp.port.empty() ? dflt : static_cast<std::uint16_t>(std::stoul(hp.port));
  };
  switch (front) {
    case Front::http:
      p.bytes = "GET http://" + target + "/ HTTP/1.1\r\n\r\n";
      p.protocol = "http";
      p.method = "GET";
      p.port = written_port(80);
      break;
    case Front::url:
      p.bytes = "GET " + target + " HTTP/1.1\r\n\r\n";
      p.protocol = "http";
      p.method = "GET";
      p.port = sink;
      break;
    case Front::raw:
    case Front::slowloris:
      p.bytes = target;
      p.protocol = "http";
      p.method = target.substr(0, target.find(' '));
      p.head_request = *p.method == "HEAD";
      p.port = sink;
      break;
    case Front::connect:
      p.bytes = "CONNECT " + target + " HTTP/1.1\r\nHost: " + target + "\r\n\r\n";
      p.protocol = "https_connect";
      p.method = "CONNECT";
      p.port = written_port(0);
      break;
    case Front::socks:
    case Front::socks_bind:
      p.port = written_port(sink);
      p.bytes = socks5::request(front == Front::socks ? socks5::kConnect : socks5::kBind,
                                socks5::addr_domain(unbracket(hp.host), p.port));
      p.protocol = "socks5_tcp";
      break;
    case Front::socks_ip:
      p.port = written_port(sink);
      p.bytes = socks5::request(socks5::kConnect, *socks_ip_address(hp.host, p.port));
      p.protocol = "socks5_tcp";
      break;
    case Front::socks_greeting: {
      std::vector<std::uint8_t> methods;
      for (std::size_t i = 0; i + 1 < target.size(); i += 2) {
        methods.push_back(static_cast<std::uint8_t>(std::stoi(target.substr(i, 2), nullptr, 16)));
      }
      p.bytes = socks5::greeting(methods);
      p.protocol = "socks5_tcp";
      break;
    }
  }
  return p;
}

// The canonical authority netfence forwards in Host (§8.3): IPv6 bracketed, port when not 80.
std::string forwarded_authority(const std::string& host, std::uint16_t port) {
  std::string h =
      host.find(':') != std::string::npos ? "[" + replace_all(host, "%", "%25") + "]" : host;
  return port == 80 ? h : h + ":" + std::to_string(port);
}

std::vector<std::string> SsrfCorpus::run_case(const Line& l, Instance& in, Front front) {
  std::vector<std::string> fail;
  const Expect& x = l.expect;
  const std::string target =
      l.target == "(empty)" ? "" : expand(replace_all(l.target, "{port}", std::to_string(sink_)));
  const Prepared p = prepare(front, target, sink_);
  const bool socks = is_socks(front);

  // Snapshots.
  const std::size_t conns0 = origin_->connection_count();
  const std::size_t reqs0 = origin_->request_count();
  const std::size_t queries0 = in.dns->queries().size();

  // ---- the exchange
  std::optional<HttpResponse> resp;
  std::string connect_head;  // CONNECT 200: the head as received
  std::optional<socks5::Reply> reply;
  std::string greeting_answer;
  bool closed_after = false;
  std::string extra_after_reply;
  {
    RawClient c;
    if (!c.connect(socks ? in.socks : in.http)) {
      fail.push_back("cannot connect to the proxy");
      return fail;
    }
    if (!socks) {
      c.send(p.bytes);  // the proxy may close early (framing errors); what it answered counts
      if (front == Front::connect && c.wait_for("\r\n\r\n", 5s) &&
          c.buffered().rfind("HTTP/1.1 200 ", 0) == 0) {
        connect_head = c.buffered().substr(0, c.buffered().find("\r\n\r\n") + 4);
      } else {
        resp = c.read_response(5s, p.head_request);
      }
      if (x.kind == Kind::text_error && resp) {
        // §8.1: framing errors close the connection.
        closed_after = c.read_until_close(3s).has_value();
      }
    } else if (front == Front::socks_greeting) {
      c.send(p.bytes);
      greeting_answer = c.read_exact(2, 5s).value_or("");
      auto rest = c.read_until_close(3s);
      closed_after = rest.has_value();
      extra_after_reply = rest.value_or("");
    } else {
      c.send(socks5::greeting({0x00}));
      const auto sel = c.read_exact(2, 5s);
      if (!sel || *sel != std::string("\x05\x00", 2)) {
        fail.push_back("SOCKS5 method selection failed");
        return fail;
      }
      c.send(p.bytes);
      reply = socks5::read_reply(c, 5s);
      if (reply && reply->rep != 0x00) {
        auto rest = c.read_until_close(3s);
        closed_after = rest.has_value();
        extra_after_reply = rest.value_or("");
      }
    }
  }

  // ---- the answer
  const auto info = x.kind == Kind::refused ? reason_info(x.reason) : std::nullopt;
  switch (x.kind) {
    case Kind::refused: {
      if (socks) {
        if (!reply) {
          fail.push_back("no SOCKS5 reply");
        } else {
          if (reply->rep != info->socks) {
            fail.push_back("SOCKS5 reply " + std::to_string(reply->rep) + ", want " +
                           std::to_string(info->socks));
          }
          if (!closed_after || !extra_after_reply.empty()) {
            fail.push_back("SOCKS5 connection not closed right after the refusal");
          }
        }
        break;
      }
      if (!resp) {
        fail.push_back(connect_head.empty() ? "no HTTP response"
                                            : "CONNECT answered " + show(connect_head));
        break;
      }
      const bool json = front != Front::connect || x.reason == "dns_failure";
      if (resp->status != x.status) {
        fail.push_back("status " + std::to_string(resp->status) + ", want " +
                       std::to_string(x.status) + " (body " + show(resp->body) + ")");
      }
      if (resp->header_count("x-proxy-error") != 1 ||
          resp->header("x-proxy-error") != info->x_proxy_error) {
        fail.push_back("x-proxy-error " + resp->header("x-proxy-error").value_or("<none>") +
                       ", want " + std::string(info->x_proxy_error));
      }
      const std::string want_type = json ? "application/json" : "text/plain";
      if (resp->header("content-type") != want_type) {
        fail.push_back("content-type " + resp->header("content-type").value_or("<none>") +
                       ", want " + want_type);
      }
      const std::string want_body =
          json ? refusal_json(x.reason == "dns_failure" ? "error" : "blocked", l.canonical,
                              x.reason, info->source, p.protocol, p.port, info->message)
               : std::string(info->message);
      if (resp->body != want_body) {
        fail.push_back("body " + show(resp->body, 400) + "\n      want " + show(want_body, 400));
      }
      break;
    }
    case Kind::text_error: {
      if (socks) {
        if (!reply) {
          fail.push_back("no SOCKS5 reply");
        } else if (reply->rep != 0x01) {
          fail.push_back("SOCKS5 reply " + std::to_string(reply->rep) + ", want 1 (invalid host)");
        } else if (!closed_after || !extra_after_reply.empty()) {
          fail.push_back("SOCKS5 connection not closed right after the reply");
        }
        break;
      }
      if (!resp) {
        fail.push_back(connect_head.empty() ? "no HTTP response"
                                            : "CONNECT answered " + show(connect_head));
        break;
      }
      if (resp->status != x.status || resp->body != x.body) {
        fail.push_back(std::to_string(resp->status) + " " + show(resp->body) + ", want " +
                       std::to_string(x.status) + " " + x.body);
      }
      if (resp->header("content-type") != "text/plain") {
        fail.push_back("content-type " + resp->header("content-type").value_or("<none>"));
      }
      if (resp->header("x-proxy-error")) fail.push_back("an x-proxy-error header on a 400");
      const bool framing =
          x.status != 400 || x.body == "malformed request" || x.body == "not a proxy request";
      if (framing && !closed_after) fail.push_back("connection not closed after a framing error");
      break;
    }
    case Kind::socks_code: {
      if (front == Front::socks_greeting) {
        const std::string want{'\x05', static_cast<char>(x.socks)};
        if (greeting_answer != want) {
          fail.push_back("method selection " + show(greeting_answer) + ", want " + show(want));
        }
      } else if (!reply) {
        fail.push_back("no SOCKS5 reply");
      } else if (reply->rep != x.socks) {
        fail.push_back("SOCKS5 reply " + std::to_string(reply->rep) + ", want " +
                       std::to_string(x.socks));
      }
      if (!closed_after || !extra_after_reply.empty()) {
        fail.push_back("SOCKS5 connection not closed right after the reply");
      }
      break;
    }
    case Kind::allowed: {
      if (socks) {
        if (!reply || reply->rep != 0x00) {
          fail.push_back("SOCKS5 reply " + (reply ? std::to_string(reply->rep) : "<none>") +
                         ", want 0 (succeeded)");
        }
      } else if (front == Front::connect) {
        if (connect_head != "HTTP/1.1 200 Connection established\r\n\r\n") {
          fail.push_back(
              "CONNECT answered " +
              (resp ? std::to_string(resp->status) + " " + show(resp->body) : show(connect_head)));
        }
      } else if (!resp || resp->status != 200) {
        fail.push_back("want 200 from the origin, got " +
                       (resp ? std::to_string(resp->status) + " " + show(resp->body) : "nothing"));
      } else {
        if (resp->header_count("x-proxy-error") != 0) {
          fail.push_back("the origin's x-proxy-error reached the client (row 25): " +
                         show(resp->head));
        }
        if (!p.head_request && resp->body != "ok") fail.push_back("body " + show(resp->body));
      }
      break;
    }
    case Kind::closed_at_30s:
      break;
  }

  // ---- what it left behind
  // The origin: a refused or rejected case never reaches it; an allowed one does, once.
  if (x.kind == Kind::allowed) {
    if (socks || front == Front::connect) {
      if (!origin_->wait_for_connections(conns0 + 1, fail.empty() ? 3s : 0s)) {
        fail.push_back("the origin saw no connection");
      }
    } else {
      if (origin_->request_count() != reqs0 + 1) {
        fail.push_back("the origin saw " + std::to_string(origin_->request_count() - reqs0) +
                       " requests, want 1");
      } else {
        const auto got = origin_->requests().back();
        const std::string want = forwarded_authority(l.canonical, p.port);
        if (got.header("host") != want) {
          fail.push_back("forwarded Host " + got.header("host").value_or("<none>") + ", want " +
                         want);
        }
      }
    }
  } else {
    std::this_thread::sleep_for(5ms);  // a stray dial would be accepted by now
    if (origin_->connection_count() != conns0) {
      fail.push_back("the origin was connected to: a refused or rejected case was dialled");
    }
  }

  // DNS: who may ask the stub what.
  const auto all_queries = in.dns->queries();
  std::vector<StubQuery> queries(all_queries.begin() + static_cast<long>(queries0),
                                 all_queries.end());
  const bool never_resolves = x.kind == Kind::text_error || x.kind == Kind::socks_code ||
                              (x.kind == Kind::refused && x.reason == "not_allowed");
  if ((x.no_query || never_resolves || l.dns.empty()) && !queries.empty()) {
    std::string names;
    for (const auto& q : queries) names += " [" + format_query(q) + "]";
    fail.push_back("the stub DNS server was asked" + names + "; this case must resolve nothing");
  }
  if ((x.queried || x.one_lookup) && queries.empty()) {
    fail.push_back("the stub DNS server was not asked");
  }
  if (x.one_lookup) {
    std::map<std::pair<std::string, std::uint16_t>, int> per;
    for (const auto& q : queries) {
      if (++per[{q.name, q.type}] == 2) {
        fail.push_back("looked up twice: " + format_query(q) + " (rebinding window)");
      }
    }
  }

  // The blocked history: exactly one entry per refusal, none otherwise (§14). It is written
  // before the answer is sent; the log line and the audit event below may lag a little, so they
  // are waited for, but only when the history shows that a decision was made at all.
  bool decided = x.kind == Kind::allowed && fail.empty();
  const auto drained = admin_get(in.admin, "/blocked?drain=true");
  if (!drained || !drained->contains("blocked") || !(*drained)["blocked"].is_array()) {
    fail.push_back("GET /blocked?drain=true failed");
  } else {
    const Json& list = (*drained)["blocked"];
    decided = decided || !list.empty();
    if (x.kind != Kind::refused) {
      if (!list.empty()) fail.push_back("unexpected blocked entries: " + list.dump());
    } else if (list.size() != 1) {
      fail.push_back("blocked history has " + std::to_string(list.size()) +
                     " new entries, want 1: " + list.dump());
    } else {
      const Json& e = list[0];
      Json want_method = p.method ? Json(*p.method) : Json(nullptr);
      const bool ok =
          e.value("host", "") == l.canonical && e.value("reason", "") == x.reason &&
          e.value("protocol", "") == p.protocol && e.value("decision", "") == "deny" &&
          e.value("source", "") == info->source && e.value("mode", "") == "full" &&
          e.contains("port") && e["port"] == p.port && e.contains("method") &&
          e["method"] == want_method && e.contains("client") && e["client"].is_string() &&
          std::regex_match(e["client"].get<std::string>(), std::regex(R"(127\.0\.0\.1:\d{1,5})")) &&
          !e.contains("label");
      if (!ok) {
        fail.push_back("blocked entry " + e.dump() + " does not match host=" + l.canonical +
                       " reason=" + x.reason + " protocol=" + p.protocol +
                       " port=" + std::to_string(p.port));
      }
    }
  }

  // The log line (§2): `INFO blocked protocol=P client=127.0.0.1:N host=H port=N reason=R
  // source=S`, once per refusal.
  {
    const std::size_t want = x.kind == Kind::refused ? 1 : 0;
    auto lines = blocked_log_lines(in);
    for (auto deadline = Clock::now() + (decided ? 1s : 50ms);
         lines.size() < in.blocked_lines + want && Clock::now() < deadline;) {
      std::this_thread::sleep_for(10ms);
      lines = blocked_log_lines(in);
    }
    const std::vector<std::string> fresh(lines.begin() + static_cast<long>(in.blocked_lines),
                                         lines.end());
    in.blocked_lines = lines.size();
    if (fresh.size() != want) {
      std::string all;
      for (const auto& f : fresh) all += "\n      " + show(f, 300);
      fail.push_back(std::to_string(fresh.size()) + " new `blocked` log lines, want " +
                     std::to_string(want) + all);
    } else if (want == 1) {
      const std::string tail = " host=" + l.canonical + " port=" + std::to_string(p.port) +
                               " reason=" + x.reason + " source=" + std::string(info->source);
      const std::string head = " INFO blocked protocol=" + p.protocol + " client=127.0.0.1:";
      const std::string& got = fresh[0];
      if (got.find(head) == std::string::npos || got.size() < tail.size() ||
          got.compare(got.size() - tail.size(), tail.size(), tail) != 0) {
        fail.push_back("log line " + show(got, 300) + "\n      want ..." + head + "N" + tail);
      }
    }
  }

  // The audit event (§15.3): one per host policy evaluation, none for protocol errors. Events
  // are written by the audit thread; an unexpected one shows up at the next case at the latest.
  {
    const std::size_t want = (x.kind == Kind::refused || x.kind == Kind::allowed) ? 1 : 0;
    auto events = audit_events(in);
    for (auto deadline = Clock::now() + (decided ? 1s : 50ms);
         events.size() < in.audit_consumed + want && Clock::now() < deadline;) {
      std::this_thread::sleep_for(10ms);
      events = audit_events(in);
    }
    const std::vector<Json> fresh(events.begin() + static_cast<long>(in.audit_consumed),
                                  events.end());
    in.audit_consumed = events.size();
    if (fresh.size() != want) {
      std::string all;
      for (const auto& e : fresh) all += "\n      " + e.dump();
      fail.push_back(std::to_string(fresh.size()) +
                     " new audit events (of this or an earlier case), want " +
                     std::to_string(want) + all);
    } else if (want == 1) {
      const Json& e = fresh[0];
      const bool allow = x.kind == Kind::allowed;
      const std::string want_method = p.method ? *p.method : "none";
      const bool ok =
          e.is_object() && e.value("event.name", "") == "codex.network_proxy.policy_decision" &&
          e.value("network.policy.scope", "") == "domain" &&
          e.value("network.policy.decision", "") == (allow ? "allow" : "deny") &&
          e.value("network.policy.source", "") ==
              (allow ? "baseline_policy" : std::string(info->source)) &&
          e.value("network.policy.reason", "") == (allow ? "allow" : x.reason) &&
          e.value("network.transport.protocol", "") == p.protocol &&
          e.value("server.address", "") == l.canonical && e.contains("server.port") &&
          e["server.port"] == p.port && e.value("http.request.method", "") == want_method &&
          e.contains("network.policy.override") && e["network.policy.override"] == false;
      if (!ok) {
        fail.push_back("audit event " + e.dump() + " does not match " +
                       (allow ? std::string("allow") : x.reason) + " " + l.canonical + ":" +
                       std::to_string(p.port) + " " + p.protocol);
      }
    }
  }
  return fail;
}

// §8.7 / row 13: a head still incomplete after 30 s is closed, even while bytes trickle in.
std::vector<std::string> SsrfCorpus::run_slowloris(const Line& l, std::uint16_t http_port) {
  std::vector<std::string> fail;
  const std::string head = expand(replace_all(l.target, "{port}", std::to_string(sink_)));
  RawClient c;
  if (!c.connect(http_port) || !c.send(head)) {
    fail.push_back("cannot start the slow head");
    return fail;
  }
  const auto t0 = Clock::now();
  bool closed = false;
  std::string answer;
  while (!closed && Clock::now() - t0 < 40s) {
    if (auto rest = c.read_until_close(2s)) {
      closed = true;
      answer = *rest;
    } else if (!c.send("a")) {
      closed = true;
    }
  }
  const auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0);
  if (!closed) fail.push_back("still open after 40 s");
  if (elapsed < 29s || elapsed > 34s) {
    fail.push_back("closed after " + std::to_string(elapsed.count()) + " ms, want 29-34 s");
  }
  if (answer.find("HTTP/1.1 200") != std::string::npos) {
    fail.push_back("the slow head was answered 200");
  }
  return fail;
}

TEST_P(SsrfCorpus, BehavesAsSpecified) {
  std::vector<std::string> table_errors;
  const auto variants = load_variants(table_errors);
  const auto lines = load_table(kDataDir / GetParam(), variants, table_errors);
  for (const auto& e : table_errors) ADD_FAILURE() << "table error: " << e;
  ASSERT_TRUE(table_errors.empty());
  ASSERT_FALSE(lines.empty()) << "no cases in " << (kDataDir / GetParam());

  // The counting origin: every answer carries proxy-looking headers (row 25).
  origin_ = std::make_unique<OriginServer>();
  origin_->respond_with([] {
    auto r = OriginResponse::text("ok");
    r.headers.emplace_back("X-Proxy-Error", "blocked-by-denylist");
    r.headers.emplace_back("x-proxy-error", "blocked-by-allowlist");
    return r;
  }());
  sink_ = origin_->port();
  own_ip_ = own_ipv4();

  std::set<std::string> needed;
  for (const auto& l : lines) needed.insert(l.variants.begin(), l.variants.end());
  for (const auto& v : needed) {
    const std::string err = start_instance(variants.at(v));
    ASSERT_EQ(err, "");
  }

  const auto t0 = Clock::now();
  Tally tally;
  std::vector<std::string> report;
  // Slow cases run alongside the others (each on its own connection).
  struct Slow {
    const Line* line;
    std::string variant;
    std::future<std::vector<std::string>> result;
  };
  std::vector<Slow> slow;
  for (const auto& l : lines) {
    for (const auto& v : l.variants) {
      for (Front f : l.fronts) {
        if (f == Front::slowloris) {
          const std::uint16_t port = instances_.at(v)->http;
          slow.push_back({&l, v, std::async(std::launch::async, [this, &l, port] {
                            return run_slowloris(l, port);
                          })});
        }
      }
    }
  }

  const auto record = [&](const Line& l, const std::string& v, Front f,
                          const std::vector<std::string>& fail) {
    ++tally.total;
    ++tally.per_row[l.row];
    ++tally.per_kind[kind_label(l.expect.kind)];
    if (fail.empty()) {
      ++tally.passed;
      return;
    }
    std::ostringstream s;
    s << l.file << ":" << l.line << " [row " << l.row << " " << l.family << ", variant " << v
      << ", " << front_name(f) << "] " << show(l.target, 120) << " -> " << l.note;
    for (const auto& m : fail) s << "\n    - " << m;
    report.push_back(s.str());
  };

  for (const auto& l : lines) {
    for (const auto& v : l.variants) {
      Instance& in = *instances_.at(v);
      // The case's DNS rules, once per variant.
      bool skip = false;
      if (!l.dns.empty()) {
        for (const auto& raw_rule : split(l.dns, ';')) {
          std::string rule = trim(raw_rule);
          if (rule.find("{own-ip}") != std::string::npos) {
            if (own_ip_.empty()) {
              skip = true;
              break;
            }
            rule = replace_all(rule, "{own-ip}", own_ip_);
          }
          rule = expand(rule);
          if (in.rules.insert(rule).second) {
            try {
              in.dns->load_script(rule);
            } catch (const std::exception& ex) {
              ADD_FAILURE() << l.file << ":" << l.line << ": bad DNS rule \"" << rule
                            << "\": " << ex.what();
            }
          }
        }
      }
      for (Front f : l.fronts) {
        if (f == Front::slowloris) continue;
        if (skip) {
          ++tally.skipped;
          std::cout << "[ SKIPPED  ] " << l.file << ":" << l.line
                    << ": this host has no non-loopback IPv4 address for {own-ip}\n";
          continue;
        }
        record(l, v, f, run_case(l, in, f));
      }
    }
  }
  for (auto& s : slow) record(*s.line, s.variant, Front::slowloris, s.result.get());

  // Nothing late: no audit event or log line may follow the last case.
  std::this_thread::sleep_for(200ms);
  for (auto& [name, in] : instances_) {
    const auto events = audit_events(*in);
    for (std::size_t i = in->audit_consumed; i < events.size(); ++i) {
      report.push_back("variant " + name +
                       ": an audit event after the last case: " + events[i].dump());
    }
    const auto lines_now = blocked_log_lines(*in);
    for (std::size_t i = in->blocked_lines; i < lines_now.size(); ++i) {
      report.push_back("variant " + name +
                       ": a `blocked` log line after the last case: " + lines_now[i]);
    }
  }

  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t0).count();
  std::cout << "SSRF corpus " << GetParam() << ": " << tally.passed << "/" << tally.total
            << " cases behaved as specified, " << needed.size() << " variant(s), " << ms << " ms"
            << std::endl;
  {
    std::lock_guard lock(g_tally_mutex);
    g_tally.total += tally.total;
    g_tally.passed += tally.passed;
    g_tally.skipped += tally.skipped;
    for (const auto& [k, n] : tally.per_row) g_tally.per_row[k] += n;
    for (const auto& [k, n] : tally.per_kind) g_tally.per_kind[k] += n;
  }
  for (const auto& r : report) ADD_FAILURE() << r;
  EXPECT_EQ(tally.passed, tally.total)
      << GetParam() << ": " << (tally.total - tally.passed)
      << " case(s) did not behave as SPEC §18 says (each is listed above with its line)";
}

INSTANTIATE_TEST_SUITE_P(Tables, SsrfCorpus, ::testing::ValuesIn(table_files()),
                         [](const ::testing::TestParamInfo<std::string>& table) {
                           std::string n = fs::path(table.param).stem().string();
                           for (char& c : n) {
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           }
                           return n;
                         });

}  // namespace
}  // namespace netfence::testing
