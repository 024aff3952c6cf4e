#!/usr/bin/env bash
# Module boundaries (STYLE.md B.5, B.7): the policy engine and the config loader stay free of
# networking and TLS; toml++ lives only in the config loader; public headers expose only std and
# netfence types.
set -u
cd "$(dirname "$0")/.."
fail=0
check() {  # <description> <grep -E pattern> <paths...>
  local what=$1 pattern=$2; shift 2
  local hits
  hits=$(grep -rnE "$pattern" "$@" 2>/dev/null)
  if [ -n "$hits" ]; then
    echo "layering violation: $what"
    echo "$hits"
    fail=1
  fi
}
check "Asio/Beast/OpenSSL in policy or config" '#include *[<"](boost/asio|boost/beast|openssl/)' src/policy src/config
check "I/O or logging in the policy engine" '#include *[<"](spdlog|fstream|iostream|thread|chrono|netdb|sys/socket|ares)' src/policy
check "toml++ outside the config loader" '#include *[<"]toml\+\+' src include apps --exclude=toml_loader.cpp
check "third-party types in public headers" '#include *[<"](boost|openssl|toml|nlohmann|spdlog|fmt|CLI|ares)' include
check "CLI11 outside apps/cli/main.cpp" '#include *[<"]CLI/' src include
if [ $fail -eq 0 ]; then echo "layering: ok"; fi
exit $fail
