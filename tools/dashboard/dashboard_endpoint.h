// Where `sluice run --dashboard [HOST:]PORT` listens: parsing and checking the
// option's value (a mistake is a usage error, found before the run).
#pragma once

#include <optional>
#include <string>

namespace sluice::dashboard {

struct Endpoint {
  std::string host = "127.0.0.1";  // an IP address, as given (IPv6 without brackets)
  int port = 0;                    // 0: any free port
};

// The accepted form, for messages: "[HOST:]PORT ...".
extern const char* const kEndpointForm;

// "8080", "127.0.0.1:8080", "0.0.0.0:0", "localhost:8080", "[::1]:8080".
// Returns nothing and sets `error` (what is wrong, without the form) otherwise.
std::optional<Endpoint> parse_endpoint(const std::string& text, std::string& error);

// "http://HOST:PORT/" (IPv6 hosts in brackets).
std::string endpoint_url(const std::string& host, int port);

}  // namespace sluice::dashboard
