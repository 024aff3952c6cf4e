#include "policy/snapshot.hpp"

namespace netfence::policy {
namespace {

// Walks "a.b.example.com" → "b.example.com" → "example.com" → "com" (proper suffixes only).
template <class F>
bool any_proper_suffix(std::string_view host, F&& f) {
  for (auto dot = host.find('.'); dot != std::string_view::npos; dot = host.find('.', dot + 1)) {
    if (f(host.substr(dot + 1))) return true;
  }
  return false;
}

}  // namespace

void PatternSet::add(Pattern p) {
  texts_.push_back(p.text());
  switch (p.kind()) {
    case Pattern::Kind::everything:
      everything_ = true;
      break;
    case Pattern::Kind::exact:
      exact_.insert(p.text());
      break;
    case Pattern::Kind::subdomains:
      subdomains_.insert(p.text().substr(2));
      break;
    case Pattern::Kind::apex_and_subs:
      apex_.insert(p.text().substr(3));
      break;
    case Pattern::Kind::ip:
      ips_.push_back(std::move(p));
      break;
    case Pattern::Kind::labelwise:
      labelwise_.push_back(std::move(p));
      break;
  }
}

bool PatternSet::matches(const core::CanonicalHost& host) const {
  if (everything_) return true;
  if (host.is_ip()) return matches_exact(host);
  const std::string& h = host.text;
  if (exact_.count(h) || apex_.count(h)) return true;
  if ((!subdomains_.empty() || !apex_.empty()) && any_proper_suffix(h, [&](std::string_view s) {
        return subdomains_.find(s) != subdomains_.end() || apex_.find(s) != apex_.end();
      })) {
    return true;
  }
  for (const auto& p : labelwise_) {
    if (p.matches(host)) return true;
  }
  return false;
}

bool PatternSet::matches_exact(const core::CanonicalHost& host) const {
  if (!host.is_ip()) return exact_.count(host.text) > 0;
  for (const auto& p : ips_) {
    if (p.matches(host)) return true;
  }
  return false;
}

bool PatternSet::contains_ip(const core::IpAddress& a) const {
  core::CanonicalHost h;
  h.kind = a.is_v4() ? core::HostKind::ipv4 : core::HostKind::ipv6;
  h.ip = a.unmapped();
  for (const auto& p : ips_) {
    // A zoned entry names one interface's address; an answer carries no zone, so only
    // zone-less entries compare equal here.
    if (p.text().find('%') == std::string::npos && p.matches(h)) return true;
  }
  return false;
}

Result<std::shared_ptr<const Snapshot>> compile(std::shared_ptr<const Config> config) {
  auto snap = std::make_shared<Snapshot>();
  snap->enabled = config->enabled;
  snap->mode = config->mode;
  snap->mitm = config->mitm;
  snap->allow_local_binding = config->allow_local_binding;
  struct ListRef {
    const std::vector<std::string>* texts;
    PatternSet* set;
    PatternList list;
    const char* name;
  };
  for (auto ref :
       {ListRef{&config->allowed_domains, &snap->allowed, PatternList::allowed, "allowed_domains"},
        ListRef{&config->denied_domains, &snap->denied, PatternList::denied, "denied_domains"}}) {
    for (std::size_t i = 0; i < ref.texts->size(); ++i) {
      auto compiled = compile_pattern((*ref.texts)[i], ref.list);
      if (!compiled) {
        return make_error("config", "network." + std::string(ref.name) + "[" + std::to_string(i) +
                                        "]: " + compiled.error().message);
      }
      ref.set->add(std::move(compiled->pattern));
    }
  }
  snap->config = std::move(config);
  return std::shared_ptr<const Snapshot>(std::move(snap));
}

}  // namespace netfence::policy
