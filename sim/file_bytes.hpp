#pragma once
// A simulated file's bytes, kept in 64 KiB chunks. A file that grows to many megabytes (a queue
// journal's segment) then never moves its bytes to a larger buffer, and each chunk is a heap
// block that the next file reuses once this one is gone, instead of fresh memory the kernel
// must fault in page by page: the chunks of a removed file wait in a bounded pool of the thread's
// for the next file that grows. A small file is one small string, as before.

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace relaysim::sim {

class FileBytes {
 public:
  // One byte short of 64 KiB: with the string's terminating null a chunk is one 64 KiB block,
  // which allocators (jemalloc's size classes among them) hand out without rounding up.
  static constexpr std::size_t chunk_bytes = 64 * 1024 - 1;
  // At most this many spare chunks wait for reuse (two journal segments' worth).
  static constexpr std::size_t spare_chunks_max = 512;

  FileBytes() = default;
  FileBytes(const FileBytes&) = delete;
  FileBytes& operator=(const FileBytes&) = delete;
  ~FileBytes();

  std::size_t size() const { return size_; }
  void append(std::string_view bytes);
  // Keeps the first `size` bytes (never grows).
  void truncate(std::size_t size);
  // Overwrites `count` bytes from `offset` with zeros, inside the file.
  void zero(std::size_t offset, std::size_t count);
  // `length` bytes from `offset`, fewer where the file ends.
  std::string read(std::size_t offset, std::size_t length) const;
  std::string whole() const { return read(0, size_); }

 private:
  std::vector<std::string> chunks_;  // every chunk but the last holds exactly chunk_bytes
  std::size_t size_ = 0;
};

}  // namespace relaysim::sim
