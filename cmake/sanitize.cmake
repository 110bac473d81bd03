# SLUICE_SANITIZE=ON: build everything with AddressSanitizer (LeakSanitizer
# included) and UndefinedBehaviorSanitizer. `make sanitize` configures a separate
# build folder with it and runs ctest with the options and suppressions in
# tools/sanitize/.
option(SLUICE_SANITIZE "Build with -fsanitize=address,undefined (see make sanitize)" OFF)
if(SLUICE_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# Call after the targets exist. oneTBB 2021.8's graph_task::destruct_and_deallocate
# (an inline template from tbb/flow_graph.h) fails UBSan's vptr check on every
# graph run, and a runtime suppression cannot match it; the translation units
# that instantiate the flow-graph templates are compiled without that one check.
# Any TU that includes tbb/flow_graph.h (directly or through pipeline/bundle.h)
# belongs in this list, or the linker may pick its checked copy of the template.
function(sluice_sanitize_flow_graph_sources)
  if(NOT SLUICE_SANITIZE)
    return()
  endif()
  set_source_files_properties(
    ${PROJECT_SOURCE_DIR}/pipeline/runner.cpp ${PROJECT_SOURCE_DIR}/pipeline/bundle.cpp
    DIRECTORY ${PROJECT_SOURCE_DIR}/pipeline PROPERTIES COMPILE_OPTIONS -fno-sanitize=vptr)
  set_source_files_properties(${PROJECT_SOURCE_DIR}/bench/framework_overhead.cpp
    DIRECTORY ${PROJECT_SOURCE_DIR}/bench PROPERTIES COMPILE_OPTIONS -fno-sanitize=vptr)
endfunction()
