// Small OpenSSL helpers shared by the CA store and the leaf minter (internal to src/mitm).
#pragma once

#include <openssl/asn1.h>
#include <openssl/x509.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace netfence::mitm::detail {

using Clock = std::chrono::system_clock;

/// "<what>: <reason of the oldest queued OpenSSL error>" (or "<what>" alone); clears the queue.
std::string openssl_error(std::string_view what);

/// A random positive 128-bit serial (16 random octets with the top bit set, so it is exactly
/// 128 bits long and encodes in 17 DER octets, within RFC 5280's 20).
bool set_random_serial(X509* cert);

/// Whole seconds; UTCTime up to 2049, GeneralizedTime after (RFC 5280 §4.1.2.5).
bool set_time(ASN1_TIME* t, Clock::time_point when);
std::optional<Clock::time_point> to_time_point(const ASN1_TIME* t);

/// Adds an extension from its OpenSSL config text (`"critical,CA:TRUE,pathlen:0"`), with
/// `issuer` and `cert` as the X509V3 context (SKI "hash" and AKI "keyid" need them).
bool add_conf_ext(X509* cert, X509* issuer, int nid, const char* value);

}  // namespace netfence::mitm::detail
