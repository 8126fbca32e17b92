#include "collector/policy/principal.h"

#include <cctype>

namespace vagt::collector::policy {
namespace {

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Split a name into user and domain; `realm` is used when the name has none.
Identity name_identity(std::string_view principal, std::string_view realm) {
  Identity id;
  id.form = Identity::Form::kName;
  if (const auto bs = principal.find('\\'); bs != std::string_view::npos) {
    id.domain = fold_ascii(principal.substr(0, bs));
    id.user = fold_ascii(principal.substr(bs + 1));
  } else if (const auto at = principal.rfind('@'); at != std::string_view::npos) {
    id.user = fold_ascii(principal.substr(0, at));
    id.domain = fold_ascii(principal.substr(at + 1));
  } else {
    id.user = fold_ascii(principal);
    id.domain = fold_ascii(realm);
  }
  return id;
}

}  // namespace

std::string fold_ascii(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool looks_like_dn(std::string_view s) {
  s = trim(s);
  std::size_t i = 0;
  if (i >= s.size() || !std::isalnum(static_cast<unsigned char>(s[i]))) return false;
  while (i < s.size() &&
         (std::isalnum(static_cast<unsigned char>(s[i])) || s[i] == '-' || s[i] == '.')) {
    ++i;
  }
  while (i < s.size() && is_space(s[i])) ++i;
  return i < s.size() && s[i] == '=';
}

std::string normalize_dn(std::string_view dn) {
  // Walk the DN once, keeping escapes ("\," "\2C") intact, dropping unescaped
  // spaces next to the separators ',', ';', '+', '='.
  std::string out;
  std::string pending_space;  // spaces seen inside a value, kept if more follows
  bool after_separator = true;
  for (std::size_t i = 0; i < dn.size(); ++i) {
    char c = dn[i];
    if (c == '\\' && i + 1 < dn.size()) {
      out += pending_space;
      pending_space.clear();
      out += '\\';
      out += static_cast<char>(std::tolower(static_cast<unsigned char>(dn[i + 1])));
      ++i;
      after_separator = false;
      continue;
    }
    if (c == ',' || c == ';' || c == '+' || c == '=') {
      pending_space.clear();
      out += (c == ';') ? ',' : c;
      after_separator = true;
      continue;
    }
    if (is_space(c)) {
      if (!after_separator) pending_space += c;
      continue;
    }
    out += pending_space;
    pending_space.clear();
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    after_separator = false;
  }
  return out;
}

Identity identity_from_event(std::string_view principal, std::string_view realm) {
  Identity id;
  const std::string_view p = trim(principal);
  if (p.empty() || fold_ascii(p) == "wellknown/anonymous") return id;  // anonymous
  if (looks_like_dn(p)) {
    id.form = Identity::Form::kDn;
    id.dn = normalize_dn(p);
    return id;
  }
  return name_identity(p, trim(realm));
}

Result<Identity> identity_from_member(std::string_view member) {
  const std::string_view m = trim(member);
  if (m.empty()) return fail(ErrorCode::kInvalidArgument, "empty principal name");
  if (looks_like_dn(m)) {
    Identity id;
    id.form = Identity::Form::kDn;
    id.dn = normalize_dn(m);
    return id;
  }
  Identity id = name_identity(m, "");
  if (id.user.empty()) {
    return fail(ErrorCode::kInvalidArgument, "principal '" + std::string(m) + "' has no user name");
  }
  if ((m.find('\\') != std::string_view::npos || m.find('@') != std::string_view::npos) &&
      id.domain.empty()) {
    return fail(ErrorCode::kInvalidArgument,
                "principal '" + std::string(m) + "' has an empty domain");
  }
  return id;
}

}  // namespace vagt::collector::policy
