#pragma once

// SMB session setup (MS-SMB2 2.2.5/2.2.6, MS-SMB 2.2.4.6 with extended
// security) over direct TCP (445) and NetBIOS session service (139), with
// NTLMSSP (agent/dissect/ntlmssp) inside the security blob.
//
// Events (protocol "smb", docs/events.md): "session_setup" for the request
// that carries the NTLMSSP AUTHENTICATE message, paired with its response by
// message id (SMB2) or multiplex id (SMB1): principal = NTLM user, realm =
// NTLM domain; code = NT status (0xC000006D); STATUS_SUCCESS success, any
// other status failure (MORE_PROCESSING_REQUIRED answers earlier legs, which
// give no event). Kerberos blobs give no principal (the Kerberos dissector
// sees the ticket exchange). Messages are at most kMaxMessageBytes buffered;
// larger ones (file data) are skipped.

#include <cstddef>
#include <memory>
#include <string_view>

#include "agent/dissect/dissector.h"

namespace vagt::agent::dissect {

class SmbDissector final : public StreamDissector {
 public:
  static constexpr std::size_t kMaxMessageBytes = 64 * 1024;
  static constexpr std::size_t kMaxPending = 64;

  std::string_view name() const override { return "smb"; }
  std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                             SessionOutput& out) const override;
};

}  // namespace vagt::agent::dissect
