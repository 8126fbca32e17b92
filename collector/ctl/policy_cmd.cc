#include "collector/ctl/policy_cmd.h"

#include <arpa/inet.h>
#include <yaml-cpp/yaml.h>

#include <algorithm>
#include <filesystem>
#include <set>

#include "collector/ctl/render.h"
#include "collector/policy/detector.h"
#include "collector/policy/policy.h"
#include "common/event_json.h"

namespace vagt::collector::ctl {

namespace {

namespace fs = std::filesystem;

constexpr std::size_t kMaxEventsPerFile = 100000;

std::string mark_of(const std::string& file, const YAML::Node& n) {
  const YAML::Mark m = n.Mark();
  if (m.is_null()) return file;
  return file + ":" + std::to_string(m.line + 1) + ":" + std::to_string(m.column + 1);
}

// "10.0.0.1:389", "[2001:db8::1]:443", or an address without a port.
Result<v1::Endpoint> endpoint_of(const std::string& text) {
  std::string host = text, port;
  if (!text.empty() && text.front() == '[') {
    const auto close = text.find(']');
    if (close == std::string::npos)
      return fail(ErrorCode::kInvalidArgument, "bad endpoint '" + text + "'");
    host = text.substr(1, close - 1);
    if (close + 1 < text.size()) {
      if (text[close + 1] != ':')
        return fail(ErrorCode::kInvalidArgument, "bad endpoint '" + text + "'");
      port = text.substr(close + 2);
    }
  } else if (std::count(text.begin(), text.end(), ':') == 1) {
    host = text.substr(0, text.find(':'));
    port = text.substr(text.find(':') + 1);
  }
  v1::Endpoint ep;
  unsigned char buf[16];
  if (inet_pton(AF_INET, host.c_str(), buf) == 1) {
    ep.set_address(std::string(reinterpret_cast<char*>(buf), 4));
  } else if (inet_pton(AF_INET6, host.c_str(), buf) == 1) {
    ep.set_address(std::string(reinterpret_cast<char*>(buf), 16));
  } else {
    return fail(ErrorCode::kInvalidArgument, "bad address in endpoint '" + text + "'");
  }
  if (!port.empty()) {
    if (port.size() > 5 || !std::all_of(port.begin(), port.end(), ::isdigit) ||
        std::stoul(port) > 65535) {
      return fail(ErrorCode::kInvalidArgument, "bad port in endpoint '" + text + "'");
    }
    ep.set_port(static_cast<std::uint32_t>(std::stoul(port)));
  }
  return ep;
}

Result<v1::AccessEvent> event_from_node(const YAML::Node& n, const std::set<std::string>& skip) {
  if (!n.IsMap()) return fail(ErrorCode::kInvalidArgument, "an event must be a mapping");
  v1::AccessEvent e;
  for (const auto& kv : n) {
    const std::string key = kv.first.as<std::string>();
    if (skip.count(key)) continue;
    const YAML::Node& v = kv.second;
    if (v.IsNull()) continue;
    if (key == "detail") {
      if (!v.IsMap()) return fail(ErrorCode::kInvalidArgument, "detail must be a mapping");
      for (const auto& d : v)
        (*e.mutable_detail())[d.first.as<std::string>()] = d.second.as<std::string>();
      continue;
    }
    if (!v.IsScalar()) return fail(ErrorCode::kInvalidArgument, "'" + key + "' must be a scalar");
    const std::string s = v.Scalar();
    if (key == "ts") {
      auto t = parse_rfc3339(s);
      if (!t) return fail(ErrorCode::kInvalidArgument, "ts: " + t.error().message);
      e.set_time_ns(*t);
    } else if (key == "protocol") {
      e.set_protocol(s);
    } else if (key == "transport") {
      e.set_transport(s == "tcp"     ? v1::TRANSPORT_TCP
                      : s == "udp"   ? v1::TRANSPORT_UDP
                      : s == "local" ? v1::TRANSPORT_LOCAL
                                     : v1::TRANSPORT_UNSPECIFIED);
    } else if (key == "src" || key == "dst") {
      auto ep = endpoint_of(s);
      if (!ep) return fail(ErrorCode::kInvalidArgument, key + ": " + ep.error().message);
      *(key == "src" ? e.mutable_src() : e.mutable_dst()) = *ep;
    } else if (key == "principal") {
      e.set_principal(s);
    } else if (key == "realm") {
      e.set_realm(s);
    } else if (key == "action") {
      e.set_action(s);
    } else if (key == "resource") {
      e.set_resource(s);
    } else if (key == "patient") {
      e.set_patient(s);
    } else if (key == "outcome") {
      if (s == "success") {
        e.set_outcome(v1::OUTCOME_SUCCESS);
      } else if (s == "failure") {
        e.set_outcome(v1::OUTCOME_FAILURE);
      } else if (s == "unknown") {
        e.set_outcome(v1::OUTCOME_UNKNOWN);
      } else {
        return fail(ErrorCode::kInvalidArgument, "outcome must be success, failure or unknown");
      }
    } else if (key == "code") {
      e.set_code(s);
    } else if (key == "agent") {
      e.set_agent_id(s);
    } else if (key == "seq") {
      e.set_sequence(v.as<std::uint64_t>());
    } else {
      return fail(ErrorCode::kInvalidArgument, "unknown event field '" + key + "'");
    }
  }
  return e;
}

// `base` overlaid with `over` (maps merged one level deep, detail too).
YAML::Node merged(const YAML::Node& base, const YAML::Node& over) {
  YAML::Node out(YAML::NodeType::Map);
  for (const YAML::Node* n : {&base, &over}) {
    if (!n->IsDefined() || !n->IsMap()) continue;
    for (const auto& kv : *n) {
      const std::string key = kv.first.as<std::string>();
      if (key == "detail" && kv.second.IsMap() && out["detail"].IsMap()) {
        YAML::Node d = YAML::Clone(out["detail"]);
        for (const auto& dk : kv.second) d[dk.first.as<std::string>()] = YAML::Clone(dk.second);
        out["detail"] = d;
      } else {
        out[key] = YAML::Clone(kv.second);
      }
    }
  }
  return out;
}

std::string join(const std::vector<std::string>& v) {
  std::string s = "[";
  for (std::size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + v[i];
  return s + "]";
}

std::vector<std::string> rule_ids(const Decision& d) {
  std::vector<std::string> ids;
  for (const Finding& f : d.findings) ids.push_back(f.rule_id);
  std::sort(ids.begin(), ids.end());
  return ids;
}

std::shared_ptr<const Policy> load_or_report(const std::string& path, std::ostream& err) {
  auto p = load_policy_file(path);
  if (!p) {
    err << p.error().message << "\n";
    return nullptr;
  }
  return *p;
}

// Runs one test file; returns the number of failures (or -1 when unusable).
int run_test_file(const std::string& file, std::ostream& out, std::ostream& err, std::size_t& cases,
                  std::size_t& events) {
  YAML::Node root;
  try {
    root = YAML::LoadFile(file);
  } catch (const YAML::Exception& e) {
    err << file << ":" << e.mark.line + 1 << ":" << e.mark.column + 1 << ": " << e.msg << "\n";
    return -1;
  }
  if (!root.IsMap() || !root["policy"] || !root["cases"] || !root["cases"].IsSequence()) {
    err << file << ": a policy test file needs 'policy: FILE' and a list 'cases'\n";
    return -1;
  }
  for (const auto& kv : root) {
    const std::string k = kv.first.as<std::string>();
    if (k != "policy" && k != "defaults" && k != "cases" && k != "description") {
      err << mark_of(file, kv.first) << ": unknown key '" << k
          << "' (policy, defaults, cases, description)\n";
      return -1;
    }
  }
  fs::path policy_path = root["policy"].as<std::string>();
  if (policy_path.is_relative()) policy_path = fs::path(file).parent_path() / policy_path;
  auto policy = load_or_report(policy_path.string(), err);
  if (!policy) return -1;
  const YAML::Node defaults = root["defaults"];
  int failures = 0;
  for (const YAML::Node& c : root["cases"]) {
    ++cases;
    const std::string name = c["name"] ? c["name"].as<std::string>() : "(unnamed)";
    if (!c["events"] || !c["events"].IsSequence()) {
      err << mark_of(file, c) << ": case '" << name << "' has no list 'events'\n";
      return -1;
    }
    DetectionState state;  // each case starts with empty windows
    const YAML::Node case_defaults = merged(defaults, c["defaults"]);
    std::size_t index = 0;
    for (const YAML::Node& en : c["events"]) {
      ++index;
      if (++events > kMaxEventsPerFile) {
        err << file << ": more than 100000 events\n";
        return -1;
      }
      if (!en.IsMap() || !en["expect"] || !en["expect"].IsSequence()) {
        err << mark_of(file, en) << ": case '" << name << "' event " << index
            << " needs 'expect: [rule ids]' ([] for none)\n";
        return -1;
      }
      auto ev =
          event_from_node(merged(case_defaults, en), {"expect", "expect_grant", "expect_basis"});
      if (!ev) {
        err << mark_of(file, en) << ": case '" << name << "' event " << index << ": "
            << ev.error().message << "\n";
        return -1;
      }
      std::vector<std::string> want;
      for (const YAML::Node& id : en["expect"]) want.push_back(id.as<std::string>());
      std::sort(want.begin(), want.end());
      const Decision d = policy->evaluate(*ev, state);
      const std::vector<std::string> got = rule_ids(d);
      std::string problem;
      if (got != want) problem = "expected " + join(want) + ", got " + join(got);
      if (en["expect_grant"] && en["expect_grant"].as<std::string>() != d.grant_id) {
        problem += (problem.empty() ? "" : "; ") + std::string("expected grant '") +
                   en["expect_grant"].as<std::string>() + "', got '" + d.grant_id + "'";
      }
      if (en["expect_basis"] &&
          d.basis.find(en["expect_basis"].as<std::string>()) == std::string::npos) {
        problem += (problem.empty() ? "" : "; ") + std::string("expected a basis naming '") +
                   en["expect_basis"].as<std::string>() + "', got '" + d.basis + "'";
      }
      if (!problem.empty()) {
        ++failures;
        out << "FAIL " << mark_of(file, en) << ": case '" << name << "' event " << index << ": "
            << problem << "\n";
        for (const Finding& f : d.findings)
          out << "     " << f.rule_id << ": " << f.explanation << "\n";
      }
    }
  }
  return failures;
}

}  // namespace

Result<v1::AccessEvent> event_from_json_text(const std::string& text) {
  try {
    return event_from_node(YAML::Load(text), {});
  } catch (const YAML::Exception& e) {
    return fail(ErrorCode::kInvalidArgument, e.what());
  }
}

int policy_check(const std::vector<std::string>& files, std::ostream& out, std::ostream& err) {
  int rc = 0;
  for (const std::string& f : files) {
    auto p = load_policy_file(f);
    if (!p) {
      err << p.error().message << "\n";
      rc = 1;
      continue;
    }
    for (const std::string& w : (*p)->warnings()) err << w << "\n";
    out << f << ": ok, sha256 " << (*p)->digest();
    if ((*p)->files().size() > 1) {
      out << " over " << (*p)->files().size() << " files:";
      for (const std::string& name : (*p)->files()) out << " " << name;
    }
    out << "\n";
  }
  return rc;
}

int policy_test(const std::string& path, std::ostream& out, std::ostream& err) {
  std::vector<std::string> files;
  std::error_code ec;
  if (fs::is_directory(path, ec)) {
    for (const auto& entry : fs::directory_iterator(path, ec)) {
      const std::string ext = entry.path().extension().string();
      if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
        files.push_back(entry.path().string());
      }
    }
    std::sort(files.begin(), files.end());
  } else if (fs::is_regular_file(path, ec)) {
    files.push_back(path);
  }
  if (files.empty()) {
    err << "vagtctl: no policy test files in " << path << "\n";
    return 2;
  }
  std::size_t cases = 0, events = 0;
  int failures = 0;
  for (const std::string& f : files) {
    const int n = run_test_file(f, out, err, cases, events);
    if (n < 0) return 2;
    failures += n;
  }
  out << files.size() << " file(s), " << cases << " case(s), " << events << " event(s): "
      << (failures ? std::to_string(failures) + " failed" : std::string("all passed")) << "\n";
  return failures ? 1 : 0;
}

int policy_explain(const std::string& policy_file, const std::string& event_file, std::ostream& out,
                   std::ostream& err) {
  auto policy = load_or_report(policy_file, err);
  if (!policy) return 2;
  YAML::Node root;
  try {
    root = YAML::LoadFile(event_file);
  } catch (const YAML::Exception& e) {
    err << event_file << ": " << e.what() << "\n";
    return 2;
  }
  std::vector<YAML::Node> nodes;
  if (root.IsSequence()) {
    for (const YAML::Node& n : root) nodes.push_back(n);
  } else {
    nodes.push_back(root);
  }
  out << "policy " << policy_file << " sha256 " << policy->digest() << "\n";
  DetectionState state;
  for (std::size_t i = 0; i < nodes.size(); ++i) {
    auto e = event_from_node(nodes[i], {});
    if (!e) {
      err << mark_of(event_file, nodes[i]) << ": " << e.error().message << "\n";
      return 2;
    }
    std::vector<std::string> trace;
    const Decision d = policy->explain(*e, state, trace);
    out << "event " << i + 1 << ": " << event_to_json(*e).dump() << "\n";
    for (const std::string& line : trace) out << "  " << line << "\n";
    out << "  decision: " << (d.allowed ? "allowed" : "possible breach");
    if (!d.grant_id.empty()) out << " (grant '" << d.grant_id << "')";
    if (!d.basis.empty()) out << "; " << d.basis;
    out << "\n";
    for (const Finding& f : d.findings) {
      out << "  " << f.rule_id << " [" << to_string(f.severity) << "] " << f.explanation << "\n";
    }
  }
  return 0;
}

}  // namespace vagt::collector::ctl
