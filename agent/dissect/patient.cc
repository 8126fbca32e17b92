#include "agent/dissect/patient.h"

namespace vagt::agent::dissect {
namespace {

bool is_digit(char c) { return c >= '0' && c <= '9'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool plausible_date(std::string_view ddmmyy) {
  const int dd = (ddmmyy[0] - '0') * 10 + (ddmmyy[1] - '0');
  const int mm = (ddmmyy[2] - '0') * 10 + (ddmmyy[3] - '0');
  return dd >= 1 && dd <= 31 && mm >= 1 && mm <= 12;
}

}  // namespace

std::string PatientIds::pseudonym(std::string_view id) const {
  id = trim(id);
  if (id.empty() || !p_) return {};
  return p_->pseudonymize(id);
}

std::string PatientIds::redact_cpr_like(std::string_view text) const {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    if (!is_digit(text[i])) {
      out.push_back(text[i++]);
      continue;
    }
    std::size_t j = i;
    while (j < text.size() && is_digit(text[j])) ++j;
    std::string digits(text.substr(i, j - i));
    std::size_t end = j;
    // 6 digits, '-', 4 digits.
    if (digits.size() == 6 && j + 5 <= text.size() && text[j] == '-' && is_digit(text[j + 1]) &&
        is_digit(text[j + 2]) && is_digit(text[j + 3]) && is_digit(text[j + 4]) &&
        (j + 5 == text.size() || !is_digit(text[j + 5]))) {
      digits += text.substr(j + 1, 4);
      end = j + 5;
    }
    if (digits.size() == 10 && plausible_date(digits)) {
      out += p_ ? p_->pseudonymize(digits) : std::string("[patient]");
    } else {
      out.append(text.substr(i, end - i));
    }
    i = end;
  }
  return out;
}

}  // namespace vagt::agent::dissect
