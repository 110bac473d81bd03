# Writes a C++ source that holds text files as string constants, so a binary carries
# them (the report page's scripts and styles) wherever it is run from.
#   cmake -DOUT=assets.cpp -DNAMESPACE=ns -DFILES="kName=path;kOther=path" -P embed_files.cmake
set(_text "// Generated from the files below by cmake/embed_files.cmake; do not edit.\n")
string(APPEND _text "namespace ${NAMESPACE} {\n")
foreach(entry IN LISTS FILES)
  string(FIND "${entry}" "=" _eq)
  string(SUBSTRING "${entry}" 0 ${_eq} _name)
  math(EXPR _start "${_eq} + 1")
  string(SUBSTRING "${entry}" ${_start} -1 _path)
  file(READ "${_path}" _content)
  string(FIND "${_content}" ")sluice_embed\"" _clash)
  if(NOT _clash EQUAL -1)
    message(FATAL_ERROR "${_path} contains the raw string delimiter )sluice_embed\"")
  endif()
  string(APPEND _text "// ${_path}\nextern const char* const ${_name};\n"
         "const char* const ${_name} = R\"sluice_embed(${_content})sluice_embed\";\n")
endforeach()
string(APPEND _text "}  // namespace ${NAMESPACE}\n")
file(WRITE "${OUT}.tmp" "${_text}")
configure_file("${OUT}.tmp" "${OUT}" COPYONLY)
file(REMOVE "${OUT}.tmp")
