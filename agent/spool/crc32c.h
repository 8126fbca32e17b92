#pragma once

// CRC-32C (Castagnoli, reflected polynomial 0x82F63B78), table-driven.
// Guards each spool record against torn writes and bit rot.

#include <cstddef>
#include <cstdint>
#include <string_view>

namespace vagt::agent::spool {

std::uint32_t crc32c(std::string_view data, std::uint32_t crc = 0);

}  // namespace vagt::agent::spool
