# `cmake --install BUILD --prefix P`: the sluice command, the SDK libraries
# (libsluice_pipeline.so, libsluice_vision.so), the public headers, and a CMake
# package so that an out-of-tree plugin builds with
#   find_package(sluice REQUIRED)
#   target_link_libraries(myplugin PRIVATE sluice::sdk)  # + sluice::vision for Image, Batch
#
# Public headers: the stage API and port types, the plugin entry point and
# loader, the stage test harness with what it includes, and the image data
# path's payloads (vision/). Not installed: the runner's internals (clock,
# trace, run control, suggestions), the built-in stages (stages/builtin.h) and
# the CLI.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

file(STRINGS ${PROJECT_SOURCE_DIR}/pipeline/version.h _sluice_sdk_line
     REGEX "^#define SLUICE_SDK_VERSION [0-9]+$")
string(REGEX REPLACE "^#define SLUICE_SDK_VERSION ([0-9]+)$" "\\1" SLUICE_SDK_VERSION
                     "${_sluice_sdk_line}")

set(SLUICE_PUBLIC_HEADERS
  pipeline/stage.h
  pipeline/data_position.h
  pipeline/element_spec.h
  pipeline/params.h
  pipeline/packet.h
  pipeline/payload_text.h
  pipeline/port_type.h
  pipeline/registry.h
  pipeline/rng.h
  pipeline/version.h
  pipeline/choice_list.h
  pipeline/plugin_api.h
  pipeline/plugin.h
  # The stage harness and its includes.
  pipeline/testing/stage_harness.h
  pipeline/runner.h
  pipeline/profiler.h
  pipeline/timeline.h
  pipeline/run_monitor.h
  pipeline/live_metrics.h
  pipeline/validate.h
  pipeline/config.h
  pipeline/diagnostics.h
  # The image data path's payload types (sluice::vision).
  vision/payloads.h)
set(SLUICE_INCLUDE_DIR ${CMAKE_INSTALL_INCLUDEDIR}/sluice)
foreach(header IN LISTS SLUICE_PUBLIC_HEADERS)
  get_filename_component(subdir ${header} DIRECTORY)
  install(FILES ${header} DESTINATION ${SLUICE_INCLUDE_DIR}/${subdir} COMPONENT sdk)
endforeach()

# sluice_sdk (sluice::sdk) is defined in pipeline/CMakeLists.txt.
set_target_properties(sluice_sdk PROPERTIES EXPORT_NAME sdk)
set_target_properties(sluice_pipeline PROPERTIES EXPORT_NAME pipeline)
set_target_properties(sluice_vision PROPERTIES EXPORT_NAME vision)

# The installed binary finds the core library beside it, and dependencies outside the
# system's library folders (a pip wheel's LibTorch, say) where it was linked against them.
set_target_properties(sluice PROPERTIES INSTALL_RPATH "$ORIGIN/../${CMAKE_INSTALL_LIBDIR}"
                                        INSTALL_RPATH_USE_LINK_PATH TRUE)
install(TARGETS sluice RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
install(TARGETS sluice_pipeline sluice_sdk sluice_vision EXPORT sluiceTargets
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime
        INCLUDES DESTINATION ${SLUICE_INCLUDE_DIR})

set(SLUICE_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/sluice)
install(EXPORT sluiceTargets NAMESPACE sluice:: DESTINATION ${SLUICE_CMAKE_DIR} COMPONENT sdk)
configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/sluiceConfig.cmake.in
                              ${PROJECT_BINARY_DIR}/sluiceConfig.cmake
                              INSTALL_DESTINATION ${SLUICE_CMAKE_DIR}
                              PATH_VARS CMAKE_INSTALL_BINDIR)
# A plugin must match the host's SDK version exactly (checked at load time);
# the package version follows the release.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${PROJECT_BINARY_DIR}/sluiceConfig.cmake
              ${PROJECT_BINARY_DIR}/sluiceConfigVersion.cmake
        DESTINATION ${SLUICE_CMAKE_DIR} COMPONENT sdk)
