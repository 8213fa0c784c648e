# ferry_qemu_test(): runs a command inside a qemu guest with Debian's 6.1 kernel as a ctest test.
#
#   include(${PROJECT_SOURCE_DIR}/vmtests/qemu/FerryQemu.cmake)
#   ferry_qemu_test(qemu_datapath_ktls
#     COMMAND $<TARGET_FILE:datapath_privileged_test> --gtest_filter=Ktls.*
#     [ADD <host path>[:<guest path>] ...]   # extra files/binaries (--add); ELF files bring their libs
#     [MODULES <list>]                        # --modules: "a,b" replaces the default set, "+a,b" adds
#     [ENV <NAME=VALUE> ...]                  # --env for the guest command
#     [MEMORY <MB>]                           # --memory: guest RAM (default 1024)
#     [TIMEOUT <seconds>]                     # guest timeout (default 300)
#     [EXPECT_EXIT <status>])                 # pass only when the runner exits with this status
#
# COMMAND follows run-in-vm.sh's rule: a first word containing '/' is a host file copied into the
# guest; a bare word is a guest command (busybox applet or an ADDed file, e.g. `sh -c '...'`).
# Use $<TARGET_FILE:tgt> for binaries: ctest then runs the freshly built file.
#
# The test's name must contain "qemu" (prefixed with "qemu_" otherwise); it gets label "qemu",
# runs serially (the TCG guest uses both cores), and is skipped (exit 77) only when the kernel
# cannot be downloaded and FERRY_REQUIRE_PRIVILEGED is not 1 - under CI that is a failure.
#
# Include this file rather than relying on vmtests/qemu/CMakeLists.txt having been processed:
# the vmtests/<area> directories are added in glob order.
include_guard(GLOBAL)

set(FERRY_QEMU_RUNNER "${CMAKE_CURRENT_LIST_DIR}/run-in-vm.sh" CACHE INTERNAL "qemu test runner")
set(FERRY_QEMU_EXPECT_EXIT "${CMAKE_CURRENT_LIST_DIR}/tests/expect-exit.sh" CACHE INTERNAL
    "inverts/compares the runner's exit status")

function(ferry_qemu_test name)
  cmake_parse_arguments(ARG "" "TIMEOUT;MODULES;MEMORY;EXPECT_EXIT" "COMMAND;ADD;ENV" ${ARGN})
  if(NOT ARG_COMMAND)
    message(FATAL_ERROR "ferry_qemu_test(${name}): COMMAND is required")
  endif()
  if(NOT name MATCHES "qemu")
    set(name "qemu_${name}")
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 300)
  endif()

  set(runner_args --timeout ${ARG_TIMEOUT})
  if(ARG_MODULES)
    list(APPEND runner_args --modules ${ARG_MODULES})
  endif()
  if(ARG_MEMORY)
    list(APPEND runner_args --memory ${ARG_MEMORY})
  endif()
  foreach(add IN LISTS ARG_ADD)
    list(APPEND runner_args --add ${add})
  endforeach()
  foreach(env IN LISTS ARG_ENV)
    list(APPEND runner_args --env ${env})
  endforeach()

  set(command ${FERRY_QEMU_RUNNER} ${runner_args} -- ${ARG_COMMAND})
  if(DEFINED ARG_EXPECT_EXIT)
    set(command ${FERRY_QEMU_EXPECT_EXIT} ${ARG_EXPECT_EXIT} ${command})
  endif()
  add_test(NAME ${name} COMMAND ${command})
  # Margin over the guest timeout: a first run downloads and unpacks the kernel (~70 MB).
  math(EXPR ctest_timeout "${ARG_TIMEOUT} + 180")
  set_tests_properties(${name} PROPERTIES LABELS qemu RUN_SERIAL TRUE SKIP_RETURN_CODE 77
                                          TIMEOUT ${ctest_timeout})
endfunction()
