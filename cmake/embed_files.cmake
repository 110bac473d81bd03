# Text files compiled into a binary as string constants (pages sluice writes or
# serves: the report, the dashboard, the vendored uPlot), so it carries them
# wherever it runs from.
#
# In a CMakeLists.txt, after include(cmake/embed_files.cmake):
#   sluice_embed_files(OUT.cpp NAMESPACE kName=path [kOther=path ...])
# adds a build step writing OUT.cpp, which defines `const char* const kName` in
# NAMESPACE for each file. The same file run as a script (cmake -P) writes it.
if(CMAKE_SCRIPT_MODE_FILE)
  set(_delim "sluice_embed")
  set(_text "// Generated from the files below by cmake/embed_files.cmake; do not edit.\n")
  string(APPEND _text "namespace ${NAMESPACE} {\n")
  foreach(entry IN LISTS FILES)
    string(FIND "${entry}" "=" _eq)
    string(SUBSTRING "${entry}" 0 ${_eq} _name)
    math(EXPR _start "${_eq} + 1")
    string(SUBSTRING "${entry}" ${_start} -1 _path)
    file(READ "${_path}" _content)
    string(FIND "${_content}" ")${_delim}\"" _clash)
    if(NOT _clash EQUAL -1)
      message(FATAL_ERROR "${_path} contains the raw string delimiter )${_delim}\"")
    endif()
    string(APPEND _text "// ${_path}\nextern const char* const ${_name};\n"
           "const char* const ${_name} =\n    \"\"\n")
    # Raw literals of at most 8,000 bytes (adjacent literals concatenate), so no
    # compiler's limit on one literal is reached.
    string(LENGTH "${_content}" _size)
    set(_pos 0)
    while(_pos LESS _size)
      string(SUBSTRING "${_content}" ${_pos} 8000 _chunk)
      string(APPEND _text "    R\"${_delim}(${_chunk})${_delim}\"\n")
      math(EXPR _pos "${_pos} + 8000")
    endwhile()
    string(APPEND _text "    ;\n")
  endforeach()
  string(APPEND _text "}  // namespace ${NAMESPACE}\n")
  file(WRITE "${OUT}.tmp" "${_text}")
  configure_file("${OUT}.tmp" "${OUT}" COPYONLY)
  file(REMOVE "${OUT}.tmp")
  return()
endif()

set(_sluice_embed_script ${CMAKE_CURRENT_LIST_FILE})
function(sluice_embed_files out namespace)
  set(files ${ARGN})
  list(TRANSFORM files REPLACE "^[A-Za-z_]+=" "")
  add_custom_command(
    OUTPUT ${out}
    COMMAND ${CMAKE_COMMAND} -DOUT=${out} -DNAMESPACE=${namespace} "-DFILES=${ARGN}"
            -P ${_sluice_embed_script}
    DEPENDS ${files} ${_sluice_embed_script}
    COMMENT "Embedding ${files}"
    VERBATIM)
endfunction()
