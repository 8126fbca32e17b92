#pragma once

// Least privilege for the agent (docs/operations.md, "Privileges"):
// refuse key files and state dirs that others can read or write, or that
// belong to another user; when started as root, switch to the configured
// user keeping CAP_NET_RAW only.

#include <sys/types.h>

#include <string>

#include "common/result.h"

namespace vagt::agent {

// The uid the agent will run as: `user`'s when started as root with a user
// configured, else the current effective uid.
Result<uid_t> target_uid(const std::string& user);

// A secret file (private key): owned by `uid`, no group or other access.
Result<void> check_private_file(const std::string& path, uid_t uid);
// The state dir: created 0700 when missing; owned by `uid`, nothing for others.
Result<void> check_state_dir(const std::string& path, uid_t uid);

// When root: setgid/setuid to `user` keeping CAP_NET_RAW (permitted and
// effective), every other capability dropped. Not root: nothing to do.
Result<void> drop_privileges(const std::string& user);

}  // namespace vagt::agent
