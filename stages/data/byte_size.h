// Byte sizes as people write them in configs: "2GiB", "512MiB", "4MB", "300kB",
// "1500000" (bytes). Binary units (KiB, MiB, GiB, TiB) are powers of 1024,
// decimal ones (kB, MB, GB, TB) powers of 1000; "B" or no unit means bytes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

namespace sluice::data {

// The number of bytes `text` means; nullopt for anything else (empty, a
// negative or fractional byte count, an unknown unit, more than 2^62 bytes).
// Fractions are allowed with a unit: "1.5GiB".
std::optional<int64_t> parse_byte_size(const std::string& text);

// "1.5 GiB", "512 MiB", "300 B": for log lines.
std::string format_byte_size(int64_t bytes);

}  // namespace sluice::data
