#include "policy/reasons.hpp"

#include <gtest/gtest.h>

namespace netfence::policy {
namespace {

TEST(Reasons, TableMatchesSpec) {
  struct Row {
    Reason r;
    const char* name;
    const char* header;
    int status;
    int socks;
  };
  const Row rows[] = {
      {Reason::not_allowed, "not_allowed", "blocked-by-allowlist", 403, 2},
      {Reason::not_allowed_local, "not_allowed_local", "blocked-by-allowlist", 403, 2},
      {Reason::denied, "denied", "blocked-by-denylist", 403, 2},
      {Reason::method_not_allowed, "method_not_allowed", "blocked-by-method-policy", 403, 2},
      {Reason::mitm_required, "mitm_required", "blocked-by-mitm-required", 403, 0},
      {Reason::proxy_disabled, "proxy_disabled", "", 503, 2},
      {Reason::unix_socket_unsupported, "unix_socket_unsupported", "blocked-by-policy", 501, 0},
      {Reason::self_target, "self_target", "blocked-by-policy", 403, 2},
      {Reason::dns_failure, "dns_failure", "dns-failure", 502, 4},
      {Reason::policy_denied, "policy_denied", "blocked-by-policy", 403, 2},
  };
  for (const auto& row : rows) {
    EXPECT_EQ(to_string(row.r), row.name);
    EXPECT_EQ(info(row.r).x_proxy_error, row.header) << row.name;
    EXPECT_EQ(info(row.r).http_status, row.status) << row.name;
    EXPECT_EQ(info(row.r).socks_reply, row.socks) << row.name;
    EXPECT_FALSE(info(row.r).message.empty()) << row.name;
  }
  EXPECT_EQ(to_string(Reason::allow), "allow");
  EXPECT_EQ(info(Reason::not_allowed).message,
            "Blocked: this host is not on the allowlist. Add it to allowed_domains to permit it.");
  EXPECT_EQ(info(Reason::proxy_disabled).message, "network proxy is disabled");
}

TEST(Reasons, DeciderReasonNormalisation) {
  EXPECT_EQ(normalize_decider_reason(""), "policy_denied");
  EXPECT_EQ(normalize_decider_reason("needs_approval"), "needs_approval");
  EXPECT_EQ(normalize_decider_reason(std::string(128, 'a')), std::string(128, 'a'));
  EXPECT_EQ(normalize_decider_reason(std::string(129, 'a')), "policy_denied");
  EXPECT_EQ(normalize_decider_reason("bad\nreason"), "policy_denied");
  EXPECT_EQ(normalize_decider_reason("caf\xC3\xA9"), "policy_denied");
}

}  // namespace
}  // namespace netfence::policy
