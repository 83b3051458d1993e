# The core for C++ users, inside the wheel (as libtorch comes inside
# PyTorch's): the static library, its headers and a CMake package config, so
# that a program configured with
#   cmake -DCMAKE_PREFIX_PATH="$(python -c 'import ember.utils; print(ember.utils.cmake_prefix_path)')"
# can find_package(ember) and link ember::core. A static library means no
# libstdc++ ABI crosses a shared-library boundary: the program links the core
# with its own C++ runtime (g++ with the default C++11 ABI, C++17). The core
# is the CPU backend only; CUDA stays inside the Python module.
#
# Layout under site-packages/ember/:
#   lib/libember_core.a, include/csrc/**.h, share/cmake/ember/emberConfig.cmake
include(CMakePackageConfigHelpers)

set(ember_package_dir ember)
set(ember_config_dir ${ember_package_dir}/share/cmake/ember)

set_target_properties(ember_core PROPERTIES EXPORT_NAME core)  # ember::core
install(TARGETS ember_core EXPORT emberTargets ARCHIVE DESTINATION ${ember_package_dir}/lib)
# Headers keep the repository's include style ("csrc/tensor.h").
install(DIRECTORY ${PROJECT_SOURCE_DIR}/csrc/ DESTINATION ${ember_package_dir}/include/csrc
        FILES_MATCHING PATTERN "*.h")
install(EXPORT emberTargets NAMESPACE ember:: DESTINATION ${ember_config_dir})

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/emberConfig.cmake.in
                              ${CMAKE_CURRENT_BINARY_DIR}/emberConfig.cmake
                              INSTALL_DESTINATION ${ember_config_dir})
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/emberConfigVersion.cmake
                                 VERSION ${PROJECT_VERSION} COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/emberConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/emberConfigVersion.cmake
        DESTINATION ${ember_config_dir})
