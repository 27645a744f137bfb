# Build helpers shared by every subsystem.
#
#   shale_library(NAME SRCS a.cc b.cc DEPS shale::base ...)   -> target shale_NAME, alias shale::NAME
#   shale_test(NAME SRCS x_test.cc DEPS shale::stream [LABELS unit|slow])
#
# Warnings are errors everywhere. SHALE_SANITIZE adds ASan+UBSan to every target.

set(SHALE_WARNINGS -Wall -Wextra -Werror -Wno-missing-field-initializers)
if(SHALE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  # GCC 12 with optimisation and ASan reports asio's coroutine-frame operator delete as
  # mismatched with its operator new (a false positive on asio::awaitable frames).
  if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    add_compile_options(-Wno-mismatched-new-delete)
  endif()
  add_link_options(-fsanitize=address,undefined)
endif()

function(shale_library NAME)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS" ${ARGN})
  add_library(shale_${NAME} STATIC ${ARG_SRCS})
  add_library(shale::${NAME} ALIAS shale_${NAME})
  target_include_directories(shale_${NAME} PUBLIC ${PROJECT_SOURCE_DIR}/src ${PROJECT_BINARY_DIR}/src)
  target_compile_options(shale_${NAME} PRIVATE ${SHALE_WARNINGS})
  target_link_libraries(shale_${NAME} PUBLIC ${ARG_DEPS})
endfunction()

function(shale_test NAME)
  cmake_parse_arguments(ARG "" "" "SRCS;DEPS;LABELS" ${ARGN})
  add_executable(${NAME} ${ARG_SRCS})
  target_compile_options(${NAME} PRIVATE ${SHALE_WARNINGS})
  target_link_libraries(${NAME} PRIVATE ${ARG_DEPS} GTest::gtest GTest::gtest_main GTest::gmock)
  add_test(NAME ${NAME} COMMAND ${NAME})
  if(NOT ARG_LABELS)
    set(ARG_LABELS unit)
  endif()
  set_tests_properties(${NAME} PROPERTIES LABELS "${ARG_LABELS}" TIMEOUT 600)
endfunction()
