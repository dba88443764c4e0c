# Writes generated/version.h with the current git commit at every build; configure_file only
# touches the file when the text changes, so unchanged commits cause no recompilation.
execute_process(COMMAND git rev-parse --short=12 HEAD WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE MDH_GIT_COMMIT OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
execute_process(COMMAND git status --porcelain --untracked-files=no WORKING_DIRECTORY ${SRC}
                OUTPUT_VARIABLE MDH_GIT_DIRTY OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET)
if(NOT MDH_GIT_COMMIT)
  set(MDH_GIT_COMMIT "unknown")
elseif(MDH_GIT_DIRTY)
  set(MDH_GIT_COMMIT "${MDH_GIT_COMMIT}-dirty")
endif()
configure_file(${SRC}/harness/version.h.in ${OUT} @ONLY)
