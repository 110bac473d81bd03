# Writes a C++ source defining `const char* const NAME` (in namespace
# sluice::embedded) whose value is the text of FILE, for pages served or written
# by the binary (the dashboard's HTML, the vendored uPlot). Run at build time:
#   cmake -DFILE=in -DNAME=name -DOUT=out.cpp -P embed_text.cmake
# The text goes in raw string literals of at most 8,000 bytes each (adjacent
# literals concatenate), so no compiler limit on one literal is reached.
file(READ "${FILE}" text)
set(delim "sluice_embed")
string(FIND "${text}" ")${delim}\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${FILE} contains the raw-string delimiter )${delim}\"")
endif()
string(LENGTH "${text}" size)
set(out "// Generated from ${FILE} by cmake/embed_text.cmake; do not edit.\n")
string(APPEND out "namespace sluice::embedded {\nextern const char* const ${NAME};\n")
string(APPEND out "const char* const ${NAME} =\n")
set(pos 0)
if(size EQUAL 0)
  string(APPEND out "    \"\"")
endif()
while(pos LESS size)
  string(SUBSTRING "${text}" ${pos} 8000 chunk)
  string(APPEND out "    R\"${delim}(${chunk})${delim}\"\n")
  math(EXPR pos "${pos} + 8000")
endwhile()
string(APPEND out ";\n}  // namespace sluice::embedded\n")
file(WRITE "${OUT}" "${out}")
