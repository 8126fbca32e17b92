#include "agent/privilege.h"

#include <grp.h>
#include <linux/capability.h>
#include <pwd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

namespace vagt::agent {

namespace {

std::string octal(mode_t m) {
  char buf[8];
  std::snprintf(buf, sizeof buf, "%04o", static_cast<unsigned>(m & 07777));
  return buf;
}

Result<void> check(const std::string& path, uid_t uid, mode_t forbidden, const char* what) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0)
    return fail(ErrorCode::kIo, "cannot stat " + path + ": " + std::strerror(errno));
  if (st.st_uid != uid)
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " " + path + " is owned by uid " +
                                                 std::to_string(st.st_uid) +
                                                 ", not by the agent's uid " + std::to_string(uid));
  if ((st.st_mode & forbidden) != 0)
    return fail(ErrorCode::kInvalidArgument, std::string(what) + " " + path + " has mode " +
                                                 octal(st.st_mode) +
                                                 ": others may read or write it (chmod " +
                                                 octal(0777 & ~forbidden & 0700) + " or stricter)");
  return {};
}

}  // namespace

Result<uid_t> target_uid(const std::string& user) {
  if (user.empty() || ::geteuid() != 0) return ::geteuid();
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) return fail(ErrorCode::kInvalidArgument, "no such user '" + user + "'");
  return pw->pw_uid;
}

Result<void> check_private_file(const std::string& path, uid_t uid) {
  return check(path, uid, 0077, "key file");
}

Result<void> check_state_dir(const std::string& path, uid_t uid) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno != ENOENT)
      return fail(ErrorCode::kIo, "cannot stat " + path + ": " + std::strerror(errno));
    if (::mkdir(path.c_str(), 0700) != 0)
      return fail(ErrorCode::kIo, "cannot create state dir " + path + ": " + std::strerror(errno));
    if (::geteuid() == 0 && uid != 0 && ::chown(path.c_str(), uid, static_cast<gid_t>(-1)) != 0)
      return fail(ErrorCode::kIo, "cannot chown state dir " + path + ": " + std::strerror(errno));
  }
  return check(path, uid, 0007, "state dir");
}

Result<void> drop_privileges(const std::string& user) {
  if (::geteuid() != 0 || user.empty()) return {};
  const passwd* pw = ::getpwnam(user.c_str());
  if (pw == nullptr) return fail(ErrorCode::kInvalidArgument, "no such user '" + user + "'");
  const uid_t uid = pw->pw_uid;
  const gid_t gid = pw->pw_gid;
  if (::prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    return fail(ErrorCode::kIo, std::string("PR_SET_KEEPCAPS: ") + std::strerror(errno));
  if (::setgroups(0, nullptr) != 0 || ::setresgid(gid, gid, gid) != 0 ||
      ::setresuid(uid, uid, uid) != 0)
    return fail(ErrorCode::kIo, "cannot switch to user '" + user + "': " + std::strerror(errno));
  // Now unprivileged with the permitted set kept: narrow it to CAP_NET_RAW.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  data[CAP_TO_INDEX(CAP_NET_RAW)].permitted = CAP_TO_MASK(CAP_NET_RAW);
  data[CAP_TO_INDEX(CAP_NET_RAW)].effective = CAP_TO_MASK(CAP_NET_RAW);
  if (::syscall(SYS_capset, &header, data) != 0)
    return fail(ErrorCode::kIo, std::string("capset: ") + std::strerror(errno));
  ::prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0);
  if (::setuid(0) == 0)
    return fail(ErrorCode::kInternal, "root could be regained; refusing to run");
  return {};
}

}  // namespace vagt::agent
