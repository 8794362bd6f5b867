// The real backend's files: POSIX calls under the node's data directory. Appends go straight to
// the kernel (write(2)); sync() is fsync(2) on a worker thread, so the event loop keeps serving
// other sessions while the disk works - several syncs in flight at once is what lets a node batch
// its commits.

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "io/path.hpp"
#include "real/internal.hpp"

namespace relaysim::real {
namespace {

io::Error error_from_errno(int number, std::string_view what) {
  io::Errc code = io::Errc::io_error;
  switch (number) {
    case ENOSPC:
    case EDQUOT: code = io::Errc::no_space; break;
    case ENOENT: code = io::Errc::not_found; break;
    case EEXIST: code = io::Errc::already_exists; break;
    case ENOTDIR: code = io::Errc::not_a_directory; break;
    case EINVAL: code = io::Errc::invalid_argument; break;
    default: break;
  }
  return {code, std::string(what) + ": " + std::strerror(number)};
}

std::shared_ptr<int> shared_descriptor(int descriptor) {
  return std::shared_ptr<int>(new int(descriptor), [](int* held) {
    ::close(*held);
    delete held;
  });
}

class RealFile final : public io::File {
 public:
  // A sync in flight holds the descriptor too; the last holder closes it.
  RealFile(RealIo& owner, std::shared_ptr<int> descriptor, std::uint64_t size)
      : owner_(owner), descriptor_(std::move(descriptor)), size_(size) {}

  io::Status append(std::string_view bytes) override {
    while (!bytes.empty()) {
      const ssize_t written = ::write(*descriptor_, bytes.data(), bytes.size());
      if (written < 0) {
        if (errno == EINTR) continue;
        return error_from_errno(errno, "write");
      }
      bytes.remove_prefix(static_cast<std::size_t>(written));
      size_ += static_cast<std::uint64_t>(written);
    }
    return {};
  }
  std::uint64_t size() const override { return size_; }
  io::Pending sync(SyncHandler handler) override { return owner_.fsync_descriptor(descriptor_, std::move(handler)); }

 private:
  RealIo& owner_;
  std::shared_ptr<int> descriptor_;
  std::uint64_t size_;
};

}  // namespace

void make_directories(const std::string& path) {
  for (std::size_t slash = path.find('/', 1);; slash = path.find('/', slash + 1)) {
    ::mkdir(path.substr(0, slash).c_str(), 0700);  // errors surface at the first use of the directory
    if (slash == std::string::npos) break;
  }
}

std::string RealIo::full_path(std::string_view path) const {
  if (path.empty()) return options_.data_directory;
  return options_.data_directory + "/" + std::string(path);
}

io::Result<std::unique_ptr<io::File>> RealIo::create_file(std::string_view path) {
  if (!io::is_valid_relative_path(path))
    return io::Error{io::Errc::invalid_argument, "bad path '" + std::string(path) + "'"};
  const int descriptor = ::open(full_path(path).c_str(), O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0600);
  if (descriptor < 0) return error_from_errno(errno, "create " + std::string(path));
  auto file = std::make_unique<RealFile>(*this, shared_descriptor(descriptor), 0);
  return std::unique_ptr<io::File>(std::move(file));
}

io::Result<std::unique_ptr<io::File>> RealIo::open_for_append(std::string_view path) {
  if (!io::is_valid_relative_path(path))
    return io::Error{io::Errc::invalid_argument, "bad path '" + std::string(path) + "'"};
  const int descriptor = ::open(full_path(path).c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (descriptor < 0) return error_from_errno(errno, "open " + std::string(path));
  struct stat status {};
  ::fstat(descriptor, &status);
  return std::unique_ptr<io::File>(
      std::make_unique<RealFile>(*this, shared_descriptor(descriptor), static_cast<std::uint64_t>(status.st_size)));
}

io::Result<std::string> RealIo::read_file(std::string_view path) { return read_file_range(path, 0, SIZE_MAX); }

io::Result<std::string> RealIo::read_file_range(std::string_view path, std::uint64_t offset, std::size_t length) {
  if (!io::is_valid_relative_path(path))
    return io::Error{io::Errc::invalid_argument, "bad path '" + std::string(path) + "'"};
  const int descriptor = ::open(full_path(path).c_str(), O_RDONLY | O_CLOEXEC);
  if (descriptor < 0) return error_from_errno(errno, "open " + std::string(path));
  std::string contents;
  char buffer[64 * 1024];
  while (contents.size() < length) {
    const std::size_t want = std::min(sizeof buffer, length - contents.size());
    const ssize_t got = ::pread(descriptor, buffer, want, static_cast<off_t>(offset + contents.size()));
    if (got < 0) {
      if (errno == EINTR) continue;
      const int number = errno;
      ::close(descriptor);
      return error_from_errno(number, "read " + std::string(path));
    }
    if (got == 0) break;
    contents.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(descriptor);
  return contents;
}

io::Result<std::vector<std::string>> RealIo::list_directory(std::string_view path) {
  if (!path.empty() && !io::is_valid_relative_path(path)) {
    return io::Error{io::Errc::invalid_argument, "bad path '" + std::string(path) + "'"};
  }
  DIR* directory = ::opendir(full_path(path).c_str());
  if (directory == nullptr) return error_from_errno(errno, "list " + std::string(path));
  std::vector<std::string> names;
  while (const dirent* entry = ::readdir(directory)) {
    const std::string_view name = entry->d_name;
    if (name != "." && name != "..") names.emplace_back(name);
  }
  ::closedir(directory);
  std::sort(names.begin(), names.end());
  return names;
}

io::Status RealIo::make_directory(std::string_view path) {
  if (path.empty()) return {};
  if (!io::is_valid_relative_path(path))
    return io::Error{io::Errc::invalid_argument, "bad path '" + std::string(path) + "'"};
  if (const io::Status parent = make_directory(io::parent_directory(path)); !parent) return parent;
  if (::mkdir(full_path(path).c_str(), 0700) != 0 && errno != EEXIST) {
    return error_from_errno(errno, "mkdir " + std::string(path));
  }
  return {};
}

io::Status RealIo::rename_file(std::string_view from, std::string_view to) {
  if (!io::is_valid_relative_path(from) || !io::is_valid_relative_path(to)) {
    return io::Error{io::Errc::invalid_argument, "bad path"};
  }
  if (::rename(full_path(from).c_str(), full_path(to).c_str()) != 0) {
    return error_from_errno(errno, "rename " + std::string(from));
  }
  return {};
}

io::Status RealIo::remove_file(std::string_view path) {
  if (!io::is_valid_relative_path(path))
    return io::Error{io::Errc::invalid_argument, "bad path '" + std::string(path) + "'"};
  if (::unlink(full_path(path).c_str()) != 0) return error_from_errno(errno, "unlink " + std::string(path));
  return {};
}

io::Pending RealIo::fsync_descriptor(std::shared_ptr<int> descriptor, SyncHandler handler) {
  return offload<io::Status>(
      [descriptor]() -> io::Status {
        if (::fsync(*descriptor) != 0) return error_from_errno(errno, "fsync");
        return {};
      },
      std::move(handler));
}

io::Pending RealIo::sync_directory(std::string_view path, SyncHandler handler) {
  std::string full = full_path(path);
  return offload<io::Status>(
      [full]() -> io::Status {
        const int descriptor = ::open(full.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (descriptor < 0) return error_from_errno(errno, "open directory");
        const int result = ::fsync(descriptor);
        const int number = errno;
        ::close(descriptor);
        if (result != 0) return error_from_errno(number, "fsync directory");
        return {};
      },
      std::move(handler));
}

}  // namespace relaysim::real
