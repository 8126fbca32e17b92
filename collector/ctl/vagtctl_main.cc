// vagtctl: the security team's query tool (events and possible breaches).
//
//   vagtctl events   [--db PATH] [--json|--csv] [--since T] [--until T] [--agent A]
//                    [--principal P] [--protocol P] [--system S] [--limit N]
//   vagtctl breaches [--db PATH] [--json|--csv] [--since T] [--until T] [--agent A]
//                    [--principal P] [--kind policy|integrity] [--rule ID] [--limit N]
//   vagtctl policy check FILES...            (exit 1: a file does not load)
//   vagtctl policy test DIR                  (exit 1: a test failed, 2: bad test file)
//   vagtctl policy explain [--policy FILE] EVENT.json
//   vagtctl verify   [--db PATH] [--json] [--trusted-cert PEM]
//   vagtctl agents enroll --id ID (--cert PEM | --fingerprint HEX) [--db PATH]
//   vagtctl agents revoke --id ID [--reason TEXT] [--db PATH]
//   vagtctl agents list   [--db PATH] [--json|--csv]
//   vagtctl agents status [--db PATH] [--json|--csv]
//
// Queries and verify open the store read-only: they never create or migrate
// a database. agents enroll/revoke write (enroll creates the database when
// there is none yet, so agents can be enrolled before the first start).

#include <pwd.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "collector/ctl/policy_cmd.h"
#include "collector/ctl/render.h"
#include "collector/store/sqlite/sqlite_store.h"

namespace {

using vagt::collector::ctl::Format;

constexpr const char* kDefaultDb = "/var/lib/vagt/collector.db";

struct Common {
  std::string db = kDefaultDb;
  bool json = false, csv = false;
  std::string since, until;
  std::optional<std::string> agent, principal;
  std::size_t limit = 1000;
};

void add_common(CLI::App& cmd, Common& c) {
  cmd.add_option("--db", c.db, "collector database")->capture_default_str();
  auto* json = cmd.add_flag("--json", c.json, "JSON Lines, one object per record");
  auto* csv = cmd.add_flag("--csv", c.csv, "CSV with a header row");
  json->excludes(csv);
  cmd.add_option("--since", c.since, "from this time on (RFC 3339, inclusive)");
  cmd.add_option("--until", c.until, "before this time (RFC 3339, exclusive)");
  cmd.add_option("--agent", c.agent, "agent id");
  cmd.add_option("--principal", c.principal, "principal name (case-insensitive)");
  cmd.add_option("--limit", c.limit, "at most this many, newest first (0: all)")
      ->capture_default_str();
}

Format format_of(const Common& c) {
  return c.json ? Format::kJson : c.csv ? Format::kCsv : Format::kTable;
}

// Parses --since/--until; prints the problem and returns false when bad.
bool times(const Common& c, std::optional<std::uint64_t>& since,
           std::optional<std::uint64_t>& until) {
  for (auto [text, out, name] :
       {std::tuple{&c.since, &since, "--since"}, std::tuple{&c.until, &until, "--until"}}) {
    if (text->empty()) continue;
    auto t = vagt::collector::ctl::parse_rfc3339(*text);
    if (!t) {
      std::cerr << "vagtctl: " << name << ": " << t.error().message << "\n";
      return false;
    }
    *out = *t;
  }
  return true;
}

std::unique_ptr<vagt::collector::SqliteStore> open_store(const std::string& path) {
  vagt::collector::SqliteOptions options;
  options.read_only = true;
  auto store = vagt::collector::SqliteStore::open(path, options);
  if (!store) {
    std::cerr << "vagtctl: " << store.error().message << "\n";
    return nullptr;
  }
  return std::move(*store);
}

// Opens the store read-only, runs `query` on it and prints `render(rows)`;
// the exit code (1 when the store or the query fails, or output fails).
template <typename Query, typename Render>
int query_and_render(const std::string& db, Query&& query, Render&& render) {
  auto store = open_store(db);
  if (!store) return 1;
  auto rows = query(*store);
  if (!rows) {
    std::cerr << "vagtctl: " << rows.error().message << "\n";
    return 1;
  }
  std::cout << render(*rows);
  std::cout.flush();
  return std::cout ? 0 : 1;
}

// vagtctl policy check FILES... | test DIR | explain --policy FILE EVENT.json
struct PolicyCmd {
  CLI::App* check = nullptr;
  CLI::App* test = nullptr;
  CLI::App* explain = nullptr;
  std::vector<std::string> files;
  std::string dir, policy = "/etc/vagt/policy.yaml", event;
};

CLI::App* add_policy_commands(CLI::App& app, PolicyCmd& c) {
  auto* policy = app.add_subcommand("policy", "check, test and explain policies");
  policy->require_subcommand(1);
  c.check = policy->add_subcommand("check", "load policy files; report file:line:column errors");
  c.check->add_option("files", c.files, "policy files")->required();
  c.test = policy->add_subcommand("test", "run table-driven policy tests (*.yaml in DIR)");
  c.test->add_option("dir", c.dir, "directory or file of policy tests")->required();
  c.explain = policy->add_subcommand("explain", "explain the decision for an event (JSON)");
  c.explain->add_option("--policy", c.policy, "policy file")->capture_default_str();
  c.explain->add_option("event", c.event, "event JSON file (one object or a list)")->required();
  return policy;
}

int run_policy_command(const PolicyCmd& c) {
  namespace ctl = vagt::collector::ctl;
  try {
    if (c.check->parsed()) return ctl::policy_check(c.files, std::cout, std::cerr);
    if (c.test->parsed()) return ctl::policy_test(c.dir, std::cout, std::cerr);
    return ctl::policy_explain(c.policy, c.event, std::cout, std::cerr);
  } catch (const std::exception& e) {  // e.g. a YAML value of the wrong type in a test file
    std::cerr << "vagtctl: " << e.what() << "\n";
    return 2;
  }
}

// The operator of an enrolment change: the local OS user.
std::string operator_name() {
  const uid_t uid = geteuid();
  std::vector<char> buf(16384);
  passwd pw{};
  passwd* found = nullptr;
  if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) == 0 && found != nullptr)
    return found->pw_name;
  return "uid:" + std::to_string(uid);
}

std::uint64_t wall_ns() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}

// Progress on stderr, only for a person watching a terminal.
class ProgressLine {
 public:
  ProgressLine() : enabled_(isatty(STDERR_FILENO) == 1), start_(Clock::now()) {}
  ~ProgressLine() {
    if (shown_) std::fputs("\r\033[K", stderr);
  }
  void operator()(std::uint64_t done, std::uint64_t total) {
    if (!enabled_) return;
    const auto now = Clock::now();
    if (shown_ && now - last_ < std::chrono::milliseconds(200)) return;
    last_ = now;
    shown_ = true;
    const double s = std::chrono::duration<double>(now - start_).count();
    const double rate = s > 0 ? static_cast<double>(done) / s : 0;
    const double left = rate > 0 && total > done ? static_cast<double>(total - done) / rate : 0;
    std::fprintf(stderr, "\rverify: %llu/%llu records, %.0f/s, %.0f s left\033[K",
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total),
                 rate, left);
  }

 private:
  using Clock = std::chrono::steady_clock;
  bool enabled_;
  bool shown_ = false;
  Clock::time_point start_, last_;
};

int run_verify(const std::string& db, bool json, const std::string& trusted_cert) {
  auto store = open_store(db);
  if (!store) return 1;
  vagt::collector::ledger::VerifyOptions options;
  if (!trusted_cert.empty()) {
    auto pem = vagt::crypto::read_file(trusted_cert);
    if (!pem) {
      std::cerr << "vagtctl: " << pem.error().message << "\n";
      return 2;
    }
    options.trusted_cert_pem = *pem;
  }
  ProgressLine progress;
  auto report = vagt::collector::ledger::verify_store(
      *store, options, [&](std::uint64_t d, std::uint64_t t) { progress(d, t); });
  if (!report) {
    std::cerr << "vagtctl: " << report.error().message << "\n";
    return 1;
  }
  std::cout << vagt::collector::ctl::render_verify(*report, json);
  std::cout.flush();
  return report->ok() ? 0 : 3;
}

int run_enroll(const std::string& db, const std::string& id, const std::string& cert_file,
               std::string fingerprint) {
  if (!cert_file.empty()) {
    auto cert = vagt::crypto::Certificate::load_pem_file(cert_file);
    if (!cert) {
      std::cerr << "vagtctl: " << cert.error().message << "\n";
      return 2;
    }
    if (cert->common_name() != id) {
      std::cerr << "vagtctl: the certificate's CN is '"
                << vagt::collector::ctl::sanitize(cert->common_name()) << "', not '"
                << vagt::collector::ctl::sanitize(id) << "'\n";
      return 2;
    }
    fingerprint = cert->fingerprint_sha256();
  }
  std::transform(fingerprint.begin(), fingerprint.end(), fingerprint.begin(),
                 [](char c) { return (c >= 'A' && c <= 'F') ? static_cast<char>(c + 32) : c; });
  fingerprint.erase(std::remove(fingerprint.begin(), fingerprint.end(), ':'), fingerprint.end());
  if (fingerprint.size() != 64 ||
      fingerprint.find_first_not_of("0123456789abcdef") != std::string::npos) {
    std::cerr << "vagtctl: the fingerprint must be the 64 hex digits of SHA-256 over the "
                 "certificate's DER\n";
    return 2;
  }
  auto store = vagt::collector::SqliteStore::open(db);
  if (!store) {
    std::cerr << "vagtctl: " << store.error().message << "\n";
    return 1;
  }
  vagt::collector::EnrolmentChange c{id, fingerprint, "enroll", wall_ns(), operator_name(), ""};
  if (auto r = (*store)->record_enrolment(c); !r) {
    std::cerr << "vagtctl: " << r.error().message << "\n";
    return 1;
  }
  std::cout << "enrolled " << vagt::collector::ctl::sanitize(id) << " " << fingerprint << "\n";
  return 0;
}

int run_revoke(const std::string& db, const std::string& id, const std::string& reason) {
  vagt::collector::SqliteOptions options;
  auto store = vagt::collector::SqliteStore::open(db, options);
  if (!store) {
    std::cerr << "vagtctl: " << store.error().message << "\n";
    return 1;
  }
  auto current = (*store)->enrolment(id);
  if (!current) {
    std::cerr << "vagtctl: " << current.error().message << "\n";
    return 1;
  }
  if (!*current) {
    std::cerr << "vagtctl: agent '" << vagt::collector::ctl::sanitize(id) << "' is not enrolled\n";
    return 1;
  }
  vagt::collector::EnrolmentChange c{id,        (*current)->fingerprint, "revoke",
                                     wall_ns(), operator_name(),         reason};
  if (auto r = (*store)->record_enrolment(c); !r) {
    std::cerr << "vagtctl: " << r.error().message << "\n";
    return 1;
  }
  std::cout << "revoked " << vagt::collector::ctl::sanitize(id) << "\n";
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"vagtctl: query the vagt collector's events and possible breaches"};
  app.require_subcommand(1);

  Common ev_opts;
  std::optional<std::string> protocol, system;
  auto* events = app.add_subcommand("events", "list stored access events");
  add_common(*events, ev_opts);
  events->add_option("--protocol", protocol, "protocol (ldap, krb, ...)");
  events->add_option("--system", system, "system name from the policy");

  Common br_opts;
  std::optional<std::string> kind, rule;
  auto* breaches = app.add_subcommand("breaches", "list possible breaches");
  add_common(*breaches, br_opts);
  breaches->add_option("--kind", kind, "policy or integrity")
      ->check(CLI::IsMember({"policy", "integrity"}));
  breaches->add_option("--rule", rule, "rule id, e.g. rbac.no_grant");

  PolicyCmd policy_cmd;
  auto* policy = add_policy_commands(app, policy_cmd);
  std::string verify_db = kDefaultDb, trusted_cert;
  bool verify_json = false;
  auto* verify = app.add_subcommand("verify", "re-check the whole evidence store offline");
  verify->add_option("--db", verify_db, "collector database")->capture_default_str();
  verify->add_flag("--json", verify_json, "one JSON object");
  verify->add_option("--trusted-cert", trusted_cert,
                     "tree heads must be signed by this collector certificate (PEM)");

  auto* agents = app.add_subcommand("agents", "the enrolment registry and agent health");
  agents->require_subcommand(1);
  std::string agents_db = kDefaultDb, agent_id, agent_cert, agent_fp, revoke_reason;
  bool agents_json = false, agents_csv = false;
  agents->add_option("--db", agents_db, "collector database")->capture_default_str();
  auto* enroll = agents->add_subcommand("enroll", "enrol an agent (id and certificate)");
  enroll->add_option("--id", agent_id, "agent id (the certificate's CN)")->required();
  auto* cert_opt = enroll->add_option("--cert", agent_cert, "the agent's certificate (PEM)");
  auto* fp_opt =
      enroll->add_option("--fingerprint", agent_fp, "hex SHA-256 of the certificate's DER");
  cert_opt->excludes(fp_opt);
  enroll->add_option("--db", agents_db, "collector database");
  auto* revoke = agents->add_subcommand("revoke", "revoke an agent's enrolment");
  revoke->add_option("--id", agent_id, "agent id")->required();
  revoke->add_option("--reason", revoke_reason, "why (kept in the ledger)");
  revoke->add_option("--db", agents_db, "collector database");
  auto* list = agents->add_subcommand("list", "list enrolled and revoked agents");
  list->add_option("--db", agents_db, "collector database");
  list->add_flag("--json", agents_json, "JSON Lines");
  list->add_flag("--csv", agents_csv, "CSV");
  auto* agents_status = agents->add_subcommand("status", "each agent's last heartbeat and health");
  agents_status->add_option("--db", agents_db, "collector database");
  agents_status->add_flag("--json", agents_json, "JSON Lines")
      ->excludes(agents_status->add_flag("--csv", agents_csv, "CSV with a header row"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (policy->parsed()) return run_policy_command(policy_cmd);

  try {
    const Format agents_format = agents_json  ? Format::kJson
                                 : agents_csv ? Format::kCsv
                                              : Format::kTable;
    if (verify->parsed()) return run_verify(verify_db, verify_json, trusted_cert);
    if (enroll->parsed()) {
      if (agent_cert.empty() && agent_fp.empty()) {
        std::cerr << "vagtctl: agents enroll needs --cert or --fingerprint\n";
        return 2;
      }
      return run_enroll(agents_db, agent_id, agent_cert, agent_fp);
    }
    if (revoke->parsed()) return run_revoke(agents_db, agent_id, revoke_reason);
    if (list->parsed())
      return query_and_render(
          agents_db, [](auto& store) { return store.enrolments(); },
          [&](const auto& rows) {
            return vagt::collector::ctl::render_enrolments(rows, agents_format);
          });
    if (agents_status->parsed()) {
      const auto now =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
      return query_and_render(
          agents_db, [](auto& store) { return store.heartbeats(); },
          [&](const auto& rows) {
            return vagt::collector::ctl::render_agent_status(rows, now, agents_format);
          });
    }
    if (events->parsed()) {
      vagt::collector::EventFilter f;
      if (!times(ev_opts, f.since_ns, f.until_ns)) return 2;
      f.agent_id = ev_opts.agent;
      f.principal = ev_opts.principal;
      f.protocol = protocol;
      f.system = system;
      f.limit = ev_opts.limit;
      return query_and_render(
          ev_opts.db, [&](auto& store) { return store.events(f); },
          [&](const auto& rows) {
            return vagt::collector::ctl::render_events(rows, format_of(ev_opts));
          });
    }
    if (breaches->parsed()) {
      vagt::collector::BreachFilter f;
      if (!times(br_opts, f.since_ns, f.until_ns)) return 2;
      f.agent_id = br_opts.agent;
      f.principal = br_opts.principal;
      f.kind = kind;
      f.rule_id = rule;
      f.limit = br_opts.limit;
      return query_and_render(
          br_opts.db, [&](auto& store) { return store.breaches(f); },
          [&](const auto& rows) {
            return vagt::collector::ctl::render_breaches(rows, format_of(br_opts));
          });
    }
    std::cout.flush();
    return std::cout ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "vagtctl: " << e.what() << "\n";
    return 1;
  }
}
