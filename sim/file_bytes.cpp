#include "sim/file_bytes.hpp"

#include <algorithm>

namespace relaysim::sim {

void FileBytes::append(std::string_view bytes) {
  while (!bytes.empty()) {
    if (chunks_.empty() || chunks_.back().size() == chunk_bytes) {
      chunks_.emplace_back();
      if (chunks_.size() > 1) chunks_.back().reserve(chunk_bytes);
    }
    std::string& last = chunks_.back();
    const std::size_t take = std::min(bytes.size(), chunk_bytes - last.size());
    last.append(bytes.substr(0, take));
    bytes.remove_prefix(take);
    size_ += take;
  }
}

void FileBytes::truncate(std::size_t size) {
  if (size >= size_) return;
  const std::size_t keep_chunks = (size + chunk_bytes - 1) / chunk_bytes;
  chunks_.resize(keep_chunks);
  if (!chunks_.empty()) chunks_.back().resize(size - (keep_chunks - 1) * chunk_bytes);
  size_ = size;
}

void FileBytes::zero(std::size_t offset, std::size_t count) {
  const std::size_t end = std::min(size_, offset + count);
  for (std::size_t at = offset; at < end;) {
    std::string& chunk = chunks_[at / chunk_bytes];
    const std::size_t within = at % chunk_bytes;
    const std::size_t take = std::min(end - at, chunk.size() - within);
    std::fill_n(chunk.begin() + static_cast<std::ptrdiff_t>(within), take, '\0');
    at += take;
  }
}

std::string FileBytes::read(std::size_t offset, std::size_t length) const {
  std::string out;
  if (offset >= size_) return out;
  const std::size_t end = offset + std::min(length, size_ - offset);
  out.reserve(end - offset);
  for (std::size_t at = offset; at < end;) {
    const std::string& chunk = chunks_[at / chunk_bytes];
    const std::size_t within = at % chunk_bytes;
    const std::size_t take = std::min(end - at, chunk.size() - within);
    out.append(chunk, within, take);
    at += take;
  }
  return out;
}

}  // namespace relaysim::sim
