#include "tools/dashboard/dashboard_endpoint.h"

#include <arpa/inet.h>

#include <cctype>

namespace sluice::dashboard {

const char* const kEndpointForm =
    "[HOST:]PORT with PORT in 0-65535 (0: any free port) and HOST an IPv4 address, "
    "[IPv6 address] or localhost (default 127.0.0.1), e.g. 8080, 127.0.0.1:0, 0.0.0.0:8080";

namespace {

bool is_ip(const std::string& host, int family) {
  unsigned char buf[16];
  return inet_pton(family, host.c_str(), buf) == 1;
}

std::optional<int> parse_port(const std::string& text) {
  if (text.empty() || text.size() > 5) return std::nullopt;
  int port = 0;
  for (char c : text) {
    if (!std::isdigit(static_cast<unsigned char>(c))) return std::nullopt;
    port = port * 10 + (c - '0');
  }
  if (port > 65535) return std::nullopt;
  return port;
}

}  // namespace

std::optional<Endpoint> parse_endpoint(const std::string& text, std::string& error) {
  Endpoint e;
  std::string host, port_text = text;
  if (!text.empty() && text[0] == '[') {
    const size_t close = text.find(']');
    if (close == std::string::npos || close + 1 >= text.size() || text[close + 1] != ':') {
      error = "'" + text + "' opens an IPv6 address with '[' but has no ']:PORT'";
      return std::nullopt;
    }
    host = text.substr(1, close - 1);
    port_text = text.substr(close + 2);
    if (!is_ip(host, AF_INET6)) {
      error = "'" + host + "' is not an IPv6 address";
      return std::nullopt;
    }
  } else if (const size_t colon = text.rfind(':'); colon != std::string::npos) {
    host = text.substr(0, colon);
    port_text = text.substr(colon + 1);
    if (host == "localhost") host = "127.0.0.1";
    if (!is_ip(host, AF_INET)) {
      error = "'" + host + "' is not an IPv4 address, [IPv6 address] or localhost";
      return std::nullopt;
    }
  }
  const auto port = parse_port(port_text);
  if (!port) {
    error = "'" + port_text + "' is not a port number in 0-65535";
    return std::nullopt;
  }
  if (!host.empty()) e.host = host;
  e.port = *port;
  return e;
}

std::string endpoint_url(const std::string& host, int port) {
  const bool v6 = host.find(':') != std::string::npos;
  return "http://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port) + "/";
}

}  // namespace sluice::dashboard
