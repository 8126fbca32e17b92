#include "collector/ledger/leaf.h"

#include <bit>
#include <cstring>

#include "common/merkle.h"

namespace vagt::collector::ledger {
namespace {

void put_u64(std::string& out, std::uint64_t v) {
  for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

void put_u32(std::string& out, std::uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<char>(v >> shift));
}

}  // namespace

std::string encode_leaf(std::string_view kind, const Row& row) {
  std::string out(kLeafDomain);
  out.push_back('\0');
  out.push_back(static_cast<char>(kind.size()));
  out.append(kind.substr(0, 255));
  put_u32(out, static_cast<std::uint32_t>(row.size()));
  for (const Value& v : row) {
    if (std::holds_alternative<std::monostate>(v)) {
      out.push_back('\0');
    } else if (const auto* i = std::get_if<std::int64_t>(&v)) {
      out.push_back('\1');
      put_u64(out, static_cast<std::uint64_t>(*i));
    } else if (const auto* s = std::get_if<std::string>(&v)) {
      out.push_back('\2');
      put_u32(out, static_cast<std::uint32_t>(s->size()));
      out.append(*s);
    } else {
      out.push_back('\3');
      put_u64(out, std::bit_cast<std::uint64_t>(std::get<double>(v)));
    }
  }
  return out;
}

crypto::Sha256 leaf_hash(std::string_view kind, const Row& row) {
  return merkle::leaf_hash(as_bytes(encode_leaf(kind, row)));
}

}  // namespace vagt::collector::ledger
