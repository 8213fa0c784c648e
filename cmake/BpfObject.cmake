# Builds BPF objects and their libbpf skeletons.
#
#   ferry_bpf_skeleton(<name> SOURCE <file.bpf.c> [DEPENDS <headers>...])
#
# produces ${FERRY_BPF_OUT}/<name>.bpf.o and ${FERRY_BPF_OUT}/<name>.skel.h, and adds the skeleton
# to the custom target ferry_bpf_skeletons. Every object depends on vmlinux.h and on all headers
# under bpf/ (a changed header must rebuild every object that may include it).

find_program(FERRY_CLANG NAMES clang clang-14 REQUIRED)
find_program(FERRY_BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

set(FERRY_BPF_OUT ${CMAKE_BINARY_DIR}/bpf)
file(MAKE_DIRECTORY ${FERRY_BPF_OUT})

# vmlinux.h comes from the build machine's BTF; CO-RE relocations make the objects portable to
# other kernels (the qemu vmtests load the same objects on 6.1). Generated at configure time: the
# running kernel does not change under a build directory, and a custom command's output could not
# be depended on from the bpf/ directory.
set(FERRY_VMLINUX_H ${FERRY_BPF_OUT}/vmlinux.h)
if(NOT EXISTS ${FERRY_VMLINUX_H})
  execute_process(
    COMMAND ${FERRY_BPFTOOL} btf dump file /sys/kernel/btf/vmlinux format c
    OUTPUT_FILE ${FERRY_VMLINUX_H}.tmp
    RESULT_VARIABLE vmlinux_rc)
  if(NOT vmlinux_rc EQUAL 0)
    message(FATAL_ERROR "bpftool could not dump /sys/kernel/btf/vmlinux (kernel without BTF?)")
  endif()
  file(RENAME ${FERRY_VMLINUX_H}.tmp ${FERRY_VMLINUX_H})
endif()

add_custom_target(ferry_bpf_skeletons)
add_library(ferry_bpf_headers INTERFACE)
target_include_directories(ferry_bpf_headers INTERFACE ${FERRY_BPF_OUT} ${PROJECT_SOURCE_DIR}/bpf)
add_dependencies(ferry_bpf_headers ferry_bpf_skeletons)

function(ferry_bpf_skeleton name)
  cmake_parse_arguments(ARG "" "SOURCE" "DEPENDS" ${ARGN})
  file(GLOB_RECURSE bpf_headers CONFIGURE_DEPENDS ${PROJECT_SOURCE_DIR}/bpf/*.h)
  set(obj ${FERRY_BPF_OUT}/${name}.bpf.o)
  set(skel ${FERRY_BPF_OUT}/${name}.skel.h)
  add_custom_command(
    OUTPUT ${obj}
    COMMAND ${FERRY_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_x86 -Wall -Werror
            -I${FERRY_BPF_OUT} -I${PROJECT_SOURCE_DIR}/bpf
            -c ${CMAKE_CURRENT_SOURCE_DIR}/${ARG_SOURCE} -o ${obj}
    DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/${ARG_SOURCE} ${FERRY_VMLINUX_H} ${bpf_headers} ${ARG_DEPENDS}
    COMMENT "Compiling BPF ${name}"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skel}
    COMMAND ${FERRY_BPFTOOL} gen skeleton ${obj} name ${name} > ${skel}.tmp
    COMMAND ${CMAKE_COMMAND} -E rename ${skel}.tmp ${skel}
    DEPENDS ${obj}
    COMMENT "Generating skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(ferry_bpf_${name} DEPENDS ${skel})
  add_dependencies(ferry_bpf_skeletons ferry_bpf_${name})
endfunction()
