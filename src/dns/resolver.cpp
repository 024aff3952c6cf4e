#include "dns/resolver.hpp"

#include <future>

namespace netfence::dns {

std::string_view to_string(ResolveError e) noexcept {
  switch (e) {
    case ResolveError::none:
      return "none";
    case ResolveError::nxdomain:
      return "nxdomain";
    case ResolveError::servfail:
      return "servfail";
    case ResolveError::refused:
      return "refused";
    case ResolveError::timeout:
      return "timeout";
    case ResolveError::no_data:
      return "no_data";
    case ResolveError::other:
      return "other";
  }
  return "other";
}

ResolveResult resolve_blocking(Resolver& resolver, std::string name,
                               std::chrono::milliseconds timeout) {
  // shared_ptr: the callback may outlive this frame if a broken resolver called it twice.
  auto promise = std::make_shared<std::promise<ResolveResult>>();
  std::future<ResolveResult> future = promise->get_future();
  resolver.resolve(std::move(name), timeout, [promise](ResolveResult result) {
    try {
      promise->set_value(std::move(result));
    } catch (const std::future_error&) {
      // A second call: the contract says exactly once; ignore rather than crash.
    }
  });
  return future.get();
}

}  // namespace netfence::dns
