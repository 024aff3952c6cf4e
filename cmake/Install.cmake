# Installation and the CMake package (SPEC §16, issue 8). Included at the end of the top-level
# CMakeLists.txt, once every module target exists.
#
# `cmake --install <build> [--prefix P]` lays out:
#   bin/netfence                                   the CLI                        (Runtime)
#   share/man/man1/netfence.1                      man page (SPEC §17)            (Runtime)
#   lib/systemd/system/netfence.service            systemd unit                   (Runtime)
#   etc/netfence/config.toml (/etc when P = /usr)  example config                 (Runtime)
#   share/doc/netfence/examples/config.toml        the same, as documentation     (Runtime)
#   include/netfence/*.hpp                         public headers                 (Development)
#   <libdir>/libnetfence_*.a                       the static module libraries    (Development)
#   <libdir>/cmake/netfence/                       netfenceConfig.cmake & co.     (Development)
#
# Consumers write `find_package(netfence CONFIG REQUIRED)` and link `netfence::netfence`, an
# interface target over netfence_api (the public entry point). The module libraries are static,
# so they are exported too (as netfence::core, netfence::policy, ...), with the link-time
# dependencies that netfenceConfig.cmake finds again (find_dependency / pkg-config).
#
# Usage requirements meant for netfence's own sources (src/ on the include path, the Asio/Beast
# separate-compilation defines, warning flags) are wrapped in $<BUILD_INTERFACE:...> here so
# they stay out of consumers, whose only includes are the std-only <netfence/...> headers.

include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(NETFENCE_INSTALL_CMAKEDIR ${CMAKE_INSTALL_LIBDIR}/cmake/netfence
    CACHE STRING "Where netfenceConfig.cmake is installed, relative to the prefix")
mark_as_advanced(NETFENCE_INSTALL_CMAKEDIR)

# --- The module libraries: every library target defined under src/ ------------------------------

function(_netfence_collect_targets dir out)
  get_property(targets DIRECTORY ${dir} PROPERTY BUILDSYSTEM_TARGETS)
  set(found)
  foreach(t IN LISTS targets)
    get_target_property(type ${t} TYPE)
    if(type MATCHES "^(STATIC_LIBRARY|SHARED_LIBRARY|INTERFACE_LIBRARY|OBJECT_LIBRARY)$")
      list(APPEND found ${t})
    endif()
  endforeach()
  get_property(subdirs DIRECTORY ${dir} PROPERTY SUBDIRECTORIES)
  foreach(sub IN LISTS subdirs)
    _netfence_collect_targets(${sub} sub_found)
    list(APPEND found ${sub_found})
  endforeach()
  set(${out} ${found} PARENT_SCOPE)
endfunction()

set(NETFENCE_EXPORTED_LIBRARIES netfence_options)
get_property(_nf_top_subdirs DIRECTORY ${PROJECT_SOURCE_DIR} PROPERTY SUBDIRECTORIES)
foreach(_nf_dir IN LISTS _nf_top_subdirs)
  if(_nf_dir MATCHES "^${PROJECT_SOURCE_DIR}/src/")
    _netfence_collect_targets(${_nf_dir} _nf_found)
    list(APPEND NETFENCE_EXPORTED_LIBRARIES ${_nf_found})
  endif()
endforeach()
list(REMOVE_DUPLICATES NETFENCE_EXPORTED_LIBRARIES)

# --- The consumer-facing target: netfence::netfence ----------------------------------------------

add_library(netfence_public INTERFACE)
set_target_properties(netfence_public PROPERTIES EXPORT_NAME netfence)
if(TARGET netfence_api)
  target_link_libraries(netfence_public INTERFACE netfence_api)
else()
  # Until src/api (the §16 facade) exists: the config loader and the composition root.
  message(STATUS "netfence: no netfence_api target yet; netfence::netfence links the modules")
  target_link_libraries(netfence_public INTERFACE netfence_proxy netfence_config)
endif()
target_include_directories(netfence_public INTERFACE
  $<BUILD_INTERFACE:${PROJECT_SOURCE_DIR}/include>
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)
if(NOT TARGET netfence::netfence)
  add_library(netfence::netfence ALIAS netfence_public)  # same name in-tree (examples/embed)
endif()
list(APPEND NETFENCE_EXPORTED_LIBRARIES netfence_public)

# --- Keep build-only usage requirements out of the exported interface ----------------------------

function(_netfence_wrap_build_interface target property)
  get_target_property(values ${target} ${property})
  if(NOT values)
    return()
  endif()
  set(wrapped)
  foreach(v IN LISTS values)
    if(v MATCHES "^\\$<(BUILD|INSTALL)_INTERFACE:")
      list(APPEND wrapped "${v}")
    else()
      list(APPEND wrapped "$<BUILD_INTERFACE:${v}>")
    endif()
  endforeach()
  set_property(TARGET ${target} PROPERTY ${property} "${wrapped}")
endfunction()

foreach(_nf_t IN LISTS NETFENCE_EXPORTED_LIBRARIES)
  # Source- and build-tree include paths are not valid in an installed package (install(EXPORT)
  # refuses them): in-tree only. The installed headers come from netfence_public/netfence_options.
  _netfence_wrap_build_interface(${_nf_t} INTERFACE_INCLUDE_DIRECTORIES)
  if(NOT _nf_t STREQUAL "netfence_public")
    string(REGEX REPLACE "^netfence_" "" _nf_export_name ${_nf_t})
    set_target_properties(${_nf_t} PROPERTIES EXPORT_NAME ${_nf_export_name})
  endif()
endforeach()
# netfence_options carries the project-wide defines (Asio/Beast separate compilation, the
# version string) and warning/sanitizer compile flags: none of them concern consumers. Sanitizer
# link flags stay, so an instrumented build's libraries still link.
_netfence_wrap_build_interface(netfence_options INTERFACE_COMPILE_DEFINITIONS)
_netfence_wrap_build_interface(netfence_options INTERFACE_COMPILE_OPTIONS)
target_include_directories(netfence_options INTERFACE
  $<INSTALL_INTERFACE:${CMAKE_INSTALL_INCLUDEDIR}>)

# --- Link-time dependencies, found again by netfenceConfig.cmake ---------------------------------

# Scan the exported libraries for imported targets (PRIVATE ones count: static libraries export
# them as $<LINK_ONLY:...>) and emit one find_dependency per package that provides them.
set(_nf_imported)
foreach(_nf_t IN LISTS NETFENCE_EXPORTED_LIBRARIES)
  foreach(_nf_prop LINK_LIBRARIES INTERFACE_LINK_LIBRARIES)
    get_target_property(_nf_libs ${_nf_t} ${_nf_prop})
    if(_nf_libs)
      string(REGEX MATCHALL "[A-Za-z0-9_]+::[A-Za-z0-9_]+" _nf_names "${_nf_libs}")
      list(APPEND _nf_imported ${_nf_names})
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES _nf_imported)
list(SORT _nf_imported)

# Package versions: as required by the top-level CMakeLists.txt.
set(_nf_dep_Threads       "find_dependency(Threads)")
set(_nf_dep_OpenSSL       "find_dependency(OpenSSL 3.0)")
set(_nf_dep_tomlplusplus  "find_dependency(tomlplusplus 3.3)")
set(_nf_dep_nlohmann_json "find_dependency(nlohmann_json 3.11)")
set(_nf_dep_spdlog        "find_dependency(spdlog 1.10)")
set(_nf_dep_fmt           "find_dependency(fmt)")
set(_nf_pkgconfig_LIBIDN2 libidn2)
set(_nf_pkgconfig_CARES   libcares)
set(_nf_pkgconfig_LIBPSL  libpsl)

set(_nf_boost_components)
set(_nf_packages)
set(_nf_pkgconfig_lines)
foreach(_nf_name IN LISTS _nf_imported)
  string(REGEX MATCH "^[^:]+" _nf_ns ${_nf_name})
  string(REGEX REPLACE "^[^:]+::" "" _nf_leaf ${_nf_name})
  if(_nf_ns STREQUAL "netfence")
    continue()
  elseif(_nf_ns STREQUAL "Boost")
    if(NOT _nf_leaf MATCHES "^(headers|boost|disable_autolinking|dynamic_linking|diagnostic_definitions)$")
      list(APPEND _nf_boost_components ${_nf_leaf})
    endif()
    list(APPEND _nf_packages Boost)
  elseif(_nf_ns STREQUAL "PkgConfig")
    if(NOT DEFINED _nf_pkgconfig_${_nf_leaf})
      message(WARNING "netfence install: no pkg-config module known for ${_nf_name}; "
                      "add it to _nf_pkgconfig_* in cmake/Install.cmake")
      continue()
    endif()
    list(APPEND _nf_pkgconfig_lines
      "if(NOT TARGET ${_nf_name})\n"
      "  pkg_check_modules(${_nf_leaf} QUIET IMPORTED_TARGET ${_nf_pkgconfig_${_nf_leaf}})\n"
      "  if(NOT TARGET ${_nf_name})\n"
      "    set(netfence_FOUND FALSE)\n"
      "    set(netfence_NOT_FOUND_MESSAGE \"netfence needs ${_nf_pkgconfig_${_nf_leaf}} (pkg-config)\")\n"
      "    return()\n"
      "  endif()\n"
      "endif()\n")
  elseif(DEFINED _nf_dep_${_nf_ns})
    list(APPEND _nf_packages ${_nf_ns})
  else()
    message(WARNING "netfence install: exported libraries link ${_nf_name}, which "
                    "netfenceConfig.cmake does not know how to find; add it to cmake/Install.cmake")
  endif()
endforeach()
list(REMOVE_DUPLICATES _nf_packages)
list(REMOVE_DUPLICATES _nf_boost_components)

set(NETFENCE_FIND_DEPENDENCIES "")
foreach(_nf_pkg IN LISTS _nf_packages)
  if(_nf_pkg STREQUAL "Boost")
    string(JOIN " " _nf_comps ${_nf_boost_components})
    if(_nf_comps)
      set(_nf_comps " COMPONENTS ${_nf_comps}")
    endif()
    string(APPEND NETFENCE_FIND_DEPENDENCIES "find_dependency(Boost 1.81 CONFIG${_nf_comps})\n")
  else()
    string(APPEND NETFENCE_FIND_DEPENDENCIES "${_nf_dep_${_nf_pkg}}\n")
  endif()
endforeach()
if(_nf_pkgconfig_lines)
  string(APPEND NETFENCE_FIND_DEPENDENCIES "find_dependency(PkgConfig)\n")
  string(JOIN "" _nf_pc ${_nf_pkgconfig_lines})
  string(APPEND NETFENCE_FIND_DEPENDENCIES "${_nf_pc}")
endif()

# --- Install rules: Development -------------------------------------------------------------------

install(TARGETS ${NETFENCE_EXPORTED_LIBRARIES}
  EXPORT netfenceTargets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT Development
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Development)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/netfence
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}
  COMPONENT Development
  FILES_MATCHING PATTERN "*.hpp")

install(EXPORT netfenceTargets
  NAMESPACE netfence::
  DESTINATION ${NETFENCE_INSTALL_CMAKEDIR}
  COMPONENT Development)

configure_package_config_file(
  ${CMAKE_CURRENT_LIST_DIR}/netfenceConfig.cmake.in
  ${PROJECT_BINARY_DIR}/netfenceConfig.cmake
  INSTALL_DESTINATION ${NETFENCE_INSTALL_CMAKEDIR})
# 0.x: a minor release may break the API, so only the same minor version is compatible.
write_basic_package_version_file(
  ${PROJECT_BINARY_DIR}/netfenceConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/netfenceConfig.cmake
  ${PROJECT_BINARY_DIR}/netfenceConfigVersion.cmake
  DESTINATION ${NETFENCE_INSTALL_CMAKEDIR}
  COMPONENT Development)

# --- Install rules: Runtime ----------------------------------------------------------------------

install(TARGETS netfence RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT Runtime)

install(FILES ${PROJECT_SOURCE_DIR}/docs/netfence.1
  DESTINATION ${CMAKE_INSTALL_MANDIR}/man1
  COMPONENT Runtime)

install(FILES ${PROJECT_SOURCE_DIR}/examples/config.toml
  DESTINATION ${CMAKE_INSTALL_DOCDIR}/examples
  COMPONENT Runtime)

# The unit and the config file under etc/ depend on the prefix chosen at *install* time
# (`cmake --install --prefix`, or /usr when CPack builds the .deb), so they are placed by a
# script: with prefix /usr the config goes to /etc/netfence (as GNUInstallDirs does), otherwise
# to <prefix>/etc/netfence; the unit's /usr/bin and /etc paths are rewritten to match. An
# existing config file is never overwritten. file(INSTALL) honours DESTDIR.
install(CODE "set(NETFENCE_UNIT_SOURCE \"${PROJECT_SOURCE_DIR}/packaging/systemd/netfence.service\")
set(NETFENCE_CONFIG_SOURCE \"${PROJECT_SOURCE_DIR}/examples/config.toml\")
set(NETFENCE_STAGING_DIR \"${PROJECT_BINARY_DIR}/packaging\")
set(NETFENCE_BINDIR \"${CMAKE_INSTALL_BINDIR}\")"
  COMPONENT Runtime)
install(SCRIPT ${CMAKE_CURRENT_LIST_DIR}/InstallSystemFiles.cmake COMPONENT Runtime)

include(Package)
