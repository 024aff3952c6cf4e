#include "mitm/file_util.hpp"

#include <fcntl.h>
#include <openssl/rand.h>
#include <stdio.h>  // renameat2 (glibc ≥ 2.28, _GNU_SOURCE)
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

namespace netfence::mitm::detail {
namespace {

namespace fs = std::filesystem;

Error ca_error(std::string msg) { return make_error("ca", std::move(msg)); }

class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }

 private:
  int fd_;
};

// ".<name>.tmp-<pid>-<16 hex>" in the target's directory.
fs::path temp_name(const fs::path& target) {
  unsigned char r[8] = {};
  (void)RAND_bytes(r, sizeof r);
  static constexpr char kHex[] = "0123456789abcdef";
  std::string suffix;
  for (unsigned char c : r) {
    suffix += kHex[c >> 4];
    suffix += kHex[c & 15];
  }
  const fs::path dir = target.has_parent_path() ? target.parent_path() : fs::path(".");
  return dir /
         ("." + target.filename().string() + ".tmp-" + std::to_string(::getpid()) + "-" + suffix);
}

// Creates the temporary file with `data`, mode `mode`, fsynced and closed.
Result<fs::path> write_temp(const fs::path& target, std::string_view data, mode_t mode) {
  const fs::path tmp = temp_name(target);
  Fd fd(::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
  if (fd.get() < 0) {
    return ca_error("cannot create " + tmp.string() + ": " + errno_text(errno));
  }
  auto fail = [&](const char* what) -> Error {
    const int err = errno;
    ::unlink(tmp.c_str());
    return ca_error(std::string("cannot ") + what + " " + tmp.string() + ": " + errno_text(err));
  };
  if (::fchmod(fd.get(), mode) != 0) return fail("chmod");
  std::size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd.get(), data.data() + done, data.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail("write");
    }
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd.get()) != 0) return fail("fsync");
  if (::close(fd.release()) != 0) return fail("close");
  return tmp;
}

}  // namespace

std::string errno_text(int err) { return std::strerror(err); }

Result<void> make_private_dirs(const fs::path& dir) {
  struct stat st {};
  if (::stat(dir.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) return {};
    return ca_error("cannot create directory " + dir.string() + ": not a directory");
  }
  if (errno != ENOENT) {
    return ca_error("cannot create directory " + dir.string() + ": " + errno_text(errno));
  }
  if (dir.has_parent_path() && dir.parent_path() != dir) {
    if (auto parent = make_private_dirs(dir.parent_path()); !parent) return parent;
  }
  if (::mkdir(dir.c_str(), 0700) != 0) {
    if (errno == EEXIST) return {};  // created concurrently
    return ca_error("cannot create directory " + dir.string() + ": " + errno_text(errno));
  }
  // The umask may have taken bits away; 0700 is what §10.3 asks for.
  if (::chmod(dir.c_str(), 0700) != 0) {
    return ca_error("cannot chmod directory " + dir.string() + ": " + errno_text(errno));
  }
  return {};
}

Result<void> fsync_dir(const fs::path& dir) {
  Fd fd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0 || ::fsync(fd.get()) != 0) {
    return ca_error("cannot fsync directory " + dir.string() + ": " + errno_text(errno));
  }
  return {};
}

Result<bool> place_exclusive(const fs::path& target, std::string_view data, mode_t mode) {
  auto tmp = write_temp(target, data, mode);
  if (!tmp) return tmp.error();
  const fs::path& t = tmp.value();
  if (::link(t.c_str(), target.c_str()) == 0) {
    ::unlink(t.c_str());
    return true;
  }
  if (errno == EEXIST) {
    ::unlink(t.c_str());
    return false;
  }
  // No hard links here (some FUSE and network file systems): an exclusive rename still never
  // replaces a file another process put in place.
  if (::renameat2(AT_FDCWD, t.c_str(), AT_FDCWD, target.c_str(), RENAME_NOREPLACE) == 0) {
    return true;
  }
  const int err = errno;
  ::unlink(t.c_str());
  if (err == EEXIST) return false;
  return ca_error("cannot create " + target.string() + ": " + errno_text(err));
}

Result<void> replace_atomic(const fs::path& target, std::string_view data, mode_t mode) {
  auto tmp = write_temp(target, data, mode);
  if (!tmp) return tmp.error();
  if (::rename(tmp.value().c_str(), target.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.value().c_str());
    return ca_error("cannot write " + target.string() + ": " + errno_text(err));
  }
  return fsync_dir(target.has_parent_path() ? target.parent_path() : fs::path("."));
}

}  // namespace netfence::mitm::detail
