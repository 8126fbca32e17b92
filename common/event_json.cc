#include "common/event_json.h"

#include <arpa/inet.h>

#include <ctime>
#include <map>

namespace vagt {

std::string format_time_ns(std::uint64_t time_ns) {
  const std::time_t secs = static_cast<std::time_t>(time_ns / 1'000'000'000ULL);
  const unsigned long nanos = static_cast<unsigned long>(time_ns % 1'000'000'000ULL);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%09luZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, nanos);
  return buf;
}

std::string format_address(const std::string& a) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (a.size() == 4) {
    inet_ntop(AF_INET, a.data(), buf, sizeof buf);
  } else if (a.size() == 16) {
    inet_ntop(AF_INET6, a.data(), buf, sizeof buf);
  } else {
    return {};
  }
  return buf;
}

std::string format_endpoint(const v1::Endpoint& ep) {
  const std::string addr = format_address(ep.address());
  if (addr.empty()) return {};
  if (ep.address().size() == 16) return "[" + addr + "]:" + std::to_string(ep.port());
  return addr + ":" + std::to_string(ep.port());
}

const char* outcome_name(v1::Outcome outcome) noexcept {
  switch (outcome) {
    case v1::OUTCOME_SUCCESS:
      return "success";
    case v1::OUTCOME_FAILURE:
      return "failure";
    default:
      return "unknown";
  }
}

const char* transport_name(v1::Transport transport) noexcept {
  switch (transport) {
    case v1::TRANSPORT_TCP:
      return "tcp";
    case v1::TRANSPORT_UDP:
      return "udp";
    case v1::TRANSPORT_LOCAL:
      return "local";
    default:
      return "unspecified";
  }
}

nlohmann::ordered_json event_to_json(const v1::AccessEvent& e) {
  nlohmann::ordered_json j;
  j["ts"] = format_time_ns(e.time_ns());
  if (!e.agent_id().empty()) {
    j["agent"] = e.agent_id();
    j["seq"] = e.sequence();
  }
  j["protocol"] = e.protocol();
  j["transport"] = transport_name(e.transport());
  j["src"] = format_endpoint(e.src());
  j["dst"] = format_endpoint(e.dst());
  j["principal"] = e.principal();
  j["realm"] = e.realm();
  j["action"] = e.action();
  j["resource"] = e.resource();
  j["patient"] =
      e.patient().empty() ? nlohmann::ordered_json(nullptr) : nlohmann::ordered_json(e.patient());
  j["outcome"] = outcome_name(e.outcome());
  j["code"] = e.has_code() ? nlohmann::ordered_json(e.code()) : nlohmann::ordered_json(nullptr);
  // Protobuf maps have no stable order: sort for canonical output.
  std::map<std::string, std::string> sorted(e.detail().begin(), e.detail().end());
  nlohmann::ordered_json detail = nlohmann::ordered_json::object();
  for (const auto& [k, v] : sorted) detail[k] = v;
  j["detail"] = std::move(detail);
  return j;
}

}  // namespace vagt
