# Finding OpenCV and TurboJPEG without their package files, for dependencies unpacked
# from .deb files into a prefix (tools/gpu/build.sh). Debian's OpenCVConfig.cmake
# checks every OpenCV module of the distribution and its absolute /usr paths, and
# pkg-config files name /usr too; here headers and libraries are searched in
# CMAKE_PREFIX_PATH like any find_path/find_library, and imported targets with the
# names the rest of the build links (opencv_core, ..., PkgConfig::TURBOJPEG) are made.

# sluice_find_opencv_direct(core imgproc imgcodecs)
function(sluice_find_opencv_direct)
  find_path(SLUICE_OPENCV_INCLUDE_DIR opencv2/core.hpp PATH_SUFFIXES opencv4 REQUIRED)
  set(includes ${SLUICE_OPENCV_INCLUDE_DIR})
  # cvconfig.h sits in the multiarch folder on Debian; optional for the public headers.
  find_path(SLUICE_OPENCV_ARCH_INCLUDE_DIR opencv2/cvconfig.h PATH_SUFFIXES opencv4)
  if(SLUICE_OPENCV_ARCH_INCLUDE_DIR)
    list(APPEND includes ${SLUICE_OPENCV_ARCH_INCLUDE_DIR})
  endif()
  foreach(module IN LISTS ARGN)
    find_library(SLUICE_OPENCV_${module}_LIBRARY NAMES opencv_${module} REQUIRED)
    add_library(opencv_${module} UNKNOWN IMPORTED)
    set_target_properties(opencv_${module} PROPERTIES
      IMPORTED_LOCATION ${SLUICE_OPENCV_${module}_LIBRARY}
      INTERFACE_INCLUDE_DIRECTORIES "${includes}")
  endforeach()
  message(STATUS "OpenCV (direct): ${SLUICE_OPENCV_INCLUDE_DIR}; ${ARGN}")
endfunction()

function(sluice_find_turbojpeg_direct)
  find_path(SLUICE_TURBOJPEG_INCLUDE_DIR turbojpeg.h REQUIRED)
  find_library(SLUICE_TURBOJPEG_LIBRARY NAMES turbojpeg REQUIRED)
  add_library(PkgConfig::TURBOJPEG UNKNOWN IMPORTED)
  set_target_properties(PkgConfig::TURBOJPEG PROPERTIES
    IMPORTED_LOCATION ${SLUICE_TURBOJPEG_LIBRARY}
    INTERFACE_INCLUDE_DIRECTORIES ${SLUICE_TURBOJPEG_INCLUDE_DIR})
  message(STATUS "TurboJPEG (direct): ${SLUICE_TURBOJPEG_LIBRARY}")
endfunction()
