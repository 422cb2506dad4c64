# One INTERFACE target carries the warning and hardening flags for every msgbroker target.
add_library(msgbroker_options INTERFACE)
target_compile_options(msgbroker_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Wimplicit-fallthrough -Wno-missing-field-initializers
  $<$<BOOL:${MSGBROKER_WERROR}>:-Werror>
  # GCC 12 (Debian bookworm's) warns -Wrestrict about memcpy inside std::string's operator+ when
  # it inlines deeply (the release preset's -O3): a false positive in libstdc++ code, GCC bug
  # 105329, fixed in GCC 13. Without this, building the release preset prints 23 such warnings.
  $<$<AND:$<CXX_COMPILER_ID:GNU>,$<VERSION_LESS:$<CXX_COMPILER_VERSION>,13>>:-Wno-restrict>
  -fstack-protector-strong
  $<$<NOT:$<CONFIG:Debug>>:-D_FORTIFY_SOURCE=2>
  -D_GLIBCXX_ASSERTIONS)
# Beast/Asio: no deprecated interfaces. (Beast 1.81's string_view is boost::core::string_view,
# which converts to and from std::string_view; BOOST_BEAST_USE_STD_STRING_VIEW is deprecated.)
target_compile_definitions(msgbroker_options INTERFACE BOOST_ASIO_NO_DEPRECATED)
target_link_options(msgbroker_options INTERFACE -Wl,-z,relro,-z,now)
if(MSGBROKER_SANITIZE)
  target_compile_options(msgbroker_options INTERFACE -fsanitize=address,undefined -fno-omit-frame-pointer
                                                     -fno-sanitize-recover=undefined)
  target_link_options(msgbroker_options INTERFACE -fsanitize=address,undefined)
endif()

# msgbroker_library(<name> SOURCES ... DEPS ...): libs/<dir>/{include,src} layout.
function(msgbroker_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS;PRIVATE_DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  add_library(msgbroker::${name} ALIAS ${name})
  target_include_directories(${name} PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}/include)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE msgbroker_options ${ARG_PRIVATE_DEPS})
endfunction()

# msgbroker_test(<name> LABEL <label> SOURCES ... DEPS ... [SERVERS redis postgres ...]): a
# GoogleTest binary whose tests CTest discovers one by one and labels (unit, database, component,
# integration, benchmark). SERVERS names test servers (msgbroker_test_server) the tests need:
# CTest starts them first, stops them afterwards, and points MSGBROKER_TEST_SERVERS at them.
function(msgbroker_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;DEPS;SERVERS" ${ARGN})
  if(NOT MSGBROKER_BUILD_TESTS)
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} testing msgbroker_options GTest::gtest
                                        GTest::gtest_main GTest::gmock)
  set(server_properties)
  if(ARG_SERVERS)
    set(server_properties ENVIRONMENT "MSGBROKER_TEST_SERVERS=${MSGBROKER_TEST_SERVERS_DIR}")
  endif()
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT} ${server_properties})
  if(ARG_SERVERS)
    # gtest_discover_tests splits its PROPERTIES on every ';' (escaped or not) on the way into the
    # test script, so a list of several fixtures would reach CTest as one fixture and a stray
    # property. Instead, a script CTest includes after the discovered tests (it appends its own
    # include file first) sets the list on each of them (<name>_TESTS, gtest's TEST_LIST).
    set(fixtures_script ${CMAKE_CURRENT_BINARY_DIR}/${name}_servers.cmake)
    string(CONCAT script
      "if(${name}_TESTS)  # unset while the binary is not built\n"
      "  set_tests_properties(\${${name}_TESTS} PROPERTIES FIXTURES_REQUIRED \"${ARG_SERVERS}\")\n"
      "endif()\n")
    file(CONFIGURE OUTPUT ${fixtures_script} CONTENT "${script}" @ONLY)
    set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES ${fixtures_script})
  endif()
endfunction()

# msgbroker_test_server(<name> SCRIPT <script>): a real server (Redis, PostgreSQL, MariaDB) as a
# CTest fixture. `bash <script> start <dir>` starts it on 127.0.0.1 on a free port and writes
# <dir>/server.env (KEY=VALUE); `bash <script> stop <dir>` stops it by PID. See
# libs/testing/include/msgbroker/testing/test_servers.hpp.
set(MSGBROKER_TEST_SERVERS_DIR ${CMAKE_BINARY_DIR}/test-servers)
function(msgbroker_test_server name)
  cmake_parse_arguments(ARG "" "SCRIPT" "" ${ARGN})
  if(NOT MSGBROKER_BUILD_TESTS)
    return()
  endif()
  set(dir ${MSGBROKER_TEST_SERVERS_DIR}/${name})
  add_test(NAME ${name}_server_start COMMAND bash ${ARG_SCRIPT} start ${dir})
  set_tests_properties(${name}_server_start PROPERTIES FIXTURES_SETUP ${name} LABELS server
                                                       TIMEOUT 180)
  add_test(NAME ${name}_server_stop COMMAND bash ${ARG_SCRIPT} stop ${dir})
  set_tests_properties(${name}_server_stop PROPERTIES FIXTURES_CLEANUP ${name} LABELS server
                                                      TIMEOUT 60)
endfunction()
