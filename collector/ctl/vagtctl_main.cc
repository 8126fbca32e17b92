// vagtctl: the security team's query tool (events and possible breaches).
//
//   vagtctl events   [--db PATH] [--json|--csv] [--since T] [--until T] [--agent A]
//                    [--principal P] [--protocol P] [--system S] [--limit N]
//   vagtctl breaches [--db PATH] [--json|--csv] [--since T] [--until T] [--agent A]
//                    [--principal P] [--kind policy|integrity] [--rule ID] [--limit N]
//   vagtctl agents status [--db PATH] [--json|--csv]
//
// Opens the store read-only: it never creates or migrates a database.

#include <CLI/CLI.hpp>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <optional>
#include <string>

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

  std::string status_db = kDefaultDb;
  bool status_json = false, status_csv = false;
  auto* agents = app.add_subcommand("agents", "agents known to the collector");
  agents->require_subcommand(1);
  auto* agents_status = agents->add_subcommand("status", "each agent's last heartbeat and health");
  agents_status->add_option("--db", status_db, "collector database")->capture_default_str();
  agents_status->add_flag("--json", status_json, "JSON Lines")
      ->excludes(agents_status->add_flag("--csv", status_csv, "CSV with a header row"));

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  try {
    if (agents_status->parsed()) {
      auto store = open_store(status_db);
      if (!store) return 1;
      auto rows = store->heartbeats();
      if (!rows) {
        std::cerr << "vagtctl: " << rows.error().message << "\n";
        return 1;
      }
      const auto now =
          static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                         std::chrono::system_clock::now().time_since_epoch())
                                         .count());
      std::cout << vagt::collector::ctl::render_agent_status(*rows, now,
                                                             status_json  ? Format::kJson
                                                             : status_csv ? Format::kCsv
                                                                          : Format::kTable);
    } else if (events->parsed()) {
      vagt::collector::EventFilter f;
      if (!times(ev_opts, f.since_ns, f.until_ns)) return 2;
      f.agent_id = ev_opts.agent;
      f.principal = ev_opts.principal;
      f.protocol = protocol;
      f.system = system;
      f.limit = ev_opts.limit;
      auto store = open_store(ev_opts.db);
      if (!store) return 1;
      auto rows = store->events(f);
      if (!rows) {
        std::cerr << "vagtctl: " << rows.error().message << "\n";
        return 1;
      }
      std::cout << vagt::collector::ctl::render_events(*rows, format_of(ev_opts));
    } else {
      vagt::collector::BreachFilter f;
      if (!times(br_opts, f.since_ns, f.until_ns)) return 2;
      f.agent_id = br_opts.agent;
      f.principal = br_opts.principal;
      f.kind = kind;
      f.rule_id = rule;
      f.limit = br_opts.limit;
      auto store = open_store(br_opts.db);
      if (!store) return 1;
      auto rows = store->breaches(f);
      if (!rows) {
        std::cerr << "vagtctl: " << rows.error().message << "\n";
        return 1;
      }
      std::cout << vagt::collector::ctl::render_breaches(*rows, format_of(br_opts));
    }
    std::cout.flush();
    return std::cout ? 0 : 1;
  } catch (const std::exception& e) {
    std::cerr << "vagtctl: " << e.what() << "\n";
    return 1;
  }
}
