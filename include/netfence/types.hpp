// Vocabulary shared by policy, front ends, audit and the public API (SPEC §6.4, §14, §16).
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace netfence {

enum class Mode : std::uint8_t { full, limited };

/// One protocol label set everywhere (SPEC §14).
enum class Protocol : std::uint8_t {
  http,
  https_connect,
  https,
  socks5_tcp,
  socks5_udp,
  unix_socket
};

enum class DecisionSource : std::uint8_t { baseline_policy, mode_guard, proxy_state, decider };

/// The outcome kind of a decision; `ask` is refused like `deny` (SPEC §6.4).
enum class Verdict : std::uint8_t { allow, deny, ask };

std::string_view to_string(Mode m) noexcept;
std::string_view to_string(Protocol p) noexcept;
std::string_view to_string(DecisionSource s) noexcept;
std::string_view to_string(Verdict v) noexcept;

std::optional<Mode> parse_mode(std::string_view s) noexcept;          // "full" | "limited"
std::optional<Protocol> parse_protocol(std::string_view s) noexcept;  // the §14 labels

}  // namespace netfence
