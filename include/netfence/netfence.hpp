// The whole public API of netfence (SPEC §16).
#pragma once

#include "netfence/audit.hpp"
#include "netfence/blocked.hpp"
#include "netfence/config.hpp"
#include "netfence/decider.hpp"
#include "netfence/proxy.hpp"
#include "netfence/result.hpp"
#include "netfence/types.hpp"
#include "netfence/version.hpp"
