#include "agent/dissect/krb/krb_dissector.h"

#include <deque>
#include <utility>

#include "agent/dissect/ber/ber_reader.h"
#include "agent/dissect/text.h"

namespace vagt::agent::dissect {
namespace krb {
namespace {

using ber::TagClass;

constexpr ber::Limits kBerLimits{.max_depth = 16,
                                 .max_length = KrbStreamDissector::kMaxMessageBytes};
constexpr std::size_t kMaxListItems = 64;  // etypes, padata, name components kept
constexpr std::size_t kMaxNameBytes = 256;

// The one element inside an explicit context tag [n].
bool explicit_value(ber::Reader& parent, const ber::Tlv& field, ber::Tlv& out) {
  if (!field.header.constructed) return false;
  ber::Reader inner = parent.enter(field);
  return inner.next(out);
}

bool read_int(ber::Reader& parent, const ber::Tlv& field, std::int64_t& out) {
  ber::Tlv v;
  return explicit_value(parent, field, v) && v.is_universal(ber::tag::kInteger) &&
         ber::decode_integer(v.value, out);
}

// KerberosString / Realm: GeneralString (27), but accept any primitive string.
bool read_string(ber::Reader& parent, const ber::Tlv& field, std::string& out) {
  ber::Tlv v;
  if (!explicit_value(parent, field, v) || v.header.tag_class != TagClass::kUniversal ||
      v.header.constructed) {
    return false;
  }
  out = sanitize_utf8(v.value, kMaxNameBytes);
  return true;
}

// PrincipalName ::= SEQUENCE { name-type [0] Int32, name-string [1] SEQUENCE OF KerberosString }
bool read_principal(ber::Reader& parent, const ber::Tlv& field, PrincipalName& out) {
  ber::Tlv seq;
  if (!explicit_value(parent, field, seq) || !seq.is_universal(ber::tag::kSequence)) return false;
  ber::Reader outer = parent.enter(field);
  ber::Tlv again;
  if (!outer.next(again)) return false;
  ber::Reader r = outer.enter(again);
  ber::Tlv f;
  bool have_strings = false;
  while (r.next(f)) {
    if (f.is_context(0)) {
      if (!read_int(r, f, out.name_type)) return false;
    } else if (f.is_context(1)) {
      ber::Tlv list;
      if (!explicit_value(r, f, list) || !list.is_universal(ber::tag::kSequence)) return false;
      ber::Reader lr = r.enter(f);
      ber::Tlv l2;
      if (!lr.next(l2)) return false;
      ber::Reader items = lr.enter(l2);
      ber::Tlv s;
      while (items.next(s)) {
        if (s.header.constructed) return false;
        if (out.parts.size() < kMaxListItems)
          out.parts.push_back(sanitize_utf8(s.value, kMaxNameBytes));
      }
      if (!items.ok()) return false;
      have_strings = true;
    }
  }
  return r.ok() && have_strings;
}

// SEQUENCE OF Int32 inside [n].
bool read_int_list(ber::Reader& parent, const ber::Tlv& field, std::vector<std::int64_t>& out) {
  ber::Reader outer = parent.enter(field);
  ber::Tlv seq;
  if (!outer.next(seq) || !seq.is_universal(ber::tag::kSequence)) return false;
  ber::Reader items = outer.enter(seq);
  ber::Tlv v;
  while (items.next(v)) {
    std::int64_t n = 0;
    if (!v.is_universal(ber::tag::kInteger) || !ber::decode_integer(v.value, n)) return false;
    if (out.size() < kMaxListItems) out.push_back(n);
  }
  return items.ok();
}

// SEQUENCE OF PA-DATA inside [n]: only the types.
bool read_padata_types(ber::Reader& parent, const ber::Tlv& field, std::vector<std::int64_t>& out) {
  ber::Reader outer = parent.enter(field);
  ber::Tlv seq;
  if (!outer.next(seq) || !seq.is_universal(ber::tag::kSequence)) return false;
  ber::Reader items = outer.enter(seq);
  ber::Tlv pa;
  while (items.next(pa)) {
    if (!pa.is_universal(ber::tag::kSequence)) return false;
    ber::Reader pr = items.enter(pa);
    ber::Tlv f;
    while (pr.next(f)) {
      if (!f.is_context(1)) continue;
      std::int64_t type = 0;
      if (!read_int(pr, f, type)) return false;
      if (out.size() < kMaxListItems) out.push_back(type);
    }
    if (!pr.ok()) return false;
  }
  return items.ok();
}

// EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] OPTIONAL, cipher [2] }: the etype only.
bool read_enc_etype(ber::Reader& parent, const ber::Tlv& field, std::int64_t& out) {
  ber::Reader outer = parent.enter(field);
  ber::Tlv seq;
  if (!outer.next(seq) || !seq.is_universal(ber::tag::kSequence)) return false;
  ber::Reader r = outer.enter(seq);
  ber::Tlv f;
  if (!r.next(f) || !f.is_context(0)) return false;
  return read_int(r, f, out);
}

// KDCOptions ::= BIT STRING, 32 bits.
bool read_kdc_options(ber::Reader& parent, const ber::Tlv& field, std::uint32_t& out) {
  ber::Tlv v;
  if (!explicit_value(parent, field, v) || !v.is_universal(3) || v.value.empty()) return false;
  out = 0;
  for (std::size_t i = 1; i < v.value.size() && i <= 4; ++i) {
    out |= std::uint32_t{v.value[i]} << (8 * (4 - i));
  }
  return true;
}

// KDC-REQ-BODY.
bool read_req_body(ber::Reader& parent, const ber::Tlv& field, Message& m) {
  ber::Reader outer = parent.enter(field);
  ber::Tlv seq;
  if (!outer.next(seq) || !seq.is_universal(ber::tag::kSequence)) return false;
  ber::Reader r = outer.enter(seq);
  ber::Tlv f;
  bool have_realm = false;
  while (r.next(f)) {
    if (f.header.tag_class != TagClass::kContextSpecific) return false;
    switch (f.header.tag) {
      case 0:
        if (!read_kdc_options(r, f, m.kdc_options)) return false;
        break;
      case 1:
        m.cname.emplace();
        if (!read_principal(r, f, *m.cname)) return false;
        break;
      case 2:
        if (!read_string(r, f, m.realm)) return false;
        have_realm = true;
        break;
      case 3:
        m.sname.emplace();
        if (!read_principal(r, f, *m.sname)) return false;
        break;
      case 8:
        if (!read_int_list(r, f, m.etypes)) return false;
        break;
      default:
        break;  // times, nonce, addresses, authorization data, additional tickets
    }
  }
  return r.ok() && have_realm;
}

// KDC-REQ ::= SEQUENCE { pvno [1], msg-type [2], padata [3] OPTIONAL, req-body [4] }
bool read_kdc_req(ber::Reader& r, Message& m) {
  ber::Tlv f;
  bool have_body = false;
  while (r.next(f)) {
    if (f.header.tag_class != TagClass::kContextSpecific) return false;
    switch (f.header.tag) {
      case 3:
        if (!read_padata_types(r, f, m.pa_types)) return false;
        break;
      case 4:
        if (!read_req_body(r, f, m)) return false;
        have_body = true;
        break;
      default:
        break;
    }
  }
  return r.ok() && have_body;
}

// Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }
bool read_ticket(ber::Reader& parent, const ber::Tlv& field, Message& m) {
  ber::Reader outer = parent.enter(field);
  ber::Tlv app;
  if (!outer.next(app) || !app.is(TagClass::kApplication, 1)) return false;
  ber::Reader a = outer.enter(app);
  ber::Tlv seq;
  if (!a.next(seq) || !seq.is_universal(ber::tag::kSequence)) return false;
  ber::Reader r = a.enter(seq);
  ber::Tlv f;
  while (r.next(f)) {
    if (f.is_context(1)) {
      if (!read_string(r, f, m.srealm)) return false;
    } else if (f.is_context(2)) {
      m.sname.emplace();
      if (!read_principal(r, f, *m.sname)) return false;
    } else if (f.is_context(3)) {
      std::int64_t etype = 0;
      if (!read_enc_etype(r, f, etype)) return false;
      m.ticket_etype = etype;
    }
  }
  return r.ok();
}

// KDC-REP ::= SEQUENCE { pvno [0], msg-type [1], padata [2] OPTIONAL, crealm [3],
//                        cname [4], ticket [5], enc-part [6] }
bool read_kdc_rep(ber::Reader& r, Message& m) {
  ber::Tlv f;
  while (r.next(f)) {
    if (f.header.tag_class != TagClass::kContextSpecific) return false;
    switch (f.header.tag) {
      case 2:
        if (!read_padata_types(r, f, m.pa_types)) return false;
        break;
      case 3:
        if (!read_string(r, f, m.realm)) return false;
        break;
      case 4:
        m.cname.emplace();
        if (!read_principal(r, f, *m.cname)) return false;
        break;
      case 5:
        if (!read_ticket(r, f, m)) return false;
        break;
      case 6: {
        std::int64_t etype = 0;
        if (!read_enc_etype(r, f, etype)) return false;
        m.reply_etype = etype;
        break;
      }
      default:
        break;
    }
  }
  return r.ok() && m.cname.has_value();
}

// KRB-ERROR ::= SEQUENCE { pvno [0], msg-type [1], ctime [2] OPT, cusec [3] OPT, stime [4],
//   susec [5], error-code [6], crealm [7] OPT, cname [8] OPT, realm [9], sname [10],
//   e-text [11] OPT, e-data [12] OPT }
bool read_krb_error(ber::Reader& r, Message& m) {
  ber::Tlv f;
  std::string crealm;
  while (r.next(f)) {
    if (f.header.tag_class != TagClass::kContextSpecific) return false;
    switch (f.header.tag) {
      case 6: {
        std::int64_t code = 0;
        if (!read_int(r, f, code)) return false;
        m.error_code = code;
        break;
      }
      case 7:
        if (!read_string(r, f, crealm)) return false;
        break;
      case 8:
        m.cname.emplace();
        if (!read_principal(r, f, *m.cname)) return false;
        break;
      case 9:
        if (!read_string(r, f, m.srealm)) return false;
        break;
      case 10:
        m.sname.emplace();
        if (!read_principal(r, f, *m.sname)) return false;
        break;
      default:
        break;  // times; e-text and e-data are not kept
    }
  }
  m.realm = crealm.empty() ? m.srealm : crealm;
  return r.ok() && m.error_code.has_value();
}

}  // namespace

std::string PrincipalName::str() const {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += '/';
    out += p;
  }
  return out;
}

std::optional<Message> parse_message(ByteView data, std::string_view& anomaly) {
  anomaly = "krb.malformed";
  ber::Reader top(data, kBerLimits);
  ber::Tlv app;
  if (!top.next(app) || app.header.tag_class != TagClass::kApplication || !app.header.constructed) {
    return std::nullopt;
  }
  Message m;
  m.msg_type = app.header.tag;
  ber::Reader a = top.enter(app);
  ber::Tlv seq;
  if (!a.next(seq) || !seq.is_universal(ber::tag::kSequence)) return std::nullopt;
  ber::Reader r = a.enter(seq);
  bool ok = false;
  switch (m.msg_type) {
    case kAsReq:
    case kTgsReq:
      ok = read_kdc_req(r, m);
      break;
    case kAsRep:
    case kTgsRep:
      ok = read_kdc_rep(r, m);
      break;
    case kError:
      ok = read_krb_error(r, m);
      break;
    default:
      anomaly = "krb.unknown_message";  // AP-REQ, KRB-PRIV, ... are not KDC traffic
      return std::nullopt;
  }
  if (!ok) return std::nullopt;
  anomaly = {};
  return m;
}

std::string_view error_name(std::int64_t code) {
  switch (code) {
    case 0:
      return "KDC_ERR_NONE";
    case 1:
      return "KDC_ERR_NAME_EXP";
    case 2:
      return "KDC_ERR_SERVICE_EXP";
    case 3:
      return "KDC_ERR_BAD_PVNO";
    case 4:
      return "KDC_ERR_C_OLD_MAST_KVNO";
    case 5:
      return "KDC_ERR_S_OLD_MAST_KVNO";
    case 6:
      return "KDC_ERR_C_PRINCIPAL_UNKNOWN";
    case 7:
      return "KDC_ERR_S_PRINCIPAL_UNKNOWN";
    case 8:
      return "KDC_ERR_PRINCIPAL_NOT_UNIQUE";
    case 9:
      return "KDC_ERR_NULL_KEY";
    case 10:
      return "KDC_ERR_CANNOT_POSTDATE";
    case 11:
      return "KDC_ERR_NEVER_VALID";
    case 12:
      return "KDC_ERR_POLICY";
    case 13:
      return "KDC_ERR_BADOPTION";
    case 14:
      return "KDC_ERR_ETYPE_NOSUPP";
    case 15:
      return "KDC_ERR_SUMTYPE_NOSUPP";
    case 16:
      return "KDC_ERR_PADATA_TYPE_NOSUPP";
    case 17:
      return "KDC_ERR_TRTYPE_NOSUPP";
    case 18:
      return "KDC_ERR_CLIENT_REVOKED";
    case 19:
      return "KDC_ERR_SERVICE_REVOKED";
    case 20:
      return "KDC_ERR_TGT_REVOKED";
    case 21:
      return "KDC_ERR_CLIENT_NOTYET";
    case 22:
      return "KDC_ERR_SERVICE_NOTYET";
    case 23:
      return "KDC_ERR_KEY_EXPIRED";
    case 24:
      return "KDC_ERR_PREAUTH_FAILED";
    case 25:
      return "KDC_ERR_PREAUTH_REQUIRED";
    case 26:
      return "KDC_ERR_SERVER_NOMATCH";
    case 27:
      return "KDC_ERR_MUST_USE_USER2USER";
    case 28:
      return "KDC_ERR_PATH_NOT_ACCEPTED";
    case 29:
      return "KDC_ERR_SVC_UNAVAILABLE";
    case 31:
      return "KRB_AP_ERR_BAD_INTEGRITY";
    case 32:
      return "KRB_AP_ERR_TKT_EXPIRED";
    case 33:
      return "KRB_AP_ERR_TKT_NYV";
    case 34:
      return "KRB_AP_ERR_REPEAT";
    case 35:
      return "KRB_AP_ERR_NOT_US";
    case 36:
      return "KRB_AP_ERR_BADMATCH";
    case 37:
      return "KRB_AP_ERR_SKEW";
    case 38:
      return "KRB_AP_ERR_BADADDR";
    case 39:
      return "KRB_AP_ERR_BADVERSION";
    case 40:
      return "KRB_AP_ERR_MSG_TYPE";
    case 41:
      return "KRB_AP_ERR_MODIFIED";
    case 42:
      return "KRB_AP_ERR_BADORDER";
    case 44:
      return "KRB_AP_ERR_BADKEYVER";
    case 45:
      return "KRB_AP_ERR_NOKEY";
    case 46:
      return "KRB_AP_ERR_MUT_FAIL";
    case 47:
      return "KRB_AP_ERR_BADDIRECTION";
    case 48:
      return "KRB_AP_ERR_METHOD";
    case 49:
      return "KRB_AP_ERR_BADSEQ";
    case 50:
      return "KRB_AP_ERR_INAPP_CKSUM";
    case 51:
      return "KRB_AP_PATH_NOT_ACCEPTED";
    case 52:
      return "KRB_ERR_RESPONSE_TOO_BIG";
    case 60:
      return "KRB_ERR_GENERIC";
    case 61:
      return "KRB_ERR_FIELD_TOOLONG";
    case 62:
      return "KDC_ERR_CLIENT_NOT_TRUSTED";
    case 63:
      return "KDC_ERR_KDC_NOT_TRUSTED";
    case 64:
      return "KDC_ERR_INVALID_SIG";
    case 65:
      return "KDC_ERR_KEY_TOO_WEAK";
    case 66:
      return "KDC_ERR_CERTIFICATE_MISMATCH";
    case 67:
      return "KRB_AP_ERR_NO_TGT";
    case 68:
      return "KDC_ERR_WRONG_REALM";
    case 69:
      return "KRB_AP_ERR_USER_TO_USER_REQUIRED";
    case 70:
      return "KDC_ERR_CANT_VERIFY_CERTIFICATE";
    case 71:
      return "KDC_ERR_INVALID_CERTIFICATE";
    case 72:
      return "KDC_ERR_REVOKED_CERTIFICATE";
    case 73:
      return "KDC_ERR_REVOCATION_STATUS_UNKNOWN";
    case 74:
      return "KDC_ERR_REVOCATION_STATUS_UNAVAILABLE";
    case 75:
      return "KDC_ERR_CLIENT_NAME_MISMATCH";
    case 76:
      return "KDC_ERR_KDC_NAME_MISMATCH";
    default:
      return "";
  }
}

std::string enctype_name(std::int64_t etype) {
  switch (etype) {
    case 1:
      return "des-cbc-crc";
    case 2:
      return "des-cbc-md4";
    case 3:
      return "des-cbc-md5";
    case 16:
      return "des3-cbc-sha1";
    case 17:
      return "aes128-cts-hmac-sha1-96";
    case 18:
      return "aes256-cts-hmac-sha1-96";
    case 19:
      return "aes128-cts-hmac-sha256-128";
    case 20:
      return "aes256-cts-hmac-sha384-192";
    case 23:
      return "rc4-hmac";
    case 24:
      return "rc4-hmac-exp";
    case 25:
      return "camellia128-cts-cmac";
    case 26:
      return "camellia256-cts-cmac";
    default:
      return std::to_string(etype);
  }
}

}  // namespace krb

namespace {

using krb::Message;

std::string padata_name(std::int64_t type) {
  switch (type) {
    case 1:
      return "tgs-req";
    case 2:
      return "enc-timestamp";
    case 3:
      return "pw-salt";
    case 11:
      return "etype-info";
    case 15:
      return "pk-as-req-old";
    case 16:
      return "pk-as-req";
    case 17:
      return "pk-as-rep";
    case 19:
      return "etype-info2";
    case 128:
      return "pac-request";
    case 129:
      return "for-user";
    case 133:
      return "fx-cookie";
    case 136:
      return "fx-fast";
    case 138:
      return "encrypted-challenge";
    case 149:
      return "req-enc-pa-rep";
    case 150:
      return "as-freshness";
    default:
      return std::to_string(type);
  }
}

// KDCOptions bits (RFC 4120 5.4.1; bit 0 is the most significant).
std::string kdc_option_names(std::uint32_t options) {
  static constexpr std::pair<int, std::string_view> kNames[] = {{1, "forwardable"},
                                                                {2, "forwarded"},
                                                                {3, "proxiable"},
                                                                {4, "proxy"},
                                                                {5, "allow-postdate"},
                                                                {6, "postdated"},
                                                                {8, "renewable"},
                                                                {14, "cname-in-addl-tkt"},
                                                                {15, "canonicalize"},
                                                                {16, "request-anonymous"},
                                                                {26, "disable-transited-check"},
                                                                {27, "renewable-ok"},
                                                                {28, "enc-tkt-in-skey"},
                                                                {30, "renew"},
                                                                {31, "validate"}};
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if ((options & (0x80000000U >> bit)) == 0) continue;
    if (!out.empty()) out += ',';
    out += name;
  }
  return out;
}

template <typename F>
std::string join(const std::vector<std::int64_t>& items, F name) {
  std::string out;
  for (std::int64_t v : items) {
    if (!out.empty()) out += ',';
    out += name(v);
  }
  return out;
}

// Requests and replies of one flow, paired in order.
class KrbExchanges {
 public:
  static constexpr std::size_t kMaxPending = 16;

  explicit KrbExchanges(SessionOutput& out) : out_(out) {}

  void on_message(ByteView data, std::uint64_t time_ns) {
    std::string_view anomaly;
    std::optional<Message> m = krb::parse_message(data, anomaly);
    if (!m) {
      out_.anomaly(anomaly);
      return;
    }
    if (m->is_request()) {
      if (pending_.size() >= kMaxPending) {
        out_.anomaly("krb.too_many_pending");
        emit(pending_.front().first, nullptr, pending_.front().second);
        pending_.pop_front();
      }
      pending_.emplace_back(std::move(*m), time_ns);
      return;
    }
    if (pending_.empty()) {
      out_.anomaly("krb.reply_without_request");
      if (!intermediate(*m)) emit_reply_only(*m, time_ns);
      return;
    }
    auto [request, request_time] = std::move(pending_.front());
    pending_.pop_front();
    if (intermediate(*m)) return;
    emit(request, &*m, request_time);
  }

  void close() {
    for (const auto& [request, time_ns] : pending_) emit(request, nullptr, time_ns);
    pending_.clear();
  }

 private:
  // Steps of one login that the client follows with another request.
  static bool intermediate(const Message& reply) {
    return reply.msg_type == krb::kError && (reply.error_code == krb::kErrPreauthRequired ||
                                             reply.error_code == krb::kErrResponseTooBig);
  }

  void emit(const Message& request, const Message* reply, std::uint64_t time_ns) {
    v1::AccessEvent event;
    event.set_time_ns(time_ns);
    event.set_protocol("krb");
    event.set_action(request.msg_type == krb::kAsReq ? "as" : "tgs");
    auto& detail = *event.mutable_detail();
    detail["msg"] = request.msg_type == krb::kAsReq ? "as-req" : "tgs-req";
    // The client: the request's cname (AS); a TGS-REQ names it only inside
    // the encrypted authenticator, so the reply's.
    const krb::PrincipalName* cname = nullptr;
    if (request.cname) cname = &*request.cname;
    if (cname == nullptr && reply != nullptr && reply->cname) cname = &*reply->cname;
    if (cname != nullptr) {
      event.set_principal(cname->str());
      detail["cname_type"] = std::to_string(cname->name_type);
    }
    const bool reply_realm = request.msg_type == krb::kTgsReq && reply != nullptr &&
                             !reply->realm.empty() && reply->msg_type != krb::kError;
    event.set_realm(reply_realm ? reply->realm : request.realm);
    if (request.sname) {
      event.set_resource(request.sname->str());
    } else if (reply != nullptr && reply->sname) {
      event.set_resource(reply->sname->str());
    }
    if (!request.etypes.empty()) detail["etypes"] = join(request.etypes, krb::enctype_name);
    if (request.kdc_options != 0) detail["kdc_options"] = kdc_option_names(request.kdc_options);
    if (!request.pa_types.empty()) {
      detail["pa_types"] = join(request.pa_types, padata_name);
      for (std::int64_t t : request.pa_types) {
        if (t == 15 || t == 16) detail["pkinit"] = "true";
      }
    }
    set_outcome(event, reply);
    out_.emit(std::move(event));
  }

  void emit_reply_only(const Message& reply, std::uint64_t time_ns) {
    v1::AccessEvent event;
    event.set_time_ns(time_ns);
    event.set_protocol("krb");
    const bool tgs = reply.msg_type == krb::kTgsRep ||
                     (reply.msg_type == krb::kError && reply.sname &&
                      (reply.sname->parts.empty() || reply.sname->parts[0] != "krbtgt"));
    event.set_action(tgs ? "tgs" : "as");
    auto& detail = *event.mutable_detail();
    detail["request_seen"] = "false";
    if (reply.cname) {
      event.set_principal(reply.cname->str());
      detail["cname_type"] = std::to_string(reply.cname->name_type);
    }
    event.set_realm(reply.realm);
    if (reply.sname) event.set_resource(reply.sname->str());
    set_outcome(event, &reply);
    out_.emit(std::move(event));
  }

  static void set_outcome(v1::AccessEvent& event, const Message* reply) {
    auto& detail = *event.mutable_detail();
    if (reply == nullptr) {
      event.set_outcome(v1::OUTCOME_UNKNOWN);
      return;
    }
    if (reply->msg_type == krb::kError) {
      event.set_outcome(v1::OUTCOME_FAILURE);
      event.set_code(std::to_string(*reply->error_code));
      const std::string_view name = krb::error_name(*reply->error_code);
      detail["error_name"] = name.empty() ? "unknown" : std::string(name);
      return;
    }
    event.set_outcome(v1::OUTCOME_SUCCESS);
    if (reply->ticket_etype) detail["ticket_etype"] = krb::enctype_name(*reply->ticket_etype);
    if (reply->reply_etype) detail["reply_etype"] = krb::enctype_name(*reply->reply_etype);
  }

  SessionOutput& out_;
  std::deque<std::pair<Message, std::uint64_t>> pending_;
};

class KrbDatagramSession final : public DatagramSession {
 public:
  explicit KrbDatagramSession(SessionOutput& out) : exchanges_(out) {}
  void on_datagram(Direction /*direction*/, ByteView payload, std::uint64_t time_ns) override {
    exchanges_.on_message(payload, time_ns);
  }
  void on_close(std::uint64_t /*time_ns*/) override { exchanges_.close(); }

 private:
  KrbExchanges exchanges_;
};

// TCP: each message preceded by its 4-octet length (RFC 4120 7.2.2). A
// direction is read from a chunk that starts like a record: its first, and
// the first after a gap or a bad length (the capture may begin mid-stream).
class KrbStreamSession final : public StreamSession {
 public:
  explicit KrbStreamSession(SessionOutput& out) : out_(out), exchanges_(out) {}

  void on_data(Direction direction, ByteView data, std::uint64_t time_ns) override {
    if (data.empty()) return;
    const auto d = static_cast<std::size_t>(direction);
    auto& buf = buffer_[d];
    buf.insert(buf.end(), data.begin(), data.end());
    if (!synced_[d]) {
      if (buf.size() < kRecordStartBytes) return;  // too little to judge yet
      if (!starts_record(buf)) {
        buf.clear();
        return;
      }
      synced_[d] = true;
    }
    std::size_t consumed = 0;
    while (buf.size() - consumed >= 4) {
      ByteReader r(ByteView(buf).subspan(consumed));
      const std::uint32_t length = r.u32be();
      if ((length & 0x80000000U) != 0 || length > KrbStreamDissector::kMaxMessageBytes) {
        out_.anomaly((length & 0x80000000U) != 0 ? "krb.tcp_reserved_length"
                                                 : "krb.message_too_large");
        buf.clear();
        synced_[d] = false;
        return;
      }
      if (r.remaining() < length) break;
      exchanges_.on_message(r.bytes(length), time_ns);
      consumed += 4 + length;
    }
    buf.erase(buf.begin(), buf.begin() + static_cast<std::ptrdiff_t>(consumed));
  }

  void on_gap(Direction direction, std::uint64_t /*length*/, std::uint64_t /*time_ns*/) override {
    const auto d = static_cast<std::size_t>(direction);
    buffer_[d].clear();
    synced_[d] = false;
    out_.anomaly("krb.gap");
  }

  void on_close(std::uint64_t /*time_ns*/) override {
    if (!buffer_[0].empty() || !buffer_[1].empty()) out_.anomaly("krb.truncated_message");
    exchanges_.close();
  }

 private:
  // A record mark below 16 MiB followed by a KDC message's application tag.
  static constexpr std::size_t kRecordStartBytes = 5;
  static bool starts_record(ByteView data) {
    if (data.size() < kRecordStartBytes || data[0] != 0) return false;
    const std::uint8_t tag = data[4];
    return tag == 0x6a || tag == 0x6b || tag == 0x6c || tag == 0x6d || tag == 0x7e;
  }

  SessionOutput& out_;
  KrbExchanges exchanges_;
  std::vector<std::uint8_t> buffer_[2];
  bool synced_[2] = {false, false};
};

}  // namespace

std::unique_ptr<StreamSession> KrbStreamDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                               SessionOutput& out) const {
  return std::make_unique<KrbStreamSession>(out);
}

std::unique_ptr<DatagramSession> KrbDatagramDissector::new_session(const flow::FlowInfo& /*flow*/,
                                                                   SessionOutput& out) const {
  return std::make_unique<KrbDatagramSession>(out);
}

}  // namespace vagt::agent::dissect
