// Runs a shell command for the CLI tests and collects what it printed (stdout and
// stderr together) and its exit code.
#pragma once

#include <sys/wait.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace cli_test {

struct Result {
  int code = -1;
  std::string out;  // stdout and stderr together
};

inline Result run_command(const std::string& command) {
  const std::string cmd = command + " 2>&1";
  Result r;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return r;
  std::array<char, 4096> buf;
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) r.out.append(buf.data(), n);
  const int status = pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

// A file's whole text ("" when it cannot be read).
inline std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// ` --set 'KEY="VALUE"'`: a string override, quoted for the shell and for TOML.
inline std::string set_string(const std::string& key, const std::string& value) {
  return " --set '" + key + "=\"" + value + "\"'";
}

// "FILE:LINE:COL" of the value of the first `key = ` in `text` (a config written
// to `file`), as sluice check reports it; "?" when the key is not there.
inline std::string value_position(const std::string& file, const std::string& text,
                                  const std::string& key) {
  const size_t at = text.find("\n" + key + " = ");
  if (at == std::string::npos) return "?";
  int line = 1;
  for (size_t i = 0; i <= at; ++i) line += text[i] == '\n';
  const size_t column = key.size() + 4;  // 1-based, past "key = "
  return file + ":" + std::to_string(line) + ":" + std::to_string(column);
}

#ifdef SLUICE_SOURCE_DIR
// A path in the source tree (configs, examples).
inline std::string source_file(const std::string& relative) {
  return std::string(SLUICE_SOURCE_DIR) + "/" + relative;
}
#endif

}  // namespace cli_test
