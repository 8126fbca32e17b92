#pragma once

// How principal names are compared. The same rules apply to the names written
// in a policy (role members, grant principals) and to the names that
// protocols carry in events; docs/policy.md is the reference.
//
//   form                      user        domain
//   "CN=Ann,OU=X,DC=a,DC=b"   (DN form: compared as a whole DN, see below)
//   "CORP\ann"                ann         corp
//   "ann@corp.example"        ann         corp.example   (UPN / Kerberos)
//   "ann"  + realm "CORP"     ann         corp           (event: NTLM user + domain,
//                                                          Kerberos cname + realm)
//   "ann"  (policy member)    ann         (any)
//
// - Case: ASCII letters fold to lower case; other bytes compare exactly.
// - In an event, a domain written in the principal ("CORP\ann", "ann@corp")
//   wins over the separate realm field.
// - A member without a domain matches that user name in any domain, and
//   without one. A member with a domain matches only an event that names the
//   same domain (after aliases); an event without a domain does not match it.
// - DN form: a principal whose text starts with "attr=" is an LDAP
//   distinguished name. It is normalised (attribute types and values folded,
//   spaces around ',', '+' and '=' dropped) and matches only a member written
//   as the same DN. A DN is never guessed into a user name: the CN of a DN is
//   a display name, not an account, and is unique only within its OU.
// - Anonymous: an empty principal (and Kerberos WELLKNOWN/ANONYMOUS).

#include <string>
#include <string_view>

#include "common/result.h"

namespace vagt::collector::policy {

struct Identity {
  enum class Form { kAnonymous, kName, kDn };
  Form form = Form::kAnonymous;
  std::string user;    // folded; kName only
  std::string domain;  // folded; "" = not stated; kName only
  std::string dn;      // normalised; kDn only
};

std::string fold_ascii(std::string_view s);
bool looks_like_dn(std::string_view s);
std::string normalize_dn(std::string_view dn);

// From an event's principal and realm fields. Never fails.
Identity identity_from_event(std::string_view principal, std::string_view realm);
// From a name written in a policy. Refuses empty or half-written names.
Result<Identity> identity_from_member(std::string_view member);

}  // namespace vagt::collector::policy
