# One INTERFACE target carries the warning and hardening flags for every msgbroker target.
add_library(msgbroker_options INTERFACE)
target_compile_options(msgbroker_options INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Woverloaded-virtual
  -Wimplicit-fallthrough -Wno-missing-field-initializers
  $<$<BOOL:${MSGBROKER_WERROR}>:-Werror>
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

# msgbroker_test(<name> LABEL <label> SOURCES ... DEPS ...): a GoogleTest binary whose tests
# CTest discovers one by one and labels (unit, database, component, integration, benchmark).
function(msgbroker_test name)
  cmake_parse_arguments(ARG "" "LABEL;TIMEOUT" "SOURCES;DEPS" ${ARGN})
  if(NOT MSGBROKER_BUILD_TESTS)
    return()
  endif()
  if(NOT ARG_TIMEOUT)
    set(ARG_TIMEOUT 120)
  endif()
  add_executable(${name} ${ARG_SOURCES})
  target_link_libraries(${name} PRIVATE ${ARG_DEPS} msgbroker_options GTest::gtest GTest::gtest_main
                                        GTest::gmock)
  gtest_discover_tests(${name} DISCOVERY_MODE PRE_TEST DISCOVERY_TIMEOUT 60
    PROPERTIES LABELS ${ARG_LABEL} TIMEOUT ${ARG_TIMEOUT})
endfunction()
