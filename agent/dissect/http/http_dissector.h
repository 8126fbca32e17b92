#pragma once

// HTTP/1.0 and HTTP/1.1 (RFC 9112) over TCP, with FHIR REST (HL7 FHIR R4)
// recognised in request paths.
//
// Messages are framed by their header block (at most kMaxHeaderBytes; more is
// "http.header_too_large" and the session stops) and bodies are skipped by
// Content-Length, chunked coding, or (responses without either) the end of
// the connection; a body is never buffered. Requests are paired with
// responses in order (pipelining); 1xx interim responses (100-continue) are
// passed over; 101 and a successful CONNECT end parsing (another protocol
// follows).
//
// One event per request (docs/events.md, "http" and "fhir"): protocol "fhir"
// when the path has a FHIR base (then action = the FHIR interaction), else
// protocol "http" with action = the method in lower case. principal / realm
// from Authorization: Basic (user name only), Digest (username, realm),
// Bearer JWT (decoded without verification: preferred_username else sub;
// iss as realm), NTLM/Negotiate (NTLMSSP user, domain). Credentials and
// tokens are never kept. Outcome from the status: 2xx/3xx success, 4xx
// failure, 5xx and no response unknown; code = the status.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"
#include "agent/dissect/patient.h"

namespace vagt::agent::dissect {

class HttpDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxHeaderBytes = 64 * 1024;
  static constexpr std::size_t kMaxHeaders = 128;
  static constexpr std::size_t kMaxPendingRequests = 64;
  static constexpr std::size_t kMaxTokenBytes = 16 * 1024;

  explicit HttpDissector(PseudonymizerPtr pseudonymizer) : patients_(std::move(pseudonymizer)) {}

  std::string_view name() const override { return "http"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
  // A request line: a known method, a space, then a request target.
  bool sniff(ByteView first_client_bytes) const override;

 private:
  PatientIds patients_;
};

}  // namespace vagt::agent::dissect
