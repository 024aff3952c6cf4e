#include "observe/metrics.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "prometheus_validator.hpp"

namespace netfence::observe {
namespace {

using prom::Exposition;
using prom::validate_prometheus;
using ::testing::HasSubstr;

// Renders and validates; fails the test (with the text) if the exposition is not valid.
Exposition render_valid(const Metrics& m, std::string_view version = "1.2.3") {
  const std::string text = m.render_prometheus(version);
  Exposition x = validate_prometheus(text);
  EXPECT_TRUE(x.errors.empty()) << ::testing::PrintToString(x.errors) << "\n" << text;
  return x;
}

// ---- the validator itself --------------------------------------------------------------------

TEST(PrometheusValidator, AcceptsWellFormedText) {
  const auto x = validate_prometheus(
      "# HELP a_total Things.\n# TYPE a_total counter\na_total{k=\"v\\\"\\\\\\n\"} 3\n"
      "# HELP h Latency.\n# TYPE h histogram\nh_bucket{le=\"0.5\"} 1\nh_bucket{le=\"+Inf\"} 2\n"
      "h_sum 0.75\nh_count 2\n# HELP g A gauge.\n# TYPE g gauge\ng -1\n");
  EXPECT_TRUE(x.errors.empty()) << ::testing::PrintToString(x.errors);
  EXPECT_EQ(x.value("a_total", {{"k", "v\"\\\n"}}), 3);
  EXPECT_EQ(x.value("g"), -1);
}

TEST(PrometheusValidator, RejectsEachKindOfMistake) {
  const char* bad[] = {
      "a_total 1\n",                                               // no HELP/TYPE
      "# TYPE a_total counter\na_total 1\n",                       // TYPE without HELP
      "# HELP a_total x\n# TYPE a_total counter\na_total 1",       // no final LF
      "# HELP a x\n# TYPE a counter\na 1\n",                       // counter without _total
      "# HELP a_total x\n# TYPE a_total counter\na_total -1\n",    // negative counter
      "# HELP a_total x\n# TYPE a_total counter\nb_total 1\n",     // outside its family
      "# HELP 1a x\n# TYPE 1a gauge\n1a 1\n",                      // bad name
      "# HELP g x\n# TYPE g gauge\ng{k=\"v\"} 1\ng{k=\"v\"} 2\n",  // duplicate series
      "# HELP g x\n# TYPE g gauge\ng{k=\"a\\tb\"} 1\n",            // bad escape
      "# HELP g x\n# TYPE g gauge\ng{k=\"v} 1\n",                  // unterminated value
      "# HELP g x\n# TYPE g gauge\ng{k=\"v\",k=\"w\"} 1\n",        // repeated label
      "# HELP g x\n# TYPE g gauge\ng 1 1700000000\n",              // timestamp
      "# HELP g x\n# TYPE g gauge\ng one\n",                       // bad value
      "# HELP g x\n# TYPE g gauge\n\ng 1\n",                       // blank line
      "# HELP g x\n# TYPE g gauge\n# HELP g x\n# TYPE g gauge\n",  // family repeated
      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\n"
      "h_sum 1\nh_count 1\n",  // not cumulative
      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n",  // no +Inf
      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"2\"} 1\nh_bucket{le=\"1\"} 1\n"
      "h_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n",  // le not increasing
      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 3\n",  // != count
      "# HELP h x\n# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\n",           // no _sum
  };
  for (const char* text : bad) {
    EXPECT_FALSE(validate_prometheus(text).errors.empty()) << text;
  }
}

// ---- the registry ----------------------------------------------------------------------------

TEST(Metrics, FreshRegistryIsValidAndPrePopulated) {
  Metrics m;
  const auto x = render_valid(m, "0.1.0");

  const char* families[][2] = {
      {"netfence_decisions_total", "counter"},
      {"netfence_connections_active", "gauge"},
      {"netfence_tunnels_active", "gauge"},
      {"netfence_bytes_relayed_total", "counter"},
      {"netfence_dns_lookup_seconds", "histogram"},
      {"netfence_connect_seconds", "histogram"},
      {"netfence_connections_rejected_total", "counter"},
      {"netfence_blocked_total", "counter"},
      {"netfence_audit_events_dropped_total", "counter"},
      {"netfence_audit_export_failures_total", "counter"},
      {"netfence_config_reloads_total", "counter"},
      {"netfence_udp_datagrams_dropped_total", "counter"},
      {"netfence_build_info", "gauge"},
  };
  ASSERT_EQ(x.families.size(), std::size(families));
  for (std::size_t i = 0; i < std::size(families); ++i) {
    EXPECT_EQ(x.families[i].name, families[i][0]);
    EXPECT_EQ(x.families[i].type, families[i][1]) << families[i][0];
    EXPECT_FALSE(x.families[i].help.empty()) << families[i][0];
  }

  for (const char* kind : {"connect", "websocket", "mitm", "socks5_tcp", "socks5_udp"}) {
    EXPECT_EQ(x.value("netfence_tunnels_active", {{"kind", kind}}), 0) << kind;
  }
  for (const char* listener : {"http", "socks5", "admin"}) {
    EXPECT_EQ(x.value("netfence_connections_active", {{"listener", listener}}), 0) << listener;
  }
  for (const char* dir : {"client_to_target", "target_to_client"}) {
    EXPECT_EQ(x.value("netfence_bytes_relayed_total", {{"direction", dir}}), 0) << dir;
  }
  EXPECT_EQ(x.value("netfence_config_reloads_total", {{"result", "ok"}}), 0);
  EXPECT_EQ(x.value("netfence_config_reloads_total", {{"result", "error"}}), 0);
  EXPECT_EQ(x.value("netfence_blocked_total"), 0);
  EXPECT_EQ(x.value("netfence_audit_events_dropped_total"), 0);
  EXPECT_EQ(x.value("netfence_audit_export_failures_total"), 0);
  EXPECT_EQ(x.value("netfence_dns_lookup_seconds_count"), 0);
  EXPECT_EQ(x.value("netfence_dns_lookup_seconds_bucket", {{"le", "+Inf"}}), 0);
  EXPECT_EQ(x.value("netfence_connect_seconds_sum"), 0);
  EXPECT_EQ(x.value("netfence_build_info", {{"version", "0.1.0"}}), 1);
  EXPECT_TRUE(x.family("netfence_decisions_total")->samples.empty());
  EXPECT_TRUE(x.family("netfence_connections_rejected_total")->samples.empty());
}

TEST(Metrics, HistogramBucketLadderSpans500usTo10s) {
  Metrics m;
  const auto x = render_valid(m);
  const auto* f = x.family("netfence_connect_seconds");
  ASSERT_NE(f, nullptr);
  std::vector<std::string> les;
  for (const auto& s : f->samples) {
    for (const auto& [n, v] : s.labels) {
      if (n == "le") les.push_back(v);
    }
  }
  EXPECT_EQ(les,
            (std::vector<std::string>{"0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
                                      "0.1", "0.25", "0.5", "1", "2.5", "5", "10", "+Inf"}));
}

TEST(Metrics, DecisionsCountedByProtocolDecisionAndReason) {
  Metrics m;
  m.count_decision(Protocol::http, Verdict::deny, "not_allowed");
  m.count_decision(Protocol::http, Verdict::deny, policy::Reason::not_allowed);
  m.count_decision(Protocol::https_connect, Verdict::allow, policy::Reason::allow);
  m.count_decision(Protocol::socks5_udp, Verdict::ask, "policy_denied");
  m.count_decision(Protocol::unix_socket, Verdict::deny, "unix_socket_unsupported");

  const std::string text = m.render_prometheus("1.2.3");
  EXPECT_THAT(text, HasSubstr("netfence_decisions_total{protocol=\"http\",decision=\"deny\","
                              "reason=\"not_allowed\"} 2\n"));
  const auto x = render_valid(m);
  EXPECT_EQ(x.value("netfence_decisions_total",
                    {{"protocol", "https_connect"}, {"decision", "allow"}, {"reason", "allow"}}),
            1);
  EXPECT_EQ(x.value("netfence_decisions_total",
                    {{"protocol", "socks5_udp"}, {"decision", "ask"}, {"reason", "policy_denied"}}),
            1);
  EXPECT_EQ(x.value("netfence_decisions_total", {{"protocol", "unix_socket"},
                                                 {"decision", "deny"},
                                                 {"reason", "unix_socket_unsupported"}}),
            1);
  EXPECT_EQ(x.family("netfence_decisions_total")->samples.size(), 4u);
  EXPECT_EQ(m.decisions(Protocol::http, Verdict::deny, "not_allowed"), 2u);
}

TEST(Metrics, UnknownReasonsCountAsOther) {
  Metrics m;
  m.count_decision(Protocol::https, Verdict::deny, "blocked by the user's own rule");
  m.count_decision(Protocol::https, Verdict::deny, "");
  m.count_decision(Protocol::https, Verdict::deny, "Not_Allowed");  // names are exact
  const auto x = render_valid(m);
  EXPECT_EQ(x.value("netfence_decisions_total",
                    {{"protocol", "https"}, {"decision", "deny"}, {"reason", "other"}}),
            3);
  EXPECT_EQ(x.family("netfence_decisions_total")->samples.size(), 1u);
  EXPECT_EQ(m.decisions(Protocol::https, Verdict::deny, "other"), 3u);
}

TEST(Metrics, EveryReasonOfTheTableHasItsOwnSeries) {
  Metrics m;
  const char* reasons[] = {"allow",
                           "not_allowed",
                           "not_allowed_local",
                           "denied",
                           "method_not_allowed",
                           "mitm_required",
                           "proxy_disabled",
                           "unix_socket_unsupported",
                           "self_target",
                           "dns_failure",
                           "policy_denied"};
  for (const char* r : reasons) m.count_decision(Protocol::socks5_tcp, Verdict::deny, r);
  const auto x = render_valid(m);
  for (const char* r : reasons) {
    EXPECT_EQ(x.value("netfence_decisions_total",
                      {{"protocol", "socks5_tcp"}, {"decision", "deny"}, {"reason", r}}),
              1)
        << r;
  }
}

TEST(Metrics, GaugesGoUpAndDown) {
  Metrics m;
  m.connection_opened(Listener::http);
  m.connection_opened(Listener::http);
  m.connection_opened(Listener::socks5);
  m.connection_closed(Listener::http);
  m.tunnel_opened(TunnelKind::mitm);
  m.tunnel_opened(TunnelKind::socks5_udp);
  m.tunnel_closed(TunnelKind::socks5_udp);
  const auto x = render_valid(m);
  EXPECT_EQ(x.value("netfence_connections_active", {{"listener", "http"}}), 1);
  EXPECT_EQ(x.value("netfence_connections_active", {{"listener", "socks5"}}), 1);
  EXPECT_EQ(x.value("netfence_connections_active", {{"listener", "admin"}}), 0);
  EXPECT_EQ(x.value("netfence_tunnels_active", {{"kind", "mitm"}}), 1);
  EXPECT_EQ(x.value("netfence_tunnels_active", {{"kind", "socks5_udp"}}), 0);
  EXPECT_EQ(m.connections_active(Listener::http), 1);
  EXPECT_EQ(m.tunnels_active(TunnelKind::mitm), 1);
}

TEST(Metrics, CountersMove) {
  Metrics m;
  m.add_bytes(Direction::client_to_target, 100);
  m.add_bytes(Direction::client_to_target, 23);
  m.add_bytes(Direction::target_to_client, 1ull << 40);
  m.count_blocked();
  m.count_blocked();
  m.count_audit_dropped();
  m.count_audit_dropped(4);
  m.count_audit_export_failure();
  m.count_reload(true);
  m.count_reload(true);
  m.count_reload(false);
  m.count_rejected("max_connections");
  m.count_rejected("max_connections");
  m.count_udp_dropped("queue_full");
  m.count_udp_dropped("not_allowed");

  const std::string text = m.render_prometheus("1.2.3");
  // Large integers are written exactly, not in exponent form.
  EXPECT_THAT(text, HasSubstr("netfence_bytes_relayed_total{direction=\"target_to_client\"} "
                              "1099511627776\n"));
  const auto x = render_valid(m);
  EXPECT_EQ(x.value("netfence_bytes_relayed_total", {{"direction", "client_to_target"}}), 123);
  EXPECT_EQ(x.value("netfence_blocked_total"), 2);
  EXPECT_EQ(x.value("netfence_audit_events_dropped_total"), 5);
  EXPECT_EQ(x.value("netfence_audit_export_failures_total"), 1);
  EXPECT_EQ(x.value("netfence_config_reloads_total", {{"result", "ok"}}), 2);
  EXPECT_EQ(x.value("netfence_config_reloads_total", {{"result", "error"}}), 1);
  EXPECT_EQ(x.value("netfence_connections_rejected_total", {{"reason", "max_connections"}}), 2);
  EXPECT_EQ(x.value("netfence_udp_datagrams_dropped_total", {{"reason", "queue_full"}}), 1);
  EXPECT_EQ(x.value("netfence_udp_datagrams_dropped_total", {{"reason", "not_allowed"}}), 1);
  EXPECT_EQ(m.bytes_relayed(Direction::client_to_target), 123u);
  EXPECT_EQ(m.rejected("max_connections"), 2u);
  EXPECT_EQ(m.udp_dropped("queue_full"), 1u);
  EXPECT_EQ(m.blocked(), 2u);
  EXPECT_EQ(m.reloads(false), 1u);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithBoundsInclusive) {
  Metrics m;
  m.observe_dns(0.0005);                               // exactly on the first bound: le="0.0005"
  m.observe_dns(0.003);                                // le="0.005"
  m.observe_dns(std::chrono::milliseconds(7));         // le="0.01"
  m.observe_dns(20.0);                                 // only +Inf
  m.observe_dns(-1.0);                                 // clamped to 0: le="0.0005"
  m.observe_dns(std::nan(""));                         // clamped to 0
  m.observe_connect(std::chrono::microseconds(1500));  // le="0.0025"

  const auto x = render_valid(m);
  auto bucket = [&](const char* name, const char* le) { return x.value(name, {{"le", le}}); };
  EXPECT_EQ(bucket("netfence_dns_lookup_seconds_bucket", "0.0005"), 3);
  EXPECT_EQ(bucket("netfence_dns_lookup_seconds_bucket", "0.001"), 3);
  EXPECT_EQ(bucket("netfence_dns_lookup_seconds_bucket", "0.0025"), 3);
  EXPECT_EQ(bucket("netfence_dns_lookup_seconds_bucket", "0.005"), 4);
  EXPECT_EQ(bucket("netfence_dns_lookup_seconds_bucket", "0.01"), 5);
  EXPECT_EQ(bucket("netfence_dns_lookup_seconds_bucket", "10"), 5);
  EXPECT_EQ(bucket("netfence_dns_lookup_seconds_bucket", "+Inf"), 6);
  EXPECT_EQ(x.value("netfence_dns_lookup_seconds_count"), 6);
  EXPECT_NEAR(x.value("netfence_dns_lookup_seconds_sum"), 0.0005 + 0.003 + 0.007 + 20.0, 1e-9);

  EXPECT_EQ(bucket("netfence_connect_seconds_bucket", "0.001"), 0);
  EXPECT_EQ(bucket("netfence_connect_seconds_bucket", "0.0025"), 1);
  EXPECT_EQ(x.value("netfence_connect_seconds_count"), 1);
  EXPECT_NEAR(x.value("netfence_connect_seconds_sum"), 0.0015, 1e-12);

  const auto snap = m.dns_lookups();
  EXPECT_EQ(snap.count, 6u);
  EXPECT_EQ(snap.cumulative.back(), 6u);
}

TEST(Metrics, HugeObservationsDoNotOverflowTheSum) {
  Metrics m;
  m.observe_connect(std::numeric_limits<double>::infinity());
  m.observe_connect(1e300);
  const auto x = render_valid(m);
  EXPECT_EQ(x.value("netfence_connect_seconds_count"), 2);
  EXPECT_EQ(x.value("netfence_connect_seconds_bucket", {{"le", "10"}}), 0);
  EXPECT_NEAR(x.value("netfence_connect_seconds_sum"), 2e9, 1);
}

TEST(Metrics, LabelValuesAreEscaped) {
  Metrics m;
  const std::string nasty = "a\"b\\c\nd";
  m.count_rejected(nasty);
  const std::string text = m.render_prometheus("v\"1\\\n");
  EXPECT_THAT(text,
              HasSubstr("netfence_connections_rejected_total{reason=\"a\\\"b\\\\c\\nd\"} 1\n"));
  EXPECT_THAT(text, HasSubstr("netfence_build_info{version=\"v\\\"1\\\\\\n\"} 1\n"));
  const auto x = validate_prometheus(text);
  EXPECT_TRUE(x.errors.empty()) << ::testing::PrintToString(x.errors) << "\n" << text;
  EXPECT_EQ(x.value("netfence_connections_rejected_total", {{"reason", nasty}}), 1);
  EXPECT_EQ(x.value("netfence_build_info", {{"version", "v\"1\\\n"}}), 1);
}

TEST(Metrics, FreeFormLabelsAreBounded) {
  Metrics m;
  m.count_udp_dropped("");  // empty label → other
  for (std::size_t i = 0; i < LabeledCounter::kMaxLabels + 10; ++i) {
    m.count_udp_dropped("reason_" + std::to_string(i));
  }
  const auto x = render_valid(m);
  const auto* f = x.family("netfence_udp_datagrams_dropped_total");
  ASSERT_NE(f, nullptr);
  // "other" took one slot, so kMaxLabels - 1 named reasons fit and 11 more went to "other".
  EXPECT_EQ(f->samples.size(), LabeledCounter::kMaxLabels);
  EXPECT_EQ(x.value("netfence_udp_datagrams_dropped_total", {{"reason", "other"}}), 12);
  EXPECT_EQ(x.value("netfence_udp_datagrams_dropped_total", {{"reason", "reason_0"}}), 1);
  // A label admitted before the cap keeps counting under its own name.
  m.count_udp_dropped("reason_0");
  EXPECT_EQ(m.udp_dropped("reason_0"), 2u);
}

TEST(Metrics, ConcurrentUpdatesAreExactAndScrapesStayValid) {
  Metrics m;
  constexpr int kThreads = 4;
  constexpr int kIterations = 20000;
  std::atomic<bool> stop{false};
  std::atomic<int> scrapes{0};
  std::vector<std::string> scrape_errors;
  std::thread scraper([&] {
    while (!stop.load()) {
      const auto x = validate_prometheus(m.render_prometheus("1.2.3"));
      if (!x.errors.empty() && scrape_errors.empty()) scrape_errors = x.errors;
      ++scrapes;
    }
  });
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kIterations; ++i) {
        m.count_decision(Protocol::http, Verdict::deny, "not_allowed");
        m.count_decision(Protocol::http, Verdict::deny, "decider text");
        m.add_bytes(Direction::target_to_client, 3);
        m.connection_opened(Listener::admin);
        m.observe_dns(0.001 * (i % 20));
        m.count_rejected(t % 2 == 0 ? "max_connections" : "admin_limit");
        m.connection_closed(Listener::admin);
      }
    });
  }
  for (auto& th : threads) th.join();
  stop = true;
  scraper.join();

  EXPECT_TRUE(scrape_errors.empty()) << ::testing::PrintToString(scrape_errors);
  EXPECT_GT(scrapes.load(), 0);
  const double total = double{kThreads} * kIterations;
  const auto x = render_valid(m);
  EXPECT_EQ(x.value("netfence_decisions_total",
                    {{"protocol", "http"}, {"decision", "deny"}, {"reason", "not_allowed"}}),
            total);
  EXPECT_EQ(x.value("netfence_decisions_total",
                    {{"protocol", "http"}, {"decision", "deny"}, {"reason", "other"}}),
            total);
  EXPECT_EQ(x.value("netfence_bytes_relayed_total", {{"direction", "target_to_client"}}),
            3 * total);
  EXPECT_EQ(x.value("netfence_connections_active", {{"listener", "admin"}}), 0);
  EXPECT_EQ(x.value("netfence_dns_lookup_seconds_count"), total);
  EXPECT_EQ(x.value("netfence_connections_rejected_total", {{"reason", "max_connections"}}),
            total / 2);
  EXPECT_EQ(x.value("netfence_connections_rejected_total", {{"reason", "admin_limit"}}), total / 2);
}

TEST(Metrics, ContentTypeIsTheOneSpecified) {
  EXPECT_EQ(kPrometheusContentType, "text/plain; version=0.0.4; charset=utf-8");
}

TEST(Metrics, EnumSpellings) {
  EXPECT_EQ(to_string(Listener::socks5), "socks5");
  EXPECT_EQ(to_string(TunnelKind::socks5_tcp), "socks5_tcp");
  EXPECT_EQ(to_string(TunnelKind::websocket), "websocket");
  EXPECT_EQ(to_string(Direction::client_to_target), "client_to_target");
}

}  // namespace
}  // namespace netfence::observe
