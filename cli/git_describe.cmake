# Writes `git describe` of the source tree into a header at every build, touching the header only
# when the description changed, so that `relaysim --version` names the commit it was built from.
#   cmake -DSOURCE_DIR=... -DOUTPUT=.../git_describe.hpp -P git_describe.cmake
execute_process(COMMAND git -C "${SOURCE_DIR}" describe --always --dirty --tags
                OUTPUT_VARIABLE describe OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE result)
if(NOT result EQUAL 0 OR describe STREQUAL "")
  set(describe "unknown")  # built outside a git checkout
endif()
set(text "#pragma once\n#define RELAYSIM_GIT_DESCRIBE \"${describe}\"\n")
set(old "")
if(EXISTS "${OUTPUT}")
  file(READ "${OUTPUT}" old)
endif()
if(NOT old STREQUAL text)
  file(WRITE "${OUTPUT}" "${text}")
endif()
