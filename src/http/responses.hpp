// The proxy's own responses (SPEC §8.5, §8.6): exact status lines, headers and bodies for
// refusals and errors. Pure string building.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "netfence/types.hpp"
#include "policy/evaluate.hpp"

namespace netfence::http {

std::string_view status_reason(int status) noexcept;

/// `HTTP/1.1 <status> <reason>` with `content-type: text/plain`, content-length, optional
/// `x-proxy-error`, and `connection: keep-alive|close`.
std::string text_response(int status, std::string_view body, bool keep_alive,
                          std::string_view x_proxy_error = {});

/// The §8.5 JSON body, keys in order, for a refusal (or a dns_failure, `"status":"error"`).
std::string refusal_json(const policy::Judgement& j, std::string_view host, std::uint16_t port,
                         Protocol protocol);

/// The complete response for a refused decision: 503 text for proxy_disabled, 502 JSON for
/// dns_failure, 403 JSON for plain HTTP (`text_body = false`) or 403 text with the message for
/// CONNECT and MITM inner requests (`text_body = true`).
std::string refusal_response(const policy::Judgement& j, std::string_view host, std::uint16_t port,
                             Protocol protocol, bool text_body, bool keep_alive);

/// Appends `s` to `out` as JSON string content (without the quotes).
void append_json_escaped(std::string& out, std::string_view s);

}  // namespace netfence::http
