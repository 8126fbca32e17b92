#pragma once

// Ledger leaves (docs/evidence.md): every stored record is one leaf of an
// append-only RFC 6962 Merkle tree. A leaf covers a canonical, versioned
// encoding of the record's row: its kind and every column listed for that
// kind, in that order. Text and blobs are both encoded as bytes, so the
// encoding depends only on the stored values.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "common/crypto.h"

namespace vagt::collector::ledger {

// One column value as stored: NULL, an integer, bytes (TEXT or BLOB), or a
// floating point number (never written by vagt; present only if edited in).
using Value = std::variant<std::monostate, std::int64_t, std::string, double>;
using Row = std::vector<Value>;

// The record kinds and the columns each leaf covers.
struct RecordKind {
  std::string_view name;     // ledger.kind
  std::string_view table;    // the table holding the records
  std::string_view columns;  // comma-separated, in leaf order (the first is the id)
};
inline constexpr RecordKind kBatch{
    "batch", "batches",
    "id, agent_id, first_sequence, count, header, header_sha256, signature, raw_batch, "
    "agent_cert_pem, policy_digest, received_ns"};
inline constexpr RecordKind kEvent{
    "event", "events",
    "id, batch_id, agent_id, sequence, time_ns, protocol, transport, src, dst, principal, realm, "
    "action, resource, patient, outcome, code, detail, raw, system, allowed, grant_id"};
// status is workflow state, not evidence: see docs/evidence.md.
inline constexpr RecordKind kBreach{
    "breach", "breaches",
    "id, kind, rule_id, severity, event_id, agent_id, sequence, system, detected_ns, "
    "explanation, policy_digest, evidence, agent_cert_pem"};
inline constexpr RecordKind kEnrolment{
    "enrolment", "enrolments", "id, agent_id, fingerprint, action, changed_ns, operator, reason"};
inline constexpr RecordKind kAllKinds[] = {kBatch, kEvent, kBreach, kEnrolment};

inline constexpr std::string_view kLeafDomain = "vagt-ledger-leaf-v1";

// "vagt-ledger-leaf-v1" 0x00, u8 kind length, kind, u32 column count, then
// per column a tag (0 NULL, 1 integer + 8 bytes big-endian two's complement,
// 2 bytes + u32 big-endian length + bytes, 3 double + 8 bytes IEEE 754 BE).
std::string encode_leaf(std::string_view kind, const Row& row);
crypto::Sha256 leaf_hash(std::string_view kind, const Row& row);

}  // namespace vagt::collector::ledger
