# Runs at install time (from cmake_install.cmake, see Install.cmake): installs the systemd unit
# and the config file under etc/ for the prefix in force now, which `cmake --install --prefix`
# or CPack may have changed since configure time.
#
# Inputs (set by Install.cmake): NETFENCE_UNIT_SOURCE, NETFENCE_CONFIG_SOURCE,
# NETFENCE_STAGING_DIR, NETFENCE_BINDIR; and CMake's CMAKE_INSTALL_PREFIX, ENV{DESTDIR}.

set(_prefix "${CMAKE_INSTALL_PREFIX}")
string(REGEX REPLACE "/+$" "" _prefix "${_prefix}")
# GNUInstallDirs' rule for sysconfdir: /usr -> /etc; any other prefix -> <prefix>/etc.
if(_prefix STREQUAL "/usr" OR _prefix STREQUAL "")
  set(_etc "/etc")
else()
  set(_etc "${_prefix}/etc")
endif()
if(IS_ABSOLUTE "${NETFENCE_BINDIR}")
  set(_bindir "${NETFENCE_BINDIR}")
else()
  set(_bindir "${_prefix}/${NETFENCE_BINDIR}")
endif()

# The unit in the source tree is written for the Debian layout (/usr/bin, /etc); other prefixes
# get their own paths.
file(READ "${NETFENCE_UNIT_SOURCE}" _unit)
string(REPLACE "/usr/bin/netfence" "${_bindir}/netfence" _unit "${_unit}")
string(REPLACE "/etc/netfence/" "${_etc}/netfence/" _unit "${_unit}")
file(MAKE_DIRECTORY "${NETFENCE_STAGING_DIR}")
file(WRITE "${NETFENCE_STAGING_DIR}/netfence.service" "${_unit}")
file(INSTALL DESTINATION "${_prefix}/lib/systemd/system" TYPE FILE
     PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
     FILES "${NETFENCE_STAGING_DIR}/netfence.service")

# Never replace a config file an administrator already has (a direct `cmake --install` onto a
# live system); the .deb marks it as a conffile, so dpkg handles upgrades there.
set(_config "$ENV{DESTDIR}${_etc}/netfence/config.toml")
if(EXISTS "${_config}")
  message(STATUS "Keeping existing: ${_config}")
else()
  file(INSTALL DESTINATION "${_etc}/netfence" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES "${NETFENCE_CONFIG_SOURCE}")
endif()
