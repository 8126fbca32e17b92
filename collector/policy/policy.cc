#include "collector/policy/policy.h"

#include <openssl/evp.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <initializer_list>
#include <set>
#include <sstream>
#include <unordered_map>
#include <unordered_set>

#include "collector/policy/cidr.h"
#include "collector/policy/principal.h"
#include "common/event_json.h"

namespace vagt::collector {

const char* to_string(Severity s) noexcept {
  switch (s) {
    case Severity::kInfo:
      return "info";
    case Severity::kLow:
      return "low";
    case Severity::kMedium:
      return "medium";
    case Severity::kHigh:
      return "high";
    case Severity::kCritical:
      return "critical";
  }
  return "unknown";
}

std::optional<Severity> severity_from_string(std::string_view s) noexcept {
  for (Severity v :
       {Severity::kInfo, Severity::kLow, Severity::kMedium, Severity::kHigh, Severity::kCritical}) {
    if (s == to_string(v)) return v;
  }
  return std::nullopt;
}

namespace {

using policy::Cidr;
using policy::fold_ascii;
using policy::Identity;

constexpr int kPolicyVersion = 1;
constexpr std::size_t kMaxPolicyBytes = 16 * 1024 * 1024;
constexpr std::size_t kMaxQuotedName = 200;

// ---------------------------------------------------------------- compiled form

enum class Classification { kHealthData, kConfidential, kInternal, kPublic };

const char* classification_name(Classification c) {
  switch (c) {
    case Classification::kHealthData:
      return "health-data";
    case Classification::kConfidential:
      return "confidential";
    case Classification::kInternal:
      return "internal";
    case Classification::kPublic:
      return "public";
  }
  return "internal";
}

Severity severity_for(Classification c) {
  switch (c) {
    case Classification::kHealthData:
      return Severity::kHigh;
    case Classification::kConfidential:
      return Severity::kMedium;
    default:
      return Severity::kLow;
  }
}

struct System {
  std::string name;
  Classification classification = Classification::kInternal;
  std::vector<Cidr> addresses;         // empty = any
  std::vector<std::uint32_t> ports;    // empty = any
  std::vector<std::string> protocols;  // folded; empty = any

  bool matches(const v1::AccessEvent& e) const {
    if (!addresses.empty() && std::none_of(addresses.begin(), addresses.end(), [&](const Cidr& c) {
          return c.contains(e.dst().address());
        })) {
      return false;
    }
    if (!ports.empty() && std::find(ports.begin(), ports.end(), e.dst().port()) == ports.end()) {
      return false;
    }
    if (!protocols.empty() && std::find(protocols.begin(), protocols.end(),
                                        fold_ascii(e.protocol())) == protocols.end()) {
      return false;
    }
    return true;
  }
};

// Principals a grant covers, indexed by folded user name.
class PrincipalSet {
 public:
  void add(const Identity& id) {
    if (id.form == Identity::Form::kDn) {
      dns_.insert(id.dn);
    } else if (id.form == Identity::Form::kName) {
      names_[id.user].push_back(id.domain);
    }
  }
  bool contains(const Identity& id) const {
    if (id.form == Identity::Form::kDn) return dns_.count(id.dn) != 0;
    if (id.form != Identity::Form::kName) return false;
    const auto it = names_.find(id.user);
    if (it == names_.end()) return false;
    return std::any_of(it->second.begin(), it->second.end(), [&](const std::string& domain) {
      return domain.empty() || domain == id.domain;
    });
  }

 private:
  std::unordered_map<std::string, std::vector<std::string>> names_;  // "" domain = any
  std::unordered_set<std::string> dns_;
};

struct Grant {
  std::string id;
  PrincipalSet who;
  bool anonymous = false;
  bool authenticated = false;        // any named (non-anonymous) principal
  std::vector<std::string> actions;  // folded; empty = any
};

class CompiledPolicy final : public Policy {
 public:
  std::string digest_;
  std::string source_;
  std::vector<System> systems_;
  std::vector<Grant> grants_;
  std::vector<std::vector<std::size_t>> grants_by_system_;       // system index -> grants
  std::unordered_map<std::string, std::string> domain_aliases_;  // folded alias -> canonical
  bool allow_unlisted_ = false;

  const std::string& digest() const override { return digest_; }
  const std::string& source() const override { return source_; }
  Decision evaluate(const v1::AccessEvent& event) const override;

  Identity canonical(Identity id) const {
    if (id.form == Identity::Form::kName && !id.domain.empty()) {
      const auto it = domain_aliases_.find(id.domain);
      if (it != domain_aliases_.end()) id.domain = it->second;
    }
    return id;
  }
};

// Quote a name taken from the network for a one-line explanation: ASCII
// control characters as \xNN, long names cut. (Renderers sanitize again.)
std::string quoted(const std::string& s) {
  std::string out = "'";
  std::size_t n = 0;
  for (unsigned char c : s) {
    if (++n > kMaxQuotedName) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  return out + "'";
}

std::string who(const v1::AccessEvent& e) {
  std::string s = "principal " + quoted(e.principal());
  if (!e.realm().empty()) s += " (realm " + quoted(e.realm()) + ")";
  return s;
}

std::string what(const v1::AccessEvent& e) {
  std::string s = e.protocol().empty() ? "access" : e.protocol();
  if (!e.action().empty()) s += " " + e.action();
  return s;
}

std::string where(const v1::AccessEvent& e) {
  const std::string ep = format_endpoint(e.dst());
  return ep.empty() ? std::string() : " at " + ep;
}

const char* verb(const v1::AccessEvent& e) {
  return e.outcome() == v1::OUTCOME_SUCCESS ? "succeeded" : "was seen (outcome unknown)";
}

bool action_allowed(const Grant& g, const std::string& folded_action) {
  return g.actions.empty() ||
         std::find(g.actions.begin(), g.actions.end(), folded_action) != g.actions.end();
}

Decision CompiledPolicy::evaluate(const v1::AccessEvent& e) const {
  Decision d;
  // Capture-health records ("vagt") are evidence about the sensor, not access.
  if (e.protocol() == "vagt") return d;

  std::size_t sys = systems_.size();
  for (std::size_t i = 0; i < systems_.size(); ++i) {
    if (systems_[i].matches(e)) {
      sys = i;
      break;
    }
  }
  const bool listed = sys < systems_.size();
  if (listed) d.system = systems_[sys].name;

  // A failed authentication is not a use of access; it stays a recorded event
  // (failure bursts and spraying are detections of their own, later).
  if (e.outcome() == v1::OUTCOME_FAILURE) return d;

  const Identity id = canonical(policy::identity_from_event(e.principal(), e.realm()));
  const bool anonymous = id.form == Identity::Form::kAnonymous;

  if (!listed) {
    if (allow_unlisted_) return d;
    d.allowed = false;
    d.findings.push_back(Finding{"rbac.unlisted_system", Severity::kLow, "",
                                 (anonymous ? std::string("An anonymous ") + what(e) + " " + verb(e)
                                            : "The " + what(e) + " by " + who(e) + " " + verb(e)) +
                                     where(e) + ", on a system the policy does not list."});
    return d;
  }

  const System& s = systems_[sys];
  const std::string action = fold_ascii(e.action());
  for (std::size_t gi : grants_by_system_[sys]) {
    const Grant& g = grants_[gi];
    if (!action_allowed(g, action)) continue;
    if (anonymous ? g.anonymous : (g.authenticated || g.who.contains(id))) {
      d.grant_id = g.id;
      return d;
    }
  }

  d.allowed = false;
  const std::string on_system =
      " on system '" + s.name + "' (" + classification_name(s.classification) + ")" + where(e);
  if (anonymous) {
    d.findings.push_back(Finding{"rbac.anonymous", severity_for(s.classification), s.name,
                                 "An anonymous " + what(e) + " " + verb(e) + on_system +
                                     ", and no grant allows anonymous access."});
  } else {
    d.findings.push_back(Finding{"rbac.no_grant", severity_for(s.classification), s.name,
                                 "The " + what(e) + " by " + who(e) + " " + verb(e) + on_system +
                                     ", and no grant allows it."});
  }
  return d;
}

// ---------------------------------------------------------------- loader
//
// yaml-cpp throws; so does this loader internally (LoadError), and
// load_policy_text turns every exception into a Result at its boundary.

struct LoadError {
  std::string message;
};

class Loader {
 public:
  explicit Loader(std::string source) : source_(std::move(source)) {}

  [[noreturn]] void error(const YAML::Mark& mark, const std::string& what) const {
    std::string where = source_;
    if (!mark.is_null()) {
      where += ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
    }
    throw LoadError{where + ": " + what};
  }
  [[noreturn]] void error(const YAML::Node& node, const std::string& what) const {
    error(node.Mark(), what);
  }

  static const char* kind(const YAML::Node& n) {
    if (!n.IsDefined()) return "nothing";
    switch (n.Type()) {
      case YAML::NodeType::Null:
        return "an empty value";
      case YAML::NodeType::Scalar:
        return "a scalar";
      case YAML::NodeType::Sequence:
        return "a list";
      case YAML::NodeType::Map:
        return "a mapping";
      default:
        return "nothing";
    }
  }

  // Checks `node` is a mapping with only `allowed` keys, each once.
  void check_map(const YAML::Node& node, const std::string& what,
                 std::initializer_list<const char*> allowed) const {
    if (!node.IsMap()) error(node, what + " must be a mapping, found " + kind(node));
    std::set<std::string> seen;
    for (const auto& kv : node) {
      if (!kv.first.IsScalar()) error(kv.first, "keys of " + what + " must be plain names");
      const std::string key = kv.first.Scalar();
      if (std::find_if(allowed.begin(), allowed.end(), [&](const char* a) { return key == a; }) ==
          allowed.end()) {
        std::string list;
        for (const char* a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
        error(kv.first, "unknown key '" + key + "' in " + what + " (allowed: " + list + ")");
      }
      if (!seen.insert(key).second) error(kv.first, "duplicate key '" + key + "' in " + what);
    }
  }

  // The value of `key` in `map`, or an error at the map when it is missing.
  YAML::Node required(const YAML::Node& map, const char* key, const std::string& what) const {
    YAML::Node v = map[key];
    if (!v.IsDefined()) error(map, what + " has no '" + key + "'");
    return v;
  }

  std::string string_of(const YAML::Node& n, const std::string& what) const {
    if (!n.IsScalar()) error(n, what + " must be a string, found " + kind(n));
    return n.Scalar();
  }

  std::string name_of(const YAML::Node& n, const std::string& what) const {
    std::string s = string_of(n, what);
    const bool ok =
        !s.empty() && std::isalnum(static_cast<unsigned char>(s[0])) &&
        std::all_of(s.begin(), s.end(), [](char c) {
          return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
        });
    if (!ok) error(n, what + " '" + s + "' must be letters, digits, '-', '_' or '.'");
    return s;
  }

  bool bool_of(const YAML::Node& n, const std::string& what) const {
    bool b = false;
    if (!n.IsScalar() || !YAML::convert<bool>::decode(n, b)) {
      error(n, what + " must be true or false");
    }
    return b;
  }

  long long int_of(const YAML::Node& n, const std::string& what) const {
    long long v = 0;
    if (!n.IsScalar() || !YAML::convert<long long>::decode(n, v)) {
      error(n, what + " must be an integer");
    }
    return v;
  }

  // An optional list: missing or null is empty.
  std::vector<YAML::Node> list_of(const YAML::Node& n, const std::string& what) const {
    std::vector<YAML::Node> out;
    if (!n.IsDefined() || n.IsNull()) return out;
    if (!n.IsSequence()) error(n, what + " must be a list, found " + kind(n));
    for (const auto& item : n) out.push_back(item);
    return out;
  }

  std::unique_ptr<CompiledPolicy> compile(const YAML::Node& root);

 private:
  std::string source_;
};

std::unique_ptr<CompiledPolicy> Loader::compile(const YAML::Node& root) {
  if (!root.IsDefined() || root.IsNull()) error(YAML::Mark::null_mark(), "the policy is empty");
  check_map(root, "the policy",
            {"version", "name", "description", "unlisted_systems", "domains", "systems", "roles",
             "grants"});
  auto p = std::make_unique<CompiledPolicy>();

  const YAML::Node version = required(root, "version", "the policy");
  if (int_of(version, "version") != kPolicyVersion) {
    error(version, "unsupported policy version (this collector reads version 1)");
  }
  string_of(required(root, "name", "the policy"), "name");
  if (root["description"]) string_of(root["description"], "description");
  if (const YAML::Node u = root["unlisted_systems"]) {
    const std::string v = string_of(u, "unlisted_systems");
    if (v == "allow") {
      p->allow_unlisted_ = true;
    } else if (v != "flag") {
      error(u, "unlisted_systems must be 'flag' or 'allow', not '" + v + "'");
    }
  }

  // domains: canonical names and their aliases (NetBIOS names, UPN suffixes).
  for (const YAML::Node& dn : list_of(root["domains"], "domains")) {
    check_map(dn, "a domain", {"name", "aliases"});
    const YAML::Node name_node = required(dn, "name", "a domain");
    const std::string canonical = fold_ascii(string_of(name_node, "domain name"));
    if (canonical.empty()) error(name_node, "a domain name is empty");
    std::vector<std::pair<std::string, YAML::Node>> names = {{canonical, name_node}};
    for (const YAML::Node& a : list_of(dn["aliases"], "aliases")) {
      names.emplace_back(fold_ascii(string_of(a, "a domain alias")), a);
    }
    for (const auto& [alias, node] : names) {
      if (alias.empty()) error(node, "a domain alias is empty");
      if (!p->domain_aliases_.emplace(alias, canonical).second) {
        error(node, "domain name or alias '" + alias + "' is given twice");
      }
    }
  }

  // systems, in order: an event belongs to the first that matches.
  std::unordered_map<std::string, std::size_t> system_index;
  for (const YAML::Node& sn : list_of(root["systems"], "systems")) {
    check_map(sn, "a system", {"name", "description", "classification", "owner", "match"});
    System s;
    const YAML::Node name_node = required(sn, "name", "a system");
    s.name = name_of(name_node, "system name");
    const std::string what = "system '" + s.name + "'";
    if (sn["description"]) string_of(sn["description"], "description of " + what);
    if (sn["owner"]) string_of(sn["owner"], "owner of " + what);
    const YAML::Node cl = required(sn, "classification", what);
    const std::string c = string_of(cl, "classification of " + what);
    if (c == "health-data") {
      s.classification = Classification::kHealthData;
    } else if (c == "confidential") {
      s.classification = Classification::kConfidential;
    } else if (c == "internal") {
      s.classification = Classification::kInternal;
    } else if (c == "public") {
      s.classification = Classification::kPublic;
    } else {
      error(cl,
            "classification '" + c + "' is not one of health-data, confidential, internal, public");
    }
    if (const YAML::Node m = sn["match"]) {
      check_map(m, "match of " + what, {"addresses", "ports", "protocols"});
      for (const YAML::Node& a : list_of(m["addresses"], "addresses of " + what)) {
        auto cidr = Cidr::parse(string_of(a, "an address"));
        if (!cidr) error(a, cidr.error().message);
        s.addresses.push_back(*cidr);
      }
      for (const YAML::Node& pn : list_of(m["ports"], "ports of " + what)) {
        const long long port = int_of(pn, "a port");
        if (port < 1 || port > 65535) error(pn, "port " + std::to_string(port) + " is not 1-65535");
        s.ports.push_back(static_cast<std::uint32_t>(port));
      }
      for (const YAML::Node& pr : list_of(m["protocols"], "protocols of " + what)) {
        s.protocols.push_back(fold_ascii(name_of(pr, "a protocol")));
      }
    }
    if (!system_index.emplace(s.name, p->systems_.size()).second) {
      error(name_node, "system '" + s.name + "' is defined twice");
    }
    p->systems_.push_back(std::move(s));
  }
  p->grants_by_system_.resize(p->systems_.size());

  auto member = [&](const YAML::Node& n, const std::string& what) {
    auto id = policy::identity_from_member(string_of(n, what));
    if (!id) error(n, id.error().message);
    return p->canonical(*id);
  };

  // roles: named lists of principals.
  std::unordered_map<std::string, std::vector<Identity>> roles;
  for (const YAML::Node& rn : list_of(root["roles"], "roles")) {
    check_map(rn, "a role", {"name", "description", "members"});
    const YAML::Node name_node = required(rn, "name", "a role");
    const std::string name = name_of(name_node, "role name");
    if (rn["description"]) string_of(rn["description"], "description of role '" + name + "'");
    std::vector<Identity> members;
    for (const YAML::Node& m : list_of(rn["members"], "members of role '" + name + "'")) {
      members.push_back(member(m, "a member of role '" + name + "'"));
    }
    if (!roles.emplace(name, std::move(members)).second) {
      error(name_node, "role '" + name + "' is defined twice");
    }
  }

  // grants: who may do what on which systems.
  std::unordered_set<std::string> grant_ids;
  for (const YAML::Node& gn : list_of(root["grants"], "grants")) {
    check_map(gn, "a grant",
              {"id", "description", "roles", "principals", "anonymous", "authenticated", "systems",
               "actions"});
    const YAML::Node id_node = required(gn, "id", "a grant");
    Grant g;
    g.id = name_of(id_node, "grant id");
    const std::string what = "grant '" + g.id + "'";
    if (!grant_ids.insert(g.id).second) error(id_node, "grant id '" + g.id + "' is used twice");
    if (gn["description"]) string_of(gn["description"], "description of " + what);
    bool anyone = false;
    for (const YAML::Node& r : list_of(gn["roles"], "roles of " + what)) {
      const std::string role = string_of(r, "a role of " + what);
      const auto it = roles.find(role);
      if (it == roles.end()) error(r, what + " names role '" + role + "', which is not defined");
      for (const Identity& id : it->second) g.who.add(id);
      anyone = true;
    }
    for (const YAML::Node& pr : list_of(gn["principals"], "principals of " + what)) {
      g.who.add(member(pr, "a principal of " + what));
      anyone = true;
    }
    if (gn["anonymous"]) g.anonymous = bool_of(gn["anonymous"], "anonymous of " + what);
    if (gn["authenticated"]) {
      g.authenticated = bool_of(gn["authenticated"], "authenticated of " + what);
    }
    if (!anyone && !g.anonymous && !g.authenticated) {
      error(id_node, what +
                         " grants nobody: give roles, principals, authenticated: true or "
                         "anonymous: true");
    }
    for (const YAML::Node& a : list_of(gn["actions"], "actions of " + what)) {
      g.actions.push_back(fold_ascii(name_of(a, "an action")));
    }
    const YAML::Node sys = required(gn, "systems", what);
    const auto systems = list_of(sys, "systems of " + what);
    if (systems.empty()) error(sys, what + " lists no systems");
    const std::size_t index = p->grants_.size();
    for (const YAML::Node& sn : systems) {
      const std::string name = string_of(sn, "a system of " + what);
      const auto it = system_index.find(name);
      if (it == system_index.end()) {
        error(sn, what + " names system '" + name + "', which is not defined");
      }
      auto& list = p->grants_by_system_[it->second];
      if (list.empty() || list.back() != index) list.push_back(index);
    }
    p->grants_.push_back(std::move(g));
  }
  return p;
}

Result<std::string> sha256_hex(std::string_view bytes) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), md, &len, EVP_sha256(), nullptr) != 1) {
    return fail(ErrorCode::kCrypto, "SHA-256 failed");
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 0xf];
  }
  return out;
}

}  // namespace

Result<std::shared_ptr<const Policy>> load_policy_text(std::string_view bytes,
                                                       const std::string& source) {
  if (bytes.size() > kMaxPolicyBytes) {
    return fail(ErrorCode::kTooLarge, source + ": policy larger than 16 MiB");
  }
  auto digest = sha256_hex(bytes);
  if (!digest) return tl::unexpected(digest.error());
  try {
    std::vector<YAML::Node> docs = YAML::LoadAll(std::string(bytes));
    Loader loader(source);
    if (docs.size() > 1) loader.error(docs[1], "a policy file holds one YAML document");
    std::unique_ptr<CompiledPolicy> p = loader.compile(docs.empty() ? YAML::Node() : docs[0]);
    p->digest_ = std::move(*digest);
    p->source_ = source;
    return std::shared_ptr<const Policy>(std::move(p));
  } catch (const LoadError& e) {
    return fail(ErrorCode::kInvalidArgument, e.message);
  } catch (const YAML::Exception& e) {
    std::string where = source;
    if (!e.mark.is_null()) {
      where += ":" + std::to_string(e.mark.line + 1) + ":" + std::to_string(e.mark.column + 1);
    }
    return fail(ErrorCode::kInvalidArgument, where + ": " + e.msg);
  } catch (const std::exception& e) {
    return fail(ErrorCode::kInvalidArgument, source + ": " + e.what());
  }
}

Result<std::shared_ptr<const Policy>> load_policy_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(ErrorCode::kIo, "cannot open policy file " + path);
  std::ostringstream buf;
  buf << in.rdbuf();
  if (in.bad()) return fail(ErrorCode::kIo, "cannot read policy file " + path);
  return load_policy_text(buf.str(), path);
}

}  // namespace vagt::collector
