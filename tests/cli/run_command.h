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

#ifdef SLUICE_SOURCE_DIR
// A path in the source tree (configs, examples).
inline std::string source_file(const std::string& relative) {
  return std::string(SLUICE_SOURCE_DIR) + "/" + relative;
}
#endif

}  // namespace cli_test
