#pragma once

// The dissector interface. A StreamDissector is a factory: one StreamSession
// per flow, fed the flow's reassembled bytes in order, emitting owned
// AccessEvent values. Sessions do no I/O and keep no globals; everything they
// produce goes through their SessionOutput. Events leave without agent_id,
// sequence, transport or endpoints: the pipeline adds the flow's endpoints,
// the signer the rest.

#include <cstdint>
#include <memory>
#include <string_view>

#include "agent/flow/flow_types.h"
#include "common/byte_reader.h"
#include "common/proto/vagt.pb.h"

namespace vagt::agent::dissect {

using flow::Direction;

// Where a session's results go.
class SessionOutput {
 public:
  virtual ~SessionOutput() = default;
  virtual void emit(v1::AccessEvent&& event) = 0;
  // A stable anomaly id ("ldap.message_too_large"); counted, never logged per packet.
  virtual void anomaly(std::string_view id) = 0;
};

class StreamSession {
 public:
  virtual ~StreamSession() = default;
  // Reassembled bytes of one direction, in order.
  virtual void on_data(Direction direction, ByteView data, std::uint64_t time_ns) = 0;
  // `length` bytes of one direction were lost before the next on_data.
  virtual void on_gap(Direction direction, std::uint64_t length, std::uint64_t time_ns) = 0;
  // The flow ended; report what is still open. No calls follow.
  virtual void on_close(std::uint64_t time_ns) = 0;
  // False once the session will parse nothing more (after StartTLS, or after
  // an error it cannot recover from); the flow may then stop reassembling.
  virtual bool wants_data() const { return true; }
};

class StreamDissector {
 public:
  virtual ~StreamDissector() = default;
  virtual std::string_view name() const = 0;
  // A session for one flow. `out` outlives the session.
  virtual std::unique_ptr<StreamSession> new_session(const flow::FlowInfo& flow,
                                                     SessionOutput& out) const = 0;
  // Whether the first bytes the client sent look like this protocol; used for
  // flows on ports no dissector is registered for.
  virtual bool sniff(ByteView first_client_bytes) const {
    (void)first_client_bytes;
    return false;
  }
};

// A datagram protocol (UDP). One DatagramSession per UDP "flow" (client
// address and port, server address and port), fed whole datagrams in arrival
// order. Sessions may keep request/response pairing state, bounded by the
// dissector; the pipeline closes a session after its idle timeout, when its
// flow table is full, or at the end of capture.
class DatagramSession {
 public:
  virtual ~DatagramSession() = default;
  // One datagram's payload (reassembled when the IP layer fragmented it).
  virtual void on_datagram(Direction direction, ByteView payload, std::uint64_t time_ns) = 0;
  // The flow ended (idle, evicted, end of capture); report what is still open.
  virtual void on_close(std::uint64_t time_ns) = 0;
};

class DatagramDissector {
 public:
  virtual ~DatagramDissector() = default;
  virtual std::string_view name() const = 0;
  // A session for one UDP flow. `out` outlives the session.
  virtual std::unique_ptr<DatagramSession> new_session(const flow::FlowInfo& flow,
                                                       SessionOutput& out) const = 0;
};

}  // namespace vagt::agent::dissect
