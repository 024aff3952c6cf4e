#include "audit/event.hpp"

#include <algorithm>
#include <ctime>
#include <nlohmann/json.hpp>

namespace netfence::audit {

std::string_view to_string(Scope s) noexcept {
  return s == Scope::domain ? "domain" : "non_domain";
}

std::string format_timestamp(std::int64_t unix_nanos) {
  // Floor division so instants before 1970 (never seen in practice) still truncate downwards.
  std::int64_t secs = unix_nanos / 1'000'000'000;
  std::int64_t rem = unix_nanos % 1'000'000'000;
  if (rem < 0) {
    rem += 1'000'000'000;
    --secs;
  }
  const auto t = static_cast<std::time_t>(secs);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];  // 24 used; room for any int the compiler cannot rule out
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(rem / 1'000'000));
  return buf;
}

std::string sanitize_originator(std::string_view value) {
  const bool ok =
      !value.empty() && value.size() <= 64 && std::all_of(value.begin(), value.end(), [](char c) {
        return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
               c == '.' || c == '_' || c == '-';
      });
  return ok ? std::string(value) : std::string(kDefaultOriginator);
}

std::vector<AuditEvent> make_events(const policy::Decision& d, const policy::RequestFacts& facts,
                                    const EventContext& ctx, const AuditMetadata& metadata,
                                    std::int64_t now_nanos) {
  AuditEvent base;
  base.timestamp = format_timestamp(now_nanos);
  base.time_unix_nano = now_nanos;
  base.conversation_id = metadata.conversation_id;
  base.app_version = metadata.app_version;
  base.auth_mode = metadata.auth_mode;
  if (metadata.originator) base.originator = sanitize_originator(*metadata.originator);
  base.user_account_id = metadata.user_account_id;
  base.user_email = metadata.user_email;
  base.terminal_type = metadata.terminal_type;
  base.model = metadata.model;
  base.slug = metadata.slug;
  base.protocol = facts.protocol == Protocol::unix_socket ? Protocol::http : facts.protocol;
  if (ctx.unix_socket) {
    base.protocol = Protocol::http;
    base.server_address = kUnixSocketAddress;
    base.server_port = 0;
  } else {
    base.server_address = facts.host ? facts.host->text : std::string();
    base.server_port = facts.port;
  }
  base.method = facts.method.empty() ? "none" : std::string(facts.method);
  base.client_address = ctx.client.empty() ? "unknown" : std::string(ctx.client);

  std::vector<AuditEvent> out;
  auto add = [&](const policy::Judgement& j, Scope scope) {
    AuditEvent e = base;
    e.scope = scope;
    e.decision = j.verdict;
    e.source = j.source;
    e.reason = std::string(j.reason_text());
    e.override_allow = scope == Scope::domain && j.override_allow;
    out.push_back(std::move(e));
  };
  if (d.domain) add(*d.domain, Scope::domain);
  if (d.non_domain) add(*d.non_domain, Scope::non_domain);
  return out;
}

std::string encode_jsonl(const AuditEvent& e) {
  nlohmann::ordered_json j;
  j["event.name"] = kEventName;
  j["event.timestamp"] = e.timestamp;
  auto opt = [&](const char* key, const std::optional<std::string>& v) {
    if (v) j[key] = *v;
  };
  opt("conversation.id", e.conversation_id);
  opt("app.version", e.app_version);
  opt("auth_mode", e.auth_mode);
  opt("originator", e.originator);
  opt("user.account_id", e.user_account_id);
  opt("user.email", e.user_email);
  opt("terminal.type", e.terminal_type);
  opt("model", e.model);
  opt("slug", e.slug);
  j["network.policy.scope"] = to_string(e.scope);
  j["network.policy.decision"] = to_string(e.decision);
  j["network.policy.source"] = to_string(e.source);
  j["network.policy.reason"] = e.reason;
  j["network.transport.protocol"] = to_string(e.protocol);
  j["server.address"] = e.server_address;
  j["server.port"] = e.server_port;
  j["http.request.method"] = e.method;
  j["client.address"] = e.client_address;
  j["network.policy.override"] = e.override_allow;
  // Replace rather than throw on bytes that are not UTF-8 (a decider's reason, metadata).
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace netfence::audit
