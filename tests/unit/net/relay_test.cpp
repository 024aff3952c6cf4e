#include "net/relay.hpp"

#include <gtest/gtest.h>
