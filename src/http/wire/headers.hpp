// Header fields as received, hop-by-hop stripping (SPEC §8.3) and head serialisation.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace netfence::http {

/// One header field. `name` keeps the received spelling; `value` has leading/trailing SP/HTAB
/// trimmed (the parsers guarantee name is a token and value holds no CR, LF, NUL or other CTL
/// except HTAB).
struct Field {
  std::string name;
  std::string value;
};

/// ASCII case-insensitive equality (header names, tokens, schemes).
bool iequals(std::string_view a, std::string_view b) noexcept;

/// Ordered list of fields, in the order received. All name lookups are ASCII case-insensitive.
class Headers {
 public:
  using const_iterator = std::vector<Field>::const_iterator;

  /// First field with this name, or nullptr.
  const Field* find(std::string_view name) const noexcept;
  /// Number of fields with this name.
  std::size_t count(std::string_view name) const noexcept;
  /// Values of every field with this name, in order (views into this object).
  std::vector<std::string_view> values(std::string_view name) const;
  /// Removes every field with this name; returns how many were removed.
  std::size_t remove(std::string_view name);
  /// Appends a field.
  void add(std::string name, std::string value);
  /// Replaces the value of the first field with this name and removes the others, or appends.
  void set(std::string_view name, std::string value);

  std::size_t size() const noexcept { return fields_.size(); }
  bool empty() const noexcept { return fields_.empty(); }
  void clear() noexcept { fields_.clear(); }
  const_iterator begin() const noexcept { return fields_.begin(); }
  const_iterator end() const noexcept { return fields_.end(); }
  const std::vector<Field>& fields() const noexcept { return fields_; }

 private:
  std::vector<Field> fields_;
};

/// True if the comma-separated list `header_value` (e.g. `keep-alive, Upgrade`) has an element
/// equal to `token`, ASCII case-insensitively, ignoring OWS around elements and empty elements.
bool list_contains_token(std::string_view header_value, std::string_view token);

/// True if any field named `name` lists `token` (list_contains_token over all occurrences).
bool headers_contain_token(const Headers& headers, std::string_view name, std::string_view token);

enum class Direction { request, response };

/// Removes the hop-by-hop set of SPEC §8.3: Connection and every header it names, Keep-Alive,
/// Proxy-Connection, Proxy-Authorization, TE, Trailer, Transfer-Encoding and Upgrade; for
/// responses also Proxy-Authenticate and every x-proxy-error (so an origin cannot imitate a proxy
/// block).
///
/// With `keep_websocket_upgrade`, if the message is a websocket upgrade (an Upgrade field lists
/// `websocket` and a Connection field lists `upgrade`), exactly `Upgrade: websocket` and
/// `Connection: upgrade` are appended after stripping (any other Upgrade value is still
/// stripped). Returns true if it did so.
bool strip_hop_by_hop(Headers& headers, Direction direction, bool keep_websocket_upgrade = false);

/// `METHOD SP target SP HTTP/1.1 CRLF`, one `name: value CRLF` per field, then CRLF. Inputs are
/// assumed valid (parsed or produced by this module); no validation is done here.
std::string serialize_request_head(std::string_view method, std::string_view target,
                                   const Headers& headers);

/// `HTTP/1.<version_minor> SP <status, 3 digits> SP reason CRLF`, fields, CRLF.
std::string serialize_response_head(int version_minor, int status, std::string_view reason,
                                    const Headers& headers);

}  // namespace netfence::http
