#include "http/responses.hpp"

#include <cstdio>

namespace netfence::http {

std::string_view status_reason(int status) noexcept {
  switch (status) {
    case 100:
      return "Continue";
    case 101:
      return "Switching Protocols";
    case 200:
      return "OK";
    case 400:
      return "Bad Request";
    case 401:
      return "Unauthorized";
    case 403:
      return "Forbidden";
    case 404:
      return "Not Found";
    case 405:
      return "Method Not Allowed";
    case 413:
      return "Payload Too Large";
    case 414:
      return "URI Too Long";
    case 431:
      return "Request Header Fields Too Large";
    case 500:
      return "Internal Server Error";
    case 501:
      return "Not Implemented";
    case 502:
      return "Bad Gateway";
    case 503:
      return "Service Unavailable";
    case 504:
      return "Gateway Timeout";
    default:
      return "Unknown";
  }
}

namespace {

std::string response(int status, std::string_view content_type, std::string_view body,
                     bool keep_alive, std::string_view x_proxy_error) {
  std::string out;
  out.reserve(160 + body.size());
  out += "HTTP/1.1 ";
  out += std::to_string(status);
  out += ' ';
  out += status_reason(status);
  out += "\r\ncontent-type: ";
  out += content_type;
  out += "\r\ncontent-length: ";
  out += std::to_string(body.size());
  if (!x_proxy_error.empty()) {
    out += "\r\nx-proxy-error: ";
    out += x_proxy_error;
  }
  out += keep_alive ? "\r\nconnection: keep-alive\r\n\r\n" : "\r\nconnection: close\r\n\r\n";
  out += body;
  return out;
}

}  // namespace

void append_json_escaped(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
}

std::string text_response(int status, std::string_view body, bool keep_alive,
                          std::string_view x_proxy_error) {
  return response(status, "text/plain", body, keep_alive, x_proxy_error);
}

std::string refusal_json(const policy::Judgement& j, std::string_view host, std::uint16_t port,
                         Protocol protocol) {
  const bool dns = j.reason == policy::Reason::dns_failure;
  std::string out = dns ? R"({"status":"error","host":")" : R"({"status":"blocked","host":")";
  append_json_escaped(out, host);
  out += R"(","reason":")";
  append_json_escaped(out, j.reason_text());
  out += R"(","decision":")";
  out += to_string(j.verdict);
  out += R"(","source":")";
  out += to_string(j.source);
  out += R"(","protocol":")";
  out += to_string(protocol);
  out += R"(","port":)";
  out += std::to_string(port);
  out += R"(,"message":")";
  append_json_escaped(out, policy::info(j.reason).message);
  out += "\"}";
  return out;
}

std::string refusal_response(const policy::Judgement& j, std::string_view host, std::uint16_t port,
                             Protocol protocol, bool text_body, bool keep_alive) {
  const auto& info = policy::info(j.reason);
  if (j.reason == policy::Reason::proxy_disabled) {
    return text_response(503, info.message, keep_alive);
  }
  if (j.reason == policy::Reason::dns_failure) {
    return response(502, "application/json", refusal_json(j, host, port, protocol), keep_alive,
                    info.x_proxy_error);
  }
  const int status = info.http_status ? info.http_status : 403;
  if (text_body) return text_response(status, info.message, keep_alive, info.x_proxy_error);
  return response(status, "application/json", refusal_json(j, host, port, protocol), keep_alive,
                  info.x_proxy_error);
}

}  // namespace netfence::http
