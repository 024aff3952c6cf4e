# CPack: two Debian packages from the install components (included by Install.cmake).
#
#   netfence      (Runtime)      /usr/bin/netfence, the systemd unit, the man page and
#                                /etc/netfence/config.toml as a conffile; Depends computed by
#                                dpkg-shlibdeps.
#   netfence-dev  (Development)  headers, static libraries and the CMake package; Depends on the
#                                -dev packages of what those libraries link.
#
#   cmake -S . -B build-pkg -G Ninja -DCMAKE_INSTALL_PREFIX=/usr -DNETFENCE_TESTS=OFF
#   ninja -C build-pkg -j2 && (cd build-pkg && cpack -G DEB)

set(NETFENCE_PACKAGE_MAINTAINER "netfence maintainers <netfence@localhost>"
    CACHE STRING "Maintainer field of the .deb packages")

set(CPACK_PACKAGE_NAME netfence)
set(CPACK_PACKAGE_VENDOR netfence)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${NETFENCE_PACKAGE_MAINTAINER}")
# No CPACK_PACKAGE_DESCRIPTION_SUMMARY: CPackDeb would prepend it to both packages' descriptions;
# the first line of each CPACK_DEBIAN_<COMPONENT>_DESCRIPTION is that package's synopsis.
set(CPACK_GENERATOR DEB)
set(CPACK_STRIP_FILES ON)  # the CLI only: install(TARGETS) never strips static archives
set(CPACK_SOURCE_GENERATOR TGZ)
set(CPACK_SOURCE_IGNORE_FILES "/\\\\.git/" "/build[^/]*/" "/fuzz-out/")

set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL Runtime Development)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)      # <name>_<version>-<release>_<arch>.deb
set(CPACK_DEBIAN_PACKAGE_RELEASE 1)
set(CPACK_DEBIAN_PACKAGE_MAINTAINER "${NETFENCE_PACKAGE_MAINTAINER}")
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)  # scripts 0755, conffiles 0644

# Runtime: the netfence package.
set(CPACK_DEBIAN_RUNTIME_PACKAGE_NAME netfence)
set(CPACK_DEBIAN_RUNTIME_PACKAGE_SECTION net)
set(CPACK_DEBIAN_RUNTIME_DESCRIPTION
"network-policy enforcement proxy for sandboxed programs
netfence runs beside a sandbox (network namespace, seccomp, container) and is
the only way out for the programs it runs, above all AI coding agents: an HTTP
forward proxy, a SOCKS5 proxy and an admin API judge every connection against
an allow/deny policy and relay it or refuse it with a clear reason.

This package ships the netfence command, a hardened systemd unit
(netfence.service, reload with SIGHUP) and /etc/netfence/config.toml.")
find_program(NETFENCE_DPKG_SHLIBDEPS dpkg-shlibdeps)
mark_as_advanced(NETFENCE_DPKG_SHLIBDEPS)
if(NETFENCE_DPKG_SHLIBDEPS)
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_SHLIBDEPS ON)
else()
  # Without dpkg-dev: the shared libraries the CLI links on Debian 12.
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS
      "libc6, libstdc++6, libssl3, libidn2-0, libc-ares2, libtomlplusplus3, libspdlog1.10, libfmt9")
endif()
set(CPACK_DEBIAN_RUNTIME_PACKAGE_RECOMMENDS "ca-certificates")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA
    ${PROJECT_SOURCE_DIR}/packaging/debian/conffiles
    ${PROJECT_SOURCE_DIR}/packaging/debian/postinst
    ${PROJECT_SOURCE_DIR}/packaging/debian/prerm
    ${PROJECT_SOURCE_DIR}/packaging/debian/postrm)

# Development: the netfence-dev package. Its Depends follow the imported targets the exported
# libraries link (the same scan that writes netfenceConfig.cmake's find_dependency calls).
set(_nf_deb_Boost         "libboost1.81-dev")
set(_nf_deb_OpenSSL       "libssl-dev (>= 3.0)")
set(_nf_deb_tomlplusplus  "libtomlplusplus-dev (>= 3.3)")
set(_nf_deb_nlohmann_json "nlohmann-json3-dev (>= 3.11)")
set(_nf_deb_spdlog        "libspdlog-dev (>= 1:1.10)")
set(_nf_deb_fmt           "libfmt-dev")
set(_nf_deb_libidn2       "libidn2-dev")
set(_nf_deb_libcares      "libc-ares-dev")
set(_nf_deb_libpsl        "libpsl-dev")
set(_nf_dev_depends "cmake (>= 3.25)" "libstdc++-12-dev")
foreach(_nf_pkg IN LISTS _nf_packages)
  if(DEFINED _nf_deb_${_nf_pkg})
    list(APPEND _nf_dev_depends "${_nf_deb_${_nf_pkg}}")
  endif()
endforeach()
foreach(_nf_comp IN LISTS _nf_boost_components)
  list(APPEND _nf_dev_depends "libboost-${_nf_comp}1.81-dev")
endforeach()
foreach(_nf_name IN LISTS _nf_imported)
  if(_nf_name MATCHES "^PkgConfig::(.+)$")
    set(_nf_mod "${_nf_pkgconfig_${CMAKE_MATCH_1}}")
    if(_nf_mod AND DEFINED _nf_deb_${_nf_mod})
      list(APPEND _nf_dev_depends "${_nf_deb_${_nf_mod}}")
    endif()
    list(APPEND _nf_dev_depends pkg-config)
  endif()
endforeach()
list(REMOVE_DUPLICATES _nf_dev_depends)
string(JOIN ", " CPACK_DEBIAN_DEVELOPMENT_PACKAGE_DEPENDS ${_nf_dev_depends})
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_NAME netfence-dev)
set(CPACK_DEBIAN_DEVELOPMENT_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEVELOPMENT_DESCRIPTION
"network-policy enforcement proxy for sandboxed programs (C++ library)
The netfence proxy as a C++20 library: public headers (<netfence/netfence.hpp>,
standard types only), static libraries and a CMake package, so that
find_package(netfence CONFIG REQUIRED) and target_link_libraries(app
netfence::netfence) start a proxy with a custom policy decider from another
program.")

include(CPack)
