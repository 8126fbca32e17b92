#include "agent/dissect/http/http_dissector.h"

#include <array>
#include <charconv>
#include <deque>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "agent/dissect/http/fhir.h"
#include "agent/dissect/ntlmssp/ntlmssp.h"
#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace {

constexpr std::array<std::string_view, 9> kMethods = {"GET",     "POST",  "PUT",   "DELETE", "HEAD",
                                                      "OPTIONS", "PATCH", "TRACE", "CONNECT"};

bool known_method(std::string_view m) {
  for (std::string_view k : kMethods) {
    if (m == k) return true;
  }
  return false;
}

bool starts_like_request(ByteView data) {
  const std::string_view s = as_chars(data);
  const std::size_t sp = s.find(' ');
  if (sp == std::string_view::npos || sp > 7) return false;
  if (!known_method(s.substr(0, sp))) return false;
  return sp + 1 < s.size() && s[sp + 1] != ' ';
}

bool starts_like_response(ByteView data) {
  const std::string_view s = as_chars(data);
  return s.size() >= 9 && s.substr(0, 7) == "HTTP/1." && s[8] == ' ';
}

struct Header {
  std::string name;  // lower case
  std::string_view value;
};

// A parsed header block: start line plus header fields (views into the block).
struct HeaderBlock {
  std::string_view start_line;
  std::vector<Header> headers;
  bool too_many = false;

  std::optional<std::string_view> get(std::string_view name) const {
    for (const auto& h : headers) {
      if (h.name == name) return h.value;
    }
    return std::nullopt;
  }
};

HeaderBlock parse_block(std::string_view block) {
  HeaderBlock out;
  std::size_t i = 0;
  bool first = true;
  while (i < block.size()) {
    std::size_t eol = block.find('\n', i);
    if (eol == std::string_view::npos) eol = block.size();
    std::string_view line = block.substr(i, eol - i);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    i = eol + 1;
    if (first) {
      out.start_line = line;
      first = false;
      continue;
    }
    if (line.empty()) break;
    if ((line[0] == ' ' || line[0] == '\t') && !out.headers.empty()) continue;  // obs-fold
    const std::size_t colon = line.find(':');
    if (colon == std::string_view::npos || colon == 0) continue;
    if (out.headers.size() >= HttpDissector::kMaxHeaders) {
      out.too_many = true;
      break;
    }
    out.headers.push_back(Header{ascii_lower(trim_blanks(line.substr(0, colon))),
                                 trim_blanks(line.substr(colon + 1))});
  }
  return out;
}

// Whole comma-separated tokens of a header, lower case ("chunked").
bool has_token(std::string_view value, std::string_view token) {
  std::size_t i = 0;
  while (i <= value.size()) {
    const std::size_t comma = value.find(',', i);
    const std::string_view part =
        trim_blanks(value.substr(i, comma == std::string_view::npos ? value.npos : comma - i));
    if (ascii_lower(part) == token) return true;
    if (comma == std::string_view::npos) break;
    i = comma + 1;
  }
  return false;
}

std::optional<std::uint64_t> parse_decimal(std::string_view s) {
  s = trim_blanks(s);
  std::uint64_t v = 0;
  if (s.empty()) return std::nullopt;
  auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || ptr != s.data() + s.size()) return std::nullopt;
  return v;
}

// Credentials as the Authorization header names them; never the secret.
struct AuthInfo {
  std::string scheme;  // basic digest bearer ntlm negotiate other
  std::string principal;
  std::string realm;
  std::string audience;
  std::string purpose_of_use;
  std::string token_format;  // bearer: jwt | opaque
};

// Digest auth-params: name=token / name="quoted" (RFC 7616 3.4).
std::string digest_param(std::string_view params, std::string_view wanted) {
  std::size_t i = 0;
  while (i < params.size()) {
    while (i < params.size() && (params[i] == ' ' || params[i] == ',' || params[i] == '\t')) ++i;
    const std::size_t eq = params.find('=', i);
    if (eq == std::string_view::npos) break;
    const std::string name = ascii_lower(trim_blanks(params.substr(i, eq - i)));
    std::size_t j = eq + 1;
    std::string value;
    if (j < params.size() && params[j] == '"') {
      ++j;
      while (j < params.size() && params[j] != '"') {
        if (params[j] == '\\' && j + 1 < params.size()) ++j;
        value.push_back(params[j++]);
      }
      ++j;
    } else {
      const std::size_t end = params.find(',', j);
      value = std::string(
          trim_blanks(params.substr(j, end == std::string_view::npos ? params.npos : end - j)));
      j = end == std::string_view::npos ? params.size() : end;
    }
    if (name == wanted) return sanitize_utf8(as_bytes(value));
    i = j;
  }
  return {};
}

// A JSON claim as text: a string, or an array of strings joined by ",".
std::string claim_text(const nlohmann::json& payload, const char* name) {
  auto it = payload.find(name);
  if (it == payload.end()) return {};
  if (it->is_string()) return sanitize_utf8(as_bytes(it->get_ref<const std::string&>()));
  if (it->is_array()) {
    std::string out;
    for (const auto& v : *it) {
      if (!v.is_string()) continue;
      if (!out.empty()) out.push_back(',');
      out += v.get_ref<const std::string&>();
      if (out.size() > kMaxFieldBytes) break;
    }
    return sanitize_utf8(as_bytes(out));
  }
  if (it->is_object()) {
    // e.g. purpose_of_use as a Coding: its code.
    auto code = it->find("code");
    if (code != it->end() && code->is_string())
      return sanitize_utf8(as_bytes(code->get_ref<const std::string&>()));
  }
  return {};
}

void parse_bearer(std::string_view token, AuthInfo& auth, SessionOutput& out) {
  auth.token_format = "opaque";
  const std::size_t dot1 = token.find('.');
  const std::size_t dot2 = dot1 == std::string_view::npos ? dot1 : token.find('.', dot1 + 1);
  if (dot2 == std::string_view::npos) return;
  const auto header = base64_decode(token.substr(0, dot1), true, HttpDissector::kMaxTokenBytes);
  const auto payload =
      base64_decode(token.substr(dot1 + 1, dot2 - dot1 - 1), true, HttpDissector::kMaxTokenBytes);
  if (!header || !payload) {
    out.anomaly("http.malformed_jwt");
    return;
  }
  const auto h = nlohmann::json::parse(*header, nullptr, false);
  const auto p = nlohmann::json::parse(*payload, nullptr, false);
  if (h.is_discarded() || p.is_discarded() || !h.is_object() || !p.is_object()) {
    out.anomaly("http.malformed_jwt");
    return;
  }
  auth.token_format = "jwt";
  auth.principal = claim_text(p, "preferred_username");
  if (auth.principal.empty()) auth.principal = claim_text(p, "sub");
  auth.realm = claim_text(p, "iss");
  auth.audience = claim_text(p, "aud");
  auth.purpose_of_use = claim_text(p, "purpose_of_use");
}

AuthInfo parse_authorization(std::string_view value, SessionOutput& out) {
  AuthInfo auth;
  value = trim_blanks(value);
  const std::size_t sp = value.find(' ');
  const std::string scheme = ascii_lower(value.substr(0, sp));
  const std::string_view rest =
      sp == std::string_view::npos ? std::string_view{} : trim_blanks(value.substr(sp + 1));
  if (scheme == "basic") {
    auth.scheme = "basic";
    const auto decoded = base64_decode(rest, false, 4096);
    if (!decoded) {
      out.anomaly("http.malformed_basic");
      return auth;
    }
    // user-id ":" password (RFC 7617 2); the password may hold colons, the user-id may not.
    const std::size_t colon = decoded->find(':');
    if (colon == std::string::npos) {
      out.anomaly("http.malformed_basic");
      return auth;
    }
    auth.principal = sanitize_utf8(as_bytes(std::string_view(*decoded).substr(0, colon)));
  } else if (scheme == "digest") {
    auth.scheme = "digest";
    auth.principal = digest_param(rest, "username");
    auth.realm = digest_param(rest, "realm");
  } else if (scheme == "bearer") {
    auth.scheme = "bearer";
    if (rest.size() > HttpDissector::kMaxTokenBytes) {
      out.anomaly("http.token_too_large");
      return auth;
    }
    parse_bearer(rest, auth, out);
  } else if (scheme == "ntlm" || scheme == "negotiate") {
    auth.scheme = scheme;
    const auto decoded = base64_decode(rest, false, 64 * 1024);
    if (!decoded) return auth;
    const ByteView msg = ntlmssp::find_message(as_bytes(*decoded));
    if (!msg.empty() && ntlmssp::message_type(msg) == ntlmssp::MessageType::kAuthenticate) {
      if (auto a = ntlmssp::parse_authenticate(msg)) {
        auth.principal = a->user;
        auth.realm = a->domain;
      } else {
        out.anomaly("ntlmssp.malformed_authenticate");
      }
    }
  } else {
    auth.scheme = "other";
  }
  return auth;
}

struct Request {
  std::uint64_t time_ns = 0;
  std::string method;
  std::string version;
  std::string host;
  std::string path;   // patient identifiers pseudonymised
  std::string query;  // redacted (fhir.h)
  std::string patient;
  std::string user_agent;
  std::optional<http::FhirRequest> fhir;
  std::optional<AuthInfo> auth;
};

enum class Phase {
  kHeaders,     // a start line and header fields
  kBody,        // `remaining` body bytes to skip
  kChunkSize,   // a chunk-size line
  kChunkData,   // `remaining` chunk bytes, then its CRLF
  kChunkEnd,    // the CRLF after chunk data
  kTrailers,    // trailer fields up to an empty line
  kUntilClose,  // a response body delimited by the end of the connection
  kResync,      // after a gap: waiting for a chunk that starts a message
};

struct Side {
  std::vector<std::uint8_t> buf;
  Phase phase = Phase::kHeaders;
  std::uint64_t remaining = 0;
};

class HttpSession final : public StreamSession {
 public:
  HttpSession(const PatientIds& patients, SessionOutput& out) : patients_(patients), out_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override;
  void on_gap(Direction direction, std::uint64_t length, std::uint64_t time_ns) override;
  void on_close(std::uint64_t time_ns) override;
  bool wants_data() const override { return !stopped_; }

 private:
  void stop(std::string_view anomaly_id) {
    if (!anomaly_id.empty()) out_.anomaly(anomaly_id);
    stopped_ = true;
  }
  // Consumes what it can of side.buf from `pos`; returns the new position.
  std::size_t step(Direction direction, std::size_t pos, std::uint64_t time_ns, bool& progress);
  void on_request(const HeaderBlock& block, std::uint64_t time_ns, Side& side);
  void on_response(const HeaderBlock& block, Side& side);
  void set_body(const HeaderBlock& block, Side& side, bool response);
  void emit(Request& req, std::optional<int> status);
  void flush_unanswered();

  const PatientIds& patients_;
  SessionOutput& out_;
  Side side_[2];
  std::deque<Request> pending_;
  bool stopped_ = false;
};

void HttpSession::on_data(Direction direction, ByteView data, std::uint64_t time_ns) {
  if (stopped_ || data.empty()) return;
  Side& side = side_[static_cast<std::size_t>(direction)];
  if (side.phase == Phase::kUntilClose) return;  // nothing to learn from the rest
  if (side.phase == Phase::kResync) {
    const bool starts = direction == Direction::kClientToServer ? starts_like_request(data)
                                                                : starts_like_response(data);
    if (!starts) return;
    side.phase = Phase::kHeaders;
  }
  side.buf.insert(side.buf.end(), data.begin(), data.end());
  std::size_t pos = 0;
  bool progress = true;
  while (!stopped_ && progress && pos < side.buf.size()) {
    progress = false;
    pos = step(direction, pos, time_ns, progress);
  }
  if (stopped_) {
    side_[0].buf = {};
    side_[1].buf = {};
    return;
  }
  side.buf.erase(side.buf.begin(), side.buf.begin() + static_cast<std::ptrdiff_t>(pos));
}

std::size_t HttpSession::step(Direction direction, std::size_t pos, std::uint64_t time_ns,
                              bool& progress) {
  Side& side = side_[static_cast<std::size_t>(direction)];
  const std::string_view rest = as_chars(ByteView(side.buf).subspan(pos));
  switch (side.phase) {
    case Phase::kHeaders: {
      // Empty lines between messages are allowed (RFC 9112 2.2).
      std::size_t lead = 0;
      while (lead < rest.size() && (rest[lead] == '\r' || rest[lead] == '\n')) ++lead;
      if (lead > 0) {
        progress = true;
        return pos + lead;
      }
      std::size_t end = rest.find("\r\n\r\n");
      std::size_t term = 4;
      const std::size_t lf = rest.find("\n\n");
      if (lf != std::string_view::npos && (end == std::string_view::npos || lf < end)) {
        end = lf;
        term = 2;
      }
      if (end == std::string_view::npos) {
        if (rest.size() > HttpDissector::kMaxHeaderBytes) stop("http.header_too_large");
        return pos;
      }
      if (end > HttpDissector::kMaxHeaderBytes) {
        stop("http.header_too_large");
        return pos;
      }
      const HeaderBlock block = parse_block(rest.substr(0, end + term));
      if (block.too_many) out_.anomaly("http.too_many_headers");
      if (direction == Direction::kClientToServer) {
        on_request(block, time_ns, side);
      } else {
        on_response(block, side);
      }
      progress = true;
      return pos + end + term;
    }
    case Phase::kBody:
    case Phase::kChunkData: {
      const std::uint64_t n = std::min<std::uint64_t>(side.remaining, rest.size());
      side.remaining -= n;
      if (side.remaining == 0) {
        side.phase = side.phase == Phase::kBody ? Phase::kHeaders : Phase::kChunkEnd;
      }
      progress = true;
      return pos + static_cast<std::size_t>(n);
    }
    case Phase::kChunkSize:
    case Phase::kChunkEnd:
    case Phase::kTrailers: {
      const std::size_t eol = rest.find('\n');
      if (eol == std::string_view::npos) {
        if (rest.size() > 4096) stop("http.malformed_chunk");
        return pos;
      }
      std::string_view line = rest.substr(0, eol);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      progress = true;
      if (side.phase == Phase::kChunkEnd) {
        if (!line.empty()) stop("http.malformed_chunk");
        side.phase = Phase::kChunkSize;
      } else if (side.phase == Phase::kTrailers) {
        if (line.empty()) side.phase = Phase::kHeaders;
      } else {
        const std::string_view hex = trim_blanks(line.substr(0, line.find(';')));
        std::uint64_t size = 0;
        auto [ptr, ec] = std::from_chars(hex.data(), hex.data() + hex.size(), size, 16);
        if (hex.empty() || ec != std::errc() || ptr != hex.data() + hex.size()) {
          stop("http.malformed_chunk");
          return pos;
        }
        side.remaining = size;
        side.phase = size == 0 ? Phase::kTrailers : Phase::kChunkData;
      }
      return pos + eol + 1;
    }
    case Phase::kUntilClose:
      progress = true;
      return side.buf.size();
    case Phase::kResync:
      return side.buf.size();
  }
  return pos;
}

void HttpSession::set_body(const HeaderBlock& block, Side& side, bool response) {
  const auto te = block.get("transfer-encoding");
  if (te && has_token(*te, "chunked")) {
    side.phase = Phase::kChunkSize;
    return;
  }
  if (const auto cl = block.get("content-length")) {
    const auto n = parse_decimal(*cl);
    if (!n) {
      // RFC 9112 6.3: an invalid Content-Length makes the framing unknowable.
      stop("http.bad_content_length");
      return;
    }
    side.remaining = *n;
    side.phase = *n == 0 ? Phase::kHeaders : Phase::kBody;
    return;
  }
  side.phase = response ? Phase::kUntilClose : Phase::kHeaders;
}

void HttpSession::on_request(const HeaderBlock& block, std::uint64_t time_ns, Side& side) {
  // method SP request-target SP HTTP-version
  const std::string_view line = block.start_line;
  const std::size_t sp1 = line.find(' ');
  const std::size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.rfind(' ');
  if (sp1 == std::string_view::npos || sp2 <= sp1 || line.substr(sp2 + 1).substr(0, 5) != "HTTP/") {
    stop("http.malformed_request");
    return;
  }
  Request req;
  req.time_ns = time_ns;
  req.method = sanitize_utf8(as_bytes(line.substr(0, sp1)), 16);
  req.version = sanitize_utf8(as_bytes(line.substr(sp2 + 6)), 8);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  if (const auto host = block.get("host")) req.host = sanitize_utf8(as_bytes(*host), 256);
  // absolute-form (proxies): scheme://authority/path
  if (const std::size_t scheme = target.find("://");
      scheme != std::string_view::npos && scheme < 8) {
    const std::size_t slash = target.find('/', scheme + 3);
    if (req.host.empty())
      req.host = sanitize_utf8(as_bytes(target.substr(scheme + 3, slash - (scheme + 3))), 256);
    target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
  }
  target = target.substr(0, target.find('#'));
  const std::size_t q = target.find('?');
  const std::string_view path = target.substr(0, q);
  req.fhir = http::parse_fhir_path(req.method, path);
  const bool patient_type = req.fhir && req.fhir->resource_type == "Patient";
  if (q != std::string_view::npos) {
    req.query = sanitize_utf8(
        as_bytes(http::redact_query(target.substr(q + 1), patients_, patient_type, req.patient)));
  }
  if (req.fhir) {
    const bool patient_instance = !req.fhir->id.empty() && (req.fhir->resource_type == "Patient" ||
                                                            req.fhir->compartment == "Patient");
    if (patient_instance) {
      const std::string clear = std::exchange(req.fhir->id, patients_.pseudonym(req.fhir->id));
      if (req.fhir->id.empty()) req.fhir->id = "[patient]";
      req.patient = req.fhir->id == "[patient]" ? std::string() : req.fhir->id;
      // The path without the clear id.
      std::string p(path);
      const std::string segment = "Patient/" + clear;
      const std::size_t at = p.find(segment);
      if (at != std::string::npos) p.replace(at + 8, clear.size(), req.fhir->id);
      req.path = sanitize_utf8(as_bytes(patients_.redact_cpr_like(p)));
    }
  }
  if (req.path.empty()) req.path = sanitize_utf8(as_bytes(patients_.redact_cpr_like(path)));
  if (const auto ua = block.get("user-agent")) req.user_agent = sanitize_utf8(as_bytes(*ua), 256);
  if (const auto authz = block.get("authorization")) req.auth = parse_authorization(*authz, out_);

  set_body(block, side, false);
  if (pending_.size() >= HttpDissector::kMaxPendingRequests) {
    out_.anomaly("http.too_many_pending");
    Request oldest = std::move(pending_.front());
    pending_.pop_front();
    emit(oldest, std::nullopt);
  }
  pending_.push_back(std::move(req));
}

void HttpSession::on_response(const HeaderBlock& block, Side& side) {
  // HTTP-version SP status-code SP [reason-phrase]
  const std::string_view line = block.start_line;
  std::optional<std::uint64_t> status;
  if (line.size() >= 12 && line.substr(0, 5) == "HTTP/" && line[8] == ' ') {
    status = parse_decimal(line.substr(9, 3));
  }
  if (!status || *status < 100 || *status > 599) {
    stop("http.malformed_response");
    return;
  }
  const int code = static_cast<int>(*status);
  if (code >= 100 && code < 200 && code != 101) {
    side.phase = Phase::kHeaders;  // interim (100 Continue, 103 Early Hints): no body
    return;
  }
  if (pending_.empty()) {
    out_.anomaly("http.response_without_request");
    set_body(block, side, true);
    return;
  }
  Request req = std::move(pending_.front());
  pending_.pop_front();
  const bool upgraded = code == 101 || (req.method == "CONNECT" && code >= 200 && code < 300);
  if (req.method == "HEAD" || code == 204 || code == 304) {
    side.phase = Phase::kHeaders;
  } else {
    set_body(block, side, true);
  }
  emit(req, code);
  if (upgraded) {
    flush_unanswered();
    stop("");  // another protocol (or a tunnel) follows
  }
}

void HttpSession::emit(Request& req, std::optional<int> status) {
  v1::AccessEvent event;
  event.set_time_ns(req.time_ns);
  auto& detail = *event.mutable_detail();
  detail["method"] = req.method;
  if (!req.version.empty()) detail["http_version"] = req.version;
  if (!req.host.empty()) detail["host"] = req.host;
  detail["path"] = req.path;
  if (!req.query.empty()) detail["query"] = req.query;
  if (!req.user_agent.empty()) detail["user_agent"] = req.user_agent;
  if (req.fhir) {
    event.set_protocol("fhir");
    event.set_action(req.fhir->interaction);
    event.set_resource(req.fhir->resource_type);
    if (!req.fhir->resource_type.empty()) detail["fhir_resource_type"] = req.fhir->resource_type;
    if (!req.fhir->id.empty()) detail["fhir_id"] = req.fhir->id;
    if (!req.fhir->version_id.empty()) detail["fhir_version_id"] = req.fhir->version_id;
    if (!req.fhir->compartment.empty()) detail["fhir_compartment"] = req.fhir->compartment;
    if (!req.fhir->operation.empty()) detail["fhir_operation"] = req.fhir->operation;
    detail["interaction"] = req.fhir->interaction;
  } else {
    event.set_protocol("http");
    event.set_action(ascii_lower(req.method));
    event.set_resource(req.path);
  }
  event.set_patient(req.patient);
  if (req.auth) {
    detail["auth_scheme"] = req.auth->scheme;
    event.set_principal(req.auth->principal);
    event.set_realm(req.auth->realm);
    if (!req.auth->audience.empty()) detail["aud"] = req.auth->audience;
    if (!req.auth->purpose_of_use.empty()) detail["purpose_of_use"] = req.auth->purpose_of_use;
    if (!req.auth->token_format.empty()) detail["token_format"] = req.auth->token_format;
  }
  if (!status) {
    event.set_outcome(v1::OUTCOME_UNKNOWN);
  } else {
    event.set_code(std::to_string(*status));
    if (*status < 400) {
      event.set_outcome(v1::OUTCOME_SUCCESS);
    } else if (*status < 500) {
      event.set_outcome(v1::OUTCOME_FAILURE);
    } else {
      event.set_outcome(v1::OUTCOME_UNKNOWN);  // the server failed: no access decision seen
    }
  }
  out_.emit(std::move(event));
}

void HttpSession::flush_unanswered() {
  while (!pending_.empty()) {
    Request req = std::move(pending_.front());
    pending_.pop_front();
    emit(req, std::nullopt);
  }
}

void HttpSession::on_gap(Direction direction, std::uint64_t /*length*/, std::uint64_t) {
  if (stopped_) return;
  out_.anomaly("http.gap");
  Side& side = side_[static_cast<std::size_t>(direction)];
  side.buf.clear();
  side.remaining = 0;
  // A body delimited by the connection's end stays so; anything else resyncs
  // on the next chunk that starts a message. Pairing is lost: what is open
  // comes out as unknown.
  if (side.phase != Phase::kUntilClose) side.phase = Phase::kResync;
  flush_unanswered();
}

void HttpSession::on_close(std::uint64_t /*time_ns*/) {
  for (const Side& side : side_) {
    if (!stopped_ && side.phase == Phase::kHeaders && !side.buf.empty())
      out_.anomaly("http.truncated_message");
  }
  flush_unanswered();
}

}  // namespace

std::unique_ptr<StreamSession> HttpDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                          SessionOutput& out) const {
  return std::make_unique<HttpSession>(patients_, out);
}

bool HttpDissector::sniff(ByteView data) const {
  if (!starts_like_request(data)) return false;
  // The request line must end in " HTTP/1.x" when its end is in view.
  const std::string_view s = as_chars(data);
  const std::size_t eol = s.find('\n');
  if (eol == std::string_view::npos) return s.size() < 8192;
  std::string_view line = s.substr(0, eol);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  return line.size() >= 9 && line.substr(line.size() - 9, 7) == " HTTP/1";
}

}  // namespace vagt::agent::dissect
